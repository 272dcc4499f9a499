package postgres_test

import (
	"testing"

	"github.com/codedrop/codedrop/codes/codestest"
	"github.com/codedrop/codedrop/store/postgres"
)

func TestCodesConformance(t *testing.T) {
	t.Parallel()
	testDSN(t)
	codestest.Run(t, func(t *testing.T) codestest.Source { return postgres.NewCodes(newPool(t), nil) })
}
