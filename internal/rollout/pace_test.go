package rollout_test

import (
	"testing"
	"time"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/rollout"
)

func TestDecidePace(t *testing.T) {
	now := t0.Add(time.Hour)
	const interval, deadline = 10 * time.Minute, 10 * time.Minute
	for _, tc := range []struct {
		name   string
		in     rollout.PaceInput
		reason string
		until  time.Time
	}{
		{name: "never restarted by certsync", in: rollout.PaceInput{}},
		{name: "last restart long ago", in: rollout.PaceInput{LastRestart: now.Add(-time.Hour)}},
		{name: "within the interval", in: rollout.PaceInput{LastRestart: now.Add(-time.Minute)},
			reason: v1alpha1.ReasonRolloutPaced, until: now.Add(9 * time.Minute)},
		{name: "interval just over", in: rollout.PaceInput{LastRestart: now.Add(-interval)}},
		{name: "interval off", in: rollout.PaceInput{LastRestart: now.Add(-time.Second), MinInterval: -1}},
		{name: "previous rollout running", in: rollout.PaceInput{LastRestart: now.Add(-time.Minute), PreviousRolling: true},
			reason: v1alpha1.ReasonWaitingForPreviousRollout, until: now.Add(9 * time.Minute)},
		{name: "previous rollout running, interval off", in: rollout.PaceInput{LastRestart: now.Add(-time.Minute), PreviousRolling: true, MinInterval: -1},
			reason: v1alpha1.ReasonWaitingForPreviousRollout, until: now.Add(9 * time.Minute)},
		{name: "previous rollout past its deadline: stalled, not waited for", in: rollout.PaceInput{LastRestart: now.Add(-11 * time.Minute), PreviousRolling: true}},
		{name: "previous rollout past its deadline, interval longer", in: rollout.PaceInput{LastRestart: now.Add(-11 * time.Minute), PreviousRolling: true, MinInterval: time.Hour},
			reason: v1alpha1.ReasonRolloutPaced, until: now.Add(49 * time.Minute)},
		{name: "restoring after a rollback", in: rollout.PaceInput{LastRestart: now.Add(-time.Second), PreviousRolling: true, Restoring: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now = now
			switch in.MinInterval {
			case 0:
				in.MinInterval = interval
			case -1:
				in.MinInterval = 0
			}
			if in.ProgressDeadline == 0 {
				in.ProgressDeadline = deadline
			}
			got := rollout.DecidePace(in)
			if got.Reason != tc.reason || !got.Until.Equal(tc.until) {
				t.Fatalf("DecidePace = %q until %s, want %q until %s", got.Reason, got.Until, tc.reason, tc.until)
			}
			if got.Held() != (tc.reason != "") || (got.Held() && got.Message == "") {
				t.Errorf("Held() = %v, message %q", got.Held(), got.Message)
			}
		})
	}
}

func TestLastRestartOf(t *testing.T) {
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	if got := rollout.LastRestartOf(map[string]string{v1alpha1.AnnotationRestartedAt: at.Format(time.RFC3339)}); !got.Equal(at) {
		t.Errorf("LastRestartOf = %s, want %s", got, at)
	}
	for _, bad := range []map[string]string{nil, {v1alpha1.AnnotationRestartedAt: "yesterday"}} {
		if got := rollout.LastRestartOf(bad); !got.IsZero() {
			t.Errorf("LastRestartOf(%v) = %s, want zero (never holds a restart back)", bad, got)
		}
	}
}

func TestAdmitRollout(t *testing.T) {
	for _, tc := range []struct {
		max, inProgress, ahead int
		want                   bool
	}{
		{max: 0, inProgress: 500, ahead: 500, want: true}, // unlimited
		{max: 2, inProgress: 0, ahead: 0, want: true},
		{max: 2, inProgress: 1, ahead: 0, want: true},
		{max: 2, inProgress: 2, ahead: 0, want: false},
		{max: 2, inProgress: 3, ahead: 0, want: false}, // over budget (found in progress after a restart)
		{max: 2, inProgress: 1, ahead: 1, want: false}, // the one slot is the earlier waiter's
		{max: 3, inProgress: 1, ahead: 1, want: true},
	} {
		if got := rollout.AdmitRollout(tc.max, tc.inProgress, tc.ahead); got != tc.want {
			t.Errorf("AdmitRollout(max %d, in progress %d, ahead %d) = %v, want %v", tc.max, tc.inProgress, tc.ahead, got, tc.want)
		}
	}
}
