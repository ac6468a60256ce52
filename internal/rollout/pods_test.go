package rollout_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"certsync.io/certsync/internal/rollout"
)

func TestMountsSecret(t *testing.T) {
	const target = "mail-tls"
	tests := []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"secret volume", newPod("p", withSecretVolume(target)), true},
		{"secret volume among others", newPod("p", withConfigMapVolume("config"), withSecretVolume("other"), withSecretVolume(target)), true},
		{"projected volume source", newPod("p", withProjectedSecret(target)), true},
		{"projected volume, second secret", newPod("p", withProjectedSecret("other", target)), true},
		{"projected volume of another secret", newPod("p", withProjectedSecret("other")), false},
		{"projected ConfigMap of the same name", newPod("p", withProjectedConfigMap(target)), false},
		{"env secretKeyRef", newPod("p", onApp(envPlain(), envSecretKey(target))), true},
		{"env configMapKeyRef of the same name", newPod("p", onApp(envConfigMapKey(target))), false},
		{"plain env value equal to the name", newPod("p", onApp(envPlain())), false},
		{"envFrom secretRef", newPod("p", onApp(envFromConfigMap("config"), envFromSecret(target))), true},
		{"envFrom configMapRef of the same name", newPod("p", onApp(envFromConfigMap(target))), false},
		{"init container env secretKeyRef", newPod("p", onInit(envSecretKey(target))), true},
		{"init container envFrom", newPod("p", onInit(envFromSecret(target))), true},
		{"init container of another secret", newPod("p", onInit(envFromSecret("other"), envSecretKey("other"))), false},
		{"other secret everywhere", newPod("p", withSecretVolume("other"), withProjectedSecret("other"),
			onApp(envSecretKey("other"), envFromSecret("other"))), false},
		{"ConfigMap volume of the same name", newPod("p", withConfigMapVolume(target)), false},
		{"prefix of the name", newPod("p", withSecretVolume("mail-tls-old"), withSecretVolume("mail")), false},
		{"no volumes, no env", newPod("p"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rollout.MountsSecret(&tt.pod.Spec, target); got != tt.want {
				t.Errorf("MountsSecret() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMountsSecretDoesNotMutateSpec(t *testing.T) {
	pod := newPod("p", onInit(envFromSecret("a")), onApp(envFromSecret("b")))
	before := pod.DeepCopy()
	rollout.MountsSecret(&pod.Spec, "zzz")
	if len(pod.Spec.InitContainers) != len(before.Spec.InitContainers) || len(pod.Spec.Containers) != len(before.Spec.Containers) {
		t.Fatalf("MountsSecret changed the container lists")
	}
}

func TestWorkloadOf(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		want rollout.Workload
		str  string
	}{
		{"Deployment via ReplicaSet and pod-template-hash",
			newPod("web-5d8f7c9b4-x2x7q", withController("ReplicaSet", "web-5d8f7c9b4"), withTemplateHash("5d8f7c9b4")),
			rollout.Workload{Kind: "Deployment", Name: "web"}, "Deployment/web"},
		{"Deployment whose name has dashes",
			newPod("p", withController("ReplicaSet", "mail-front-end-77f"), withTemplateHash("77f")),
			rollout.Workload{Kind: "Deployment", Name: "mail-front-end"}, "Deployment/mail-front-end"},
		{"ReplicaSet without pod-template-hash",
			newPod("p", withController("ReplicaSet", "web-5d8f7c9b4")),
			rollout.Workload{Kind: "ReplicaSet", Name: "web-5d8f7c9b4"}, "ReplicaSet/web-5d8f7c9b4"},
		{"ReplicaSet whose name does not end in the hash",
			newPod("p", withController("ReplicaSet", "standalone"), withTemplateHash("5d8f7c9b4")),
			rollout.Workload{Kind: "ReplicaSet", Name: "standalone"}, "ReplicaSet/standalone"},
		{"ReplicaSet named exactly the hash",
			newPod("p", withController("ReplicaSet", "abc"), withTemplateHash("abc")),
			rollout.Workload{Kind: "ReplicaSet", Name: "abc"}, "ReplicaSet/abc"},
		{"ReplicaSet ending in the hash without a dash",
			newPod("p", withController("ReplicaSet", "webabc"), withTemplateHash("abc")),
			rollout.Workload{Kind: "ReplicaSet", Name: "webabc"}, "ReplicaSet/webabc"},
		{"StatefulSet",
			newPod("db-0", withController("StatefulSet", "db")),
			rollout.Workload{Kind: "StatefulSet", Name: "db"}, "StatefulSet/db"},
		{"DaemonSet",
			newPod("relay-abcde", withController("DaemonSet", "relay")),
			rollout.Workload{Kind: "DaemonSet", Name: "relay"}, "DaemonSet/relay"},
		{"bare pod", newPod("bare"), rollout.Workload{}, ""},
		{"owner reference that is not the controller",
			newPod("p", withOwner("StatefulSet", "db", ptr.To(false))), rollout.Workload{}, ""},
		{"owner reference without the controller flag",
			newPod("p", withOwner("ReplicaSet", "web-abc", nil), withTemplateHash("abc")), rollout.Workload{}, ""},
		{"controller among several owner references",
			newPod("p", withOwner("ConfigMap", "x", ptr.To(false)), withController("DaemonSet", "relay")),
			rollout.Workload{Kind: "DaemonSet", Name: "relay"}, "DaemonSet/relay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rollout.WorkloadOf(tt.pod)
			if got != tt.want {
				t.Errorf("WorkloadOf() = %#v, want %#v", got, tt.want)
			}
			if got.String() != tt.str {
				t.Errorf("String() = %q, want %q", got.String(), tt.str)
			}
		})
	}
}

func TestStartedBefore(t *testing.T) {
	whole := t0.Truncate(time.Second) // 12:00:00.000; t0 is 12:00:00.500
	cest := time.FixedZone("CEST", 2*3600)
	tests := []struct {
		name    string
		created time.Time
		t       time.Time
		want    bool
	}{
		{"a second earlier", whole.Add(-time.Second), t0, true},
		{"a minute earlier", whole.Add(-time.Minute), t0, true},
		// Same second: the order is unknown at one-second resolution, and
		// one unneeded restart is cheaper than a stale pod.
		{"same second, t has a fraction", whole, t0, true},
		{"same second, t on the second", whole, whole, true},
		{"sub-second creation in the same second, after t", whole.Add(900 * time.Millisecond), t0, true},
		{"previous second, t on the second", whole.Add(-time.Second), whole, true},
		{"a second later", whole.Add(time.Second), t0, false},
		{"a second later, t on the second", whole.Add(time.Second), whole, false},
		{"an hour later", whole.Add(time.Hour), t0, false},
		{"t in another time zone", whole.Add(-time.Second), t0.In(cest), true},
		{"same second, t in another time zone", whole, t0.In(cest), true},
		{"next second, t in another time zone", whole.Add(time.Second), t0.In(cest), false},
		{"sync time unknown (zero)", whole.Add(-time.Hour), time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := newPod("p", createdAt(tt.created))
			if got := rollout.StartedBefore(pod, tt.t); got != tt.want {
				t.Errorf("StartedBefore(created %s, %s) = %v, want %v", tt.created.Format(time.RFC3339Nano), tt.t.Format(time.RFC3339Nano), got, tt.want)
			}
		})
	}
}

func TestReady(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"running, ready, addressed", newPod("p", ready()), true},
		{"pending", newPod("p", ready(), withPhase(corev1.PodPending)), false},
		{"succeeded", newPod("p", ready(), withPhase(corev1.PodSucceeded)), false},
		{"failed", newPod("p", ready(), withPhase(corev1.PodFailed)), false},
		{"no pod IP", newPod("p", ready(), withPodIP("")), false},
		{"being deleted", newPod("p", ready(), deleting()), false},
		{"Ready False", newPod("p", ready(), withReadyCondition(corev1.ConditionFalse)), false},
		{"Ready Unknown", newPod("p", ready(), withReadyCondition(corev1.ConditionUnknown)), false},
		{"no conditions", newPod("p", ready(), withoutConditions()), false},
		{"no status at all", newPod("p"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rollout.Ready(tt.pod); got != tt.want {
				t.Errorf("Ready() = %v, want %v", got, tt.want)
			}
		})
	}
}
