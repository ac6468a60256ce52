// Package expiry decides how close something is to expiring — a
// certificate, an OAuth2 client secret, an API token — and when that
// verdict next changes, so the controllers can requeue themselves for the
// exact boundary instead of waiting for an unrelated event.
package expiry

import (
	"fmt"
	"time"
)

// Defaults from the incidents: warn a month ahead, page a week ahead.
const (
	DefaultWarnBefore     = 720 * time.Hour
	DefaultCriticalBefore = 168 * time.Hour
)

// Window is where a deadline stands relative to now.
type Window string

const (
	// OK: outside the warning window.
	OK Window = "OK"
	// Warning: within warnBefore of the deadline.
	Warning Window = "WithinWarningWindow"
	// Critical: within criticalBefore of the deadline.
	Critical Window = "WithinCriticalWindow"
	// Expired: the deadline has passed.
	Expired Window = "Expired"
	// Unknown: no deadline is known.
	Unknown Window = "Unknown"
)

// Severity orders windows, worst last.
func (w Window) Severity() int {
	switch w {
	case Warning:
		return 1
	case Critical:
		return 2
	case Expired:
		return 3
	}
	return 0
}

// Thresholds are the two windows before a deadline.
type Thresholds struct {
	WarnBefore, CriticalBefore time.Duration
}

// WithDefaults fills zero thresholds with the defaults.
func (t Thresholds) WithDefaults() Thresholds {
	if t.WarnBefore <= 0 {
		t.WarnBefore = DefaultWarnBefore
	}
	if t.CriticalBefore <= 0 {
		t.CriticalBefore = DefaultCriticalBefore
	}
	return t
}

// Classify says which window notAfter is in at now. A certificate is valid
// through its NotAfter instant (RFC 5280), so Expired starts just after it.
func Classify(notAfter, now time.Time, t Thresholds) Window {
	t = t.WithDefaults()
	switch {
	case notAfter.IsZero():
		return Unknown
	case now.After(notAfter):
		return Expired
	case !now.Before(notAfter.Add(-t.CriticalBefore)):
		return Critical
	case !now.Before(notAfter.Add(-t.WarnBefore)):
		return Warning
	}
	return OK
}

// NextBoundary is the next instant after now at which Classify's answer for
// notAfter changes; zero when it never changes again (expired or unknown).
func NextBoundary(notAfter, now time.Time, t Thresholds) time.Time {
	t = t.WithDefaults()
	if notAfter.IsZero() {
		return time.Time{}
	}
	for _, b := range []time.Time{notAfter.Add(-t.WarnBefore), notAfter.Add(-t.CriticalBefore), notAfter.Add(time.Nanosecond)} {
		if b.After(now) {
			return b
		}
	}
	return time.Time{}
}

// Deadline is one thing that expires, named for humans ("target", "source
// legacy", "pod postfix-1").
type Deadline struct {
	What     string
	NotAfter time.Time
}

// Earliest returns the deadline that expires first; ok is false if none is
// known.
func Earliest(ds []Deadline) (Deadline, bool) {
	var best Deadline
	found := false
	for _, d := range ds {
		if d.NotAfter.IsZero() {
			continue
		}
		if !found || d.NotAfter.Before(best.NotAfter) {
			best, found = d, true
		}
	}
	return best, found
}

// Message describes a deadline's window in absolute terms only, so that the
// same state always renders the same text (no "in 3 days" that would change
// status on every reconcile).
func Message(d Deadline, w Window, t Thresholds) string {
	t = t.WithDefaults()
	at := d.NotAfter.UTC().Format(time.RFC3339)
	switch w {
	case Expired:
		return fmt.Sprintf("%s expired at %s", d.What, at)
	case Critical:
		return fmt.Sprintf("%s expires at %s, within the critical window of %s", d.What, at, t.CriticalBefore)
	case Warning:
		return fmt.Sprintf("%s expires at %s, within the warning window of %s", d.What, at, t.WarnBefore)
	case Unknown:
		return "no expiry is known"
	}
	return fmt.Sprintf("%s expires at %s, outside the warning window of %s", d.What, at, t.WarnBefore)
}
