package expiry

import (
	"testing"
	"time"
)

func TestClassifyAndNextBoundary(t *testing.T) {
	na := time.Date(2027, 1, 31, 12, 0, 0, 0, time.UTC)
	th := Thresholds{WarnBefore: 30 * 24 * time.Hour, CriticalBefore: 7 * 24 * time.Hour}
	tests := []struct {
		name string
		now  time.Time
		want Window
		next time.Time
	}{
		{"far away", na.Add(-60 * 24 * time.Hour), OK, na.Add(-30 * 24 * time.Hour)},
		{"warning starts exactly at the boundary", na.Add(-30 * 24 * time.Hour), Warning, na.Add(-7 * 24 * time.Hour)},
		{"inside warning", na.Add(-10 * 24 * time.Hour), Warning, na.Add(-7 * 24 * time.Hour)},
		{"critical at its boundary", na.Add(-7 * 24 * time.Hour), Critical, na.Add(time.Nanosecond)},
		{"still valid at notAfter", na, Critical, na.Add(time.Nanosecond)},
		{"expired just after", na.Add(time.Nanosecond), Expired, time.Time{}},
		{"long expired", na.Add(time.Hour), Expired, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(na, tt.now, th); got != tt.want {
				t.Errorf("Classify = %s, want %s", got, tt.want)
			}
			if got := NextBoundary(na, tt.now, th); !got.Equal(tt.next) {
				t.Errorf("NextBoundary = %s, want %s", got, tt.next)
			}
		})
	}
	if got := Classify(time.Time{}, na, th); got != Unknown {
		t.Errorf("zero notAfter: %s, want Unknown", got)
	}
	if got := NextBoundary(time.Time{}, na, th); !got.IsZero() {
		t.Errorf("zero notAfter boundary: %s", got)
	}
}

func TestDefaults(t *testing.T) {
	na := time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)
	if got := Classify(na, na.Add(-29*24*time.Hour), Thresholds{}); got != Warning {
		t.Errorf("default warn window: %s", got)
	}
	if got := Classify(na, na.Add(-6*24*time.Hour), Thresholds{}); got != Critical {
		t.Errorf("default critical window: %s", got)
	}
	if got := Classify(na, na.Add(-31*24*time.Hour), Thresholds{}); got != OK {
		t.Errorf("outside: %s", got)
	}
}

func TestEarliest(t *testing.T) {
	a := Deadline{"target", time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)}
	b := Deadline{"pod x", time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)}
	got, ok := Earliest([]Deadline{a, {What: "unknown"}, b})
	if !ok || got != b {
		t.Errorf("Earliest = %v %v, want %v", got, ok, b)
	}
	if _, ok := Earliest([]Deadline{{What: "unknown"}}); ok {
		t.Error("Earliest of unknowns must be not ok")
	}
}

func TestMessageIsStable(t *testing.T) {
	d := Deadline{"certificate in the target", time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)}
	th := Thresholds{}
	want := "certificate in the target expires at 2027-02-01T00:00:00Z, within the warning window of 720h0m0s"
	if got := Message(d, Warning, th); got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
	if got := Message(d, Expired, th); got != "certificate in the target expired at 2027-02-01T00:00:00Z" {
		t.Errorf("expired message: %q", got)
	}
}
