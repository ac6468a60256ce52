package bench

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"
)

// probeTimeline summarises connections per second over a window: flat
// (spread) verification has a max near the mean and few empty seconds;
// bunched sweeps have a max many times the mean and mostly empty seconds.
type probeTimeline struct {
	Seconds int     `json:"seconds"`
	Total   int64   `json:"connections"`
	Mean    float64 `json:"mean_per_s"`
	P50     float64 `json:"p50_per_s"`
	P99     float64 `json:"p99_per_s"`
	Max     float64 `json:"max_per_s"`
	// IdleFraction is the share of seconds with no connection at all.
	IdleFraction float64 `json:"idle_fraction"`
	// Per10s is the count in each 10 s bin, for the shape.
	Per10s []int64 `json:"per_10s"`
}

// newProbeTimeline summarises per-second connection counts.
func newProbeTimeline(perSecond []int64) probeTimeline {
	t := probeTimeline{Seconds: len(perSecond)}
	if len(perSecond) == 0 {
		return t
	}
	xs := make([]float64, len(perSecond))
	idle := 0
	for i, n := range perSecond {
		t.Total += n
		xs[i] = float64(n)
		if n == 0 {
			idle++
		}
		if i%10 == 0 {
			t.Per10s = append(t.Per10s, 0)
		}
		t.Per10s[len(t.Per10s)-1] += n
	}
	t.Mean = float64(t.Total) / float64(len(perSecond))
	t.P50, t.P99, t.Max = quantile(xs, 0.5), quantile(xs, 0.99), slices.Max(xs)
	t.IdleFraction = float64(idle) / float64(len(perSecond))
	return t
}

// sampleEverySecond reads the cumulative counter every second for window
// and returns the increase in each second.
func sampleEverySecond(ctx context.Context, window time.Duration, counter func() int64) ([]int64, error) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.Now().Add(window)
	last := counter()
	var out []int64
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		n := counter()
		out = append(out, max(n-last, 0))
		last = n
	}
	return out, nil
}

// envDuration reads a Go duration ("45m") from the environment.
func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

func TestProbeTimeline(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       []int64
		mean     float64
		max      float64
		idle     float64
		per10s   []int64
		totalCon int64
	}{
		{"empty", nil, 0, 0, 0, nil, 0},
		{"flat", []int64{3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3}, 3, 3, 0, []int64{30, 6}, 36},
		{"bunched", []int64{0, 0, 0, 0, 0, 0, 0, 0, 0, 30, 0, 6}, 3, 30, 10.0 / 12, []int64{30, 6}, 36},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := newProbeTimeline(tc.in)
			if got.Mean != tc.mean || got.Max != tc.max || got.IdleFraction != tc.idle || got.Total != tc.totalCon || !slices.Equal(got.Per10s, tc.per10s) {
				t.Errorf("newProbeTimeline(%v) = %+v", tc.in, got)
			}
		})
	}
}
