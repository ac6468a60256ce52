// Package secretsync is the SecretSync reconciler: a short list of phases
// (sources, target, rollout, token check) over controllers/engine, with this
// kind's own decisions (values, status, events).
package secretsync

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/expiry"
	"certsync.io/certsync/internal/metrics"
	"certsync.io/certsync/internal/rollout"
	"certsync.io/certsync/internal/secretvalues"
	"certsync.io/certsync/internal/sources"
	"certsync.io/certsync/internal/target"
)

// ssSecretRefIndex indexes SecretSyncs by every Secret they read or write
// ("namespace/name"), so a Secret event wakes only the SecretSyncs that use it.
const ssSecretRefIndex = "certsync.io/secretsync-secret-refs"

// Reconciler syncs the newest values from a SecretSync's sources
// into its target Secret, restarts what uses them, warns before they
// expire and, if asked, proves them at an OAuth2 token endpoint.
type Reconciler struct {
	engine.Core
	// Poller fetches HTTPS sources and owns their schedule and cache; nil:
	// one of the reconciler's own.
	Poller *engine.Poller

	memory engine.Memory
	tokens ssTokenMemory
}

// ssScope is everything one SecretSync reconcile gathered, read once. Each
// field says which phase sets it; a field of a phase that did not run is
// zero.
type ssScope struct {
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
	// rolled: the rollout phase completed (rollout).
	rolled bool
	// verify is the token check, nil when none is configured (verify).
	verify *ssTokenCheck
}

// newSSScope starts a reconcile of ss at now.
func newSSScope(ss *v1alpha1.SecretSync, now time.Time) *ssScope {
	return &ssScope{ss: ss, now: now, winner: -1, ro: engine.Rollout{
		Key: client.ObjectKeyFromObject(ss), Spec: &ss.Spec.Rollout, Suspend: ss.Spec.Suspend, Now: now, What: "secret values"}}
}

// +kubebuilder:rbac:groups=certsync.io,resources=secretsyncs,verbs=get;list;watch
// +kubebuilder:rbac:groups=certsync.io,resources=secretsyncs/status,verbs=get;update;patch

// Reconcile reads every source, picks the newest usable values, writes them
// to the target if they differ, restarts their consumers and verifies them;
// a deferred finish records status, events and metrics for what did
// happen, also when a later phase fails. A steady state makes no writes.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	var ss v1alpha1.SecretSync
	if ok, err := r.Load(ctx, req, &ss, r.forget); !ok {
		return ctrl.Result{}, err
	}
	s := newSSScope(&ss, r.Now(req.NamespacedName))
	orig := ss.DeepCopy()
	defer func() { res, err = r.finish(ctx, orig, s, res, err) }()

	if err := engine.RunPhases(ctx, s, r.readSources, r.syncTarget, r.gatherPods, r.rollout, r.verifyToken); err != nil {
		return ctrl.Result{}, err
	}
	if err := engine.RetryError(s.err, s.candidates, func(c secretvalues.Candidate) (string, string, bool) {
		return c.Source, c.Message, c.Transient
	}); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: secretSyncRequeue(s)}, nil
}

// finish records what the reconcile did, whichever phase it reached, the
// same way as a CertSync's: the status first, then the events, then the
// metrics.
func (r *Reconciler) finish(ctx context.Context, orig *v1alpha1.SecretSync, s *ssScope, res ctrl.Result, err error) (ctrl.Result, error) {
	if !s.synced {
		return res, err
	}
	setSecretSyncStatus(s)
	rec := engine.Record{
		Orig: orig, Obj: s.ss,
		StatusOf:    func(o client.Object) any { return o.(*v1alpha1.SecretSync).Status },
		Actions:     secretSyncActions(s),
		Transitions: secretSyncTransitions(orig, s),
	}
	res, err = r.Finish(ctx, rec, res, err)
	obj := metrics.Object{Namespace: s.ss.Namespace, Name: s.ss.Name, Kind: metrics.KindSecretSync}
	r.Metrics.Observe(obj, secretSyncSnapshot(s.ss))
	r.RecordSync(obj, s.wrote, s.err != nil || err != nil)
	return res, err
}

// forget drops what is remembered of a deleted SecretSync.
func (r *Reconciler) forget(key types.NamespacedName) {
	r.memory.Forget(key)
	r.tokens.forget(key)
	r.Poller.Retain(key, nil)
	r.Metrics.Forget(metrics.Object{Namespace: key.Namespace, Name: key.Name, Kind: metrics.KindSecretSync})
}

func (r *Reconciler) readSources(ctx context.Context, s *ssScope) error {
	spec := &s.ss.Spec
	s.candidates = make([]secretvalues.Candidate, 0, len(spec.Sources))
	httpsSources := map[string]bool{}
	for _, src := range spec.Sources {
		var (
			m   secretvalues.Material
			err error
		)
		switch {
		case src.Secret != nil:
			m, err = r.readOpaqueSecret(ctx, s.ss.Namespace, src.Secret)
		case src.HTTPS != nil:
			httpsSources[src.Name] = true
			m, err = r.readHTTPS(ctx, s, src.Name, src.HTTPS)
		default:
			err = &sources.Error{Reason: "Unsupported", Message: "no source kind set"}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.candidates = append(s.candidates, secretvalues.Evaluate(src.Name, m, err, spec.Keys, spec.Expiry.From, s.now))
	}
	// Sources removed from the spec (or changed to another kind) are not
	// fetched again: forget their bodies.
	r.Poller.Retain(client.ObjectKeyFromObject(s.ss), httpsSources)
	s.winner = secretvalues.Pick(s.candidates)
	return nil
}

// readOpaqueSecret reads a source Secret straight from the API server (a
// Secret that exists is never reported missing) with the consent rule for
// other namespaces, the same rule and answers as a CertSync's.
func (r *Reconciler) readOpaqueSecret(ctx context.Context, ns string, ref *v1alpha1.SecretSyncSecretRef) (secretvalues.Material, error) {
	key := types.NamespacedName{Namespace: cmp.Or(ref.Namespace, ns), Name: ref.Name}
	secret, err := sources.GetSourceSecret(ctx, r.Client, ns, key)
	if err != nil {
		return secretvalues.Material{}, err
	}
	return secretvalues.Material{Data: secret.Data, Annotations: secret.Annotations}, nil
}

// syncTarget reads the target and makes the single write a reconcile may
// make to it.
func (r *Reconciler) syncTarget(ctx context.Context, s *ssScope) error {
	ss := s.ss
	var current corev1.Secret
	switch err := r.Client.Get(ctx, types.NamespacedName{Namespace: ss.Namespace, Name: ss.Spec.Target.SecretName}, &current); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("reading target Secret: %w", err)
	default:
		s.target = &current
		if s.conflict = secretvalues.CheckOwnership(&current, ss.Name); s.conflict != "" {
			s.synced = true
			return nil
		}
	}
	s.write(ctx, r.Client)
	s.readHeld()
	s.synced = true
	return nil
}

// write writes the winner to the target when it differs.
func (s *ssScope) write(ctx context.Context, c client.Client) {
	if s.winner < 0 {
		return
	}
	w := s.candidates[s.winner]
	d := secretvalues.Desired{Name: s.ss.Name, Source: w.Source, Values: w.Values, NotAfter: w.NotAfter}
	if s.target != nil {
		values, markers := secretvalues.Changes(s.target, d)
		if !values && !markers {
			return
		}
	}
	s.differs = true
	if s.ss.Spec.Suspend {
		return
	}
	desired := secretvalues.Apply(s.target, s.ss.Namespace, s.ss.Spec.Target.SecretName, d, s.now)
	var err error
	if s.target == nil {
		err = c.Create(ctx, desired)
	} else {
		// Update carries the resourceVersion read: a concurrent change
		// makes it fail and the next reconcile decides again.
		err = c.Update(ctx, desired)
	}
	if err != nil {
		s.err = fmt.Errorf("writing target Secret %s: %w", desired.Name, err)
		return
	}
	s.target, s.wrote, s.differs = desired, true, false
	log.FromContext(ctx).Info("synced target", "secret", desired.Name, "source", w.Source,
		"sha256", w.SHA256, "keys", len(w.Values), "notAfter", w.NotAfter)
}

// readHeld records what the target holds, when it is ours.
func (s *ssScope) readHeld() {
	if s.target == nil || s.conflict != "" {
		return
	}
	s.ro.Held, s.heldSource, s.heldNotAfter = secretvalues.Held(s.target, secretvalues.TargetKeys(s.ss.Spec.Keys))
	s.ro.SyncedAt = target.SyncedAt(s.target)
}

func secretSyncThresholds(ss *v1alpha1.SecretSync) expiry.Thresholds {
	return engine.Thresholds(ss.Spec.Expiry.WarnBefore, ss.Spec.Expiry.CriticalBefore)
}

// secretSyncRequeue is the next moment the outcome changes without any
// event: an expiry window boundary of what the target holds, a candidate
// expiring, a rollout to follow, a verification due.
func secretSyncRequeue(s *ssScope) time.Duration {
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
		next = min(next, engine.RollingRequeue)
	}
	if s.verify != nil && !s.verify.at.IsZero() {
		consider(s.verify.at.Add(s.verify.again))
	}
	if !s.nextFetch.IsZero() {
		consider(s.nextFetch.Add(engine.BoundaryMargin)) // past it, so the fetch is due
	}
	return next
}

// SetupWithManager registers the SecretSync controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Complete(mgr)
	if r.Poller == nil {
		r.Poller = &engine.Poller{}
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.SecretSync{}, ssSecretRefIndex, secretSyncRefs); err != nil {
		return err
	}
	secrets, err := r.SecretSource(mgr, r.secretSyncsForSecret, &v1alpha1.SecretSyncList{})
	if err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).Named("secretsync").
		For(&v1alpha1.SecretSync{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Every Secret event is seen; no Secret is kept in memory.
		WatchesRawSource(secrets).
		// Bare pods are evicted as a CertSync's are: their events tell when.
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.secretSyncsForPod)).
		WithOptions(r.ControllerOptions())
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

func (r *Reconciler) secretSyncsForSecret(ctx context.Context, obj client.Object) []ctrl.Request {
	return r.secretSyncRequests(ctx, obj, client.MatchingFields{ssSecretRefIndex: obj.GetNamespace() + "/" + obj.GetName()}, nil)
}

// secretSyncsForWorkload wakes the SecretSyncs of the workload's namespace
// whose target its pod template uses or that list it.
func (r *Reconciler) secretSyncsForWorkload(ctx context.Context, obj client.Object) []ctrl.Request {
	tmpl := rollout.TemplateOf(obj)
	if tmpl == nil {
		return nil
	}
	return r.secretSyncRequests(ctx, obj, client.InNamespace(obj.GetNamespace()), func(ss *v1alpha1.SecretSync) bool {
		return rollout.MountsSecret(&tmpl.Spec, ss.Spec.Target.SecretName) ||
			slices.ContainsFunc(ss.Spec.Rollout.Workloads, func(w v1alpha1.WorkloadRef) bool { return w.Name == obj.GetName() })
	})
}

// secretSyncsForPod wakes the SecretSyncs of the pod's namespace whose
// target the pod mounts.
func (r *Reconciler) secretSyncsForPod(ctx context.Context, obj client.Object) []ctrl.Request {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	return r.secretSyncRequests(ctx, obj, client.InNamespace(obj.GetNamespace()), func(ss *v1alpha1.SecretSync) bool {
		return rollout.MountsSecret(&pod.Spec, ss.Spec.Target.SecretName)
	})
}

// secretSyncRequests lists the SecretSyncs matching opt (and match, when
// set) as requests.
func (r *Reconciler) secretSyncRequests(ctx context.Context, obj client.Object, opt client.ListOption, match func(*v1alpha1.SecretSync) bool) []ctrl.Request {
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
