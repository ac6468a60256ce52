package engine

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func TestSpreadInterval(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		uid      types.UID
		want     time.Duration // 0: only the bounds are checked
	}{
		{"no UID yet: unchanged", 5 * time.Minute, "", 5 * time.Minute},
		{"at the 10s floor: unchanged", 10 * time.Second, "a", 10 * time.Second},
		{"below the floor: unchanged", 5 * time.Second, "a", 5 * time.Second},
		{"5m: within 10%", 5 * time.Minute, "0b6ed0a1-6a4b-4bd0-9d49-4f6d8b1b4b3c", 0},
		{"11s: never under 10s", 11 * time.Second, "0b6ed0a1-6a4b-4bd0-9d49-4f6d8b1b4b3c", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := SpreadInterval(tc.interval, tc.uid)
			if tc.want != 0 && got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			lo := max(tc.interval-time.Duration(float64(tc.interval)*MaxIntervalSpread), minSpreadInterval)
			if tc.interval > minSpreadInterval && (got < lo || got > tc.interval) {
				t.Fatalf("got %s, want within [%s, %s]", got, lo, tc.interval)
			}
			if again := SpreadInterval(tc.interval, tc.uid); again != got {
				t.Fatalf("not deterministic: %s then %s", got, again)
			}
		})
	}
}

// Objects created together get periods spread over the allowed range, so
// their sweeps drift apart rather than bunching.
func TestSpreadIntervalSpreadsObjects(t *testing.T) {
	const n, interval = 1000, 5 * time.Minute
	buckets := make([]int, 10) // tenths of the 30s range
	for i := range n {
		got := SpreadInterval(interval, types.UID(fmt.Sprintf("uid-%d", i)))
		b := int(float64(interval-got) / (float64(interval) * MaxIntervalSpread) * 10)
		buckets[min(b, 9)]++
	}
	for i, c := range buckets {
		// Uniform would be 100 each; a hash this poor would be a bug.
		if c < 50 || c > 150 {
			t.Fatalf("bucket %d of the spread holds %d of %d objects: %v", i, c, n, buckets)
		}
	}
}

func TestNextSlot(t *testing.T) {
	const interval = 5 * time.Minute
	base := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for i := range 200 {
		uid := types.UID(fmt.Sprintf("uid-%d", i))
		at := base.Add(time.Duration(i) * 1700 * time.Millisecond)
		next := NextSlot(at, interval, uid)
		if d := next.Sub(at); d < minSpreadInterval || d > interval {
			t.Fatalf("%s: next after %s, want within [%s, %s]", uid, d, minSpreadInterval, interval)
		}
		// Once on its slot (the first next may be held off it by the
		// floor), an object keeps a period of exactly interval.
		onSlot := NextSlot(next, interval, uid)
		if again := NextSlot(onSlot, interval, uid); again.Sub(onSlot) != interval {
			t.Fatalf("%s: from its slot, next after %s, want %s", uid, again.Sub(onSlot), interval)
		}
	}
	for _, tc := range []struct {
		name     string
		interval time.Duration
		uid      types.UID
		want     time.Duration
	}{
		{"no UID yet: the interval", interval, "", interval},
		{"an interval under the floor: the interval", 5 * time.Second, "a", 5 * time.Second},
	} {
		if got := NextSlot(base, tc.interval, tc.uid).Sub(base); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

// Objects verified in the same second get slots spread over the whole
// interval, not bunched: what flattens an estate's probe rate.
func TestNextSlotSpreadsObjectsVerifiedTogether(t *testing.T) {
	const n, interval = 1000, 5 * time.Minute
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	buckets := make([]int, 10) // tenths of the interval
	for i := range n {
		d := NextSlot(at, interval, types.UID(fmt.Sprintf("uid-%d", i))).Sub(at)
		buckets[min(int(d*10/interval), 9)]++
	}
	for i, c := range buckets {
		if c < 50 || c > 150 { // uniform: 100 each
			t.Fatalf("tenth %d of the interval holds %d of %d objects: %v", i, c, n, buckets)
		}
	}
}
