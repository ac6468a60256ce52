package controllers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/expiry"
	"certsync.io/certsync/internal/metrics"
	"certsync.io/certsync/internal/opaque"
	"certsync.io/certsync/internal/rollout"
	"certsync.io/certsync/internal/sources"
	"certsync.io/certsync/internal/target"
)

// ssSecretRefIndex indexes SecretSyncs by every Secret they read or write
// ("namespace/name"), so a Secret event wakes only the SecretSyncs that use it.
const ssSecretRefIndex = "certsync.io/secretsync-secret-refs"

// SecretSyncReconciler syncs the newest values from a SecretSync's sources
// into its target Secret, restarts what uses them, warns before they
// expire and, if asked, proves them at an OAuth2 token endpoint.
type SecretSyncReconciler struct {
	// Client reads SecretSyncs and workloads from the cache and Secrets
	// from the API server (see ManagerOptions).
	Client   client.Client
	Recorder events.EventRecorder
	// Clock is the operator's notion of now: expiry windows, synced-at,
	// verification intervals.
	Clock clock.PassiveClock

	// Metrics records per-object series; nil records nothing.
	Metrics *metrics.Recorder
	// HTTPS fetches HTTPS sources, with conditional requests; nil: one of
	// the reconciler's own.
	HTTPS *sources.HTTPSFetcher

	tokens      ssTokenMemory
	httpsStates ssHTTPSMemory
	httpsOnce   sync.Once
}

// NewSecretSyncReconciler returns a SecretSync reconciler using the
// manager's client and an event recorder reporting as certsync.
func NewSecretSyncReconciler(mgr ctrl.Manager) *SecretSyncReconciler {
	return &SecretSyncReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("certsync"),
		Clock:    clock.RealClock{},
		HTTPS:    &sources.HTTPSFetcher{},
	}
}

// ssScope is everything one SecretSync reconcile gathered, read once.
type ssScope struct {
	ss     *v1alpha1.SecretSync
	now    time.Time
	cands  []opaque.Candidate
	winner int            // index into cands, -1 when none is usable
	target *corev1.Secret // nil when missing
	// conflict says why the target is not this SecretSync's to write.
	conflict string
	// differs: the target does not hold the winner (a write is due, or was
	// held back by suspend); wrote: this reconcile wrote it.
	differs, wrote bool
	err            error // a write that failed, for status

	// What the target holds when it is ours: the hash of the managed
	// values ("" when some are missing), their source and expiry, and
	// when they were written.
	want         string
	heldSource   string
	heldNotAfter time.Time
	syncedAt     time.Time

	usingPods []*corev1.Pod
	roll      rolloutState
	verify    *ssTokenCheck // nil when no verification is configured

	// nextFetch is when the next HTTPS source is due.
	nextFetch time.Time
}

// +kubebuilder:rbac:groups=certsync.io,resources=secretsyncs,verbs=get;list;watch
// +kubebuilder:rbac:groups=certsync.io,resources=secretsyncs/status,verbs=get;update;patch

// Reconcile reads every source, picks the newest usable values, writes them
// to the target if they differ, restarts their consumers, verifies them and
// records all of it. A steady state makes no writes.
func (r *SecretSyncReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var ss v1alpha1.SecretSync
	if err := r.Client.Get(ctx, req.NamespacedName, &ss); err != nil {
		if apierrors.IsNotFound(err) {
			r.tokens.forget(req.NamespacedName) // its target stays, by design
			r.forgetHTTPS(req.NamespacedName, nil)
			r.Metrics.Forget(metrics.Object{Namespace: req.Namespace, Name: req.Name, Kind: metrics.KindSecretSync})
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ss.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	s := &ssScope{ss: &ss, now: r.Clock.Now(), winner: -1}
	orig := ss.DeepCopy()

	if err := r.readSecretSyncSources(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.syncSecretSyncTarget(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.rolloutSecretSync(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	r.verifySecretSync(ctx, s)

	setSecretSyncStatus(s)
	r.Metrics.Observe(metrics.Object{Namespace: ss.Namespace, Name: ss.Name, Kind: metrics.KindSecretSync}, secretSyncSnapshot(&ss))
	r.emit(s.ss, secretSyncActions(s))
	if !equality.Semantic.DeepEqual(orig.Status, ss.Status) {
		// The optimistic lock keeps a reconcile of a stale cached copy from
		// overwriting a newer status, and from announcing its transitions.
		err := r.Client.Status().Patch(ctx, &ss, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: conflictRequeue}, nil
		}
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("patching status: %w", err)
		}
		r.emit(s.ss, secretSyncTransitions(orig, s))
	}
	if s.err != nil {
		return ctrl.Result{}, s.err
	}
	for _, c := range s.cands {
		if c.Transient {
			// Retried with the controller's capped exponential backoff; the
			// target keeps its values meanwhile.
			return ctrl.Result{}, fmt.Errorf("source %q: %s", c.Source, c.Message)
		}
	}
	return ctrl.Result{RequeueAfter: secretSyncRequeue(s)}, nil
}

func (r *SecretSyncReconciler) emit(ss *v1alpha1.SecretSync, evs []event) {
	for _, e := range evs {
		r.Recorder.Eventf(ss, nil, e.Type, e.Reason, e.Action, "%s", e.Note)
	}
}

func (r *SecretSyncReconciler) readSecretSyncSources(ctx context.Context, s *ssScope) error {
	spec := &s.ss.Spec
	s.cands = make([]opaque.Candidate, 0, len(spec.Sources))
	httpsSources := map[string]bool{}
	for _, src := range spec.Sources {
		var (
			m   opaque.Material
			err error
		)
		switch {
		case src.Secret != nil:
			m, err = r.readOpaqueSecret(ctx, s.ss.Namespace, src.Secret)
		case src.HTTPS != nil:
			httpsSources[src.Name] = true
			m, err = r.readSecretSyncHTTPS(ctx, s, src.Name, src.HTTPS)
		default:
			err = &sources.Error{Reason: "Unsupported", Message: "no source kind set"}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.cands = append(s.cands, opaque.Evaluate(src.Name, m, err, spec.Keys, spec.Expiry.From, s.now))
	}
	// Sources removed from the spec (or changed to another kind) are not
	// fetched again: forget their bodies.
	r.forgetHTTPS(client.ObjectKeyFromObject(s.ss), httpsSources)
	s.winner = opaque.Pick(s.cands)
	return nil
}

// readOpaqueSecret reads a source Secret straight from the API server (a
// Secret that exists is never reported missing) with the consent rule for
// other namespaces, the same rule and answers as a CertSync's.
func (r *SecretSyncReconciler) readOpaqueSecret(ctx context.Context, ns string, ref *v1alpha1.SecretSyncSecretRef) (opaque.Material, error) {
	key := types.NamespacedName{Namespace: cmp.Or(ref.Namespace, ns), Name: ref.Name}
	secret, err := sources.GetSourceSecret(ctx, r.Client, ns, key)
	if err != nil {
		return opaque.Material{}, err
	}
	return opaque.Material{Data: secret.Data, Annotations: secret.Annotations}, nil
}

// syncSecretSyncTarget reads the target and makes the single write a
// reconcile may make to it.
func (r *SecretSyncReconciler) syncSecretSyncTarget(ctx context.Context, s *ssScope) error {
	ss := s.ss
	var current corev1.Secret
	switch err := r.Client.Get(ctx, types.NamespacedName{Namespace: ss.Namespace, Name: ss.Spec.Target.SecretName}, &current); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("reading target Secret: %w", err)
	default:
		s.target = &current
		if s.conflict = opaque.CheckOwnership(&current, ss.Name); s.conflict != "" {
			return nil
		}
	}
	defer s.readHeld()
	if s.winner < 0 {
		return nil
	}
	w := s.cands[s.winner]
	d := opaque.Desired{Name: ss.Name, Source: w.Source, Values: w.Values, NotAfter: w.NotAfter}
	if s.target != nil {
		values, markers := opaque.Changes(s.target, d)
		if !values && !markers {
			return nil
		}
	}
	s.differs = true
	if ss.Spec.Suspend {
		return nil
	}
	desired := opaque.Apply(s.target, ss.Namespace, ss.Spec.Target.SecretName, d, s.now)
	var err error
	if s.target == nil {
		err = r.Client.Create(ctx, desired)
	} else {
		// Update carries the resourceVersion read: a concurrent change
		// makes it fail and the next reconcile decides again.
		err = r.Client.Update(ctx, desired)
	}
	if err != nil {
		s.err = fmt.Errorf("writing target Secret %s: %w", desired.Name, err)
		return nil
	}
	s.target, s.wrote, s.differs = desired, true, false
	log.FromContext(ctx).Info("synced target", "secret", desired.Name, "source", w.Source,
		"sha256", w.SHA256, "keys", len(w.Values), "notAfter", w.NotAfter)
	return nil
}

// readHeld records what the target holds, when it is ours.
func (s *ssScope) readHeld() {
	if s.target == nil || s.conflict != "" {
		return
	}
	s.want, s.heldSource, s.heldNotAfter = opaque.Held(s.target, opaque.TargetKeys(s.ss.Spec.Keys))
	s.syncedAt = target.SyncedAt(s.target)
}

func secretSyncThresholds(ss *v1alpha1.SecretSync) expiry.Thresholds {
	var t expiry.Thresholds
	if d := ss.Spec.Expiry.WarnBefore; d != nil {
		t.WarnBefore = d.Duration
	}
	if d := ss.Spec.Expiry.CriticalBefore; d != nil {
		t.CriticalBefore = d.Duration
	}
	return t.WithDefaults()
}

// secretSyncRequeue is the next moment the outcome changes without any
// event: an expiry window boundary of what the target holds, a candidate
// expiring, a rollout to follow, a verification due.
func secretSyncRequeue(s *ssScope) time.Duration {
	next := maxRequeue
	consider := func(t time.Time) {
		if d := t.Sub(s.now); !t.IsZero() && d > 0 && d < next {
			next = d
		}
	}
	if deadline, _, ok := secretSyncDeadline(s); ok {
		consider(expiry.NextBoundary(deadline, s.now, secretSyncThresholds(s.ss)))
	}
	for _, c := range s.cands {
		if c.Valid && !c.NotAfter.IsZero() {
			consider(c.NotAfter.Add(time.Nanosecond))
		}
	}
	if len(s.roll.pending) > 0 {
		next = min(next, rollingRequeue)
	}
	if s.verify != nil && !s.verify.at.IsZero() {
		consider(s.verify.at.Add(s.verify.again))
	}
	if !s.nextFetch.IsZero() {
		consider(s.nextFetch.Add(boundaryMargin)) // past it, so the fetch is due
	}
	return next
}

// SetupWithManager registers the SecretSync controller.
func (r *SecretSyncReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.SecretSync{}, ssSecretRefIndex, secretSyncRefs); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).Named("secretsync").
		For(&v1alpha1.SecretSync{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Metadata only: every Secret event is seen, no Secret data is cached.
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.secretSyncsForSecret)).
		// A token request waits on the network; let a slow endpoint not hold
		// up the other SecretSyncs.
		WithOptions(controller.Options{MaxConcurrentReconciles: 4})
	// Workload status tells when a restart completes.
	for _, w := range []client.Object{&appsv1.Deployment{}, &appsv1.StatefulSet{}, &appsv1.DaemonSet{}} {
		b = b.Watches(w, handler.EnqueueRequestsFromMapFunc(r.secretSyncsForWorkload))
	}
	return b.Complete(r)
}

// secretSyncRefs lists the Secrets a SecretSync reads or writes.
func secretSyncRefs(obj client.Object) []string {
	ss, ok := obj.(*v1alpha1.SecretSync)
	if !ok {
		return nil
	}
	refs := []string{ss.Namespace + "/" + ss.Spec.Target.SecretName}
	for _, src := range ss.Spec.Sources {
		if src.Secret != nil {
			refs = append(refs, cmp.Or(src.Secret.Namespace, ss.Namespace)+"/"+src.Secret.Name)
		}
		if h := src.HTTPS; h != nil {
			// A rotated token or CA is used at once.
			if h.AuthSecretRef != nil {
				refs = append(refs, ss.Namespace+"/"+h.AuthSecretRef.Name)
			}
			if h.CASecretRef != nil {
				refs = append(refs, ss.Namespace+"/"+h.CASecretRef.Name)
			}
		}
	}
	if o := ss.Spec.Verify.OAuth2ClientCredentials; o != nil && o.CASecretRef != nil {
		refs = append(refs, ss.Namespace+"/"+o.CASecretRef.Name)
	}
	return refs
}

func (r *SecretSyncReconciler) secretSyncsForSecret(ctx context.Context, obj client.Object) []ctrl.Request {
	return r.secretSyncRequests(ctx, obj, client.MatchingFields{ssSecretRefIndex: obj.GetNamespace() + "/" + obj.GetName()}, nil)
}

// secretSyncsForWorkload wakes the SecretSyncs of the workload's namespace
// whose target its pod template uses or that list it.
func (r *SecretSyncReconciler) secretSyncsForWorkload(ctx context.Context, obj client.Object) []ctrl.Request {
	tmpl := rollout.TemplateOf(obj)
	if tmpl == nil {
		return nil
	}
	return r.secretSyncRequests(ctx, obj, client.InNamespace(obj.GetNamespace()), func(ss *v1alpha1.SecretSync) bool {
		return rollout.MountsSecret(&tmpl.Spec, ss.Spec.Target.SecretName) ||
			slices.ContainsFunc(ss.Spec.Rollout.Workloads, func(w v1alpha1.WorkloadRef) bool { return w.Name == obj.GetName() })
	})
}

// secretSyncRequests lists the SecretSyncs matching opt (and match, when
// set) as requests.
func (r *SecretSyncReconciler) secretSyncRequests(ctx context.Context, obj client.Object, opt client.ListOption, match func(*v1alpha1.SecretSync) bool) []ctrl.Request {
	var list v1alpha1.SecretSyncList
	if err := r.Client.List(ctx, &list, opt); err != nil {
		log.FromContext(ctx).Error(err, "listing SecretSyncs", "object", client.ObjectKeyFromObject(obj))
		return nil
	}
	var reqs []ctrl.Request
	for i := range list.Items {
		if match == nil || match(&list.Items[i]) {
			reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}
