package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/sources"
)

// event is one Kubernetes Event to emit.
type event struct {
	Type, Reason, Action, Note string
}

// transitionEvents compares the status before and after a reconcile and
// returns the events that announce what changed. Events follow transitions,
// never the reconcile rate: a source that stays broken is reported once.
func transitionEvents(before, after *v1alpha1.CertSync, s *scope) []event {
	var evs []event
	if s.wrote {
		w := s.cands[s.winner]
		evs = append(evs, event{corev1.EventTypeNormal, v1alpha1.ReasonSynced, "Sync",
			"wrote " + certs.Describe(w.Bundle.Leaf) + " from source " + w.Source + " to Secret " + after.Spec.Target.SecretName})
	}
	old := map[string]v1alpha1.SourceStatus{}
	for _, ss := range before.Status.Sources {
		old[ss.Name] = ss
	}
	for _, ss := range after.Status.Sources {
		prev, seen := old[ss.Name]
		if ss.Ready || (seen && prev.Reason == ss.Reason && prev.SHA256 == ss.SHA256) {
			continue
		}
		reason := v1alpha1.ReasonValidationFailed
		if isFetchReason(ss.Reason) {
			reason = v1alpha1.ReasonSourceUnavailable
		}
		evs = append(evs, event{corev1.EventTypeWarning, reason, "ReadSource",
			"source " + ss.Name + ": " + ss.Reason + ": " + ss.Message})
	}
	for _, reason := range []string{v1alpha1.ReasonTargetConflict, v1alpha1.ReasonDowngradeRefused} {
		if enteredReason(before, after, v1alpha1.ConditionSynced, reason) {
			c := meta.FindStatusCondition(after.Status.Conditions, v1alpha1.ConditionSynced)
			evs = append(evs, event{corev1.EventTypeWarning, reason, "Sync", c.Message})
		}
	}
	return evs
}

func (r *CertSyncReconciler) emitEvents(before *v1alpha1.CertSync, s *scope) {
	for _, e := range transitionEvents(before, s.cs, s) {
		r.Recorder.Eventf(s.cs, nil, e.Type, e.Reason, e.Action, "%s", e.Note)
	}
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

func isFetchReason(reason string) bool {
	switch reason {
	case sources.ReasonNotFound, sources.ReasonNotPermitted, sources.ReasonForbidden,
		sources.ReasonAPIError, sources.ReasonMissingKey:
		return true
	}
	return false
}
