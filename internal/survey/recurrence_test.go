package survey

import (
	"errors"
	"testing"
	"time"
)

// Firings in the tenant's time zone: a monthly day past a month's end falls
// on its last day, missed periods start only the latest, periods are named
// by month (monthly) or local time (cron), and cron specs firing more than
// hourly are refused.
func TestRecurrence(t *testing.T) {
	msk, _ := time.LoadLocation("Europe/Moscow")
	at := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, msk) }
	monthly, err := newRecurrence(RecurMonthly, 31, "09:30", "", "Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		after     time.Time
		want      time.Time
		wantLabel string
	}{
		{"later this month", at(2027, 1, 5, 0, 0), at(2027, 1, 31, 9, 30), "2027-01"},
		{"February has 28 days", at(2027, 1, 31, 9, 30), at(2027, 2, 28, 9, 30), "2027-02"},
		{"a leap February", at(2028, 2, 1, 0, 0), at(2028, 2, 29, 9, 30), "2028-02"},
		{"April has 30", at(2027, 3, 31, 10, 0), at(2027, 4, 30, 9, 30), "2027-04"},
		{"across the year", at(2027, 12, 31, 9, 31), at(2028, 1, 31, 9, 30), "2028-01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := monthly.next(tc.after)
			if !got.Equal(tc.want) || monthly.period(got) != tc.wantLabel {
				t.Fatalf("next(%v) = %v %q, want %v %q", tc.after, got, monthly.period(got), tc.want, tc.wantLabel)
			}
		})
	}
	// Down from January to April: only March (the latest due) starts.
	if got := monthly.latestDue(at(2027, 1, 31, 9, 30), at(2027, 4, 2, 0, 0)); !got.Equal(at(2027, 3, 31, 9, 30)) {
		t.Fatalf("latest due %v, want March 31", got)
	}

	weekly, err := newRecurrence(RecurCron, 0, "", "0 10 * * 1", "Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	n := weekly.next(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)) // a Sunday
	if !n.Equal(at(2026, 11, 23, 10, 0)) || weekly.period(n) != "2026-11-23T10:00" {
		t.Fatalf("weekly next %v %q", n, weekly.period(n))
	}

	for _, tc := range []struct {
		name, kind, at, cron string
		day                  int
		field                string
	}{
		{"every five minutes", RecurCron, "", "*/5 * * * *", 0, "cron"},
		{"twice an hour", RecurCron, "", "0,30 9 * * *", 0, "cron"},
		{"a time zone in the spec", RecurCron, "", "CRON_TZ=UTC 0 9 * * *", 0, "cron"},
		{"six fields", RecurCron, "", "0 0 9 * * *", 0, "cron"},
		{"day 32", RecurMonthly, "10:00", "", 32, "day"},
		{"time 9:00", RecurMonthly, "9:00", "", 1, "time"},
		{"time 24:00", RecurMonthly, "24:00", "", 1, "time"},
		{"weekly", "weekly", "", "", 1, "kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newRecurrence(tc.kind, tc.day, tc.at, tc.cron, "UTC")
			var inv *InvalidError
			if !errors.As(err, &inv) || inv.Field != tc.field {
				t.Fatalf("error %v, want a field error on %s", err, tc.field)
			}
		})
	}
	if _, err := newRecurrence(RecurCron, 0, "", "0 9,10 * * *", "UTC"); err != nil {
		t.Fatalf("hourly firings are allowed: %v", err)
	}
}

// The bands of a 1–5 scale and of 0–10 / 1–10.
func TestBands(t *testing.T) {
	for _, tc := range []struct{ lo, hi, v, want int }{
		{1, 5, 5, 1}, {1, 5, 4, 1}, {1, 5, 3, 0}, {1, 5, 2, -1}, {1, 5, 1, -1},
		{0, 10, 10, 1}, {0, 10, 9, 1}, {0, 10, 8, 0}, {0, 10, 7, 0}, {0, 10, 6, -1}, {0, 10, 0, -1},
		{1, 10, 1, -1}, {1, 10, 9, 1},
	} {
		if got := bands(tc.lo, tc.hi, tc.v); got != tc.want {
			t.Errorf("bands(%d..%d, %d) = %d, want %d", tc.lo, tc.hi, tc.v, got, tc.want)
		}
	}
}
