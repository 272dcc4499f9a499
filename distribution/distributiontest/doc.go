// Package distributiontest helps hosts test code that uses a
// distribution.Manager: waiting for a distribution to reach a state, or
// for the Manager to be idle, without polling loops.
package distributiontest
