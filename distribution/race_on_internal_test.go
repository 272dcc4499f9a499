//go:build race

package distribution

// raceEnabled reports whether the tests run under the race detector
// (which makes sync.Pool drop some of what it is given).
const raceEnabled = true
