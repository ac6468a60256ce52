package certsync

import (
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/certs"
)

// event is one Kubernetes Event to emit.
type event struct {
	Type, Reason, Action, Note string
}

// transitionEvents compares the status before and after a reconcile and
// returns the events that announce what changed. Events follow transitions,
// never the reconcile rate: a source that stays broken is reported once.
func transitionEvents(before, after *v1alpha1.CertSync, s *scope) []engine.Event {
	var evs []engine.Event
	old := map[string]v1alpha1.SourceStatus{}
	for _, ss := range before.Status.Sources {
		old[ss.Name] = ss
	}
	for _, ss := range after.Status.Sources {
		prev, seen := old[ss.Name]
		if ss.Ready || ss.Reason == engine.ReasonFetchInProgress || (seen && prev.Reason == ss.Reason && prev.SHA256 == ss.SHA256) {
			continue
		}
		reason := v1alpha1.ReasonSourceUnavailable
		if certs.IsValidationReason(ss.Reason) {
			reason = v1alpha1.ReasonValidationFailed
		}
		evs = append(evs, engine.Warning(reason, "ReadSource",
			"source "+ss.Name+": "+ss.Reason+": "+ss.Message))
	}
	for _, reason := range []string{v1alpha1.ReasonTargetConflict, v1alpha1.ReasonDowngradeRefused} {
		if enteredReason(before, after, v1alpha1.ConditionSynced, reason) {
			c := meta.FindStatusCondition(after.Status.Conditions, v1alpha1.ConditionSynced)
			evs = append(evs, engine.Warning(reason, "Sync", c.Message))
		}
	}
	if c := meta.FindStatusCondition(after.Status.Conditions, v1alpha1.ConditionRolledOut); c != nil && c.Reason == v1alpha1.ReasonRolloutStalled {
		if prev := meta.FindStatusCondition(before.Status.Conditions, v1alpha1.ConditionRolledOut); prev == nil || prev.Reason != v1alpha1.ReasonRolloutStalled {
			evs = append(evs, engine.Warning(v1alpha1.ReasonRolloutStalled, "Restart", c.Message))
		}
	}
	if c, entered := turnedTrue(before, after, v1alpha1.ConditionRolledOut, v1alpha1.ReasonRolledOut); entered && rolledBefore(before) {
		evs = append(evs, engine.Normal(v1alpha1.ReasonRolloutComplete, "Restart", c.Message))
	}
	if c, entered := turnedTrue(before, after, v1alpha1.ConditionVerified, v1alpha1.ReasonVerified); entered {
		evs = append(evs, engine.Normal(v1alpha1.ReasonVerified, "Verify", c.Message))
	}
	// Once per window entered, not per reconcile.
	for reason, ev := range map[string]string{
		v1alpha1.ReasonWithinWarn: v1alpha1.ReasonCertificateExpiringSoon,
		v1alpha1.ReasonWithinCrit: v1alpha1.ReasonCertificateExpiringSoon,
		v1alpha1.ReasonExpired:    v1alpha1.ReasonCertificateExpired,
	} {
		if c := meta.FindStatusCondition(after.Status.Conditions, v1alpha1.ConditionExpiringSoon); c != nil && c.Reason == reason {
			if prev := meta.FindStatusCondition(before.Status.Conditions, v1alpha1.ConditionExpiringSoon); prev == nil || prev.Reason != reason {
				evs = append(evs, engine.Warning(ev, "Expiry", c.Message))
			}
		}
	}
	for _, reason := range []string{v1alpha1.ReasonStaleCertificate, v1alpha1.ReasonStaleAfterRestart} {
		if staleChanged(before, after, reason) {
			c := meta.FindStatusCondition(after.Status.Conditions, v1alpha1.ConditionVerified)
			evs = append(evs, engine.Warning(v1alpha1.ReasonStaleCertificate, "Verify", c.Message))
		}
	}
	return evs
}

// turnedTrue reports whether condition typ is now True with reason and was
// not before.
func turnedTrue(before, after *v1alpha1.CertSync, typ, reason string) (*metav1.Condition, bool) {
	now := meta.FindStatusCondition(after.Status.Conditions, typ)
	if now == nil || now.Status != metav1.ConditionTrue || now.Reason != reason {
		return nil, false
	}
	prev := meta.FindStatusCondition(before.Status.Conditions, typ)
	return now, prev == nil || prev.Status != metav1.ConditionTrue || prev.Reason != reason
}

// rolledBefore: a rollout completes only after one was in progress, not
// when a CertSync is first seen.
func rolledBefore(before *v1alpha1.CertSync) bool {
	prev := meta.FindStatusCondition(before.Status.Conditions, v1alpha1.ConditionRolledOut)
	return prev != nil && (prev.Reason == v1alpha1.ReasonRollingOut || prev.Reason == v1alpha1.ReasonRolloutStalled)
}

// staleChanged reports a new stale verdict: entering the reason, or a
// different set of stale pods.
func staleChanged(before, after *v1alpha1.CertSync, reason string) bool {
	now := meta.FindStatusCondition(after.Status.Conditions, v1alpha1.ConditionVerified)
	if now == nil || now.Reason != reason {
		return false
	}
	prev := meta.FindStatusCondition(before.Status.Conditions, v1alpha1.ConditionVerified)
	if prev == nil || prev.Reason != reason {
		return true
	}
	var a, b []string
	if before.Status.Pods != nil {
		a = before.Status.Pods.StaleNames
	}
	if after.Status.Pods != nil {
		b = after.Status.Pods.StaleNames
	}
	return !slices.Equal(a, b)
}

// actionEvents announce what this reconcile did (a write, restarts,
// evictions): they are emitted even when its status could not be recorded,
// because the actions happened (engine.Record).
func actionEvents(s *scope) []engine.Event {
	var evs []engine.Event
	if s.wrote {
		w := s.candidates[s.winner]
		evs = append(evs, engine.Normal(v1alpha1.ReasonSynced, "Sync",
			"wrote "+certs.Describe(w.Bundle.Leaf)+" from source "+w.Source+" to Secret "+s.cs.Spec.Target.SecretName))
	}
	return append(evs, s.ro.StartedEvents()...)
}

// enteredReason reports whether condition typ has reason now and did not
// have it before (or its message changed, e.g. another CertSync now owns the
// target).
func enteredReason(before, after *v1alpha1.CertSync, typ, reason string) bool {
	now := meta.FindStatusCondition(after.Status.Conditions, typ)
	if now == nil || now.Reason != reason {
		return false
	}
	prev := meta.FindStatusCondition(before.Status.Conditions, typ)
	return prev == nil || prev.Reason != reason || prev.Message != now.Message
}
