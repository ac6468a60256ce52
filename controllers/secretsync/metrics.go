package secretsync

import (
	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/metrics"
)

// secretSyncSnapshot is what the metrics show of a SecretSync, from its
// status.
func secretSyncSnapshot(ss *v1alpha1.SecretSync) metrics.Snapshot {
	st := ss.Status
	snap := engine.NewSnapshot(st.Conditions, len(ss.Spec.Sources))
	if sec := st.Secret; sec != nil && sec.NotAfter != nil {
		snap.NotAfter[metrics.ScopeTarget] = sec.NotAfter.Time
	}
	for _, src := range st.Sources {
		engine.AddSource(&snap, src.Name, src.Ready, src.NotAfter)
	}
	return snap
}
