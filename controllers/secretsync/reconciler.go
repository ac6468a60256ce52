// Package secretsync is the SecretSync reconciler: a short list of phases
// (sources, target, rollout, token check) over controllers/engine, with this
// kind's own decisions (values, status, events).
package secretsync

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/expiry"
	"certsync.io/certsync/internal/metrics"
	"certsync.io/certsync/internal/requests"
)

// secretRefIndex indexes SecretSyncs by every Secret they read or write
// ("namespace/name"), so a Secret event wakes only the SecretSyncs that use it.
const secretRefIndex = "certsync.io/secretsync-secret-refs"

// Reconciler syncs the newest values from a SecretSync's sources
// into its target Secret, restarts what uses them, warns before they
// expire and, if asked, proves them at an OAuth2 token endpoint.
type Reconciler struct {
	engine.Core
	// Poller fetches HTTPS sources and owns their schedule and cache; nil:
	// one of the reconciler's own.
	Poller *engine.Poller

	memory engine.Memory
	tokens tokenMemory
}

// +kubebuilder:rbac:groups=certsync.io,resources=secretsyncs,verbs=get;list;watch
// +kubebuilder:rbac:groups=certsync.io,resources=secretsyncs/status,verbs=get;patch

// Reconcile reads every source, picks the newest usable values, writes them
// to the target if they differ, restarts their consumers and verifies them;
// a deferred finish records status, events and metrics for what did
// happen, also when a later phase fails. A steady state makes no writes.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	var ss v1alpha1.SecretSync
	if ok, err := r.Load(ctx, req, &ss, r.forget); !ok {
		return ctrl.Result{}, err
	}
	s := newScope(&ss, r.Now(req.NamespacedName))
	handled := ss.Status.LastHandledRequests
	if handled == nil {
		handled = &v1alpha1.HandledRequests{}
	}
	if v, ok := requests.Pending(ss.Annotations, v1alpha1.AnnotationVerifyRequested, handled.Verify); ok {
		s.verifyRequest = v
	}
	if v, ok := requests.Pending(ss.Annotations, v1alpha1.AnnotationRenewRequested, handled.Renew); ok {
		s.renewRequest = v
	}
	orig := ss.DeepCopy()
	defer func() {
		res, err = r.FinishSynced(ctx, s.synced, func() engine.Record { return r.record(orig, s) }, res, err)
	}()

	if err := engine.RunPhases(ctx, s, r.readSources, r.syncTarget, r.gatherPods, r.rollout, r.verifyToken); err != nil {
		return ctrl.Result{}, err
	}
	return engine.Outcome(s.err, s.candidates, secretSyncRequeue(s))
}

// forget drops what is remembered of a deleted SecretSync.
func (r *Reconciler) forget(key types.NamespacedName) {
	r.memory.Forget(key)
	r.restarter().ReleaseBudget(key)
	r.tokens.forget(key)
	r.Poller.Retain(key, nil)
	r.Background.Forget(key, nil)
	r.Metrics.Forget(metrics.Object{Namespace: key.Namespace, Name: key.Name, Kind: metrics.KindSecretSync})
}

func secretSyncThresholds(ss *v1alpha1.SecretSync) expiry.Thresholds {
	return engine.Thresholds(ss.Spec.Expiry.WarnBefore, ss.Spec.Expiry.CriticalBefore)
}

// secretSyncRequeue is the next moment the outcome changes without any
// event: an expiry window boundary of what the target holds, a candidate
// expiring, a rollout to follow, a verification due.
func secretSyncRequeue(s *scope) time.Duration {
	next := engine.MaxRequeue
	consider := func(t time.Time) {
		if d := t.Sub(s.now); !t.IsZero() && d > 0 && d < next {
			next = d
		}
	}
	if deadline, _, ok := secretSyncDeadline(s); ok {
		consider(expiry.NextBoundary(deadline, s.now, secretSyncThresholds(s.ss)))
	}
	for _, c := range s.candidates {
		if c.Valid && !c.NotAfter.IsZero() {
			consider(c.NotAfter.Add(time.Nanosecond))
		}
	}
	if !s.ro.State.Complete() && s.ro.State.Skipped == "" {
		next = min(next, s.ro.State.Requeue(s.now))
	}
	if s.verify != nil && !s.verify.at.IsZero() {
		consider(s.verify.at.Add(s.verify.again))
	}
	if !s.nextFetch.IsZero() {
		consider(s.nextFetch.Add(engine.BoundaryMargin)) // past it, so the fetch is due
	}
	return next
}
