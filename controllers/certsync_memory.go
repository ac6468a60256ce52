package controllers

import (
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/probe"
	"certsync.io/certsync/internal/verification"
)

// memory is what certsync keeps between reconciles in process: the last
// verification per CertSync (so pod events do not trigger a network sweep
// each), the restarts made (so a stale status cache cannot make it restart
// twice) and each HTTPS source's last fetch (fetched per refreshInterval). Losing it on an operator restart costs one verification.
type memory struct {
	mu      sync.Mutex
	entries map[types.NamespacedName]*memoryEntry
	// httpsStates by "namespace/name/source".
	httpsStates map[string]httpsState
}

type memoryEntry struct {
	sha, podsKey string
	at           time.Time
	pods         []verification.PodResult
	restartLog   []v1alpha1.RestartRecord
	blocked      string // the last pod whose eviction a PDB blocked
}

func (m *memory) entry(key types.NamespacedName) *memoryEntry {
	if m.entries == nil {
		m.entries = map[types.NamespacedName]*memoryEntry{}
	}
	e, ok := m.entries[key]
	if !ok {
		e = &memoryEntry{}
		m.entries[key] = e
	}
	return e
}

func (m *memory) restarts(key types.NamespacedName) []v1alpha1.RestartRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.entry(key).restartLog)
}

func (m *memory) addRestart(key types.NamespacedName, rec v1alpha1.RestartRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(key)
	if i := slices.IndexFunc(e.restartLog, func(o v1alpha1.RestartRecord) bool { return sameRestart(o, rec) }); i >= 0 {
		e.restartLog[i].Completed = e.restartLog[i].Completed || rec.Completed
		return
	}
	e.restartLog = append(e.restartLog, rec)
	if len(e.restartLog) > maxRestartRecords {
		e.restartLog = e.restartLog[len(e.restartLog)-maxRestartRecords:]
	}
	if !rec.Completed {
		e.podsKey = "" // the pod set changes: verify afresh next time
	}
}

// lastVerification returns the cached results when they still describe the
// same certificate and pods and are younger than interval.
func (m *memory) lastVerification(key types.NamespacedName, sha, podsKey string, now time.Time, interval time.Duration) ([]verification.PodResult, time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(key)
	if e.sha != sha || e.podsKey != podsKey || e.at.IsZero() || now.Sub(e.at) >= freshFor(e.pods, interval) {
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

func (m *memory) storeVerification(key types.NamespacedName, sha, podsKey string, at time.Time, pods []verification.PodResult) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(key)
	e.sha, e.podsKey, e.at, e.pods = sha, podsKey, at, pods
}

// blockedOnce reports whether pod is newly blocked by a PDB (so the event
// is worth sending).
func (m *memory) blockedOnce(key types.NamespacedName, pod string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(key)
	if e.blocked == pod {
		return false
	}
	e.blocked = pod
	return true
}

func (m *memory) httpsState(source string) httpsState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.httpsStates[source]
}

func (m *memory) storeHTTPS(source string, st httpsState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.httpsStates == nil {
		m.httpsStates = map[string]httpsState{}
	}
	m.httpsStates[source] = st
}

// forget drops what is remembered of a deleted CertSync and returns the
// keys of its HTTPS sources, whose cached bodies (private keys among them)
// the fetcher must drop too.
func (m *memory) forget(key types.NamespacedName) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, key)
	prefix := key.String() + "/"
	var sources []string
	for k := range m.httpsStates {
		if strings.HasPrefix(k, prefix) {
			delete(m.httpsStates, k)
			sources = append(sources, k)
		}
	}
	return sources
}
