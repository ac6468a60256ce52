package certsync

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/probe"
	"certsync.io/certsync/internal/verification"
)

// TestSetRolledBack: the condition is absent before any rollback, True
// while the target holds the restored certificate, False (Superseded) once
// another replaced it; a rollback made now is recorded with its event.
func TestSetRolledBack(t *testing.T) {
	rec := &v1alpha1.RollbackRecord{RejectedSHA256: "bbbb", RestoredSHA256: "aaaa",
		Reason: v1alpha1.ReasonPodsUnreachable, Message: "2 pods stopped answering", Time: metav1.NewTime(stNow)}
	for _, tc := range []struct {
		name       string
		status     *v1alpha1.RollbackRecord
		done       *v1alpha1.RollbackRecord
		held       string
		want       string // "status/reason", "" for no condition
		wantEvents int
	}{
		{"never rolled back", nil, nil, "aaaa", "", 0},
		{"rolled back now", nil, rec, "aaaa", "True/" + v1alpha1.ReasonPodsUnreachable, 1},
		{"still holding the restored certificate", rec, nil, "aaaa", "True/" + v1alpha1.ReasonPodsUnreachable, 0},
		{"a newer certificate replaced it", rec, nil, "cccc", "False/" + v1alpha1.ReasonRollbackSuperseded, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scope{cs: stCertSync(), now: stNow}
			s.cs.Status.RolledBack = tc.status
			s.cs.Status.Certificate = &v1alpha1.CertificateInfo{SHA256: tc.held}
			s.rb.done = tc.done
			setRolledBack(s)
			c := meta.FindStatusCondition(s.cs.Status.Conditions, v1alpha1.ConditionRolledBack)
			got := ""
			if c != nil {
				got = string(c.Status) + "/" + c.Reason
			}
			if got != tc.want {
				t.Errorf("RolledBack = %q, want %q", got, tc.want)
			}
			if tc.done != nil && (s.cs.Status.RolledBack != tc.done || s.cs.Status.LastSyncTime == nil) {
				t.Errorf("rollback not recorded: %+v", s.cs.Status)
			}
			evs := rollbackEvents(s)
			if len(evs) != tc.wantEvents {
				t.Fatalf("events = %+v", evs)
			}
			for _, e := range evs {
				if e.Type != "Warning" || e.Reason != v1alpha1.ReasonRolledBack || !strings.Contains(e.Note, "PodsUnreachable") {
					t.Errorf("event %+v", e)
				}
			}
		})
	}
}

// TestUnansweredMemory: the time pods went unanswered counts from the first
// such verification of the same certificate, and restarts after any answer
// or with another certificate.
func TestUnansweredMemory(t *testing.T) {
	var u unansweredMemory
	k := types.NamespacedName{Namespace: "mail", Name: "mail"}
	steps := []struct {
		sha  string
		now  bool
		at   time.Duration
		want time.Duration
	}{
		{"b", true, 0, 0},
		{"b", true, 5 * time.Second, 5 * time.Second},
		{"b", true, 25 * time.Second, 25 * time.Second},
		{"b", false, 26 * time.Second, 0},
		{"b", true, 27 * time.Second, 0},
		{"c", true, 30 * time.Second, 0},
		{"c", true, 31 * time.Second, time.Second},
	}
	for i, st := range steps {
		if got := u.observe(k, st.sha, st.now, stNow.Add(st.at)); got != st.want {
			t.Errorf("step %d: unanswered for %s, want %s", i, got, st.want)
		}
	}
	u.forget(k)
	if got := u.observe(k, "c", true, stNow.Add(time.Hour)); got != 0 {
		t.Errorf("after forget: %s", got)
	}
}

// TestVerifiedServing: the pods verified for the certificate about to be
// kept count from this process's last verification when the cached status
// lags behind it (the cause of a rejected renewal that was never rolled
// back), and from status after an operator restart.
func TestVerifiedServing(t *testing.T) {
	status := func(sha string, verified int32) *v1alpha1.CertSyncStatus {
		return &v1alpha1.CertSyncStatus{Certificate: &v1alpha1.CertificateInfo{SHA256: sha}, Pods: &v1alpha1.PodsStatus{Verified: verified, Total: verified}}
	}
	three := &verifyEntry{sha: "aaaa", pods: []verification.PodResult{pr("m-0", probe.Verified), pr("m-1", probe.Verified), pr("m-2", probe.Verified)}}
	for _, tc := range []struct {
		name string
		st   *v1alpha1.CertSyncStatus
		mem  *verifyEntry
		want int
	}{
		{"status and memory agree", status("aaaa", 3), three, 3},
		{"status lags: still the rollout's, before verification", &v1alpha1.CertSyncStatus{Certificate: &v1alpha1.CertificateInfo{SHA256: "aaaa"}}, three, 3},
		{"status lags: still the certificate before", status("0000", 2), three, 3},
		{"operator restarted: status only", status("aaaa", 2), nil, 2},
		{"memory of another certificate", status("aaaa", 1), &verifyEntry{sha: "bbbb", pods: three.pods}, 1},
		{"some pods unreachable", &v1alpha1.CertSyncStatus{}, &verifyEntry{sha: "aaaa", pods: []verification.PodResult{pr("m-0", probe.Verified), pr("m-1", probe.Unreachable)}}, 1},
		{"nothing known", &v1alpha1.CertSyncStatus{}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := verifiedServing(tc.st, tc.mem, "aaaa"); got != tc.want {
				t.Errorf("verifiedServing = %d, want %d", got, tc.want)
			}
		})
	}
}
