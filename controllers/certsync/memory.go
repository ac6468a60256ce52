package certsync

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"certsync.io/certsync/internal/metrics"
	"certsync.io/certsync/internal/probe"
	"certsync.io/certsync/internal/verification"
)

// verifyMemory is the last verification per CertSync, kept in process so
// pod events do not trigger a network sweep each. Losing it on an operator
// restart costs one verification. Restarts and HTTPS sources are
// remembered by the engine (engine.Memory, engine.Poller).
type verifyMemory struct {
	mu      sync.Mutex
	entries map[types.NamespacedName]verifyEntry
}

type verifyEntry struct {
	sha, podsKey string
	// changes is the pod-set change count (engine.Memory) the results were
	// measured at: a restart since then makes them describe leaving pods.
	changes int
	at      time.Time
	pods    []verification.PodResult
}

// last returns the cached results when they still describe the same
// certificate and pods and are younger than interval.
func (m *verifyMemory) last(key types.NamespacedName, sha, podsKey string, changes int, now time.Time, interval func(at time.Time) time.Duration) ([]verification.PodResult, time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok || e.sha != sha || e.podsKey != podsKey || e.changes != changes || e.at.IsZero() || now.Sub(e.at) >= freshFor(e.pods, interval(e.at)) {
		return nil, time.Time{}, false
	}
	return e.pods, e.at, true
}

// previous returns the last results for the same certificate and pods,
// whatever their age: what stands while a new verification runs.
func (m *verifyMemory) previous(key types.NamespacedName, sha, podsKey string) ([]verification.PodResult, time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok || e.sha != sha || e.podsKey != podsKey || e.at.IsZero() {
		return nil, time.Time{}, false
	}
	return e.pods, e.at, true
}

// freshFor is how long a verification result stands before it is repeated.
func freshFor(pods []verification.PodResult, interval time.Duration) time.Duration {
	for _, p := range pods {
		if p.State != probe.Verified {
			return min(interval, unsettledRecheck)
		}
	}
	return interval
}

// get returns the last results whatever their age; nil when none.
func (m *verifyMemory) get(key types.NamespacedName) *verifyEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok {
		return nil
	}
	return &e
}

func (m *verifyMemory) store(key types.NamespacedName, e verifyEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		m.entries = map[types.NamespacedName]verifyEntry{}
	}
	m.entries[key] = e
}

func (m *verifyMemory) forget(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, key)
}

// forget drops what is remembered of a deleted CertSync: restarts,
// verification, its HTTPS sources' state and cached bodies (private keys
// among them), and its series.
func (r *Reconciler) forget(key types.NamespacedName) {
	r.memory.Forget(key)
	r.restarter().ReleaseBudget(key)
	r.verified.forget(key)
	r.unanswered.forget(key)
	r.Poller.Retain(key, nil)
	r.Background.Forget(key, nil)
	r.Metrics.Forget(metrics.Object{Namespace: key.Namespace, Name: key.Name, Kind: metrics.KindCertSync})
}
