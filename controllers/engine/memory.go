package engine

import (
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"certsync.io/certsync/api/v1alpha1"
)

// MaxRestartRecords bounds status.restarts and what is remembered of them:
// one record per workload and pod lineage, so the once-per-lineage rule
// holds for up to this many workloads and bare pods per object (the CRD
// allows as many).
const MaxRestartRecords = 1000

// Memory is what a reconciler keeps in process between reconciles of its
// objects: the restarts it made (so a stale status cache cannot make it
// restart twice) and the pod a PodDisruptionBudget last blocked (said once).
// Losing it on an operator restart costs nothing the status does not hold.
type Memory struct {
	mu      sync.Mutex
	entries map[types.NamespacedName]*memoryEntry
}

type memoryEntry struct {
	restartLog []v1alpha1.RestartRecord
	blocked    string // the last pod whose eviction a PDB blocked
	// changed counts pod-set changes (restarts requested), for the kinds
	// that cache a verification of the pods.
	changed int
}

func (m *Memory) entry(key types.NamespacedName) *memoryEntry {
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

// Restarts returns the restart records remembered for key.
func (m *Memory) Restarts(key types.NamespacedName) []v1alpha1.RestartRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.entry(key).restartLog)
}

// AddRestart remembers rec (or its completion) for key.
func (m *Memory) AddRestart(key types.NamespacedName, rec v1alpha1.RestartRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(key)
	if i := slices.IndexFunc(e.restartLog, func(o v1alpha1.RestartRecord) bool { return SameRestart(o, rec) }); i >= 0 {
		e.restartLog[i].Completed = e.restartLog[i].Completed || rec.Completed
		return
	}
	e.restartLog = append(e.restartLog, rec)
	if len(e.restartLog) > MaxRestartRecords {
		e.restartLog = e.restartLog[len(e.restartLog)-MaxRestartRecords:]
	}
	if !rec.Completed {
		e.changed++
	}
}

// DropRestarts forgets key's restart records for content sha: content that
// comes back (an automatic rollback restores the previous certificate) is
// rolled out again, once, instead of counting as rolled out already.
func (m *Memory) DropRestarts(key types.NamespacedName, sha string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(key)
	e.restartLog = slices.DeleteFunc(e.restartLog, func(r v1alpha1.RestartRecord) bool { return r.SHA256 == sha })
}

// PodSetChanges counts the restarts requested for key: a verification of
// the pods made before the count moved describes pods on their way out.
func (m *Memory) PodSetChanges(key types.NamespacedName) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.entry(key).changed
}

// BlockedOnce reports whether pod is newly blocked by a PDB (so the event
// is worth sending).
func (m *Memory) BlockedOnce(key types.NamespacedName, pod string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(key)
	if e.blocked == pod {
		return false
	}
	e.blocked = pod
	return true
}

// Forget drops what is remembered of a deleted object.
func (m *Memory) Forget(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, key)
}

// SameRestart reports the same workload, or the same pod lineage
// (evictions of one owner's pods, or of one bare pod), for the same content.
func SameRestart(a, b v1alpha1.RestartRecord) bool {
	if a.Kind != b.Kind || a.SHA256 != b.SHA256 {
		return false
	}
	if a.Kind == "Pod" && a.Owner != "" {
		return a.Owner == b.Owner
	}
	return a.Name == b.Name
}
