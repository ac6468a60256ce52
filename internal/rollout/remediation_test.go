package rollout_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/rollout"
)

type recordOption func(*v1alpha1.RestartRecord)

// podRecord is an eviction record as the controller writes it.
func podRecord(name string, opts ...recordOption) v1alpha1.RestartRecord {
	r := v1alpha1.RestartRecord{Kind: "Pod", Name: name, SHA256: "want", Time: metav1.NewTime(t0)}
	for _, o := range opts {
		o(&r)
	}
	return r
}

// workloadRecord is a workload rollout record (pod-template annotation).
func workloadRecord(kind, name string, opts ...recordOption) v1alpha1.RestartRecord {
	r := v1alpha1.RestartRecord{Kind: kind, Name: name, SHA256: "want", Time: metav1.NewTime(t0)}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func ownedBy(w string) recordOption  { return func(r *v1alpha1.RestartRecord) { r.Owner = w } }
func forSHA(sha string) recordOption { return func(r *v1alpha1.RestartRecord) { r.SHA256 = sha } }
func recordAt(t time.Time) recordOption {
	return func(r *v1alpha1.RestartRecord) { r.Time = metav1.NewTime(t) }
}

func TestAfterRestart(t *testing.T) {
	after, before := createdAt(t0.Add(5*time.Second)), createdAt(t0.Add(-time.Hour))
	deployPod := func(name string, opts ...podOption) *corev1.Pod {
		return newPod(name, append([]podOption{withController("ReplicaSet", "web-5d8f7c9b4"), withTemplateHash("5d8f7c9b4")}, opts...)...)
	}
	tests := []struct {
		name    string
		pod     *corev1.Pod
		records []v1alpha1.RestartRecord
		want    bool
	}{
		{"no records", newPod("bare", after), nil, false},
		{"bare pod recreated with the same name", newPod("bare", after),
			[]v1alpha1.RestartRecord{podRecord("bare")}, true},
		{"bare pod recreated in the same second as the record", newPod("bare", createdAt(t0.Truncate(time.Second))),
			[]v1alpha1.RestartRecord{podRecord("bare")}, true},
		{"bare pod that is the evicted one (created before the record)", newPod("bare", before),
			[]v1alpha1.RestartRecord{podRecord("bare")}, false},
		{"bare pod created a second before the record", newPod("bare", createdAt(t0.Truncate(time.Second).Add(-time.Millisecond))),
			[]v1alpha1.RestartRecord{podRecord("bare")}, false},
		{"another bare pod was evicted", newPod("bare-2", after),
			[]v1alpha1.RestartRecord{podRecord("bare-1")}, false},
		{"bare pod, record for another fingerprint", newPod("bare", after),
			[]v1alpha1.RestartRecord{podRecord("bare", forSHA("older"))}, false},
		{"sibling replacement via Owner", deployPod("web-5d8f7c9b4-new", after),
			[]v1alpha1.RestartRecord{podRecord("web-5d8f7c9b4-old", ownedBy("Deployment/web"))}, true},
		{"sibling of another workload", deployPod("web-5d8f7c9b4-new", after),
			[]v1alpha1.RestartRecord{podRecord("api-1", ownedBy("Deployment/api"))}, false},
		{"sibling created before the eviction", deployPod("web-5d8f7c9b4-old2", before),
			[]v1alpha1.RestartRecord{podRecord("web-5d8f7c9b4-old", ownedBy("Deployment/web"))}, false},
		{"sibling, record for another fingerprint", deployPod("web-5d8f7c9b4-new", after),
			[]v1alpha1.RestartRecord{podRecord("web-5d8f7c9b4-old", ownedBy("Deployment/web"), forSHA("older"))}, false},
		{"StatefulSet pod recreated with its name", newPod("db-0", withController("StatefulSet", "db"), after),
			[]v1alpha1.RestartRecord{podRecord("db-0", ownedBy("StatefulSet/db"))}, true},
		{"workload pod with a record of a bare pod of the same name", newPod("db-0", withController("StatefulSet", "db"), after),
			[]v1alpha1.RestartRecord{podRecord("db-0")}, false},
		{"bare pod, record naming an owner", newPod("bare", after),
			[]v1alpha1.RestartRecord{podRecord("other", ownedBy("Deployment/web"))}, false},
		{"workload rollout record does not count", deployPod("web-5d8f7c9b4-new", after),
			[]v1alpha1.RestartRecord{workloadRecord("Deployment", "web")}, false},
		{"workload rollout record does not count (StatefulSet)", newPod("db-0", withController("StatefulSet", "db"), after),
			[]v1alpha1.RestartRecord{workloadRecord("StatefulSet", "db")}, false},
		{"workload record named like a bare pod does not count", newPod("web", after),
			[]v1alpha1.RestartRecord{workloadRecord("Deployment", "web")}, false},
		{"one matching record among others", deployPod("web-5d8f7c9b4-new", after),
			[]v1alpha1.RestartRecord{
				workloadRecord("Deployment", "web"),
				podRecord("x", ownedBy("Deployment/web"), forSHA("older")),
				podRecord("web-5d8f7c9b4-new", ownedBy("Deployment/web"), recordAt(t0.Add(time.Minute))),
				podRecord("web-5d8f7c9b4-old", ownedBy("Deployment/web")),
			}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rollout.AfterRestart(tt.pod, "want", tt.records); got != tt.want {
				t.Errorf("AfterRestart() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEvictionBudget(t *testing.T) {
	up := func(n int) []*corev1.Pod {
		var ps []*corev1.Pod
		for range n {
			ps = append(ps, newPod("up", ready()))
		}
		return ps
	}
	down := func(n int) []*corev1.Pod {
		var ps []*corev1.Pod
		for range n {
			ps = append(ps, newPod("down", ready(), withReadyCondition(corev1.ConditionFalse)))
		}
		return ps
	}
	tests := []struct {
		name           string
		maxUnavailable int32
		pods           []*corev1.Pod
		want           int
	}{
		{"no pods", 2, nil, 2},
		{"all ready", 2, up(4), 2},
		{"one not ready", 2, append(up(3), down(1)...), 1},
		{"budget used up", 2, append(up(2), down(2)...), 0},
		{"more unavailable than allowed", 1, append(up(1), down(3)...), 0},
		{"being deleted counts as unavailable", 2, append(up(2), newPod("gone", ready(), deleting())), 1},
		{"pending counts as unavailable", 1, append(up(2), newPod("new", withPhase(corev1.PodPending))), 0},
		{"zero means one", 0, up(3), 1},
		{"negative means one", -3, up(3), 1},
		{"zero means one, one not ready", 0, append(up(3), down(1)...), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rollout.EvictionBudget(tt.maxUnavailable, tt.pods); got != tt.want {
				t.Errorf("EvictionBudget(%d, …) = %d, want %d", tt.maxUnavailable, got, tt.want)
			}
		})
	}
}
