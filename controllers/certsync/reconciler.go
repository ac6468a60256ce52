// Package certsync is the CertSync reconciler: a short list of phases
// (sources, target, rollout, verification) over controllers/engine, with
// this kind's own decisions (selection, target, verification, status, events).
package certsync

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/metrics"
	"certsync.io/certsync/internal/probe"
	"certsync.io/certsync/internal/rollout"
	"certsync.io/certsync/internal/selection"
	"certsync.io/certsync/internal/sources"
	"certsync.io/certsync/internal/target"
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
	// certManager says whether cert-manager's Certificate CRD was installed
	// at start: its Certificates are then watched, not polled.
	certManager bool
}

// restarter restarts and evicts for this reconciler, with its memory.
func (r *Reconciler) restarter() *engine.Restarter {
	return &engine.Restarter{Client: r.Client, Memory: &r.memory}
}

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
	// rolled and verified: those phases completed (rollout, verify).
	rolled, verifiedDone bool
	// verify is what the verify phase found (verify).
	verify verifyState
	// certificatesWatched: cert-manager's Certificates wake their
	// CertSyncs, so an issuance in flight needs no polling (Reconcile).
	certificatesWatched bool
	// live reads pods and workloads uncached; set on first use (verify).
	live *liveView
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

	if err := engine.RunPhases(ctx, s, r.readSources, r.readTarget, r.syncTarget, r.gatherPods, r.rollout, r.verify); err != nil {
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
		Actions:     actionEvents(s),
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
	r.Poller.Retain(key, nil)
	r.Metrics.Forget(metrics.Object{Namespace: key.Namespace, Name: key.Name, Kind: metrics.KindCertSync})
}

func (r *Reconciler) readTarget(ctx context.Context, s *scope) error {
	var secret corev1.Secret
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: s.cs.Namespace, Name: s.cs.Spec.Target.SecretName}, &secret)
	switch {
	case apierrors.IsNotFound(err):
		s.target = nil
	case err != nil:
		return fmt.Errorf("reading target Secret: %w", err)
	default:
		s.target = &secret
		s.targetLeaf = target.CurrentLeaf(&secret)
	}
	return nil
}

// syncTarget decides and performs the single write a reconcile may make.
// A transient failure to read what the write needs (a keystore password)
// fails the reconcile, to be retried with backoff; a write that fails is
// recorded in Synced.
func (r *Reconciler) syncTarget(ctx context.Context, s *scope) error {
	if err := r.decideAndWrite(ctx, s); err != nil {
		return err
	}
	s.synced = true
	return nil
}

func (r *Reconciler) decideAndWrite(ctx context.Context, s *scope) error {
	if s.target != nil {
		if d := target.CheckOwnership(s.target, s.cs.Name); d != nil {
			s.outcome = *d
			return nil
		}
	}
	if s.winner < 0 {
		s.outcome = target.Decision{Action: target.None}
		return nil
	}
	w := s.candidates[s.winner]
	extra, err := r.outputData(ctx, s, w.Bundle)
	var se *sources.Error
	if errors.As(err, &se) && se.Transient {
		return fmt.Errorf("making the additional output formats: %w", err)
	}
	if err != nil {
		s.outcome = target.Decision{Action: target.None}
		s.outputErr = err
		return nil
	}
	s.outcome = target.Decide(s.target, s.cs.Name, w.Source, w.Bundle, extra, s.cs.Spec.Validation.AllowDowngrade)
	if s.cs.Spec.Suspend || (s.outcome.Action != target.Create && s.outcome.Action != target.Update) {
		return nil
	}
	desired := target.Apply(s.target, s.cs.Namespace, s.cs.Spec.Target.SecretName, s.cs.Name, w.Source, w.Bundle, extra, s.now)
	if s.target == nil {
		err = r.Client.Create(ctx, desired)
	} else {
		// Update carries the resourceVersion we read: a concurrent change
		// makes it fail and the next reconcile decides again.
		err = r.Client.Update(ctx, desired)
	}
	if err != nil {
		s.err = fmt.Errorf("writing target Secret %s: %w", desired.Name, err)
		return nil
	}
	s.target, s.targetLeaf, s.wrote = desired, w.Bundle.Leaf, true
	log.FromContext(ctx).Info("synced target", "secret", desired.Name, "source", w.Source,
		"sha256", w.Bundle.SHA256(), "serial", certs.SerialHex(w.Bundle.Leaf), "notAfter", w.Bundle.Leaf.NotAfter)
	return nil
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
	if !s.ro.State.Complete() && s.ro.State.Skipped == "" {
		next = min(next, engine.RollingRequeue)
	}
	if !s.verify.at.IsZero() {
		fresh := freshFor(s.verify.pods, verifyInterval(s.cs))
		next = min(next, max(s.verify.at.Add(fresh).Sub(s.now), time.Second))
	}
	return next
}

// SetupWithManager registers the CertSync controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Complete(mgr)
	if r.Prober == nil {
		r.Prober = &probe.Prober{}
	}
	if r.Poller == nil {
		r.Poller = &engine.Poller{}
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.CertSync{}, secretRefIndex, secretRefs); err != nil {
		return err
	}
	secrets, err := r.SecretSource(mgr, r.certSyncsForSecret, &v1alpha1.CertSyncList{})
	if err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.CertSync{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Every Secret event is seen; no Secret is kept in memory.
		WatchesRawSource(secrets).
		// Pods are cached stripped to what certsync reads (ManagerOptions).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.certSyncsForPod)).
		// Workload status tells when a rollout completes; these informers
		// exist anyway because the rollout phase reads workloads cached.
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(r.certSyncsForWorkload)).
		Watches(&appsv1.StatefulSet{}, handler.EnqueueRequestsFromMapFunc(r.certSyncsForWorkload)).
		Watches(&appsv1.DaemonSet{}, handler.EnqueueRequestsFromMapFunc(r.certSyncsForWorkload)).
		WithOptions(r.ControllerOptions()).
		Named("certsync")
	if r.certManager, err = certificatesServed(mgr); err != nil {
		return err
	}
	if r.certManager {
		// A Certificate that turns Ready (its issuance done) wakes its
		// CertSyncs at once; metadata only, as their status is read from
		// the API server when used.
		b = b.WatchesMetadata(&cmapi.Certificate{}, handler.EnqueueRequestsFromMapFunc(r.certSyncsForCertificate))
	} else {
		log.Log.Info("cert-manager's Certificate CRD is not installed: Certificate sources are polled while an issuance is in flight")
	}
	return b.Complete(r)
}

// certificatesServed reports whether the API server serves cert-manager's
// Certificates. Without the CRD the operator starts all the same: a
// CertSync that names a Certificate reports it missing.
func certificatesServed(mgr ctrl.Manager) (bool, error) {
	_, err := mgr.GetRESTMapper().RESTMapping(cmapi.SchemeGroupVersion.WithKind(cmapi.CertificateKind).GroupKind(), cmapi.SchemeGroupVersion.Version)
	switch {
	case err == nil:
		return true, nil
	case meta.IsNoMatchError(err):
		return false, nil
	default:
		return false, fmt.Errorf("looking up cert-manager's Certificate kind: %w", err)
	}
}

// certSyncsForCertificate wakes the CertSyncs that read the Certificate.
func (r *Reconciler) certSyncsForCertificate(ctx context.Context, obj client.Object) []ctrl.Request {
	return r.certSyncsByRef(ctx, obj, certificateRef(obj.GetNamespace(), obj.GetName()))
}

func secretRefs(obj client.Object) []string {
	cs, ok := obj.(*v1alpha1.CertSync)
	if !ok {
		return nil
	}
	refs := []string{cs.Namespace + "/" + cs.Spec.Target.SecretName}
	local := func(name string) { refs = append(refs, cs.Namespace+"/"+name) }
	for _, src := range cs.Spec.Sources {
		switch {
		case src.Secret != nil:
			refs = append(refs, sources.SecretRef(cs.Namespace, src.Secret))
		case src.Certificate != nil:
			// cert-manager marks the Secrets it issues with the Certificate's
			// name: certSyncsForSecret looks them up by it.
			refs = append(refs, certificateRef(cs.Namespace, src.Certificate.Name))
		case src.HTTPS != nil:
			if r := src.HTTPS.PasswordSecretRef; r != nil {
				local(r.Name)
			}
			if r := src.HTTPS.CASecretRef; r != nil {
				local(r.Name)
			}
			if r := src.HTTPS.AuthSecretRef; r != nil {
				local(r.Name)
			}
		}
	}
	if ks := cs.Spec.Target.Keystores; ks != nil {
		for _, k := range []*v1alpha1.Keystore{ks.PKCS12, ks.JKS} {
			if k != nil {
				local(k.PasswordSecretRef.Name)
			}
		}
	}
	return refs
}

func (r *Reconciler) certSyncsForSecret(ctx context.Context, obj client.Object) []ctrl.Request {
	keys := []string{obj.GetNamespace() + "/" + obj.GetName()}
	if crt := obj.GetAnnotations()[cmapi.CertificateNameKey]; crt != "" {
		keys = append(keys, certificateRef(obj.GetNamespace(), crt))
	}
	return r.certSyncsByRef(ctx, obj, keys...)
}

// certSyncsByRef lists the CertSyncs indexed under any of keys.
func (r *Reconciler) certSyncsByRef(ctx context.Context, obj client.Object, keys ...string) []ctrl.Request {
	var reqs []ctrl.Request
	for _, key := range keys {
		var list v1alpha1.CertSyncList
		if err := r.Client.List(ctx, &list, client.MatchingFields{secretRefIndex: key}); err != nil {
			log.FromContext(ctx).Error(err, "listing CertSyncs", "object", client.ObjectKeyFromObject(obj))
			return nil
		}
		for i := range list.Items {
			reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}

func certificateRef(ns, name string) string { return "Certificate:" + ns + "/" + name }

// certSyncsForPod wakes the CertSyncs of the pod's namespace whose target
// the pod mounts or whose verify selector matches it.
func (r *Reconciler) certSyncsForPod(ctx context.Context, obj client.Object) []ctrl.Request {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	var list v1alpha1.CertSyncList
	if err := r.Client.List(ctx, &list, client.InNamespace(pod.Namespace)); err != nil {
		log.FromContext(ctx).Error(err, "listing CertSyncs for pod", "pod", client.ObjectKeyFromObject(pod))
		return nil
	}
	var reqs []ctrl.Request
	for i := range list.Items {
		cs := &list.Items[i]
		match := rollout.MountsSecret(&pod.Spec, cs.Spec.Target.SecretName)
		if sel := cs.Spec.Verify.Selector; sel != nil && !match {
			if s, err := metav1.LabelSelectorAsSelector(sel); err == nil && s.Matches(labels.Set(pod.Labels)) {
				match = true
			}
		}
		if match {
			reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(cs)})
		}
	}
	return reqs
}

// certSyncsForWorkload wakes the CertSyncs of the workload's namespace whose
// target its pod template mounts or that list it.
func (r *Reconciler) certSyncsForWorkload(ctx context.Context, obj client.Object) []ctrl.Request {
	tmpl := rollout.TemplateOf(obj)
	if tmpl == nil {
		return nil
	}
	var list v1alpha1.CertSyncList
	if err := r.Client.List(ctx, &list, client.InNamespace(obj.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "listing CertSyncs for workload", "workload", client.ObjectKeyFromObject(obj))
		return nil
	}
	var reqs []ctrl.Request
	for i := range list.Items {
		cs := &list.Items[i]
		listed := slices.ContainsFunc(cs.Spec.Rollout.Workloads, func(w v1alpha1.WorkloadRef) bool { return w.Name == obj.GetName() })
		if listed || rollout.MountsSecret(&tmpl.Spec, cs.Spec.Target.SecretName) {
			reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(cs)})
		}
	}
	return reqs
}
