package controllers

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/metrics"
	"certsync.io/certsync/internal/probe"
)

// certSyncSnapshot is what the metrics show of a CertSync after a
// reconcile: readiness, every expiry it watches, and pod verdicts.
func certSyncSnapshot(s *scope) metrics.Snapshot {
	st := s.cs.Status
	snap := newSnapshot(st.Conditions, len(s.cs.Spec.Sources))
	if c := st.Certificate; c != nil && c.NotAfter != nil {
		snap.NotAfter[metrics.ScopeTarget] = c.NotAfter.Time
	}
	for _, src := range st.Sources {
		addSource(&snap, src.Name, src.Ready, src.NotAfter)
	}
	if len(s.verify.pods) > 0 {
		pods := &metrics.PodCounts{}
		for _, p := range s.verify.pods {
			switch p.State {
			case probe.Verified:
				pods.Verified++
			case probe.Stale:
				pods.Stale++
			default:
				pods.Unreachable++
			}
			if !p.NotAfter.IsZero() && (snap.NotAfter[metrics.ScopeServed].IsZero() || p.NotAfter.Before(snap.NotAfter[metrics.ScopeServed])) {
				snap.NotAfter[metrics.ScopeServed] = p.NotAfter
			}
		}
		snap.Pods = pods
	} else if s.verify.skippedReason == v1alpha1.ReasonNoPods {
		snap.Pods = &metrics.PodCounts{}
	}
	return snap
}

// secretSyncSnapshot is what the metrics show of a SecretSync, from its
// status.
func secretSyncSnapshot(ss *v1alpha1.SecretSync) metrics.Snapshot {
	st := ss.Status
	snap := newSnapshot(st.Conditions, len(ss.Spec.Sources))
	if sec := st.Secret; sec != nil && sec.NotAfter != nil {
		snap.NotAfter[metrics.ScopeTarget] = sec.NotAfter.Time
	}
	for _, src := range st.Sources {
		addSource(&snap, src.Name, src.Ready, src.NotAfter)
	}
	return snap
}

// newSnapshot starts the series of an object with these conditions and
// this many sources.
func newSnapshot(conditions []metav1.Condition, sources int) metrics.Snapshot {
	return metrics.Snapshot{
		Ready:    meta.IsStatusConditionTrue(conditions, v1alpha1.ConditionReady),
		NotAfter: map[string]time.Time{},
		Sources:  sources,
	}
}

// addSource adds one source's readiness and expiry.
func addSource(snap *metrics.Snapshot, name string, ready bool, notAfter *metav1.Time) {
	if ready {
		snap.SourcesReady++
	}
	if notAfter != nil {
		snap.NotAfter[metrics.SourceScope(name)] = notAfter.Time
	}
}
