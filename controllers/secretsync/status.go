package secretsync

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/expiry"
	"certsync.io/certsync/internal/health"
	"certsync.io/certsync/internal/metrics"
	"certsync.io/certsync/internal/requests"
	"certsync.io/certsync/internal/secretvalues"
)

// record is what engine.FinishSynced stores, announces and observes of a
// reconcile, the same way as a CertSync's: the status, the events, then
// the series.
func (r *Reconciler) record(orig *v1alpha1.SecretSync, s *scope) engine.Record {
	setSecretSyncStatus(s)
	obj := metrics.Object{Namespace: s.ss.Namespace, Name: s.ss.Name, Kind: metrics.KindSecretSync}
	return engine.Record{
		Orig: orig, Obj: s.ss,
		StatusOf:    func(o client.Object) any { return o.(*v1alpha1.SecretSync).Status },
		Actions:     secretSyncActions(s),
		Transitions: secretSyncTransitions(orig, s),
		Observe: func(err error) {
			r.Metrics.Observe(obj, secretSyncSnapshot(s.ss))
			r.RecordSync(obj, s.wrote, s.err != nil || err != nil)
		},
	}
}

// setSecretSyncStatus records what the reconcile found and did. Every field
// derives from the scope alone, so an unchanged world yields an identical
// status and no write.
func setSecretSyncStatus(s *scope) {
	ss := s.ss
	st := &ss.Status
	st.ObservedGeneration = ss.Generation
	st.Sources = make([]v1alpha1.SecretSyncSourceStatus, 0, len(s.candidates))
	for _, c := range s.candidates {
		st.Sources = append(st.Sources, v1alpha1.SecretSyncSourceStatus{
			Name: c.Source, Ready: c.Valid, Reason: c.Reason, Message: c.Message, SHA256: c.SHA256, NotAfter: engine.OptionalStatusTime(c.NotAfter)})
	}
	st.Secret = nil
	if s.ro.Held != "" {
		st.Secret = &v1alpha1.SyncedSecretInfo{Source: s.heldSource, SHA256: s.ro.Held, NotAfter: engine.OptionalStatusTime(s.heldNotAfter)}
	}
	if s.wrote {
		st.LastSyncTime = engine.OptionalStatusTime(s.now)
	}
	st.Restarts = s.ro.StatusRestarts(st.Restarts)
	setHandledRequests(s)
	set := func(typ string, status metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: ss.Generation})
	}
	setSecretSourcesReady(s, set)
	setSecretSynced(s, set)
	// The rollout phase ran to its end (and the token check after it,
	// which never fails the reconcile): a failure before it keeps what the
	// last reconcile recorded of both.
	if s.ro.Done {
		setSecretRolledOut(s, set)
		setSecretVerified(s, set)
	}
	setSecretExpiringSoon(s, set)
	setSecretReady(s, set)
	health.SetSecretSync(s.ss)
}

func setSecretVerified(s *scope, set setter) {
	if v := s.verify; v == nil {
		meta.RemoveStatusCondition(&s.ss.Status.Conditions, v1alpha1.ConditionVerified)
	} else {
		status := metav1.ConditionFalse
		switch {
		case v.verdict.OK:
			status = metav1.ConditionTrue
		case v.verdict.Reason == v1alpha1.ReasonNothingToVerify, v.verdict.Reason == v1alpha1.ReasonVerificationInProgress:
			status = metav1.ConditionUnknown
		}
		set(v1alpha1.ConditionVerified, status, v.verdict.Reason, v.verdict.Message)
	}
}

type setter func(typ string, status metav1.ConditionStatus, reason, msg string)

func setSecretSourcesReady(s *scope, set setter) {
	var failing []string
	for _, c := range s.candidates {
		if !c.Valid {
			failing = append(failing, fmt.Sprintf("%s: %s (%s)", c.Source, c.Reason, c.Message))
		}
	}
	n, list := len(s.candidates), strings.Join(failing, "; ")
	switch len(failing) {
	case 0:
		set(v1alpha1.ConditionSourcesReady, metav1.ConditionTrue, v1alpha1.ReasonAllSourcesReady, fmt.Sprintf("%d of %d sources yield usable values", n, n))
	case n:
		set(v1alpha1.ConditionSourcesReady, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource, "no source yields usable values: "+list)
	default:
		set(v1alpha1.ConditionSourcesReady, metav1.ConditionFalse, v1alpha1.ReasonSourcesDegraded, fmt.Sprintf("%d of %d sources failing: %s", len(failing), n, list))
	}
}

func setSecretSynced(s *scope, set setter) {
	const keeps = "the target keeps its current values"
	typ, no := v1alpha1.ConditionSynced, metav1.ConditionFalse
	switch {
	case s.conflict != "":
		set(typ, no, v1alpha1.ReasonTargetConflict, s.conflict)
	case s.err != nil:
		set(typ, no, v1alpha1.ReasonTargetWriteError, s.err.Error())
	case s.winner < 0:
		set(typ, no, v1alpha1.ReasonNoValidSource, "no source yields usable values; "+keeps)
	case s.differs:
		set(typ, no, v1alpha1.ReasonSuspended, "spec.suspend is true and the target differs from the chosen values; "+keeps)
	default:
		w := s.candidates[s.winner]
		set(typ, metav1.ConditionTrue, v1alpha1.ReasonSynced, fmt.Sprintf("target Secret %s holds %d %s (sha256 %.16s…) from source %q",
			s.ss.Spec.Target.SecretName, len(w.Values), engine.Plural(len(w.Values), "key"), s.ro.Held, w.Source))
	}
}

func setSecretRolledOut(s *scope, set setter) {
	st, typ := &s.ro.State, v1alpha1.ConditionRolledOut
	switch {
	case st.Skipped != "":
		set(typ, metav1.ConditionUnknown, v1alpha1.ReasonWaitingForRollout, st.Skipped)
	case engine.Mode(&s.ss.Spec.Rollout) == v1alpha1.RolloutNone:
		set(typ, metav1.ConditionTrue, v1alpha1.ReasonRolloutDisabled, "rollout.mode is None: certsync restarts nothing")
	case len(st.Stalled) > 0:
		set(typ, metav1.ConditionFalse, v1alpha1.ReasonRolloutStalled, st.Summary())
	case len(st.Missing) > 0:
		set(typ, metav1.ConditionFalse, v1alpha1.ReasonWorkloadNotFound, "listed workloads not found: "+st.Summary())
	case st.OnlyWaiting():
		set(typ, metav1.ConditionFalse, st.Waiting, st.Summary())
	case len(st.Pending) > 0:
		set(typ, metav1.ConditionFalse, v1alpha1.ReasonRollingOut, st.Summary())
	default:
		set(typ, metav1.ConditionTrue, v1alpha1.ReasonRolledOut, fmt.Sprintf("every workload using Secret %s runs pods started with values sha256 %.16s…",
			s.ss.Spec.Target.SecretName, s.ro.Held))
	}
}

// secretSyncDeadline is the expiry that matters: the one of the values the
// target holds; before anything is synced, the one of the newest source.
func secretSyncDeadline(s *scope) (notAfter time.Time, what string, known bool) {
	if s.ro.Held != "" {
		return s.heldNotAfter, "the secret in Secret " + s.ss.Spec.Target.SecretName, !s.heldNotAfter.IsZero()
	}
	best := s.winner
	if best < 0 {
		for i, c := range s.candidates {
			if c.Values != nil && (best < 0 || c.NotAfter.After(s.candidates[best].NotAfter)) {
				best = i
			}
		}
	}
	if best < 0 {
		return time.Time{}, "the secret", false
	}
	c := s.candidates[best]
	return c.NotAfter, fmt.Sprintf("the secret of source %q", c.Source), !c.NotAfter.IsZero()
}

func setSecretExpiringSoon(s *scope, set setter) {
	notAfter, what, known := secretSyncDeadline(s)
	if !known {
		set(v1alpha1.ConditionExpiringSoon, metav1.ConditionUnknown, v1alpha1.ReasonNoExpiry, "no expiry is known for "+what+
			": it is synced all the same, but certsync cannot warn before it expires; declare spec.expiry.from (key, annotation or notAfter)")
		return
	}
	th := secretSyncThresholds(s.ss)
	w := expiry.Classify(notAfter, s.now, th)
	msg := expiry.Message(expiry.Deadline{What: what, NotAfter: notAfter}, w, th)
	if w == expiry.OK {
		set(v1alpha1.ConditionExpiringSoon, metav1.ConditionFalse, v1alpha1.ReasonNotExpiring, msg)
		return
	}
	set(v1alpha1.ConditionExpiringSoon, metav1.ConditionTrue, string(w), msg)
}

// setSecretReady summarises: True when the target holds the newest usable
// values, every workload runs them, the verification (if any) passed, and
// they have not expired.
func setSecretReady(s *scope, set setter) {
	conds := s.ss.Status.Conditions
	// An expired secret is the news, whatever else holds.
	if c := meta.FindStatusCondition(conds, v1alpha1.ConditionExpiringSoon); c.Reason == string(expiry.Expired) {
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, c.Reason, c.Message)
		return
	}
	types := []string{v1alpha1.ConditionSynced, v1alpha1.ConditionRolledOut}
	if s.verify != nil {
		types = append(types, v1alpha1.ConditionVerified)
	}
	for _, typ := range types {
		c := meta.FindStatusCondition(conds, typ)
		if c == nil {
			set(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonReconciling, "not reconciled yet")
			return
		}
		if c.Status != metav1.ConditionTrue {
			set(v1alpha1.ConditionReady, metav1.ConditionFalse, c.Reason, c.Message)
			return
		}
	}
	set(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, meta.FindStatusCondition(conds, v1alpha1.ConditionSynced).Message)
}

// secretSyncActions are the events announcing what this reconcile did: the
// target written, workloads restarted, pods evicted.
func secretSyncActions(s *scope) []engine.Event {
	var evs []engine.Event
	if s.wrote {
		w := s.candidates[s.winner]
		evs = append(evs, engine.Normal(v1alpha1.ReasonSynced, "Sync", fmt.Sprintf("wrote %d %s (sha256 %.16s…) from source %s to Secret %s",
			len(w.Values), engine.Plural(len(w.Values), "key"), w.SHA256, w.Source, s.ss.Spec.Target.SecretName)))
	}
	return append(evs, s.ro.StartedEvents()...)
}

// secretSyncTransitions compares the status before and after a reconcile
// and returns the events announcing what changed. They are emitted once the
// new status is stored, so a reconcile on a stale copy (whose status write
// conflicts) does not announce a change twice.
func secretSyncTransitions(before *v1alpha1.SecretSync, s *scope) []engine.Event {
	after := s.ss
	var evs []engine.Event
	warn := func(reason, action, note string) {
		evs = append(evs, engine.Warning(reason, action, note))
	}
	prev := map[string]v1alpha1.SecretSyncSourceStatus{}
	for _, ss := range before.Status.Sources {
		prev[ss.Name] = ss
	}
	for _, ss := range after.Status.Sources {
		if p, seen := prev[ss.Name]; ss.Ready || ss.Reason == engine.ReasonFetchInProgress || (seen && !p.Ready && p.Reason == ss.Reason && p.SHA256 == ss.SHA256) {
			continue
		}
		reason := v1alpha1.ReasonSourceUnavailable
		if secretvalues.IsValidationReason(ss.Reason) {
			reason = v1alpha1.ReasonValidationFailed
		}
		warn(reason, "ReadSource", "source "+ss.Name+": "+ss.Reason+": "+ss.Message)
	}
	if now, changed := ssConditionChanged(before, after, v1alpha1.ConditionSynced); changed && now.Reason == v1alpha1.ReasonTargetConflict {
		warn(v1alpha1.ReasonTargetConflict, "Sync", now.Message)
	}
	if now, changed := ssConditionChanged(before, after, v1alpha1.ConditionVerified); changed {
		switch now.Status {
		case metav1.ConditionTrue:
			evs = append(evs, engine.Normal(v1alpha1.ReasonVerified, "Verify", now.Message))
		case metav1.ConditionFalse:
			warn(v1alpha1.ReasonVerificationFailed, "Verify", now.Reason+": "+now.Message)
		}
	}
	if now, changed := ssConditionChanged(before, after, v1alpha1.ConditionExpiringSoon); changed && now.Status == metav1.ConditionTrue {
		reason := v1alpha1.ReasonSecretExpiringSoon
		if now.Reason == string(expiry.Expired) {
			reason = v1alpha1.ReasonSecretExpired
		}
		warn(reason, "Expiry", now.Message)
	}
	return evs
}

// ssConditionChanged returns condition typ after a reconcile and whether it
// differs from before in status, reason or message: entering a window, or
// a new deadline within one, is news; staying is not. A status that now
// lacks typ reports no change.
func ssConditionChanged(before, after *v1alpha1.SecretSync, typ string) (*metav1.Condition, bool) {
	now := meta.FindStatusCondition(after.Status.Conditions, typ)
	if now == nil {
		return nil, false
	}
	prev := meta.FindStatusCondition(before.Status.Conditions, typ)
	return now, prev == nil || prev.Status != now.Status || prev.Reason != now.Reason || prev.Message != now.Message
}

// setHandledRequests records the requests this reconcile served, as a
// CertSync does: a renew once the sources were read again (status is set
// only after the sync phase), a verify once the verify phase ran.
func setHandledRequests(s *scope) {
	st := &s.ss.Status
	st.LastHandledRequests = requests.Served(st.LastHandledRequests, s.verifyRequest, s.verified, s.renewRequest)
}
