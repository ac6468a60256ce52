package rollout

import (
	"fmt"
	"time"

	"certsync.io/certsync/api/v1alpha1"
)

// DefaultMinRestartInterval is rollout.minRestartInterval's default: a
// certificate renewed every few weeks is never held back by it, while a
// source that changes at every poll (an endpoint minting a certificate per
// request, a flapping source with allowDowngrade) restarts a workload at
// most six times an hour instead of at every change. Ten minutes is also
// the default progressDeadline, so a paced workload gets at least the time
// one rollout may take before the next.
const DefaultMinRestartInterval = 10 * time.Minute

// PaceInput is what decides whether one workload (or bare pod) may be
// restarted now for new content.
type PaceInput struct {
	Now time.Time
	// LastRestart is when certsync last restarted the workload, for any
	// content (the pod template's certsync.io/restarted-at; a bare pod's
	// creation); zero when unknown, which never holds a restart back.
	LastRestart time.Time
	// PreviousRolling says that rollout is not complete yet.
	PreviousRolling bool
	// MinInterval is rollout.minRestartInterval; ProgressDeadline bounds
	// the wait for a previous rollout that does not complete.
	MinInterval, ProgressDeadline time.Duration
	// Restoring says the content was restored by an automatic rollback:
	// the pods failed with what replaced it, so waiting helps nobody.
	Restoring bool
}

// Pace is the decision: Reason is empty when the restart may go ahead,
// else RolloutPaced or WaitingForPreviousRollout, with the moment the wait
// ends (a completing rollout ends it sooner: its workload's events wake
// the object).
type Pace struct {
	Reason  string
	Until   time.Time
	Message string
}

// Held reports a restart held back.
func (p Pace) Held() bool { return p.Reason != "" }

// DecidePace applies the two rules against restart storms, in order: a
// new rollout waits for certsync's previous rollout of the workload to
// complete, at most until that rollout's progress deadline (a stalled
// rollout is reported as such and may be cured by newer content); then
// restarts of one workload are at least MinInterval apart.
func DecidePace(in PaceInput) Pace {
	if in.Restoring || in.LastRestart.IsZero() {
		return Pace{}
	}
	if in.PreviousRolling {
		if until := in.LastRestart.Add(in.ProgressDeadline); in.Now.Before(until) {
			return Pace{Reason: v1alpha1.ReasonWaitingForPreviousRollout, Until: until,
				Message: fmt.Sprintf("restart waits for the previous rollout (started %s) to complete, at most until %s",
					in.LastRestart.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339))}
		}
	}
	if until := in.LastRestart.Add(in.MinInterval); in.MinInterval > 0 && in.Now.Before(until) {
		return Pace{Reason: v1alpha1.ReasonRolloutPaced, Until: until,
			Message: fmt.Sprintf("restart paced until %s (minRestartInterval %s since the last restart)",
				until.UTC().Format(time.RFC3339), in.MinInterval)}
	}
	return Pace{}
}

// LastRestartOf reads when certsync last restarted a workload from its pod
// template's annotations; zero when absent or unreadable.
func LastRestartOf(annotations map[string]string) time.Time {
	t, err := time.Parse(time.RFC3339, annotations[v1alpha1.AnnotationRestartedAt])
	if err != nil {
		return time.Time{}
	}
	return t
}
