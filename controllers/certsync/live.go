package certsync

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/rollout"
)

// +kubebuilder:rbac:groups=apps,resources=replicasets;controllerrevisions,verbs=list

// liveView answers, from the API server rather than the cache, whether a pod
// is on its way out. The cache can lag: a workload's status may already say
// its rollout is complete while the cached pods of the old revision show no
// deletion timestamp yet. Judging such a pod stale, and evicting it, takes
// capacity away mid-rollout and spends the once-per-lineage remediation on a
// pod that was leaving anyway. Reads are made only for pods that failed
// verification, and once per workload per reconcile.
type liveView struct {
	reader    client.Reader
	namespace string
	workloads map[rollout.Workload]liveWorkload
}

type liveWorkload struct {
	obj client.Object // nil when the workload does not exist
	rev rollout.Revision
}

func newLiveView(reader client.Reader, namespace string) *liveView {
	return &liveView{reader: reader, namespace: namespace, workloads: map[rollout.Workload]liveWorkload{}}
}

// pod reads a pod as the API server has it now. It returns nil (and no
// error) when the pod is gone or has been replaced by another of the same
// name, which is on its way out as much as a terminating one.
func (l *liveView) pod(ctx context.Context, cached *corev1.Pod) (*corev1.Pod, error) {
	var p corev1.Pod
	err := l.reader.Get(ctx, types.NamespacedName{Namespace: l.namespace, Name: cached.Name}, &p)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading pod %s: %w", cached.Name, err)
	case p.UID != cached.UID:
		return nil, nil
	}
	return &p, nil
}

// outgoing reports whether the live pod is leaving: terminating, or of a
// revision its workload's controller is replacing.
func (l *liveView) outgoing(ctx context.Context, pod *corev1.Pod) (bool, string, error) {
	w := rollout.WorkloadOf(pod)
	var lw liveWorkload
	switch w.Kind {
	case "Deployment", "StatefulSet", "DaemonSet":
		var err error
		if lw, err = l.workload(ctx, w); err != nil {
			return false, "", err
		}
	}
	out, why := rollout.Outgoing(pod, lw.obj, lw.rev)
	return out, why, nil
}

// workload reads a workload and its current revision, once per reconcile.
func (l *liveView) workload(ctx context.Context, w rollout.Workload) (liveWorkload, error) {
	if lw, ok := l.workloads[w]; ok {
		return lw, nil
	}
	obj := engine.NewWorkload(w.Kind)
	err := l.reader.Get(ctx, types.NamespacedName{Namespace: l.namespace, Name: w.Name}, obj)
	if apierrors.IsNotFound(err) {
		l.workloads[w] = liveWorkload{}
		return liveWorkload{}, nil
	}
	if err != nil {
		return liveWorkload{}, fmt.Errorf("reading %s: %w", w, err)
	}
	var (
		replicaSets appsv1.ReplicaSetList
		revisions   appsv1.ControllerRevisionList
	)
	// Only a Deployment's and a DaemonSet's revision live in other objects;
	// the workload's own selector keeps the list to its revisions.
	var list client.ObjectList
	switch w.Kind {
	case "Deployment":
		list = &replicaSets
	case "DaemonSet":
		list = &revisions
	}
	if list != nil {
		sel, err := metav1.LabelSelectorAsSelector(rollout.SelectorOf(obj))
		if err != nil {
			l.workloads[w] = liveWorkload{obj: obj}
			return l.workloads[w], nil // its controller refuses the selector too: nothing is replaced
		}
		if err := l.reader.List(ctx, list, client.InNamespace(l.namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return liveWorkload{}, fmt.Errorf("listing the revisions of %s: %w", w, err)
		}
	}
	lw := liveWorkload{obj: obj, rev: rollout.CurrentRevision(obj, replicaSets.Items, revisions.Items)}
	l.workloads[w] = lw
	return lw, nil
}
