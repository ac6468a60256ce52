package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
)

// TestRestartRecordsAreKeptPerLineage: evicting many pods of one workload
// keeps one record (the earliest), so the records stay bounded by
// workloads and the first eviction still tells replacements apart; a
// rollout's completion updates its record instead of adding one.
func TestRestartRecordsAreKeptPerLineage(t *testing.T) {
	r := &CertSyncReconciler{}
	s := &scope{cs: &v1alpha1.CertSync{ObjectMeta: metav1.ObjectMeta{Namespace: "mail", Name: "mail"}}}
	t0 := metav1.NewTime(time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC))
	for i := range 120 {
		s.remember(r, v1alpha1.RestartRecord{Kind: "Pod", Name: "postfix-" + string(rune('a'+i%26)) + string(rune('a'+i/26)),
			Owner: "Deployment/postfix", SHA256: "abc", Time: metav1.NewTime(t0.Add(time.Duration(i) * time.Second))})
	}
	s.remember(r, v1alpha1.RestartRecord{Kind: "Pod", Name: "bare", SHA256: "abc", Time: t0})
	s.remember(r, v1alpha1.RestartRecord{Kind: "Deployment", Name: "postfix", SHA256: "abc", Time: t0})
	s.remember(r, v1alpha1.RestartRecord{Kind: "Deployment", Name: "postfix", SHA256: "abc", Time: t0, Completed: true})
	if len(s.restarts) != 3 {
		t.Fatalf("records = %d, want 3 (one lineage of evictions, one bare pod, one rollout): %+v", len(s.restarts), s.restarts)
	}
	if !s.restarts[0].Time.Equal(&t0) {
		t.Errorf("the lineage keeps its earliest eviction, got %s", s.restarts[0].Time)
	}
	if !s.restarts[2].Completed {
		t.Error("the rollout's completion was not recorded")
	}
	if got := r.memory.restarts(s.key()); len(got) != 3 || !got[2].Completed {
		t.Errorf("memory holds %+v, want the same 3 records", got)
	}
}
