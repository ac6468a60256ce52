// Package rollout holds the decisions about restarting what uses a
// certificate: which pods mount the target, which workload owns them, whether
// a workload needs a restart, whether its rollout is complete, and which
// stale pods may be evicted. All pure; the controller acts on them.
package rollout

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MountsSecret reports whether a pod spec reads the Secret name: as a
// volume, a projected volume source, an env var or envFrom, in any container.
func MountsSecret(spec *corev1.PodSpec, name string) bool {
	for _, v := range spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == name {
			return true
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil && src.Secret.Name == name {
					return true
				}
			}
		}
	}
	containers := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for _, c := range containers {
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil && e.SecretRef.Name == name {
				return true
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == name {
				return true
			}
		}
	}
	return false
}

// Workload identifies a pod's controller in the pod's namespace.
type Workload struct {
	Kind string // Deployment, StatefulSet, DaemonSet, or "" for a bare pod
	Name string
}

func (w Workload) String() string {
	if w.Kind == "" {
		return ""
	}
	return w.Kind + "/" + w.Name
}

// WorkloadOf returns the workload that controls a pod. A ReplicaSet's
// Deployment is derived from the pod-template-hash suffix the deployment
// controller gives every ReplicaSet it creates, which saves an API read per
// pod; a ReplicaSet without that shape is returned as itself.
func WorkloadOf(pod *corev1.Pod) Workload {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return Workload{}
	}
	switch ref.Kind {
	case "ReplicaSet":
		hash := pod.Labels["pod-template-hash"]
		if hash != "" && strings.HasSuffix(ref.Name, "-"+hash) {
			return Workload{Kind: "Deployment", Name: strings.TrimSuffix(ref.Name, "-"+hash)}
		}
		return Workload{Kind: "ReplicaSet", Name: ref.Name}
	default:
		return Workload{Kind: ref.Kind, Name: ref.Name}
	}
}

// StartedBefore reports whether a pod may have started before t and so may
// hold the Secret as it was before t. Pod timestamps have one-second
// resolution: a pod created in the same second as t counts as before, since
// an unneeded restart (at most one per certificate) is cheaper than a pod
// left serving an old certificate. A zero t (unknown) means no.
func StartedBefore(pod *corev1.Pod, t time.Time) bool {
	if t.IsZero() {
		return false
	}
	return pod.CreationTimestamp.Time.Before(t.Truncate(time.Second).Add(time.Second))
}

// Ready reports whether a pod is running, ready, and has an IP to probe.
func Ready(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
