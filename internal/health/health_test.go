package health

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
)

func TestConditions(t *testing.T) {
	ready := func(s metav1.ConditionStatus, reason string) *metav1.Condition {
		return &metav1.Condition{Type: v1alpha1.ConditionReady, Status: s, Reason: reason, Message: "msg of " + reason}
	}
	for _, tc := range []struct {
		name                  string
		ready                 *metav1.Condition
		reconciling, stalled  metav1.ConditionStatus
		recReason, stalReason string
	}{
		{"not reconciled yet", nil, metav1.ConditionTrue, metav1.ConditionFalse, ReasonProgressing, ReasonNotStalled},
		{"ready", ready(metav1.ConditionTrue, v1alpha1.ReasonReady), metav1.ConditionFalse, metav1.ConditionFalse, ReasonReconciled, ReasonNotStalled},
		{"rolling out", ready(metav1.ConditionFalse, v1alpha1.ReasonRollingOut), metav1.ConditionTrue, metav1.ConditionFalse, v1alpha1.ReasonRollingOut, ReasonNotStalled},
		{"waiting for rollout", ready(metav1.ConditionUnknown, v1alpha1.ReasonWaitingForRollout), metav1.ConditionTrue, metav1.ConditionFalse, v1alpha1.ReasonWaitingForRollout, ReasonNotStalled},
		{"write failed, retried", ready(metav1.ConditionFalse, v1alpha1.ReasonTargetWriteError), metav1.ConditionTrue, metav1.ConditionFalse, v1alpha1.ReasonTargetWriteError, ReasonNotStalled},
		{"pods unreachable", ready(metav1.ConditionFalse, v1alpha1.ReasonPodsUnreachable), metav1.ConditionTrue, metav1.ConditionFalse, v1alpha1.ReasonPodsUnreachable, ReasonNotStalled},
		{"no valid source", ready(metav1.ConditionFalse, v1alpha1.ReasonNoValidSource), metav1.ConditionFalse, metav1.ConditionTrue, ReasonReconciled, v1alpha1.ReasonNoValidSource},
		{"target conflict", ready(metav1.ConditionFalse, v1alpha1.ReasonTargetConflict), metav1.ConditionFalse, metav1.ConditionTrue, ReasonReconciled, v1alpha1.ReasonTargetConflict},
		{"rollout stalled", ready(metav1.ConditionFalse, v1alpha1.ReasonRolloutStalled), metav1.ConditionFalse, metav1.ConditionTrue, ReasonReconciled, v1alpha1.ReasonRolloutStalled},
		{"stale pod", ready(metav1.ConditionFalse, v1alpha1.ReasonStaleCertificate), metav1.ConditionFalse, metav1.ConditionTrue, ReasonReconciled, v1alpha1.ReasonStaleCertificate},
		{"stale after restart", ready(metav1.ConditionFalse, v1alpha1.ReasonStaleAfterRestart), metav1.ConditionFalse, metav1.ConditionTrue, ReasonReconciled, v1alpha1.ReasonStaleAfterRestart},
		{"rolled-back certificate held", ready(metav1.ConditionFalse, v1alpha1.ReasonRollbackHeld), metav1.ConditionFalse, metav1.ConditionTrue, ReasonReconciled, v1alpha1.ReasonRollbackHeld},
		{"expired secret", ready(metav1.ConditionFalse, v1alpha1.ReasonExpired), metav1.ConditionFalse, metav1.ConditionTrue, ReasonReconciled, v1alpha1.ReasonExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, s := Conditions(tc.ready, 7)
			if r.Type != ConditionReconciling || s.Type != ConditionStalled {
				t.Fatalf("types %s, %s", r.Type, s.Type)
			}
			if r.Status != tc.reconciling || r.Reason != tc.recReason {
				t.Errorf("Reconciling = %s/%s, want %s/%s", r.Status, r.Reason, tc.reconciling, tc.recReason)
			}
			if s.Status != tc.stalled || s.Reason != tc.stalReason {
				t.Errorf("Stalled = %s/%s, want %s/%s", s.Status, s.Reason, tc.stalled, tc.stalReason)
			}
			if r.ObservedGeneration != 7 || s.ObservedGeneration != 7 {
				t.Errorf("observedGeneration %d/%d, want 7", r.ObservedGeneration, s.ObservedGeneration)
			}
			if tc.ready != nil && s.Status == metav1.ConditionTrue && s.Message != tc.ready.Message {
				t.Errorf("Stalled message %q: want Ready's %q, so the tools show why", s.Message, tc.ready.Message)
			}
		})
	}
}

// TestSetIsIdempotent: computing twice yields the same conditions, with the
// same transition times, so a steady state makes no status writes.
func TestSetIsIdempotent(t *testing.T) {
	cs := &v1alpha1.CertSync{}
	cs.Generation = 3
	cs.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonTargetConflict}}
	SetCertSync(cs)
	first := append([]metav1.Condition(nil), cs.Status.Conditions...)
	SetCertSync(cs)
	if len(cs.Status.Conditions) != 3 {
		t.Fatalf("conditions %v", cs.Status.Conditions)
	}
	for i := range first {
		if first[i] != cs.Status.Conditions[i] {
			t.Errorf("condition %s changed: %+v → %+v", first[i].Type, first[i], cs.Status.Conditions[i])
		}
	}
	ss := &v1alpha1.SecretSync{}
	SetSecretSync(ss)
	if len(ss.Status.Conditions) != 2 {
		t.Errorf("a SecretSync before its first reconcile gets Reconciling and Stalled: %v", ss.Status.Conditions)
	}
}
