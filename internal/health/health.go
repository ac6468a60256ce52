// Package health derives the kstatus conditions, Reconciling and Stalled,
// from certsync's Ready condition.
//
// GitOps tools do not read Ready the way users do. kstatus (Flux, kpt,
// cli-utils) maps Ready=False to InProgress, never to Failed, so Flux would
// wait out its whole timeout on a CertSync that cannot recover without a
// human. kstatus reads two "abnormal-true" conditions first: Reconciling=True
// means the controller is still working (InProgress), Stalled=True means it
// cannot make progress on its own (Failed). Both are set on every status
// write, False when they do not apply, so `kubectl describe` shows them too.
package health

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
)

// Condition types kstatus reads (sigs.k8s.io/cli-utils/pkg/kstatus/status).
const (
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
)

// Reasons of the kstatus conditions when they are False.
const (
	// ReasonReconciled: Reconciling is False because Ready is True or the
	// object is stalled.
	ReasonReconciled = "Reconciled"
	// ReasonNotStalled: Stalled is False because the object is Ready or still
	// making progress on its own.
	ReasonNotStalled = "NotStalled"
	// ReasonProgressing is Reconciling's reason before the first reconcile
	// has set Ready.
	ReasonProgressing = "Progressing"
)

// stalledReasons are the Ready=False reasons that no amount of waiting
// fixes: a human must change a source, the spec, a workload or a pod. Any
// other Ready=False reason is work in flight (a rollout, a retried write,
// pods still coming up) and reads as Reconciling.
var stalledReasons = map[string]bool{
	v1alpha1.ReasonNoValidSource:      true, // every source fails validation or is unreachable
	v1alpha1.ReasonTargetConflict:     true, // another owner holds the target Secret
	v1alpha1.ReasonDowngradeRefused:   true, // the target holds a newer certificate than any source
	v1alpha1.ReasonOutputFormatFailed: true, // an extra output cannot be encoded
	v1alpha1.ReasonRolloutStalled:     true, // a workload's rollout stopped progressing
	v1alpha1.ReasonWorkloadNotFound:   true, // spec names a workload that does not exist
	v1alpha1.ReasonStaleAfterRestart:  true, // a pod restarted and still serves the old certificate
	v1alpha1.ReasonStaleCertificate:   true, // a pod serves a stale certificate (incident 1)
	v1alpha1.ReasonInvalidSelector:    true, // spec error
	v1alpha1.ReasonNoEndpoints:        true, // spec error: nothing to probe
	v1alpha1.ReasonExpired:            true, // the synced values have expired
	v1alpha1.ReasonSuspended:          true, // spec.suspend holds back a differing target: a human decides
	v1alpha1.ReasonRollbackHeld:       true, // a rolled-back certificate is held out: a human fixes the pods or the source
}

// Stalled reports whether a Ready=False reason needs a human.
func Stalled(readyReason string) bool { return stalledReasons[readyReason] }

// Conditions returns the Reconciling and Stalled conditions that match
// ready (nil: not reconciled yet), for an object at generation gen.
func Conditions(ready *metav1.Condition, gen int64) (reconciling, stalled metav1.Condition) {
	reconciling = metav1.Condition{Type: ConditionReconciling, Status: metav1.ConditionFalse, Reason: ReasonReconciled, ObservedGeneration: gen}
	stalled = metav1.Condition{Type: ConditionStalled, Status: metav1.ConditionFalse, Reason: ReasonNotStalled, ObservedGeneration: gen}
	switch {
	case ready == nil:
		reconciling.Status, reconciling.Reason, reconciling.Message = metav1.ConditionTrue, ReasonProgressing, "not reconciled yet"
	case ready.Status == metav1.ConditionTrue:
		reconciling.Message = ready.Message
	case Stalled(ready.Reason):
		stalled.Status, stalled.Reason, stalled.Message = metav1.ConditionTrue, ready.Reason, ready.Message
		reconciling.Message = "stalled: " + ready.Reason
	default:
		reconciling.Status, reconciling.Reason, reconciling.Message = metav1.ConditionTrue, ready.Reason, ready.Message
	}
	return reconciling, stalled
}

// set writes the kstatus conditions derived from the Ready condition in conds.
func set(conds *[]metav1.Condition, gen int64) {
	r, s := Conditions(meta.FindStatusCondition(*conds, v1alpha1.ConditionReady), gen)
	meta.SetStatusCondition(conds, r)
	meta.SetStatusCondition(conds, s)
}

// SetCertSync sets cs's Reconciling and Stalled conditions from its Ready
// condition; call it right after Ready is set.
func SetCertSync(cs *v1alpha1.CertSync) { set(&cs.Status.Conditions, cs.Generation) }

// SetSecretSync sets ss's Reconciling and Stalled conditions from its Ready
// condition; call it right after Ready is set.
func SetSecretSync(ss *v1alpha1.SecretSync) { set(&ss.Status.Conditions, ss.Generation) }
