package secretsync

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/secretvalues"
)

// scope is everything one SecretSync reconcile gathered, read once. Each
// field says which phase sets it; a field of a phase that did not run is
// zero.
type scope struct {
	// ss is the SecretSync, whose status setSecretSyncStatus fills; now is
	// the reconcile's time (Reconcile).
	ss  *v1alpha1.SecretSync
	now time.Time
	// candidates are the sources' values, in spec order; winner is the
	// index of the ones to sync, -1 when none is usable; nextFetch is when
	// the next HTTPS source is due (readSources).
	candidates []secretvalues.Candidate
	winner     int
	nextFetch  time.Time
	// secretAnnotations are the annotations of the Secret sources read,
	// by source name: their consent to release values (checkToken).
	secretAnnotations map[string]map[string]string
	// target is the target Secret, nil when missing; conflict says why it
	// is not this SecretSync's to write; differs: the target does not hold
	// the winner (a write is due, or was held back by suspend); wrote: this
	// reconcile wrote it; err: a write that failed (syncTarget).
	target         *corev1.Secret
	conflict       string
	differs, wrote bool
	err            error
	// heldSource and heldNotAfter are the source and expiry of what the
	// target holds when it is ours (syncTarget); ro.Held is the hash of the
	// managed values ("" when some are missing) and ro.SyncedAt when they
	// were written.
	heldSource   string
	heldNotAfter time.Time
	// synced: the sync phase ran (syncTarget).
	synced bool
	// ro is the rollout: the pods that use the target (gatherPods), what
	// was restarted and evicted (rollout).
	ro engine.Rollout
	// verify is the token check, nil when none is configured (verify);
	// verified: the verify phase ran.
	verify   *tokenCheck
	verified bool
	// verifyRequest and renewRequest are the request annotations' values
	// not yet served (kubectl certsync verify/renew), "" when none is
	// pending (Reconcile).
	verifyRequest, renewRequest string
}

// newScope starts a reconcile of ss at now.
func newScope(ss *v1alpha1.SecretSync, now time.Time) *scope {
	return &scope{ss: ss, now: now, winner: -1, ro: engine.Rollout{
		Key: client.ObjectKeyFromObject(ss), Spec: &ss.Spec.Rollout, Suspend: ss.Spec.Suspend, Now: now, What: "secret values"}}
}
