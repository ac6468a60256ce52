package sources

import "time"

// Backoff bounds for a failing source.
const (
	BackoffBase = 5 * time.Second
	BackoffCap  = 10 * time.Minute
)

// Backoff is how long to wait before fetching a source again after its
// failures-th consecutive failure: exponential from BackoffBase, capped at
// BackoffCap, spread by ±20% (jitter in [0,1)) so that many CertSyncs of one
// provider do not retry in lockstep when it comes back.
func Backoff(failures int, jitter float64) time.Duration {
	if failures < 1 {
		failures = 1
	}
	d := BackoffBase
	for i := 1; i < failures && d < BackoffCap; i++ {
		d *= 2
	}
	d = min(d, BackoffCap)
	return time.Duration(float64(d) * (0.8 + 0.4*jitter))
}
