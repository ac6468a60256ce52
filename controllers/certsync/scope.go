package certsync

import (
	"crypto/x509"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/selection"
	"certsync.io/certsync/internal/target"
)

// scope is everything one reconcile gathered, read once. Each field says
// which phase sets it; a field of a phase that did not run is zero.
type scope struct {
	// cs is the CertSync, whose status setStatus fills; now is the
	// reconcile's time (Reconcile).
	cs  *v1alpha1.CertSync
	now time.Time
	// candidates are the sources' certificates, in spec order; winner is
	// the index of the one to sync, -1 when none is valid (readSources).
	candidates []selection.Candidate
	winner     int
	// checked is when each HTTPS source's current outcome was first seen;
	// nextFetch is when the next HTTPS source is due (readSources).
	checked   map[string]time.Time
	nextFetch time.Time
	// target is the target Secret, nil when missing; targetLeaf its
	// certificate, parsed once, nil if none (readTarget, then syncTarget).
	target     *corev1.Secret
	targetLeaf *x509.Certificate
	// outcome is what the target decision was; wrote whether this
	// reconcile wrote the target; err a write that failed; outputErr why
	// the additional output formats could not be made (syncTarget).
	outcome   target.Decision
	wrote     bool
	err       error
	outputErr error
	// synced: the sync phase ran, so Synced and the certificate describe
	// this reconcile (syncTarget).
	synced bool
	// ro is the rollout: what the target holds, the pods that use it and
	// the restarts for it (gatherPods), what was restarted (rollout) and
	// evicted (rollout, verify).
	ro engine.Rollout
	// verifyPods are the pods to verify: the selector's, or the ones that
	// mount the target; selectorErr says why verify.selector cannot be
	// used (gatherPods).
	verifyPods  []*corev1.Pod
	selectorErr error
	// verifiedDone: the verify phase completed (the rollout's is ro.Done).
	verifiedDone bool
	// verify is what the verify phase found (verify).
	verify verifyState
	// certificatesWatched: cert-manager's Certificates wake their
	// CertSyncs, so an issuance in flight needs no polling (Reconcile).
	certificatesWatched bool
	// rb is what the automatic rollback decided and did (syncTarget,
	// rollBack).
	rb rollbackState
	// live reads pods and workloads uncached; set on first use (verify).
	live *liveView
	// verifyRequest and renewRequest are the request annotations' values
	// not served yet, "" when none (Reconcile).
	verifyRequest, renewRequest string
}

// newScope starts a reconcile of cs at now.
func newScope(cs *v1alpha1.CertSync, now time.Time) *scope {
	return &scope{cs: cs, now: now, winner: -1, ro: engine.Rollout{
		Key: client.ObjectKeyFromObject(cs), Spec: &cs.Spec.Rollout, Suspend: cs.Spec.Suspend, Now: now, What: "certificate"}}
}

// liveView returns the reconcile's uncached view of pods and workloads.
func (s *scope) liveView(r *Reconciler) *liveView {
	if s.live == nil {
		s.live = newLiveView(r.APIReader, s.cs.Namespace)
	}
	return s.live
}

func (s *scope) key() types.NamespacedName { return client.ObjectKeyFromObject(s.cs) }
