package rollout

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NeedsRestart decides whether a workload must be restarted for the
// certificate with fingerprint want. restartedFor is the fingerprint its pod
// template carries (empty if certsync never restarted it); podsBeforeSync
// says whether any of its pods started before the certificate was written.
// A workload is restarted once per certificate: never again once its
// template carries want (operator restarts and leader changes included), and
// not at all when every pod already started with the certificate.
func NeedsRestart(restartedFor, want string, podsBeforeSync bool) bool {
	return restartedFor != want && podsBeforeSync
}

// Progress is the rollout state of one workload.
type Progress struct {
	Complete bool
	Message  string
}

// DeploymentProgress follows `kubectl rollout status`: the controller has
// seen the latest spec, every replica is updated and available, and no old
// replica is left.
func DeploymentProgress(d *appsv1.Deployment) Progress {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	switch {
	case s.ObservedGeneration < d.Generation:
		return Progress{false, "waiting for the deployment controller to observe the new template"}
	case s.UpdatedReplicas < want:
		return Progress{false, fmt.Sprintf("%d of %d replicas updated", s.UpdatedReplicas, want)}
	case s.Replicas > s.UpdatedReplicas:
		return Progress{false, fmt.Sprintf("%d old replicas pending termination", s.Replicas-s.UpdatedReplicas)}
	case s.AvailableReplicas < s.UpdatedReplicas:
		return Progress{false, fmt.Sprintf("%d of %d updated replicas available", s.AvailableReplicas, s.UpdatedReplicas)}
	}
	return Progress{true, fmt.Sprintf("%d of %d replicas updated and available", s.AvailableReplicas, want)}
}

// StatefulSetProgress follows `kubectl rollout status` for RollingUpdate.
func StatefulSetProgress(s *appsv1.StatefulSet) Progress {
	want := int32(1)
	if s.Spec.Replicas != nil {
		want = *s.Spec.Replicas
	}
	st := s.Status
	switch {
	case st.ObservedGeneration < s.Generation:
		return Progress{false, "waiting for the statefulset controller to observe the new template"}
	case st.ReadyReplicas < want:
		return Progress{false, fmt.Sprintf("%d of %d replicas ready", st.ReadyReplicas, want)}
	case s.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType:
		// A partition holds the lower ordinals back on purpose; like
		// `kubectl rollout status`, count only the pods it lets through.
		var partition int32
		if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
			partition = *ru.Partition
		}
		if partition > 0 && st.UpdatedReplicas < want-partition {
			return Progress{false, fmt.Sprintf("%d of %d replicas above partition %d updated", st.UpdatedReplicas, want-partition, partition)}
		}
		if partition == 0 && st.UpdateRevision != st.CurrentRevision {
			return Progress{false, fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, want)}
		}
	}
	return Progress{true, fmt.Sprintf("%d of %d replicas updated and ready", st.ReadyReplicas, want)}
}

// DaemonSetProgress follows `kubectl rollout status` for DaemonSets.
func DaemonSetProgress(ds *appsv1.DaemonSet) Progress {
	st := ds.Status
	switch {
	case st.ObservedGeneration < ds.Generation:
		return Progress{false, "waiting for the daemonset controller to observe the new template"}
	case ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType && st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		// Under OnDelete the controller never replaces pods: verification
		// finds the stale ones and remediation restarts them.
		return Progress{false, fmt.Sprintf("%d of %d pods updated", st.UpdatedNumberScheduled, st.DesiredNumberScheduled)}
	case st.NumberAvailable < st.DesiredNumberScheduled:
		return Progress{false, fmt.Sprintf("%d of %d updated pods available", st.NumberAvailable, st.DesiredNumberScheduled)}
	}
	return Progress{true, fmt.Sprintf("%d of %d pods updated and available", st.NumberAvailable, st.DesiredNumberScheduled)}
}

// TemplateOf returns the pod template of a Deployment, StatefulSet or DaemonSet.
func TemplateOf(obj any) *corev1.PodTemplateSpec {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		return &w.Spec.Template
	case *appsv1.StatefulSet:
		return &w.Spec.Template
	case *appsv1.DaemonSet:
		return &w.Spec.Template
	}
	return nil
}

// SelectorOf returns the pod selector of a Deployment, StatefulSet or
// DaemonSet.
func SelectorOf(obj any) *metav1.LabelSelector {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		return w.Spec.Selector
	case *appsv1.StatefulSet:
		return w.Spec.Selector
	case *appsv1.DaemonSet:
		return w.Spec.Selector
	}
	return nil
}

// ProgressOf dispatches to the kind's progress rule.
func ProgressOf(obj any) Progress {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		return DeploymentProgress(w)
	case *appsv1.StatefulSet:
		return StatefulSetProgress(w)
	case *appsv1.DaemonSet:
		return DaemonSetProgress(w)
	}
	return Progress{false, "unsupported workload kind"}
}
