package rollout

import (
	corev1 "k8s.io/api/core/v1"

	"certsync.io/certsync/api/v1alpha1"
)

// AfterRestart reports whether pod replaces one that certsync evicted for
// the certificate want because it served a stale certificate. If such a pod
// is stale too, restarting again will not help (a broken image, a config
// that reads another file), so it is reported instead of restarted in a
// loop. Workload rollouts do not count: a pod that served the right
// certificate after a rollout and turned stale later deserves one restart.
func AfterRestart(pod *corev1.Pod, want string, records []v1alpha1.RestartRecord) bool {
	w := WorkloadOf(pod)
	for _, r := range records {
		if r.SHA256 != want || pod.CreationTimestamp.Time.Before(r.Time.Time.Truncate(1e9)) {
			continue
		}
		switch {
		case r.Kind == "Pod" && w.Kind == "" && r.Name == pod.Name:
			return true // the same bare pod, recreated by whoever manages it
		case r.Kind == "Pod" && w.Kind != "" && r.Owner == w.String():
			return true // a sibling was evicted and this is its replacement
		}
	}
	return false
}

// EvictionBudget is how many more pods may be evicted now: maxUnavailable
// minus the pods that are already not ready.
func EvictionBudget(maxUnavailable int32, pods []*corev1.Pod) int {
	if maxUnavailable < 1 {
		maxUnavailable = 1
	}
	unavailable := 0
	for _, p := range pods {
		if !Ready(p) {
			unavailable++
		}
	}
	if n := int(maxUnavailable) - unavailable; n > 0 {
		return n
	}
	return 0
}
