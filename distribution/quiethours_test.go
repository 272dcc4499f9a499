package distribution

import (
	"testing"
	"time"
)

func TestQuietHoursAcrossDST(t *testing.T) {
	t.Parallel()
	warsaw, err := time.LoadLocation("Europe/Warsaw")
	if err != nil {
		t.Fatal("time zone:", err)
	}
	q, field, msg := QuietHours{Start: "21:00", End: "08:00"}.compile()
	if field != "" {
		t.Fatal(field, msg)
	}
	day, _, _ := QuietHours{Start: "12:00", End: "13:30"}.compile()
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name    string
		q       quiet
		at      string
		in      bool
		wantEnd string
	}{
		{"before the window", q, "2026-03-28T19:59:00Z", false, ""},                // 20:59 CET
		{"window starts", q, "2026-03-28T20:00:00Z", true, "2026-03-29T06:00:00Z"}, // 21:00 CET -> 08:00 CEST
		{"spring forward night", q, "2026-03-28T23:30:00Z", true, "2026-03-29T06:00:00Z"},
		{"in the skipped hour's aftermath", q, "2026-03-29T01:30:00Z", true, "2026-03-29T06:00:00Z"}, // 03:30 CEST
		{"spring day morning: open", q, "2026-03-29T06:00:00Z", false, ""},                           // 08:00 CEST
		{"spring day 07:59 local", q, "2026-03-29T05:59:00Z", true, "2026-03-29T06:00:00Z"},
		{"fall back night", q, "2026-10-24T20:30:00Z", true, "2026-10-25T07:00:00Z"}, // 22:30 CEST -> 08:00 CET
		{"fall back: the repeated hour", q, "2026-10-25T00:30:00Z", true, "2026-10-25T07:00:00Z"},
		{"fall back: second 02:30", q, "2026-10-25T01:30:00Z", true, "2026-10-25T07:00:00Z"},
		{"fall back day evening: open", q, "2026-10-25T19:59:00Z", false, ""}, // 20:59 CET
		{"fall back day: window starts", q, "2026-10-25T20:00:00Z", true, "2026-10-26T07:00:00Z"},
		{"early morning before the end", q, "2026-07-01T05:00:00Z", true, "2026-07-01T06:00:00Z"}, // 07:00 CEST
		{"daytime window", day, "2026-07-01T10:15:00Z", true, "2026-07-01T11:30:00Z"},             // 12:15 CEST
		{"daytime window end is exclusive", day, "2026-07-01T11:30:00Z", false, ""},
	} {
		end, in := tc.q.until(utc(tc.at), warsaw)
		if in != tc.in {
			t.Errorf("%s: in = %v, want %v", tc.name, in, tc.in)
			continue
		}
		if in && !end.Equal(utc(tc.wantEnd)) {
			t.Errorf("%s: ends %v, want %s", tc.name, end.UTC(), tc.wantEnd)
		}
	}
}

func TestQuietHoursConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		q     QuietHours
		field string
	}{
		{QuietHours{Start: "25:00", End: "08:00"}, "QuietHours.Start"},
		{QuietHours{Start: "21:00"}, "QuietHours.End"},
		{QuietHours{Start: "08:00", End: "08:00"}, "QuietHours.End"},
		{QuietHours{Start: "21:00", End: "08:00", Action: "later"}, "QuietHours.Action"},
		{QuietHours{Action: QuietDrop}, "QuietHours.Action"},
	} {
		if _, field, _ := tc.q.compile(); field != tc.field {
			t.Errorf("%+v: field %q, want %q", tc.q, field, tc.field)
		}
	}
	if q, field, _ := (QuietHours{}).compile(); field != "" || q.on {
		t.Errorf("zero QuietHours: on=%v field=%q, want off", q.on, field)
	}
}

func TestLimitPeriods(t *testing.T) {
	t.Parallel()
	warsaw, err := time.LoadLocation("Europe/Warsaw")
	if err != nil {
		t.Fatal("time zone:", err)
	}
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	for _, tc := range []struct {
		l          Limit
		loc        *time.Location
		t          string
		start, end string
	}{
		{Limit{}, nil, "2026-05-10T13:45:00Z", "2026-05-10T00:00:00Z", "2026-05-11T00:00:00Z"},
		{Limit{Period: PeriodHour}, nil, "2026-05-10T13:45:10Z", "2026-05-10T13:00:00Z", "2026-05-10T14:00:00Z"},
		{Limit{Period: PeriodMonth}, nil, "2026-12-31T23:00:00Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		// A day in Warsaw on the DST change is 23 hours long.
		{Limit{Period: PeriodDay}, warsaw, "2026-03-29T12:00:00Z", "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"},
		{Limit{Period: PeriodDay}, warsaw, "2026-10-25T12:00:00Z", "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"},
		{Limit{Period: PeriodHour}, warsaw, "2026-10-25T01:30:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"}, // the second 02:xx
	} {
		s, e := tc.l.bounds(at(tc.t), tc.loc)
		if !s.Equal(at(tc.start)) || !e.Equal(at(tc.end)) {
			t.Errorf("%+v at %s: [%v, %v), want [%s, %s)", tc.l, tc.t, s.UTC(), e.UTC(), tc.start, tc.end)
		}
	}
}
