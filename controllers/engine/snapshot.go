package engine

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/metrics"
)

// NewSnapshot starts the series of an object with these conditions and
// this many sources.
func NewSnapshot(conditions []metav1.Condition, sources int) metrics.Snapshot {
	return metrics.Snapshot{
		Ready:    meta.IsStatusConditionTrue(conditions, v1alpha1.ConditionReady),
		NotAfter: map[string]time.Time{},
		Sources:  sources,
	}
}

// AddSource adds one source's readiness and expiry.
func AddSource(snap *metrics.Snapshot, name string, ready bool, notAfter *metav1.Time) {
	if ready {
		snap.SourcesReady++
	}
	if notAfter != nil {
		snap.NotAfter[metrics.SourceScope(name)] = notAfter.Time
	}
}
