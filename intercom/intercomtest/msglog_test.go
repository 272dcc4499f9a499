package intercomtest

import (
	"strconv"
	"testing"
)

func TestMsgLogKeepsOrderAcrossChunks(t *testing.T) {
	var l msgLog
	const n = 2*msgChunk + 7
	for i := range n {
		l.add(Message{ID: strconv.Itoa(i)})
	}
	all := l.all()
	if len(all) != n || l.n != n {
		t.Fatalf("len = %d, n = %d, want %d", len(all), l.n, n)
	}
	for i, m := range all {
		if m.ID != strconv.Itoa(i) {
			t.Fatalf("message %d has id %s", i, m.ID)
		}
	}
}
