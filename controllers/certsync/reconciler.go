// Package certsync is the CertSync reconciler: a short list of phases
// (sources, target, rollout, verification) over controllers/engine, with
// this kind's own decisions (selection, target, verification, status, events).
package certsync

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/metrics"
	"certsync.io/certsync/internal/probe"
	"certsync.io/certsync/internal/selection"
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
		if !ss.Ready && old[ss.Name] != ss.Reason {
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
	return &engine.Restarter{Client: r.Client, Memory: &r.memory}
}

// +kubebuilder:rbac:groups=certsync.io,resources=certsyncs,verbs=get;list;watch
// +kubebuilder:rbac:groups=certsync.io,resources=certsyncs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
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
	orig := cs.DeepCopy()
	defer func() { res, err = r.finish(ctx, orig, s, res, err) }()

	if err := engine.RunPhases(ctx, s, r.readSources, r.readTarget, r.syncTarget, r.gatherPods, r.rollout, r.verify, r.rollBack); err != nil {
		return ctrl.Result{}, err
	}
	if err := engine.RetryError(s.err, s.candidates, func(c selection.Candidate) (string, string, bool) {
		return c.Source, c.Message, c.Transient
	}); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: nextRequeue(s)}, nil
}

// finish records what the reconcile did, whichever phase it reached: the
// status (only the parts of the phases that ran), then the events, then
// the metrics. A reconcile that wrote nothing and failed before its sync
// phase records nothing: it learned nothing worth a write.
func (r *Reconciler) finish(ctx context.Context, orig *v1alpha1.CertSync, s *scope, res ctrl.Result, err error) (ctrl.Result, error) {
	if !s.synced {
		return res, err
	}
	setStatus(s)
	rec := engine.Record{
		Orig: orig, Obj: s.cs,
		StatusOf:    func(o client.Object) any { return o.(*v1alpha1.CertSync).Status },
		Actions:     append(actionEvents(s), rollbackEvents(s)...),
		Transitions: transitionEvents(orig, s.cs, s),
	}
	res, err = r.Finish(ctx, rec, res, err)
	r.recordMetrics(orig, s, err)
	return res, err
}

// forget drops what is remembered of a deleted CertSync: restarts,
// verification, its HTTPS sources' state and cached bodies (private keys
// among them), and its series.
func (r *Reconciler) forget(key types.NamespacedName) {
	r.memory.Forget(key)
	r.verified.forget(key)
	r.unanswered.forget(key)
	r.Poller.Retain(key, nil)
	r.Metrics.Forget(metrics.Object{Namespace: key.Namespace, Name: key.Name, Kind: metrics.KindCertSync})
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
		next = min(next, engine.RollingRequeue)
	}
	if !s.verify.at.IsZero() {
		fresh := freshFor(s.verify.pods, verifyInterval(s.cs))
		next = min(next, max(s.verify.at.Add(fresh).Sub(s.now), time.Second))
	}
	return next
}
