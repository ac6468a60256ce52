// Package certsync is the CertSync reconciler: a short list of phases
// (sources, target, rollout, verification) over controllers/engine, with
// this kind's own decisions (selection, target, verification, status, events).
package certsync

import (
	"context"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/metrics"
	"certsync.io/certsync/internal/probe"
	"certsync.io/certsync/internal/requests"
	"certsync.io/certsync/internal/sources"
)

// secretRefIndex indexes CertSyncs by every Secret they read or write
// ("namespace/name"), so a Secret event wakes only the CertSyncs that use it.
const secretRefIndex = "certsync.io/secret-refs"

// recordMetrics updates the CertSync's series. Counters count episodes, not
// reconciles: a write, or a source entering a failure.
func (r *Reconciler) recordMetrics(before *v1alpha1.CertSync, s *scope, err error) {
	obj := metrics.Object{Namespace: s.cs.Namespace, Name: s.cs.Name, Kind: metrics.KindCertSync}
	r.Metrics.Observe(obj, certSyncSnapshot(s))
	r.RecordSync(obj, s.wrote, s.err != nil || err != nil)
	old := map[string]string{}
	for _, ss := range before.Status.Sources {
		old[ss.Name] = ss.Reason
	}
	for _, ss := range s.cs.Status.Sources {
		if !ss.Ready && old[ss.Name] != ss.Reason && ss.Reason != engine.ReasonFetchInProgress {
			r.Metrics.SourceError(obj, ss.Name, ss.Reason)
		}
	}
}

// Reconciler syncs the newest valid certificate from a CertSync's
// sources into its target Secret.
type Reconciler struct {
	engine.Core
	// Prober checks what pods serve; its Concurrency bounds the connections
	// one verification opens at once.
	Prober *probe.Prober
	// Poller fetches HTTPS sources and owns their schedule and cache; nil:
	// one of the reconciler's own.
	Poller *engine.Poller

	memory   engine.Memory
	verified verifyMemory
	// unanswered: since when each CertSync's pods have not answered with
	// its current certificate (automatic rollback).
	unanswered unansweredMemory
	// certManager says whether cert-manager's Certificate CRD was installed
	// at start: its Certificates are then watched, not polled.
	certManager bool
}

// restarter restarts and evicts for this reconciler, with its memory.
func (r *Reconciler) restarter() *engine.Restarter {
	return r.Core.Restarter(&r.memory)
}

// +kubebuilder:rbac:groups=certsync.io,resources=certsyncs,verbs=get;list;watch
// +kubebuilder:rbac:groups=certsync.io,resources=certsyncs/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile reads the sources and the target, syncs the newest valid
// certificate, rolls it out and verifies it, in that order; a deferred
// finish records status, events and metrics for what did happen, also when
// a later phase fails. It is idempotent: a steady state makes no writes.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	var cs v1alpha1.CertSync
	if ok, err := r.Load(ctx, req, &cs, r.forget); !ok {
		return ctrl.Result{}, err
	}
	s := newScope(&cs, r.Now(req.NamespacedName))
	s.certificatesWatched = r.certManager
	handled := cs.Status.LastHandledRequests
	if handled == nil {
		handled = &v1alpha1.HandledRequests{}
	}
	if v, ok := requests.Pending(cs.Annotations, v1alpha1.AnnotationVerifyRequested, handled.Verify); ok {
		s.verifyRequest = v
	}
	if v, ok := requests.Pending(cs.Annotations, v1alpha1.AnnotationRenewRequested, handled.Renew); ok {
		s.renewRequest = v
	}
	orig := cs.DeepCopy()
	defer func() {
		res, err = r.FinishSynced(ctx, s.synced, func() engine.Record { return r.record(orig, s) }, res, err)
	}()

	if err := engine.RunPhases(ctx, s, r.readSources, r.readTarget, r.syncTarget, r.gatherPods, r.rollout, r.verify, r.rollBack); err != nil {
		return ctrl.Result{}, err
	}
	return engine.Outcome(s.err, s.candidates, nextRequeue(s))
}

func requirements(cs *v1alpha1.CertSync) certs.Requirements {
	req := certs.Requirements{DNSNames: cs.Spec.Validation.DNSNames}
	if d := cs.Spec.Validation.MinRemainingValidity; d != nil {
		req.MinRemainingValidity = d.Duration
	}
	return req
}

// nextRequeue is the next moment a certificate's validity changes the
// outcome without any event: a candidate becoming valid, one entering its
// minimum remaining validity, or expiring.
func nextRequeue(s *scope) time.Duration {
	minRemaining := requirements(s.cs).MinRemainingValidity
	next := engine.MaxRequeue
	consider := func(t time.Time) {
		if d := t.Sub(s.now); d > 0 && d < next {
			next = d
		}
	}
	if !s.nextFetch.IsZero() {
		consider(s.nextFetch.Add(-engine.BoundaryMargin)) // the margin is added back below
	}
	if b := nextExpiryBoundary(s); !b.IsZero() {
		consider(b)
	}
	for _, c := range s.candidates {
		if c.Reason == sources.ReasonIssuing && !s.certificatesWatched {
			// Without a watch of Certificates nothing announces the end of
			// the issuance: look again soon.
			next = min(next, issuingRequeue)
		}
		if c.Bundle == nil {
			continue
		}
		consider(c.Bundle.Leaf.NotBefore)
		consider(c.Bundle.Leaf.NotAfter.Add(-minRemaining))
		consider(c.Bundle.Leaf.NotAfter)
	}
	next += engine.BoundaryMargin // past the boundary, so the check sees its new side
	if s.rb.done != nil {
		return time.Second // the restored certificate's rollout starts next
	}
	if !s.ro.State.Complete() && s.ro.State.Skipped == "" {
		next = min(next, s.ro.State.Requeue(s.now))
	}
	if !s.verify.at.IsZero() && !s.verify.inProgress { // else the probes' end wakes it
		fresh := freshFor(s.verify.pods, verifyInterval(s.cs, s.verify.at))
		next = min(next, max(s.verify.at.Add(fresh).Sub(s.now), time.Second))
	}
	return next
}
