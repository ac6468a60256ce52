package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/rollout"
)

// ssDefaultProgressDeadline is rollout.progressDeadline's default.
const ssDefaultProgressDeadline = 10 * time.Minute

// rolloutSecretSync restarts each Deployment, StatefulSet and DaemonSet that
// runs pods started before the target's values were written, once per set
// of values: the pod-template annotation certsync.io/restarted-for carries
// their hash, so an operator restart never restarts twice. Pods without a
// controller are reported, not evicted: nothing would recreate them.
func (r *SecretSyncReconciler) rolloutSecretSync(ctx context.Context, s *ssScope) error {
	ro := &s.ss.Spec.Rollout
	if s.want == "" {
		s.roll.skipped = "the target holds no values of this SecretSync yet"
		return nil
	}
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(s.ss.Namespace)); err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	var workloads []rollout.Workload
	for _, ref := range ro.Workloads {
		workloads = append(workloads, rollout.Workload{Kind: ref.Kind, Name: ref.Name})
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if !rollout.MountsSecret(&p.Spec, s.ss.Spec.Target.SecretName) {
			continue
		}
		s.usingPods = append(s.usingPods, p)
		switch w := rollout.WorkloadOf(p); w.Kind {
		case "Deployment", "StatefulSet", "DaemonSet":
			if ssRolloutMode(ro) == v1alpha1.RolloutAuto && !slices.Contains(workloads, w) {
				workloads = append(workloads, w)
			}
		}
	}
	if ssRolloutMode(ro) == v1alpha1.RolloutNone {
		return nil
	}
	for _, w := range workloads {
		if err := r.restartForValues(ctx, s, w); err != nil {
			return err
		}
	}
	return nil
}

// restartForValues restarts one workload for the target's values, or
// follows the restart it already got for them.
func (r *SecretSyncReconciler) restartForValues(ctx context.Context, s *ssScope, w rollout.Workload) error {
	obj := newWorkload(w.Kind)
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: s.ss.Namespace, Name: w.Name}, obj); err != nil {
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("reading %s: %w", w, err)
		}
		s.roll.missing = append(s.roll.missing, w.String())
		return nil
	}
	tmpl := rollout.TemplateOf(obj)
	if had := tmpl.Annotations[v1alpha1.AnnotationRestartedFor]; had == s.want {
		if p := rollout.ProgressOf(obj); !p.Complete {
			// The values' synced-at starts the progress deadline: it
			// survives operator restarts, and the restart follows it at once.
			if deadline := ssProgressDeadline(&s.ss.Spec.Rollout); s.now.Sub(s.syncedAt) > deadline {
				s.roll.stalled = append(s.roll.stalled, fmt.Sprintf("%s: %s (no completion within %s)", w, p.Message, deadline))
			} else {
				s.roll.pending = append(s.roll.pending, w.String()+": "+p.Message)
			}
		}
		return nil
	} else if !rollout.NeedsRestart(had, s.want, slices.ContainsFunc(s.usingPods, func(p *corev1.Pod) bool {
		return rollout.WorkloadOf(p) == w && rollout.StartedBefore(p, s.syncedAt)
	})) {
		return nil
	}
	if s.ss.Spec.Suspend {
		s.roll.pending = append(s.roll.pending, w.String()+": restart held back (suspended)")
		return nil
	}
	// The optimistic lock turns a stale cached copy into a conflict rather
	// than a second restart.
	patch := client.MergeFromWithOptions(obj.DeepCopyObject().(client.Object), client.MergeFromWithOptimisticLock{})
	metav1.SetMetaDataAnnotation(&tmpl.ObjectMeta, v1alpha1.AnnotationRestartedFor, s.want)
	switch err := r.Client.Patch(ctx, obj, patch); {
	case apierrors.IsConflict(err):
		s.roll.pending = append(s.roll.pending, w.String()+": retrying restart")
		return nil
	case err != nil:
		return fmt.Errorf("restarting %s: %w", w, err)
	}
	s.roll.started = append(s.roll.started, v1alpha1.RestartRecord{Kind: w.Kind, Name: w.Name, SHA256: s.want, Time: metav1.NewTime(s.now)})
	s.roll.pending = append(s.roll.pending, w.String()+": restart requested")
	log.FromContext(ctx).Info("restarting workload for new secret values", "workload", w.String(), "sha256", s.want)
	return nil
}

// barePodsNote names the pods without a controller that still hold older
// values, for the RolledOut message.
func ssBarePodsNote(s *ssScope) string {
	var names []string
	for _, p := range s.usingPods {
		if rollout.WorkloadOf(p).Kind == "" && rollout.StartedBefore(p, s.syncedAt) {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	slices.Sort(names)
	if len(names) > 5 {
		names = append(names[:5], "…")
	}
	return "; pods without a controller started before the values were written and are not restarted: " + strings.Join(names, ", ")
}

func ssRolloutMode(ro *v1alpha1.Rollout) v1alpha1.RolloutMode {
	if ro.Mode == "" {
		return v1alpha1.RolloutAuto
	}
	return ro.Mode
}

func ssProgressDeadline(ro *v1alpha1.Rollout) time.Duration {
	if d := ro.ProgressDeadline; d != nil && d.Duration > 0 {
		return d.Duration
	}
	return ssDefaultProgressDeadline
}
