package survey

import (
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Recurrence kinds.
const (
	RecurMonthly = "monthly"
	RecurCron    = "cron"
)

// minCronGap: a cron schedule fires at most hourly (each firing is a run
// that asks the whole audience).
const minCronGap = time.Hour

// recurrence computes a schedule's firings in the tenant's time zone.
type recurrence struct {
	kind   string
	day    int // monthly: 1–31, clamped to the month's last day
	hour   int
	minute int
	cron   cron.Schedule
	loc    *time.Location
}

// newRecurrence checks a schedule's timing; field names follow the JSON body.
func newRecurrence(kind string, day int, at, spec, tz string) (*recurrence, error) {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = time.UTC // the tenant's setting is checked where it is set
	}
	r := &recurrence{kind: kind, loc: loc}
	switch kind {
	case RecurMonthly:
		if day < 1 || day > 31 {
			return nil, &InvalidError{"day", "invalid", "a day of the month, 1 to 31 (the last day of shorter months)"}
		}
		h, m, ok := parseHHMM(at)
		if !ok {
			return nil, &InvalidError{"time", "invalid", "a time of day HH:MM"}
		}
		r.day, r.hour, r.minute = day, h, m
	case RecurCron:
		s, err := cron.ParseStandard(spec)
		if err != nil || strings.Contains(spec, "TZ=") {
			return nil, &InvalidError{"cron", "invalid", "a five-field cron spec (minute hour day month weekday) in the tenant's time zone"}
		}
		r.cron = s
		// Refuse specs that fire more often than hourly anywhere in a year.
		t := s.Next(time.Date(2030, 1, 1, 0, 0, 0, 0, loc))
		for i := 0; i < 400 && !t.IsZero(); i++ {
			n := s.Next(t)
			if !n.IsZero() && n.Sub(t) < minCronGap {
				return nil, &InvalidError{"cron", "too_often", "a schedule fires at most once an hour"}
			}
			t = n
		}
	default:
		return nil, &InvalidError{"kind", "invalid", "monthly or cron"}
	}
	return r, nil
}

func parseHHMM(s string) (int, int, bool) {
	hs, ms, ok := strings.Cut(s, ":")
	if !ok || len(hs) != 2 || len(ms) != 2 {
		return 0, 0, false
	}
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, 0, false
	}
	return h, m, true
}

// next is the first firing strictly after t (zero if none).
func (r *recurrence) next(t time.Time) time.Time {
	t = t.In(r.loc)
	if r.kind == RecurCron {
		return r.cron.Next(t)
	}
	y, m, _ := t.Date()
	for i := 0; i < 3; i++ {
		f := r.inMonth(y, m+time.Month(i))
		if f.After(t) {
			return f
		}
	}
	return time.Time{}
}

// inMonth is the monthly firing in month m of year y (m may overflow).
func (r *recurrence) inMonth(y int, m time.Month) time.Time {
	first := time.Date(y, m, 1, 0, 0, 0, 0, r.loc)
	last := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(r.day, last), r.hour, r.minute, 0, 0, r.loc)
}

// period names the period a firing starts: the month (2026-12) for a
// monthly schedule, so moving its day or time never starts a month twice;
// the local firing time for a cron schedule.
func (r *recurrence) period(fire time.Time) string {
	fire = fire.In(r.loc)
	if r.kind == RecurMonthly {
		return fire.Format("2006-01")
	}
	return fire.Format("2006-01-02T15:04")
}

// latestDue is the latest firing not after now, starting from the one
// recorded as due (a schedule that missed periods while the platform was
// down starts only the latest of them).
func (r *recurrence) latestDue(due, now time.Time) time.Time {
	fire := due
	for i := 0; i < 10_000; i++ {
		n := r.next(fire)
		if n.IsZero() || n.After(now) {
			break
		}
		fire = n
	}
	return fire
}
