package certsync

import (
	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/metrics"
	"certsync.io/certsync/internal/probe"
)

// certSyncSnapshot is what the metrics show of a CertSync after a
// reconcile: readiness, every expiry it watches, and pod verdicts.
func certSyncSnapshot(s *scope) metrics.Snapshot {
	st := s.cs.Status
	snap := engine.NewSnapshot(st.Conditions, len(s.cs.Spec.Sources))
	if c := st.Certificate; c != nil && c.NotAfter != nil {
		snap.NotAfter[metrics.ScopeTarget] = c.NotAfter.Time
	}
	for _, src := range st.Sources {
		engine.AddSource(&snap, src.Name, src.Ready, src.NotAfter)
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
