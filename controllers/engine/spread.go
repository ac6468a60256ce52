package engine

import (
	"hash/fnv"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// MaxIntervalSpread is the largest fraction SpreadInterval takes off an
// interval.
const MaxIntervalSpread = 0.10

// minSpreadInterval is the shortest interval SpreadInterval returns: the
// API's floor for verification intervals.
const minSpreadInterval = 10 * time.Second

// SpreadInterval shortens interval by a fraction of up to
// MaxIntervalSpread that is fixed per object (derived from its UID).
//
// Objects created together (an estate applied at once, or after an
// operator restart) would otherwise repeat their periodic work in the same
// instant every interval: a burst of probes and reconciles, then nothing.
// With each object on a slightly different period their phases drift apart
// and the work spreads over the interval. The fraction is deterministic so
// that an object's own period is stable (steady state stays predictable and
// writes nothing), and the interval is only ever shortened, never past
// minSpreadInterval, so no check happens later than the user asked.
func SpreadInterval(interval time.Duration, uid types.UID) time.Duration {
	if interval <= minSpreadInterval || uid == "" {
		return interval
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(uid)) // hash.Hash.Write never fails
	frac := float64(h.Sum32()%1000) / 1000 * MaxIntervalSpread
	return max(interval-time.Duration(float64(interval)*frac), minSpreadInterval)
}

// NextSlot is when an object verified at at next verifies, for a
// periodic interval: its own slot in the interval, a phase fixed per
// object (derived from its UID), at most interval after at and at least
// minSpreadInterval after it (or interval, if shorter).
//
// SpreadInterval only separates objects by up to a tenth of an interval
// each cycle: 1,000 CertSyncs that became Ready within a minute still
// probed their 3,000 pods in bursts of 90 connections a second, with a
// third of the seconds idle, for the first cycles. With a fixed slot each
// object's first periodic verification after any event already lands at
// its place in the interval, so the estate's probes are spread evenly from
// the first cycle; the cost is that one cycle after an event may be
// shorter than the interval (never longer).
func NextSlot(at time.Time, interval time.Duration, uid types.UID) time.Time {
	if interval <= 0 || uid == "" {
		return at.Add(interval)
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(uid)) // hash.Hash.Write never fails
	phase := time.Duration(h.Sum64() % uint64(interval))
	// The first instant after at that is phase past a multiple of interval
	// (counted from the Unix epoch, so that every replica agrees).
	since := (time.Duration(at.UnixNano()%int64(interval)) - phase + interval) % interval
	next := at.Add(interval - since)
	return maxTime(next, at.Add(min(minSpreadInterval, interval)))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
