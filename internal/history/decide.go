package history

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
)

// Observation is what one reconcile saw of the certificate the target holds
// and of the pods, for the rollback decision.
type Observation struct {
	// Enabled is spec.rollout.autoRollback; Suspended spec.suspend.
	Enabled, Suspended bool
	// Held is the fingerprint the target holds; Previous the fingerprint
	// of the restorable history entry ("" when none is restorable) and
	// PreviousVerified how many pods served it verified.
	Held, Previous   string
	PreviousVerified int
	// Last is status.rolledBack.
	Last *v1alpha1.RollbackRecord
	// Stalled names the rollouts of Held past their progress deadline.
	Stalled []string
	// Verified and Unreachable count the pods verified for Held, and the
	// ready pods that did not answer, in a verification after the rollout
	// completed (both zero when none ran).
	Verified, Unreachable int
	// UnansweredFor is how long the held certificate's pods have been
	// found unreachable without a verified one, across verifications.
	UnansweredFor time.Duration
}

// UnansweredGrace is how long the pods of a new certificate must go on not
// answering before it is rolled back: a server may open its ports a moment
// after it turns ready, and one unlucky probe must not undo a renewal.
const UnansweredGrace = 20 * time.Second

// Decision says whether to roll back, and why.
type Decision struct {
	Rollback bool
	// Reason is RolloutStalled or PodsUnreachable; Message says what failed.
	Reason, Message string
}

// Decide decides an automatic rollback: the pods failed with the held
// certificate — its rollout stalled (pods not Ready within the progress
// deadline), or its pods stopped answering TLS for UnansweredGrace while
// the previous certificate's had answered — and a different, restorable previous
// certificate is kept. Never twice for the same certificate.
func Decide(o Observation) Decision {
	switch {
	case !o.Enabled || o.Suspended || o.Held == "":
		return Decision{}
	case o.Previous == "" || o.Previous == o.Held:
		return Decision{}
	case o.Last != nil && o.Last.RejectedSHA256 == o.Held:
		return Decision{} // rolled back once already; it was synced again on request
	case len(o.Stalled) > 0:
		return Decision{Rollback: true, Reason: v1alpha1.ReasonRolloutStalled,
			Message: "pods not Ready within the progress deadline: " + strings.Join(o.Stalled, "; ")}
	case o.Unreachable > 0 && o.Verified == 0 && o.PreviousVerified > 0 && o.UnansweredFor >= UnansweredGrace:
		return Decision{Rollback: true, Reason: v1alpha1.ReasonPodsUnreachable,
			Message: fmt.Sprintf("%d pods of the new certificate stopped answering TLS; %d answered with the previous one", o.Unreachable, o.PreviousVerified)}
	}
	return Decision{}
}

// Withheld reports whether the candidate certificate (its fingerprint) is
// the one last rolled back and may not be synced again: until a newer one
// arrives (another fingerprint) or a renewal is requested after the
// rollback (renewRequestedAt, zero if none).
func Withheld(last *v1alpha1.RollbackRecord, candidate string, renewRequestedAt time.Time) bool {
	if last == nil || candidate == "" || candidate != last.RejectedSHA256 {
		return false
	}
	return !renewRequestedAt.After(last.Time.Time)
}

// RenewRequestedAt parses the annotation certsync.io/renew-requested-at;
// zero when absent or not RFC 3339.
func RenewRequestedAt(annotations map[string]string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, annotations[v1alpha1.AnnotationRenewRequested])
	if err != nil {
		return time.Time{}
	}
	return t
}

// Annotations the rollback writes on the target in the same write that
// restores the previous certificate, so the rejected certificate stays
// withheld even if the status update after it is lost.
const (
	AnnotationRejected     = "certsync.io/rolled-back-sha256"
	AnnotationRolledBackAt = "certsync.io/rolled-back-at"
)

// LastRollback is the status record, or, when status lacks it, the one the
// target's annotations carry.
func LastRollback(status *v1alpha1.RollbackRecord, targetAnnotations map[string]string) *v1alpha1.RollbackRecord {
	if status != nil {
		return status
	}
	sha := targetAnnotations[AnnotationRejected]
	t, err := time.Parse(time.RFC3339Nano, targetAnnotations[AnnotationRolledBackAt])
	if sha == "" || err != nil {
		return nil
	}
	return &v1alpha1.RollbackRecord{RejectedSHA256: sha, Time: metav1.NewTime(t)}
}
