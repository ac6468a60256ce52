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
