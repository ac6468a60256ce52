package engine

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"certsync.io/certsync/api/v1alpha1"
)

// TestRestartRecordsAreKeptPerLineage: evicting many pods of one workload
// keeps one record (the earliest), so the records stay bounded by
// workloads and the first eviction still tells replacements apart; a
// rollout's completion updates its record instead of adding one.
func TestRestartRecordsAreKeptPerLineage(t *testing.T) {
	r := &Restarter{Memory: &Memory{}}
	ro := &Rollout{Key: types.NamespacedName{Namespace: "mail", Name: "mail"}}
	t0 := metav1.NewTime(time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC))
	for i := range 120 {
		r.remember(ro, v1alpha1.RestartRecord{Kind: "Pod", Name: "postfix-" + string(rune('a'+i%26)) + string(rune('a'+i/26)),
			Owner: "Deployment/postfix", SHA256: "abc", Time: metav1.NewTime(t0.Add(time.Duration(i) * time.Second))})
	}
	r.remember(ro, v1alpha1.RestartRecord{Kind: "Pod", Name: "bare", SHA256: "abc", Time: t0})
	r.remember(ro, v1alpha1.RestartRecord{Kind: "Deployment", Name: "postfix", SHA256: "abc", Time: t0})
	r.remember(ro, v1alpha1.RestartRecord{Kind: "Deployment", Name: "postfix", SHA256: "abc", Time: t0, Completed: true})
	if len(ro.Restarts) != 3 {
		t.Fatalf("records = %d, want 3 (one lineage of evictions, one bare pod, one rollout): %+v", len(ro.Restarts), ro.Restarts)
	}
	if !ro.Restarts[0].Time.Equal(&t0) {
		t.Errorf("the lineage keeps its earliest eviction, got %s", ro.Restarts[0].Time)
	}
	if !ro.Restarts[2].Completed {
		t.Error("the rollout's completion was not recorded")
	}
	if got := r.Memory.Restarts(ro.Key); len(got) != 3 || !got[2].Completed {
		t.Errorf("memory holds %+v, want the same 3 records", got)
	}
}
