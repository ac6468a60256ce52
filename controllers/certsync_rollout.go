package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/rollout"
	"certsync.io/certsync/internal/target"
)

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=get;list;watch;patch

// rollingRequeue is how often a CertSync looks at a rollout in progress;
// pod events usually wake it sooner.
const rollingRequeue = 2 * time.Second

// maxRestartRecords bounds status.restarts.
const maxRestartRecords = 50

// rolloutState is what the rollout phase found and did.
type rolloutState struct {
	// skipped says why no rollout was considered (no certificate of ours).
	skipped string
	// pending names workloads and pods still rolling, with progress.
	pending []string
	// stalled names rollouts past the progress deadline.
	stalled []string
	// missing names listed workloads that do not exist.
	missing []string
	// started are the restarts made by this reconcile.
	started []v1alpha1.RestartRecord
	// rolling are the workloads ("Kind/name") whose rollout is under way:
	// their pods are verified once it completes; other pods at once.
	rolling []string
}

func (st *rolloutState) complete() bool {
	return st.skipped == "" && len(st.pending) == 0 && len(st.stalled) == 0 && len(st.missing) == 0
}

// gatherPods reads, once, the pods of the CertSync's namespace that use the
// target or match the verify selector, and the certificate the target holds.
func (r *CertSyncReconciler) gatherPods(ctx context.Context, s *scope) error {
	if s.target == nil || s.outcome.Action == target.Conflict {
		return nil
	}
	if leaf := s.targetLeaf; leaf != nil {
		s.want = certs.Fingerprint(leaf)
	}
	s.syncedAt = target.SyncedAt(s.target)
	var sel labels.Selector
	if vs := s.cs.Spec.Verify.Selector; vs != nil {
		// An invalid selector is the user's to fix: reported in Verified,
		// not retried as an error.
		sel, s.selectorErr = metav1.LabelSelectorAsSelector(vs)
	}
	var list corev1.PodList
	if err := r.Client.List(ctx, &list, client.InNamespace(s.cs.Namespace)); err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	for i := range list.Items {
		p := &list.Items[i]
		uses := rollout.MountsSecret(&p.Spec, s.cs.Spec.Target.SecretName)
		if uses {
			s.usingPods = append(s.usingPods, p)
		}
		if (sel != nil && sel.Matches(labels.Set(p.Labels))) || (sel == nil && uses) {
			s.verifyPods = append(s.verifyPods, p)
		}
	}
	// Keep what this CertSync restarted for the current certificate only;
	// memory may know of a restart or completion the cached status lacks.
	for _, rec := range append(slices.Clone(s.cs.Status.Restarts), r.memory.restarts(s.key())...) {
		if rec.SHA256 != s.want {
			continue
		}
		if i := slices.IndexFunc(s.restarts, func(o v1alpha1.RestartRecord) bool { return sameRestart(o, rec) }); i >= 0 {
			s.restarts[i].Completed = s.restarts[i].Completed || rec.Completed
			continue
		}
		s.restarts = append(s.restarts, rec)
	}
	return nil
}

// sameRestart: the same workload, or the same pod lineage (evictions of
// one owner's pods, or of one bare pod), for the same certificate.
func sameRestart(a, b v1alpha1.RestartRecord) bool {
	if a.Kind != b.Kind || a.SHA256 != b.SHA256 {
		return false
	}
	if a.Kind == "Pod" && a.Owner != "" {
		return a.Owner == b.Owner
	}
	return a.Name == b.Name
}

// rollout restarts each workload that still runs pods started before the
// current certificate was written, once per certificate, and evicts such bare
// pods a few at a time.
func (r *CertSyncReconciler) rollout(ctx context.Context, s *scope) error {
	st := &s.roll
	switch {
	case s.want == "":
		st.skipped = "the target holds no certificate of this CertSync yet"
		return nil
	case rolloutMode(s.cs) == v1alpha1.RolloutNone:
		return nil
	}
	for _, w := range workloadsToRoll(s) {
		if err := r.rollWorkload(ctx, s, w); err != nil {
			return err
		}
	}
	return r.rollBarePods(ctx, s)
}

// workloadsToRoll lists, without duplicates, the listed workloads and (in
// Auto mode) the controllers of the pods that mount the target.
func workloadsToRoll(s *scope) []rollout.Workload {
	var ws []rollout.Workload
	add := func(w rollout.Workload) {
		if !slices.Contains(ws, w) {
			ws = append(ws, w)
		}
	}
	for _, ref := range s.cs.Spec.Rollout.Workloads {
		add(rollout.Workload{Kind: ref.Kind, Name: ref.Name})
	}
	if rolloutMode(s.cs) == v1alpha1.RolloutAuto {
		for _, p := range s.usingPods {
			if w := rollout.WorkloadOf(p); w.Kind == "Deployment" || w.Kind == "StatefulSet" || w.Kind == "DaemonSet" {
				add(w)
			}
		}
	}
	return ws
}

func (r *CertSyncReconciler) rollWorkload(ctx context.Context, s *scope, w rollout.Workload) error {
	st := &s.roll
	obj := newWorkload(w.Kind)
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: s.cs.Namespace, Name: w.Name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			st.missing = append(st.missing, w.String())
			return nil
		}
		return fmt.Errorf("reading %s: %w", w, err)
	}
	tmpl := rollout.TemplateOf(obj)
	podsBefore, err := r.podsStartedBefore(ctx, s, w, obj)
	if err != nil {
		return err
	}
	restartedFor := tmpl.Annotations[v1alpha1.AnnotationRestartedFor]
	alreadyAsked := slices.ContainsFunc(s.restarts, func(rec v1alpha1.RestartRecord) bool { return rec.Kind == w.Kind && rec.Name == w.Name })
	switch {
	case restartedFor == s.want:
		// Restarted for this certificate (by us, now or before an operator
		// restart): follow the rollout to its end, and no further — a later
		// scale-out or deploy is not certsync's rollout.
		rec, ok := s.restartOf(w.Kind, w.Name)
		if ok && rec.Completed {
			return nil
		}
		p := rollout.ProgressOf(obj)
		switch {
		case p.Complete && ok:
			rec.Completed = true
			s.remember(r, rec)
		case p.Complete:
			s.remember(r, v1alpha1.RestartRecord{Kind: w.Kind, Name: w.Name, SHA256: s.want, Time: statusTime(s.now), Completed: true})
		case ok && s.now.Sub(rec.Time.Time) > progressDeadline(s.cs):
			st.stalled = append(st.stalled, fmt.Sprintf("%s: %s (no completion within %s)", w, p.Message, progressDeadline(s.cs)))
			st.rolling = append(st.rolling, w.String())
		default:
			st.pending = append(st.pending, w.String()+": "+p.Message)
			st.rolling = append(st.rolling, w.String())
		}
		return nil
	case !rollout.NeedsRestart(restartedFor, s.want, podsBefore):
		return nil // every pod started with the current certificate
	case alreadyAsked:
		// Our patch is not in the cache yet: never restart twice.
		st.pending = append(st.pending, w.String()+": restart requested")
		st.rolling = append(st.rolling, w.String())
		return nil
	case s.cs.Spec.Suspend:
		st.pending = append(st.pending, w.String()+": restart held back (suspended)")
		return nil
	}
	// The optimistic lock makes a stale cached copy fail instead of
	// restarting twice; the next reconcile sees the fresh object.
	patch := client.MergeFromWithOptions(obj.DeepCopyObject().(client.Object), client.MergeFromWithOptimisticLock{})
	if tmpl.Annotations == nil {
		tmpl.Annotations = map[string]string{}
	}
	tmpl.Annotations[v1alpha1.AnnotationRestartedFor] = s.want
	if err := r.Client.Patch(ctx, obj, patch); err != nil {
		if apierrors.IsConflict(err) {
			st.pending = append(st.pending, w.String()+": retrying restart")
			return nil
		}
		return fmt.Errorf("restarting %s: %w", w, err)
	}
	s.recordRestart(r, v1alpha1.RestartRecord{Kind: w.Kind, Name: w.Name, SHA256: s.want, Time: statusTime(s.now)})
	log.FromContext(ctx).Info("restarting workload for the new certificate", "workload", w.String(), "sha256", s.want)
	st.pending = append(st.pending, w.String()+": restart requested")
	st.rolling = append(st.rolling, w.String())
	return nil
}

// podsStartedBefore reports whether a pod of workload w started before the
// certificate was written. A listed workload's pods may neither mount the
// target (a CSI driver, a sidecar) nor match verify.selector: they are then
// found by the workload's own selector.
func (r *CertSyncReconciler) podsStartedBefore(ctx context.Context, s *scope, w rollout.Workload, obj client.Object) (bool, error) {
	before := func(p *corev1.Pod) bool { return rollout.WorkloadOf(p) == w && rollout.StartedBefore(p, s.syncedAt) }
	if slices.ContainsFunc(s.allPods(), func(p *corev1.Pod) bool { return rollout.WorkloadOf(p) == w }) {
		return slices.ContainsFunc(s.allPods(), before), nil
	}
	ls := rollout.SelectorOf(obj)
	if ls == nil {
		return false, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return false, nil // the workload controller refuses it too: nothing runs
	}
	var list corev1.PodList
	if err := r.Client.List(ctx, &list, client.InNamespace(s.cs.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return false, fmt.Errorf("listing pods of %s: %w", w, err)
	}
	for i := range list.Items {
		if before(&list.Items[i]) {
			return true, nil
		}
	}
	return false, nil
}

// rollBarePods evicts pods without a controller that started before the
// certificate was written, at most maxUnavailable at a time.
func (r *CertSyncReconciler) rollBarePods(ctx context.Context, s *scope) error {
	var due []*corev1.Pod
	for _, p := range s.usingPods {
		if rollout.WorkloadOf(p).Kind == "" && p.DeletionTimestamp == nil && rollout.StartedBefore(p, s.syncedAt) {
			due = append(due, p)
		}
	}
	if len(due) == 0 {
		return nil
	}
	if s.cs.Spec.Suspend {
		s.roll.pending = append(s.roll.pending, fmt.Sprintf("%d bare pods: restart held back (suspended)", len(due)))
		return nil
	}
	evicted, err := r.evict(ctx, s, due, "started before the current certificate was written")
	if err != nil {
		return err
	}
	s.roll.pending = append(s.roll.pending, fmt.Sprintf("bare pods: %d of %d evicted, waiting for the rest", evicted, len(due)))
	return nil
}

// evict evicts pods in order within the CertSync's unavailability budget,
// through the Eviction API so PodDisruptionBudgets are honoured. Only the
// pod that was read is evicted, never a successor of the same name.
func (r *CertSyncReconciler) evict(ctx context.Context, s *scope, pods []*corev1.Pod, why string) (int, error) {
	return r.evictPods(ctx, s, pods, why, false)
}

// evictExactly evicts pods only if they are unchanged since they were read
// from the API server: a pod that started terminating in between is left to
// go, and nothing is recorded for it.
func (r *CertSyncReconciler) evictExactly(ctx context.Context, s *scope, pods []*corev1.Pod, why string) (int, error) {
	return r.evictPods(ctx, s, pods, why, true)
}

func (r *CertSyncReconciler) evictPods(ctx context.Context, s *scope, pods []*corev1.Pod, why string, unchanged bool) (int, error) {
	// Evictions made earlier in this reconcile do not show in the cached
	// pods yet: count them against the budget too.
	budget := rollout.EvictionBudget(s.cs.Spec.Rollout.Pods.MaxUnavailable, s.allPods()) - s.evicted
	n := 0
	for _, p := range pods {
		if n >= budget {
			break
		}
		pre := &metav1.Preconditions{UID: &p.UID}
		if unchanged {
			pre.ResourceVersion = &p.ResourceVersion
		}
		ev := &policyv1.Eviction{
			ObjectMeta:    metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name},
			DeleteOptions: &metav1.DeleteOptions{Preconditions: pre},
		}
		err := r.Client.SubResource("eviction").Create(ctx, p, ev)
		switch {
		case apierrors.IsConflict(err):
			// Replaced or changed since it was read: the next reconcile
			// looks again; an eviction that removed nothing records nothing.
			log.FromContext(ctx).V(1).Info("eviction skipped: the pod changed since it was read", "pod", p.Name)
			continue
		case apierrors.IsTooManyRequests(err):
			// A PodDisruptionBudget says not now; the next reconcile retries.
			// Said once per blocked pod, not at every retry.
			if r.memory.blockedOnce(s.key(), p.Name) {
				s.events = append(s.events, event{corev1.EventTypeWarning, v1alpha1.ReasonPodRestarted, "Evict",
					fmt.Sprintf("eviction of pod %s blocked by a PodDisruptionBudget: %v", p.Name, err)})
			}
			return n, nil
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return n, fmt.Errorf("evicting pod %s: %w", p.Name, err)
		}
		n++
		s.evicted++
		s.recordRestart(r, v1alpha1.RestartRecord{Kind: "Pod", Name: p.Name, Owner: rollout.WorkloadOf(p).String(), SHA256: s.want, Time: statusTime(s.now)})
		s.events = append(s.events, event{corev1.EventTypeNormal, v1alpha1.ReasonPodRestarted, "Evict",
			fmt.Sprintf("evicted pod %s: %s", p.Name, why)})
		log.FromContext(ctx).Info("evicted pod", "pod", p.Name, "reason", why)
	}
	return n, nil
}

func newWorkload(kind string) client.Object {
	switch kind {
	case "StatefulSet":
		return &appsv1.StatefulSet{}
	case "DaemonSet":
		return &appsv1.DaemonSet{}
	default:
		return &appsv1.Deployment{}
	}
}

func rolloutMode(cs *v1alpha1.CertSync) v1alpha1.RolloutMode {
	if cs.Spec.Rollout.Mode == "" {
		return v1alpha1.RolloutAuto
	}
	return cs.Spec.Rollout.Mode
}

func progressDeadline(cs *v1alpha1.CertSync) time.Duration {
	if d := cs.Spec.Rollout.ProgressDeadline; d != nil && d.Duration > 0 {
		return d.Duration
	}
	return 10 * time.Minute
}

// rolloutSummary is the RolledOut message for a rollout in progress.
func rolloutSummary(st *rolloutState) string {
	parts := append(append(slices.Clone(st.stalled), st.missing...), st.pending...)
	return strings.Join(parts, "; ")
}
