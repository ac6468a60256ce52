package engine

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
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/rollout"
)

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=get;list;watch;patch

// RollingRequeue is how often an object looks at a rollout in progress;
// pod and workload events usually wake it sooner.
const RollingRequeue = 2 * time.Second

// WaitingRequeue is how often an object whose restarts wait for a slot of
// the rollout budget looks again, in case the wake-up was lost (a freed
// slot wakes it at once).
const WaitingRequeue = time.Minute

// DefaultProgressDeadline is rollout.progressDeadline's default.
const DefaultProgressDeadline = 10 * time.Minute

// RolloutState is what the rollout phase found and did.
type RolloutState struct {
	// Skipped says why no rollout was considered (nothing of ours held).
	Skipped string
	// Pending names workloads and pods still rolling, with progress.
	Pending []string
	// Stalled names rollouts past the progress deadline.
	Stalled []string
	// Missing names listed workloads that do not exist.
	Missing []string
	// Started are the restarts made by this reconcile.
	Started []v1alpha1.RestartRecord
	// Rolling are the workloads ("Kind/name") whose rollout is under way:
	// their pods are verified once it completes; other pods at once.
	Rolling []string
	// Waiting is why restarts are held back (RolloutPaced,
	// WaitingForPreviousRollout, WaitingForRolloutSlot; the last wins over
	// the others), "" when none is; WakeAt is when the earliest paced
	// restart may go.
	Waiting string
	WakeAt  time.Time
	// InFlight counts the workloads and bare-pod sets whose rollout is
	// under way and not stalled: the object then holds a budget slot.
	InFlight int
	// held counts the entries of Pending that are waits.
	held int
}

// hold records a restart held back.
func (st *RolloutState) hold(what, reason, msg string, until time.Time) {
	st.Pending = append(st.Pending, what+": "+msg)
	st.held++
	if waitRank[reason] > waitRank[st.Waiting] {
		st.Waiting = reason
	}
	if !until.IsZero() {
		st.WakeAt = Earliest(st.WakeAt, until)
	}
}

var waitRank = map[string]int{
	v1alpha1.ReasonRolloutPaced:              1,
	v1alpha1.ReasonWaitingForPreviousRollout: 2,
	v1alpha1.ReasonWaitingForRolloutSlot:     3,
}

// OnlyWaiting reports restarts held back and nothing else under way: the
// object's RolledOut reason is then Waiting's.
func (st *RolloutState) OnlyWaiting() bool {
	return st.Waiting != "" && st.InFlight == 0 && len(st.Stalled) == 0 && len(st.Missing) == 0
}

// Requeue is when to look at an incomplete rollout again without an
// event: soon while one is under way; when the earliest wait ends for a
// paced one; WaitingRequeue as a safety net for a budget wait.
func (st *RolloutState) Requeue(now time.Time) time.Duration {
	if st.Waiting == "" || len(st.Pending) > st.held || len(st.Stalled) > 0 || len(st.Missing) > 0 {
		return RollingRequeue
	}
	d := MaxRequeue
	if !st.WakeAt.IsZero() {
		d = max(st.WakeAt.Sub(now)+BoundaryMargin, BoundaryMargin)
	}
	if st.Waiting == v1alpha1.ReasonWaitingForRolloutSlot {
		d = min(d, WaitingRequeue)
	}
	return d
}

// Complete reports a rollout with nothing left to wait for.
func (st *RolloutState) Complete() bool {
	return st.Skipped == "" && len(st.Pending) == 0 && len(st.Stalled) == 0 && len(st.Missing) == 0
}

// Summary is the RolledOut message of a rollout in progress.
func (st *RolloutState) Summary() string {
	parts := append(append(slices.Clone(st.Stalled), st.Missing...), st.Pending...)
	return strings.Join(parts, "; ")
}

// Rollout is one reconcile's rollout of what an object's target holds.
// The kind fills the inputs; Gather, Roll and Evict fill the rest.
type Rollout struct {
	// Key is the CertSync or SecretSync; Namespace is where its pods and
	// workloads live.
	Key types.NamespacedName
	// Spec is the object's spec.rollout; Suspend its spec.suspend.
	Spec    *v1alpha1.Rollout
	Suspend bool
	// Held is the fingerprint of what the target holds ("" when nothing of
	// the object's); SyncedAt is when it was written.
	Held     string
	SyncedAt time.Time
	Now      time.Time
	// What names the content in messages ("certificate", "secret values").
	What string
	// UsingPods are the pods that mount the target; OtherPods any other
	// pods the kind looks at (the verify selector's). Set before Roll.
	UsingPods, OtherPods []*corev1.Pod

	// Restarts are the records of Held: from status and memory (Gather),
	// then the ones made (Roll, Evict).
	Restarts []v1alpha1.RestartRecord
	// State is what Roll found and did.
	State RolloutState
	// Evicted counts this reconcile's evictions.
	Evicted int
	// Events are the evictions and blocked evictions to announce.
	Events []Event
	// Done is set when Roll ran to its end: status may then record the
	// rollout; a failure before it keeps what the last reconcile recorded.
	Done bool
	// Restoring says Held was restored by an automatic rollback: its
	// restarts are neither paced nor wait for a budget slot.
	Restoring bool
	// admitted is set once the object holds a budget slot in this Roll.
	admitted bool
}

// MinRestartInterval is spec.rollout.minRestartInterval with its default;
// an explicit 0s turns it off.
func MinRestartInterval(ro *v1alpha1.Rollout) time.Duration {
	if d := ro.MinRestartInterval; d != nil {
		return max(d.Duration, 0)
	}
	return rollout.DefaultMinRestartInterval
}

// Mode is spec.rollout.mode with its default.
func Mode(ro *v1alpha1.Rollout) v1alpha1.RolloutMode {
	if ro.Mode == "" {
		return v1alpha1.RolloutAuto
	}
	return ro.Mode
}

// ProgressDeadline is spec.rollout.progressDeadline with its default.
func ProgressDeadline(ro *v1alpha1.Rollout) time.Duration {
	if d := ro.ProgressDeadline; d != nil && d.Duration > 0 {
		return d.Duration
	}
	return DefaultProgressDeadline
}

// AllPods is every pod the rollout looks at, once each.
func (ro *Rollout) AllPods() []*corev1.Pod {
	return rollout.Considered(ro.UsingPods, ro.OtherPods)
}

// RestartOf returns the record of the workload's restart for Held.
func (ro *Rollout) RestartOf(kind, name string) (v1alpha1.RestartRecord, bool) {
	for _, rec := range ro.Restarts {
		if rec.Kind == kind && rec.Name == name {
			return rec, true
		}
	}
	return v1alpha1.RestartRecord{}, false
}

// StatusRestarts are the records status.restarts should hold: those of
// Held, newest last, bounded; prev when nothing of ours is held.
func (ro *Rollout) StatusRestarts(prev []v1alpha1.RestartRecord) []v1alpha1.RestartRecord {
	if ro.Held == "" {
		return prev // nothing known about the target: keep them
	}
	out := ro.Restarts
	if len(out) > MaxRestartRecords {
		out = out[len(out)-MaxRestartRecords:]
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Restarter restarts workloads and evicts pods for both kinds: once per
// content (the pod-template annotation certsync.io/restarted-for carries its
// fingerprint, so operator restarts never restart twice), bare pods through
// the Eviction API within rollout.pods.maxUnavailable, and a rollout counts
// as stalled from its restart record.
type Restarter struct {
	Client client.Client
	Memory *Memory
	// Kind is the object kind (KindCertSync, KindSecretSync) in Budget.
	Kind string
	// BudgetFor gives the budget bounding the rollouts in progress across
	// the cluster for an object's namespace (Core.RolloutBudget); nil, or
	// a nil budget, means no bound.
	BudgetFor func(namespace string) *Budget
}

func (r *Restarter) budget(ro *Rollout) *Budget {
	if r.BudgetFor == nil {
		return nil
	}
	return r.BudgetFor(ro.Key.Namespace)
}

func (r *Restarter) budgetKey(ro *Rollout) RolloutKey {
	return RolloutKey{Kind: r.Kind, NamespacedName: ro.Key}
}

// admit gives the object a budget slot for its rollout, once per Roll; a
// restore after a rollback takes one even over budget.
func (r *Restarter) admit(ctx context.Context, ro *Rollout) bool {
	switch {
	case ro.admitted:
	case ro.Restoring:
		r.budget(ro).Hold(r.budgetKey(ro))
	case !r.budget(ro).Acquire(ctx, r.budgetKey(ro)):
		return false
	}
	ro.admitted = true
	return true
}

// settleBudget keeps the object's slot while its rollout is under way,
// its place in the queue while it waits for one, and frees both otherwise:
// every reconcile re-derives it from what it found.
func (r *Restarter) settleBudget(ro *Rollout) {
	b, key := r.budget(ro), r.budgetKey(ro)
	switch {
	case ro.State.InFlight > 0:
		b.Hold(key)
	case ro.State.Waiting == v1alpha1.ReasonWaitingForRolloutSlot:
	default:
		b.Release(key)
	}
}

// ReleaseBudget frees what a deleted object held of the budget.
func (r *Restarter) ReleaseBudget(key types.NamespacedName) {
	if r.BudgetFor != nil {
		r.BudgetFor(key.Namespace).Release(RolloutKey{Kind: r.Kind, NamespacedName: key})
	}
}

// Gather keeps the restart records of Held from status (prev) and memory:
// memory may know of a restart or completion the cached status lacks.
func (r *Restarter) Gather(ro *Rollout, prev []v1alpha1.RestartRecord) {
	for _, rec := range append(slices.Clone(prev), r.Memory.Restarts(ro.Key)...) {
		if rec.SHA256 != ro.Held {
			continue
		}
		if i := slices.IndexFunc(ro.Restarts, func(o v1alpha1.RestartRecord) bool { return SameRestart(o, rec) }); i >= 0 {
			ro.Restarts[i].Completed = ro.Restarts[i].Completed || rec.Completed
			continue
		}
		ro.Restarts = append(ro.Restarts, rec)
	}
}

func (r *Restarter) recordRestart(ro *Rollout, rec v1alpha1.RestartRecord) {
	ro.State.Started = append(ro.State.Started, rec)
	r.remember(ro, rec)
}

// remember adds or updates a restart record, in status and in memory. Pod
// evictions are kept once per lineage (the owner, or a bare pod's name): the
// earliest eviction is what tells a replacement from the pods it replaces,
// and it bounds the records by workloads, not by evictions.
func (r *Restarter) remember(ro *Rollout, rec v1alpha1.RestartRecord) {
	i := slices.IndexFunc(ro.Restarts, func(o v1alpha1.RestartRecord) bool { return SameRestart(o, rec) })
	switch {
	case i < 0:
		ro.Restarts = append(ro.Restarts, rec)
	case rec.Completed && !ro.Restarts[i].Completed:
		ro.Restarts[i].Completed = true
	default:
		return
	}
	r.Memory.AddRestart(ro.Key, rec)
}

// Roll restarts each workload that still runs pods started before Held was
// written, once per content, and evicts such bare pods a few at a time;
// ro.Done tells it got to the end. It is both kinds' rollout phase.
func (r *Restarter) Roll(ctx context.Context, ro *Rollout) error {
	if err := r.roll(ctx, ro); err != nil {
		return err
	}
	ro.Done = true
	r.settleBudget(ro)
	return nil
}

func (r *Restarter) roll(ctx context.Context, ro *Rollout) error {
	switch {
	case ro.Held == "":
		ro.State.Skipped = "the target holds no " + ro.What + " of this object yet"
		return nil
	case Mode(ro.Spec) == v1alpha1.RolloutNone:
		return nil
	}
	for _, w := range workloadsToRoll(ro) {
		if err := r.rollWorkload(ctx, ro, w); err != nil {
			return err
		}
	}
	return r.rollBarePods(ctx, ro)
}

// workloadsToRoll lists the workloads to restart: rollout.WorkloadsToRoll,
// shared with `kubectl certsync plan`.
func workloadsToRoll(ro *Rollout) []rollout.Workload {
	return rollout.WorkloadsToRoll(ro.Spec, ro.UsingPods)
}

func (r *Restarter) rollWorkload(ctx context.Context, ro *Rollout, w rollout.Workload) error {
	st := &ro.State
	obj := NewWorkload(w.Kind)
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ro.Key.Namespace, Name: w.Name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			st.Missing = append(st.Missing, w.String())
			return nil
		}
		return fmt.Errorf("reading %s: %w", w, err)
	}
	tmpl := rollout.TemplateOf(obj)
	podsBefore, err := r.podsStartedBefore(ctx, ro, w, obj)
	if err != nil {
		return err
	}
	restartedFor := tmpl.Annotations[v1alpha1.AnnotationRestartedFor]
	alreadyAsked := slices.ContainsFunc(ro.Restarts, func(rec v1alpha1.RestartRecord) bool { return rec.Kind == w.Kind && rec.Name == w.Name })
	switch {
	case restartedFor == ro.Held:
		// Restarted for this content (by us, now or before an operator
		// restart): follow the rollout to its end, and no further — a later
		// scale-out or deploy is not certsync's rollout.
		rec, ok := ro.RestartOf(w.Kind, w.Name)
		if ok && rec.Completed {
			return nil
		}
		p := rollout.ProgressOf(obj)
		deadline := ProgressDeadline(ro.Spec)
		switch {
		case p.Complete && ok:
			rec.Completed = true
			r.remember(ro, rec)
		case p.Complete:
			r.remember(ro, v1alpha1.RestartRecord{Kind: w.Kind, Name: w.Name, SHA256: ro.Held, Time: StatusTime(ro.Now), Completed: true})
		case ok && ro.Now.Sub(rec.Time.Time) > deadline:
			// The stall clock starts at the restart record, in both kinds:
			// it survives operator restarts (status.restarts), and a
			// restart requested long after the content was written (a
			// workload created later, suspend lifted) gets its full
			// deadline.
			st.Stalled = append(st.Stalled, fmt.Sprintf("%s: %s (no completion within %s)", w, p.Message, deadline))
			st.Rolling = append(st.Rolling, w.String())
		default:
			st.Pending = append(st.Pending, w.String()+": "+p.Message)
			st.Rolling = append(st.Rolling, w.String())
			st.InFlight++
		}
		return nil
	case !rollout.NeedsRestart(restartedFor, ro.Held, podsBefore):
		return nil // every pod started with the current content
	case alreadyAsked:
		// Our patch is not in the cache yet: never restart twice.
		st.Pending = append(st.Pending, w.String()+": restart requested")
		st.Rolling = append(st.Rolling, w.String())
		st.InFlight++
		return nil
	case ro.Suspend:
		st.Pending = append(st.Pending, w.String()+": restart held back (suspended)")
		return nil
	}
	// Against restart storms: the previous rollout first, then at most one
	// restart per minRestartInterval, then a slot of the cluster's budget.
	pace := rollout.DecidePace(rollout.PaceInput{Now: ro.Now, LastRestart: rollout.LastRestartOf(tmpl.Annotations),
		PreviousRolling: restartedFor != "" && !rollout.ProgressOf(obj).Complete,
		MinInterval:     MinRestartInterval(ro.Spec), ProgressDeadline: ProgressDeadline(ro.Spec), Restoring: ro.Restoring})
	// A held-back workload counts as rolling for verification: its pods
	// still serve the previous content on purpose, and must not be evicted
	// as stale meanwhile.
	if pace.Held() {
		st.hold(w.String(), pace.Reason, pace.Message, pace.Until)
		st.Rolling = append(st.Rolling, w.String())
		return nil
	}
	if !r.admit(ctx, ro) {
		st.hold(w.String(), v1alpha1.ReasonWaitingForRolloutSlot, "restart waits for a slot of the operator's rollout budget (--max-concurrent-rollouts)", time.Time{})
		st.Rolling = append(st.Rolling, w.String())
		return nil
	}
	// The optimistic lock makes a stale cached copy fail instead of
	// restarting twice; the next reconcile sees the fresh object.
	patch := client.MergeFromWithOptions(obj.DeepCopyObject().(client.Object), client.MergeFromWithOptimisticLock{})
	metav1.SetMetaDataAnnotation(&tmpl.ObjectMeta, v1alpha1.AnnotationRestartedFor, ro.Held)
	metav1.SetMetaDataAnnotation(&tmpl.ObjectMeta, v1alpha1.AnnotationRestartedAt, StatusTime(ro.Now).UTC().Format(time.RFC3339))
	if err := r.Client.Patch(ctx, obj, patch); err != nil {
		if apierrors.IsConflict(err) {
			st.Pending = append(st.Pending, w.String()+": retrying restart")
			st.InFlight++
			return nil
		}
		return fmt.Errorf("restarting %s: %w", w, err)
	}
	r.recordRestart(ro, v1alpha1.RestartRecord{Kind: w.Kind, Name: w.Name, SHA256: ro.Held, Time: StatusTime(ro.Now)})
	log.FromContext(ctx).Info("restarting workload for new content", "workload", w.String(), "what", ro.What, "sha256", ro.Held)
	st.Pending = append(st.Pending, w.String()+": restart requested")
	st.Rolling = append(st.Rolling, w.String())
	st.InFlight++
	return nil
}

// podsStartedBefore reports whether a pod of workload w started before the
// content was written. A listed workload's pods may neither mount the
// target (a CSI driver, a sidecar) nor be among the pods looked at: they
// are then found by the workload's own selector.
func (r *Restarter) podsStartedBefore(ctx context.Context, ro *Rollout, w rollout.Workload, obj client.Object) (bool, error) {
	before := func(p *corev1.Pod) bool { return rollout.WorkloadOf(p) == w && rollout.StartedBefore(p, ro.SyncedAt) }
	all := ro.AllPods()
	if slices.ContainsFunc(all, func(p *corev1.Pod) bool { return rollout.WorkloadOf(p) == w }) {
		return slices.ContainsFunc(all, before), nil
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
	if err := r.Client.List(ctx, &list, client.InNamespace(ro.Key.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
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
// content was written, at most maxUnavailable at a time, in both kinds:
// rollout.pods promises it, and the pod's owner (a person) chose a bare pod.
func (r *Restarter) rollBarePods(ctx context.Context, ro *Rollout) error {
	var due []*corev1.Pod
	for _, p := range ro.UsingPods {
		if rollout.WorkloadOf(p).Kind == "" && p.DeletionTimestamp == nil && rollout.StartedBefore(p, ro.SyncedAt) {
			due = append(due, p)
		}
	}
	if len(due) == 0 {
		return nil
	}
	if ro.Suspend {
		ro.State.Pending = append(ro.State.Pending, fmt.Sprintf("%d bare pods: restart held back (suspended)", len(due)))
		return nil
	}
	if !r.admit(ctx, ro) {
		ro.State.hold(fmt.Sprintf("%d bare pods", len(due)), v1alpha1.ReasonWaitingForRolloutSlot,
			"eviction waits for a slot of the operator's rollout budget (--max-concurrent-rollouts)", time.Time{})
		return nil
	}
	ro.State.InFlight++
	evicted, err := r.Evict(ctx, ro, due, "started before the current "+ro.What+" was written", false)
	if err != nil {
		return err
	}
	ro.State.Pending = append(ro.State.Pending, fmt.Sprintf("bare pods: %d of %d evicted, waiting for the rest", evicted, len(due)))
	return nil
}

// Evict evicts pods in order within the unavailability budget, through the
// Eviction API so PodDisruptionBudgets are honoured. Only the pod that was
// read is evicted, never a successor of the same name; with exactly, only
// if it is unchanged since it was read from the API server (a pod that
// started terminating in between is left to go, and nothing is recorded).
func (r *Restarter) Evict(ctx context.Context, ro *Rollout, pods []*corev1.Pod, why string, exactly bool) (int, error) {
	// Evictions made earlier in this reconcile do not show in the cached
	// pods yet: count them against the budget too.
	budget := rollout.EvictionBudget(ro.Spec.Pods.MaxUnavailable, ro.AllPods()) - ro.Evicted
	n := 0
	for _, p := range pods {
		if n >= budget {
			break
		}
		pre := &metav1.Preconditions{UID: &p.UID}
		if exactly {
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
			if r.Memory.BlockedOnce(ro.Key, p.Name) {
				ro.Events = append(ro.Events, Warning(v1alpha1.ReasonPodRestarted, "Evict",
					fmt.Sprintf("eviction of pod %s blocked by a PodDisruptionBudget: %v", p.Name, err)))
			}
			return n, nil
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return n, fmt.Errorf("evicting pod %s: %w", p.Name, err)
		}
		n++
		ro.Evicted++
		r.recordRestart(ro, v1alpha1.RestartRecord{Kind: "Pod", Name: p.Name, Owner: rollout.WorkloadOf(p).String(), SHA256: ro.Held, Time: StatusTime(ro.Now)})
		ro.Events = append(ro.Events, Normal(v1alpha1.ReasonPodRestarted, "Evict",
			fmt.Sprintf("evicted pod %s: %s", p.Name, why)))
		log.FromContext(ctx).Info("evicted pod", "pod", p.Name, "reason", why)
	}
	return n, nil
}

// StartedEvents announce the workload restarts this reconcile requested.
func (ro *Rollout) StartedEvents() []Event {
	var evs []Event
	for _, rec := range ro.State.Started {
		if rec.Kind != "Pod" {
			evs = append(evs, Normal(v1alpha1.ReasonRolloutStarted, "Restart",
				fmt.Sprintf("restarting %s/%s for %s sha256 %.16s…", rec.Kind, rec.Name, ro.What, rec.SHA256)))
		}
	}
	return append(evs, ro.Events...)
}

// NewWorkload returns an empty object of a workload kind.
func NewWorkload(kind string) client.Object {
	switch kind {
	case "StatefulSet":
		return &appsv1.StatefulSet{}
	case "DaemonSet":
		return &appsv1.DaemonSet{}
	default:
		return &appsv1.Deployment{}
	}
}

// StatusTime is t as the API server stores it (RFC 3339, whole seconds), so
// that a status read back compares equal to the one computed again.
func StatusTime(t time.Time) metav1.Time {
	return metav1.NewTime(t.UTC().Truncate(time.Second))
}

// OptionalStatusTime is StatusTime, nil when t is zero.
func OptionalStatusTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := StatusTime(t)
	return &mt
}
