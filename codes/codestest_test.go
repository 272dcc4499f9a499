package codes_test

import (
	"testing"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/codes/codestest"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	codestest.Run(t, func(*testing.T) codestest.Source { return codes.NewMemory(codes.Config{}) })
}
