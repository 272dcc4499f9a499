package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		code       int
		out, errIn string
	}{
		{
			name: "filter json",
			args: []string{"-schema", "testdata/schema.json", "-filter", `{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}},"metadata.ltv":{"conditions":{"$more_than":[100]}}}`, "testdata/customers.csv"},
			out:  "u1\nu4\n2 matching customers\n",
		},
		{
			name: "voucherify example with a bare scalar",
			args: []string{"-schema", "testdata/schema.json", "-filter", `{"junction":"and","address.country":{"conditions":{"$is":"Poland"}},"metadata.club_level":{"conditions":{"$in":["Gold","Silver"]}}}`, "testdata/customers.csv"},
			out:  "u1\nu4\n2 matching customers\n",
		},
		{
			name: "array metadata",
			args: []string{"-schema", "testdata/schema.json", "-filter", `{"metadata.tags":{"conditions":{"$in":["beta"]}}}`, "testdata/customers.csv"},
			out:  "u1\nu3\n2 matching customers\n",
		},
		{
			name: "expression",
			args: []string{"-filter", `metadata.source == "Intercom" && email endsWith "@acme.com"`, "testdata/customers.csv"},
			out:  "u1\nu3\nu4\n3 matching customers\n",
		},
		{
			name: "no matches",
			args: []string{"-filter", `{"name":{"conditions":{"$is":"Nobody"}}}`, "testdata/customers.csv"},
			out:  "0 matching customers\n",
		},
		{
			name: "explain",
			args: []string{"-schema", "testdata/schema.json", "-filter", `{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}},"metadata.ltv":{"conditions":{"$more_than":[100]}}}`, "-explain", "u3", "testdata/customers.csv"},
			out: `customer u3 is not in segment (-filter)
  all of these must hold:
  yes  metadata.source $is ["Intercom"] (customer: "Intercom")
  no   metadata.ltv $more_than [100] (customer: 40)
`,
		},
		{
			name:  "bad filter",
			args:  []string{"-schema", "testdata/schema.json", "-filter", `{"metadata.ltv":{"conditions":{"$more_than":["lots"]}}}`, "testdata/customers.csv"},
			code:  1,
			errIn: `segment rule: metadata.ltv $more_than: want a number, got "lots"`,
		},
		{
			name:  "malformed filter",
			args:  []string{"-filter", `{"name":{"conditions":{"$equals":"x"}}}`, "testdata/customers.csv"},
			code:  1,
			errIn: "segment rule: name $equals: unknown operator",
		},
		{
			name:  "bad expression",
			args:  []string{"-filter", `metadata.ltv >`, "testdata/customers.csv"},
			code:  1,
			errIn: "segment rule: expression: unexpected token EOF",
		},
		{
			name:  "unknown customer to explain",
			args:  []string{"-filter", `name == "x"`, "-explain", "nobody", "testdata/customers.csv"},
			code:  1,
			errIn: `customer "nobody": codedrop: not found`,
		},
		{
			name:  "bad csv value",
			args:  []string{"-schema", "testdata/schema.json", "-filter", `name == "x"`, "testdata/bad.csv"},
			code:  1,
			errIn: `testdata/bad.csv: line 3, column "ltv": strconv.ParseFloat: parsing "lots": invalid syntax`,
		},
		{
			name:  "usage",
			args:  []string{"testdata/customers.csv"},
			code:  2,
			errIn: "usage: segment",
		},
		{
			name:  "missing file",
			args:  []string{"-filter", `name == "x"`, "testdata/nope.csv"},
			code:  1,
			errIn: "no such file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if tt.code == 0 && stdout.String() != tt.out {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), tt.out)
			}
			if !strings.Contains(stderr.String(), tt.errIn) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.errIn)
			}
		})
	}
}
