package rollout

import (
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels the workload controllers put on the pods of a revision.
const (
	// podTemplateHashLabel is the deployment controller's per-ReplicaSet label.
	podTemplateHashLabel = appsv1.DefaultDeploymentUniqueLabelKey
	// revisionHashLabel is the StatefulSet and DaemonSet controllers' label.
	revisionHashLabel = appsv1.ControllerRevisionHashLabelKey
	// deploymentRevisionAnnotation numbers a Deployment's ReplicaSets.
	deploymentRevisionAnnotation = "deployment.kubernetes.io/revision"
)

// Why a pod is outgoing, for logs and the Verified message.
const (
	OutgoingTerminating = "terminating"
	OutgoingOldRevision = "of an older revision its workload controller is replacing"
)

// Revision is what the API server says a workload's current revision is:
// the value its controller puts in the pod label Label for pods of the
// current template. Hash is empty when it is not known (no ReplicaSet or
// ControllerRevision found): then no pod can be shown to be outgoing.
type Revision struct {
	Label string
	Hash  string
}

// CurrentRevision finds the revision a workload's controller is rolling its
// pods to: a Deployment's newest ReplicaSet, a StatefulSet's updateRevision,
// a DaemonSet's newest ControllerRevision. owned lists the ReplicaSets (for a
// Deployment) or ControllerRevisions (for a DaemonSet) of the namespace; only
// those the workload controls count.
func CurrentRevision(workload metav1.Object, replicaSets []appsv1.ReplicaSet, revisions []appsv1.ControllerRevision) Revision {
	switch w := workload.(type) {
	case *appsv1.Deployment:
		best, hash := int64(-1), ""
		for i := range replicaSets {
			rs := &replicaSets[i]
			if !controlledBy(rs, w) {
				continue
			}
			n, err := strconv.ParseInt(rs.Annotations[deploymentRevisionAnnotation], 10, 64)
			if err == nil && n > best {
				best, hash = n, rs.Labels[podTemplateHashLabel]
			}
		}
		return Revision{Label: podTemplateHashLabel, Hash: hash}
	case *appsv1.StatefulSet:
		return Revision{Label: revisionHashLabel, Hash: w.Status.UpdateRevision}
	case *appsv1.DaemonSet:
		best, hash := int64(-1), ""
		for i := range revisions {
			cr := &revisions[i]
			if controlledBy(cr, w) && cr.Revision > best {
				best, hash = cr.Revision, cr.Labels[revisionHashLabel]
			}
		}
		return Revision{Label: revisionHashLabel, Hash: hash}
	}
	return Revision{}
}

func controlledBy(obj, owner metav1.Object) bool {
	ref := metav1.GetControllerOfNoCopy(obj)
	return ref != nil && ref.UID == owner.GetUID()
}

// Outgoing reports whether pod is on its way out, and why: it is
// terminating, or it belongs to an older revision that its workload's
// controller is about to replace. An outgoing pod may still serve the
// previous certificate (mail servers do until they exit) and that is no
// fault: it is never judged stale nor evicted.
//
// Pods an update strategy keeps on an older revision on purpose are not
// outgoing, since nothing will replace them: those below a StatefulSet's
// partition, those of an OnDelete StatefulSet or DaemonSet, those of a paused
// Deployment. If they serve a stale certificate, remediation is their only
// way to the new one.
func Outgoing(pod *corev1.Pod, workload metav1.Object, rev Revision) (bool, string) {
	if pod.DeletionTimestamp != nil {
		return true, OutgoingTerminating
	}
	if rev.Hash == "" || workload == nil {
		return false, ""
	}
	if got, ok := pod.Labels[rev.Label]; !ok || got == rev.Hash {
		return false, ""
	}
	switch w := workload.(type) {
	case *appsv1.Deployment:
		if w.Spec.Paused {
			return false, ""
		}
	case *appsv1.StatefulSet:
		if w.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
			return false, ""
		}
		if ru := w.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
			if ord, ok := ordinal(pod.Name, w.Name); !ok || ord < int(*ru.Partition) {
				return false, ""
			}
		}
	case *appsv1.DaemonSet:
		if w.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
			return false, ""
		}
	default:
		return false, ""
	}
	return true, OutgoingOldRevision
}

// ordinal is a StatefulSet pod's ordinal, from its name "<set>-<n>".
func ordinal(pod, set string) (int, bool) {
	s, ok := strings.CutPrefix(pod, set+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}
