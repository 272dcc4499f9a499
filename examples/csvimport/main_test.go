package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type failure struct {
	Row      int    `json:"row"`
	Line     int    `json:"line"`
	Column   string `json:"column"`
	SourceID string `json:"source_id"`
	Reason   string `json:"reason"`
}

type output struct {
	Done     int       `json:"done"`
	Failed   int       `json:"failed"`
	Failures []failure `json:"failures"`
}

func runCmd(t *testing.T, args ...string) (int, output, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	var out output
	if code == 0 {
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
			t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout.String())
		}
	} else if stdout.Len() != 0 {
		t.Errorf("stdout on failure: %s", stdout.String())
	}
	return code, out, stderr.String()
}

func TestRunWithSchema(t *testing.T) {
	code, out, stderr := runCmd(t, "-schema", "testdata/schema.json", "testdata/customers.csv")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	want := output{Done: 2, Failed: 5, Failures: []failure{
		{3, 5, "Email", "bob-brown", `email: "bob@" is not an email address`},
		{4, 6, "Birthdate", "carla-diaz", `birthdate: "1990-02-30" is not a date (want YYYY-MM-DD)`},
		{5, 7, "acquisition_channel", "dan-evans", `metadata "acquisition_channel": must be equal to one of Facebook, Twitter, Website (actual value is "snap")`},
		{6, 8, "customer_life_time_value", "eve-fox", `metadata "customer_life_time_value": must be greater than or equal to 0 (actual value is -5)`},
		{7, 9, "Source_id", "", "source_id: the row has neither a source_id nor an id"},
	}}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("report mismatch (-want +got):\n%s", diff)
	}
}

func TestRunWithoutSchema(t *testing.T) {
	// Without a schema metadata are strings: only the built-in field
	// errors and the missing source_id remain.
	code, out, _ := runCmd(t, "testdata/customers.csv")
	if code != 0 || out.Done != 4 || out.Failed != 3 {
		t.Fatalf("exit %d, report %+v", code, out)
	}
}

func TestRunAtomic(t *testing.T) {
	code, out, _ := runCmd(t, "-atomic", "-schema", "testdata/schema.json", "testdata/customers.csv")
	if code != 0 || out.Done != 0 || out.Failed != 5 {
		t.Fatalf("exit %d, report %+v: want nothing done", code, out)
	}
}

func TestRunErrors(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"malformed", []string{"testdata/broken.csv"}, 1, "malformed CSV"},
		{"missing file", []string{"testdata/nope.csv"}, 1, "no such file"},
		{"no file", nil, 2, "usage"},
		{"two files", []string{"a.csv", "b.csv"}, 2, "usage"},
		{"bad flag", []string{"-nope", "a.csv"}, 2, "flag provided but not defined"},
		{"bad schema", []string{"-schema", "testdata/customers.csv", "testdata/customers.csv"}, 2, "schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d (want %d), stderr %q (want it to mention %q)", code, tt.code, stderr, tt.stderr)
			}
		})
	}
}
