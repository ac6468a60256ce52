package controllers

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"

	"certsync.io/certsync/api/v1alpha1"
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
func (r *CertSyncReconciler) recordMetrics(before *v1alpha1.CertSync, s *scope) {
	obj := metrics.Object{Namespace: s.cs.Namespace, Name: s.cs.Name, Kind: metrics.KindCertSync}
	r.Metrics.Observe(obj, certSyncSnapshot(s))
	switch {
	case s.wrote:
		r.Metrics.SyncResult(obj, "success")
	case s.err != nil:
		r.Metrics.SyncResult(obj, "error")
	}
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

// conflictRequeue retries a status write that lost to a newer version of
// the CertSync; the cache catches up within milliseconds.
const conflictRequeue = 100 * time.Millisecond

// boundaryMargin is how far past a time boundary a CertSync wakes, so the
// check sees the boundary's new side.
const boundaryMargin = 50 * time.Millisecond

// maxRequeue bounds how long a CertSync sleeps without an event; it is a
// safety net only, watches and time boundaries drive the real work.
const maxRequeue = 12 * time.Hour

// CertSyncReconciler syncs the newest valid certificate from a CertSync's
// sources into its target Secret.
type CertSyncReconciler struct {
	// Client reads CertSyncs, pods and workloads from the cache and Secrets
	// from the API server (see ManagerOptions).
	Client client.Client
	// APIReader reads around the cache, for the decisions that must not act
	// on a lagging one (evicting a pod); nil means the manager's.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	// Prober checks what pods serve; its Concurrency bounds the connections
	// one verification opens at once.
	Prober *probe.Prober
	// HTTPS fetches HTTPS sources, with conditional requests.
	HTTPS *sources.HTTPSFetcher
	// Metrics records per-object series; nil records nothing.
	Metrics *metrics.Recorder

	memory memory
}

// scope is everything one reconcile gathered, read once.
type scope struct {
	cs     *v1alpha1.CertSync
	now    time.Time
	cands  []selection.Candidate
	winner int            // index into cands, -1 when no candidate is valid
	target *corev1.Secret // nil when missing
	// targetLeaf is the target's certificate, parsed once (nil if none).
	targetLeaf *x509.Certificate
	outcome    target.Decision
	wrote      bool
	err        error // a write that failed, for status
	// outputErr says why the additional output formats could not be made.
	outputErr error

	// want is the fingerprint of the certificate the target holds (when it
	// is ours); syncedAt is when it was written.
	want       string
	syncedAt   time.Time
	usingPods  []*corev1.Pod // pods that mount the target
	verifyPods []*corev1.Pod // pods to verify (selector, or usingPods)
	restarts   []v1alpha1.RestartRecord
	// selectorErr says why verify.selector cannot be used.
	selectorErr error
	// evicted counts this reconcile's evictions.
	evicted int
	roll    rolloutState
	verify  verifyState
	// events made by the phases, emitted with the transition events.
	events []event
	// checked is when each HTTPS source's current outcome was first seen;
	// nextFetch is when the next HTTPS source is due.
	checked   map[string]time.Time
	nextFetch time.Time
	// live reads pods and workloads uncached; set on first use.
	live *liveView
}

// liveView returns the reconcile's uncached view of pods and workloads.
func (s *scope) liveView(r *CertSyncReconciler) *liveView {
	if s.live == nil {
		s.live = newLiveView(r.APIReader, s.cs.Namespace)
	}
	return s.live
}

func (s *scope) key() types.NamespacedName { return client.ObjectKeyFromObject(s.cs) }

// allPods is every pod the CertSync looks at, once each.
func (s *scope) allPods() []*corev1.Pod {
	out := slices.Clone(s.usingPods)
	for _, p := range s.verifyPods {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func (s *scope) recordRestart(r *CertSyncReconciler, rec v1alpha1.RestartRecord) {
	s.roll.started = append(s.roll.started, rec)
	s.remember(r, rec)
}

// remember adds or updates a restart record, in status and in memory. Pod
// evictions are kept once per lineage (the owner, or a bare pod's name): the
// earliest eviction is what tells a replacement from the pods it replaces,
// and it bounds the records by workloads, not by evictions.
func (s *scope) remember(r *CertSyncReconciler, rec v1alpha1.RestartRecord) {
	i := slices.IndexFunc(s.restarts, func(o v1alpha1.RestartRecord) bool { return sameRestart(o, rec) })
	switch {
	case i < 0:
		s.restarts = append(s.restarts, rec)
	case rec.Completed && !s.restarts[i].Completed:
		s.restarts[i].Completed = true
	default:
		return
	}
	r.memory.addRestart(s.key(), rec)
}

func (s *scope) restartOf(kind, name string) (v1alpha1.RestartRecord, bool) {
	for _, rec := range s.restarts {
		if rec.Kind == kind && rec.Name == name {
			return rec, true
		}
	}
	return v1alpha1.RestartRecord{}, false
}

// +kubebuilder:rbac:groups=certsync.io,resources=certsyncs,verbs=get;list;watch
// +kubebuilder:rbac:groups=certsync.io,resources=certsyncs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile computes the desired target from the sources, compares, acts and
// records, in that order. It is idempotent: a steady state makes no writes.
func (r *CertSyncReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var cs v1alpha1.CertSync
	if err := r.Client.Get(ctx, req.NamespacedName, &cs); err != nil {
		// Deleted: its target stays where it is, by design.
		if apierrors.IsNotFound(err) {
			for _, k := range r.memory.forget(req.NamespacedName) {
				r.HTTPS.Forget(k)
			}
			r.Metrics.Forget(metrics.Object{Namespace: req.Namespace, Name: req.Name, Kind: metrics.KindCertSync})
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !cs.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	s := &scope{cs: &cs, now: r.Clock.Now(), winner: -1}
	orig := cs.DeepCopy()

	if err := r.readSources(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.readTarget(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	r.syncTarget(ctx, s)
	if err := r.gatherPods(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.rollout(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.verify(ctx, s); err != nil {
		return ctrl.Result{}, err
	}

	setStatus(s)
	evs := transitionEvents(orig, &cs, s)
	if !equality.Semantic.DeepEqual(orig.Status, cs.Status) {
		// The optimistic lock keeps a stale cached copy from overwriting
		// what an earlier reconcile recorded (e.g. status.restarts).
		err := r.Client.Status().Patch(ctx, &cs, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
		if err != nil {
			r.emit(&cs, actionEvents(s))
		}
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: conflictRequeue}, nil
		}
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("patching status: %w", err)
		}
	}
	r.emit(&cs, evs)
	r.recordMetrics(orig, s)
	if s.err != nil {
		return ctrl.Result{}, s.err
	}
	for _, c := range s.cands {
		if c.Transient {
			// An API error reading a Secret: retried with the controller's
			// capped exponential backoff; the target keeps its certificate.
			return ctrl.Result{}, fmt.Errorf("source %q: %s", c.Source, c.Message)
		}
	}
	return ctrl.Result{RequeueAfter: nextRequeue(s)}, nil
}

func (r *CertSyncReconciler) readTarget(ctx context.Context, s *scope) error {
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
func (r *CertSyncReconciler) syncTarget(ctx context.Context, s *scope) {
	if s.target != nil {
		if d := target.CheckOwnership(s.target, s.cs.Name); d != nil {
			s.outcome = *d
			return
		}
	}
	if s.winner < 0 {
		s.outcome = target.Decision{Action: target.None}
		return
	}
	w := s.cands[s.winner]
	extra, err := r.outputData(ctx, s, w.Bundle)
	if err != nil {
		s.outcome = target.Decision{Action: target.None}
		s.outputErr = err
		return
	}
	s.outcome = target.Decide(s.target, s.cs.Name, w.Source, w.Bundle, extra, s.cs.Spec.Validation.AllowDowngrade)
	if s.cs.Spec.Suspend || (s.outcome.Action != target.Create && s.outcome.Action != target.Update) {
		return
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
		return
	}
	s.target, s.targetLeaf, s.wrote = desired, w.Bundle.Leaf, true
	log.FromContext(ctx).Info("synced target", "secret", desired.Name, "source", w.Source,
		"sha256", w.Bundle.SHA256(), "serial", certs.SerialHex(w.Bundle.Leaf), "notAfter", w.Bundle.Leaf.NotAfter)
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
	next := maxRequeue
	consider := func(t time.Time) {
		if d := t.Sub(s.now); d > 0 && d < next {
			next = d
		}
	}
	if !s.nextFetch.IsZero() {
		consider(s.nextFetch.Add(-boundaryMargin)) // the margin is added back below
	}
	if b := nextExpiryBoundary(s); !b.IsZero() {
		consider(b)
	}
	for _, c := range s.cands {
		if c.Reason == sources.ReasonIssuing {
			next = min(next, issuingRequeue)
		}
		if c.Bundle == nil {
			continue
		}
		consider(c.Bundle.Leaf.NotBefore)
		consider(c.Bundle.Leaf.NotAfter.Add(-minRemaining))
		consider(c.Bundle.Leaf.NotAfter)
	}
	next += boundaryMargin // past the boundary, so the check sees its new side
	if !s.roll.complete() && s.roll.skipped == "" {
		next = min(next, rollingRequeue)
	}
	if !s.verify.at.IsZero() {
		fresh := freshFor(s.verify.pods, verifyInterval(s.cs))
		next = min(next, max(s.verify.at.Add(fresh).Sub(s.now), time.Second))
	}
	return next
}

// SetupWithManager registers the CertSync controller.
func (r *CertSyncReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Prober == nil {
		r.Prober = &probe.Prober{}
	}
	if r.HTTPS == nil {
		r.HTTPS = &sources.HTTPSFetcher{}
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.CertSync{}, secretRefIndex, secretRefs); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.CertSync{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Metadata only: every Secret event is seen, no Secret data is cached.
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.certSyncsForSecret)).
		// Pods are cached stripped to what certsync reads (ManagerOptions).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.certSyncsForPod)).
		// Workload status tells when a rollout completes; these informers
		// exist anyway because the rollout phase reads workloads cached.
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(r.certSyncsForWorkload)).
		Watches(&appsv1.StatefulSet{}, handler.EnqueueRequestsFromMapFunc(r.certSyncsForWorkload)).
		Watches(&appsv1.DaemonSet{}, handler.EnqueueRequestsFromMapFunc(r.certSyncsForWorkload)).
		// Verification waits on the network; let a slow CertSync not hold
		// up the others.
		WithOptions(controller.Options{}).
		Named("certsync").
		Complete(r)
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

func (r *CertSyncReconciler) certSyncsForSecret(ctx context.Context, obj client.Object) []ctrl.Request {
	keys := []string{obj.GetNamespace() + "/" + obj.GetName()}
	if crt := obj.GetAnnotations()[cmapi.CertificateNameKey]; crt != "" {
		keys = append(keys, certificateRef(obj.GetNamespace(), crt))
	}
	var reqs []ctrl.Request
	for _, key := range keys {
		var list v1alpha1.CertSyncList
		if err := r.Client.List(ctx, &list, client.MatchingFields{secretRefIndex: key}); err != nil {
			log.FromContext(ctx).Error(err, "listing CertSyncs for Secret", "secret", client.ObjectKeyFromObject(obj))
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
func (r *CertSyncReconciler) certSyncsForPod(ctx context.Context, obj client.Object) []ctrl.Request {
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
func (r *CertSyncReconciler) certSyncsForWorkload(ctx context.Context, obj client.Object) []ctrl.Request {
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

// SetupWithManager registers every certsync controller with mgr.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	// Series appear on the manager's metrics endpoint.
	rec := metrics.Register(nil)
	r := &CertSyncReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("certsync"),
		Clock:    clock.RealClock{},
		Prober:   &probe.Prober{Concurrency: opts.VerifyConcurrency},
		HTTPS:    &sources.HTTPSFetcher{},
		Metrics:  rec,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return errors.Join(errors.New("setting up the CertSync controller"), err)
	}
	ssr := NewSecretSyncReconciler(mgr)
	ssr.Metrics = rec
	if err := ssr.SetupWithManager(mgr); err != nil {
		return errors.Join(errors.New("setting up the SecretSync controller"), err)
	}
	return nil
}
