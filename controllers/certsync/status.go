package certsync

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/health"
	"certsync.io/certsync/internal/requests"
	"certsync.io/certsync/internal/selection"
	"certsync.io/certsync/internal/target"
	"certsync.io/certsync/internal/verification"
)

// record is what engine.FinishSynced stores, announces and observes of a
// reconcile that got to its sync phase, whichever phase it then reached:
// the status (only the parts of the phases that ran), the events, then
// the metrics.
func (r *Reconciler) record(orig *v1alpha1.CertSync, s *scope) engine.Record {
	setStatus(s)
	return engine.Record{
		Orig: orig, Obj: s.cs,
		StatusOf:    func(o client.Object) any { return o.(*v1alpha1.CertSync).Status },
		Actions:     append(actionEvents(s), rollbackEvents(s)...),
		Transitions: transitionEvents(orig, s.cs, s),
		Observe:     func(err error) { r.recordMetrics(orig, s, err) },
	}
}

// setStatus records what the reconcile found and did. Every field derives
// from the scope alone, so an unchanged world yields an identical status and
// no write. The parts of phases that did not run (one failed before them)
// keep what the last reconcile recorded.
func setStatus(s *scope) {
	st := &s.cs.Status
	st.ObservedGeneration = s.cs.Generation
	st.Sources = sourceStatuses(s.candidates, s.checked)
	st.Certificate = certificateInfo(s)
	if s.wrote {
		t := engine.StatusTime(s.now)
		st.LastSyncTime = &t
	}
	st.Restarts = s.ro.StatusRestarts(st.Restarts)
	setSourcesReady(s.cs, s.candidates)
	setSynced(s)
	if s.verifiedDone {
		setPods(s)
		setRolledOut(s)
		setVerified(s)
	} else if s.ro.Done {
		setRolledOut(s)
	}
	if s.verifiedDone {
		// What pods serve is among the deadlines: only a complete
		// reconcile knows them all.
		setExpiringSoon(s)
	}
	setRolledBack(s)
	setReady(s.cs)
	setHandledRequests(s)
	health.SetCertSync(s.cs)
}

// setHandledRequests records the requests this reconcile served: a renew
// once the sources were read again (setStatus runs only after the sync
// phase), a verify once the verification ran.
func setHandledRequests(s *scope) {
	s.cs.Status.LastHandledRequests = requests.Served(s.cs.Status.LastHandledRequests, s.verifyRequest, s.verifiedDone, s.renewRequest)
}

// setPods records the verification counts; lastVerifiedTime moves only when
// the result changes, so periodic re-verification makes no writes.
func setPods(s *scope) {
	st := &s.cs.Status
	if s.verify.at.IsZero() {
		// Counts of a previous certificate would mislead (a "3/3" for the
		// old one during a rollout): show none until pods are verified.
		st.Pods = nil
		if s.verify.skippedReason == v1alpha1.ReasonNoPods {
			st.Pods = &v1alpha1.PodsStatus{Summary: "0/0"}
		}
		return
	}
	pods := verification.Summarize(s.verify.pods)
	if st.Pods == nil || !equality.Semantic.DeepEqual(*st.Pods, pods) || st.LastVerifiedTime == nil {
		t := engine.StatusTime(s.verify.at)
		st.LastVerifiedTime = &t
	}
	st.Pods = &pods
}

// sourceStatuses describes each candidate; checked holds, for sources
// fetched periodically, when their current outcome was first seen.
func sourceStatuses(cands []selection.Candidate, checked map[string]time.Time) []v1alpha1.SourceStatus {
	out := make([]v1alpha1.SourceStatus, 0, len(cands))
	for _, c := range cands {
		ss := v1alpha1.SourceStatus{Name: c.Source, Ready: c.Valid, Reason: c.Reason, Message: c.Message}
		if t, ok := checked[c.Source]; ok && !t.IsZero() {
			lc := engine.StatusTime(t)
			ss.LastChecked = &lc
		}
		if c.Bundle != nil {
			ss.SHA256 = c.Bundle.SHA256()
			na := metav1.NewTime(c.Bundle.Leaf.NotAfter)
			ss.NotAfter = &na
		}
		out = append(out, ss)
	}
	return out
}

// certificateInfo describes the certificate the target holds, if the target
// is ours.
func certificateInfo(s *scope) *v1alpha1.CertificateInfo {
	if s.target == nil || s.outcome.Action == target.Conflict {
		return nil
	}
	leaf := s.targetLeaf
	if leaf == nil {
		return nil
	}
	return describe(leaf, s.target.Annotations[v1alpha1.AnnotationSource])
}

func describe(leaf *x509.Certificate, source string) *v1alpha1.CertificateInfo {
	nb, na := metav1.NewTime(leaf.NotBefore), metav1.NewTime(leaf.NotAfter)
	return &v1alpha1.CertificateInfo{
		Source:       source,
		SerialNumber: certs.SerialHex(leaf),
		SHA256:       certs.Fingerprint(leaf),
		NotBefore:    &nb,
		NotAfter:     &na,
		DNSNames:     leaf.DNSNames,
		Issuer:       leaf.Issuer.String(),
	}
}

func setCondition(cs *v1alpha1.CertSync, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&cs.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: cs.Generation,
	})
}

func setSourcesReady(cs *v1alpha1.CertSync, cands []selection.Candidate) {
	var failing []string
	for _, c := range cands {
		if !c.Valid {
			failing = append(failing, fmt.Sprintf("%s: %s (%s)", c.Source, c.Reason, c.Message))
		}
	}
	switch {
	case len(failing) == 0:
		setCondition(cs, v1alpha1.ConditionSourcesReady, metav1.ConditionTrue, v1alpha1.ReasonAllSourcesReady,
			fmt.Sprintf("%d of %d sources yield a valid certificate", len(cands), len(cands)))
	case len(failing) < len(cands):
		setCondition(cs, v1alpha1.ConditionSourcesReady, metav1.ConditionFalse, v1alpha1.ReasonSourcesDegraded,
			fmt.Sprintf("%d of %d sources failing: %s", len(failing), len(cands), strings.Join(failing, "; ")))
	default:
		setCondition(cs, v1alpha1.ConditionSourcesReady, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource,
			"no source yields a valid certificate: "+strings.Join(failing, "; "))
	}
}

func setSynced(s *scope) {
	cs := s.cs
	keeps := "the target keeps its current content"
	switch {
	case s.outcome.Action == target.Conflict:
		setCondition(cs, v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonTargetConflict, s.outcome.Message)
	case s.err != nil:
		setCondition(cs, v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonTargetWriteError, s.err.Error())
	case s.outputErr != nil:
		setCondition(cs, v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonOutputFormatFailed,
			"cannot write the additional output formats: "+s.outputErr.Error()+"; "+keeps)
	case s.winner < 0:
		setCondition(cs, v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource,
			"no source yields a valid certificate; "+keeps)
	case s.outcome.Action == target.Downgrade:
		setCondition(cs, v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonDowngradeRefused, s.outcome.Message)
	case s.rb.withheld:
		setCondition(cs, v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonRollbackHeld,
			fmt.Sprintf("source %q offers certificate sha256 %.16s…, which was rolled back; it is synced again when a newer one arrives or %s is set; %s",
				s.candidates[s.winner].Source, s.candidates[s.winner].Bundle.SHA256(), v1alpha1.AnnotationRenewRequested, keeps))
	case cs.Spec.Suspend && s.outcome.Action != target.None:
		setCondition(cs, v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonSuspended,
			"spec.suspend is true and the target differs from the chosen certificate; "+keeps)
	default:
		w := s.candidates[s.winner]
		setCondition(cs, v1alpha1.ConditionSynced, metav1.ConditionTrue, v1alpha1.ReasonSynced,
			fmt.Sprintf("target Secret %s holds %s from source %q", cs.Spec.Target.SecretName, certs.Describe(w.Bundle.Leaf), w.Source))
	}
}

func setRolledOut(s *scope) {
	cs, st := s.cs, &s.ro.State
	switch {
	case st.Skipped != "":
		setCondition(cs, v1alpha1.ConditionRolledOut, metav1.ConditionUnknown, v1alpha1.ReasonWaitingForRollout, st.Skipped)
	case engine.Mode(&cs.Spec.Rollout) == v1alpha1.RolloutNone:
		msg := "rollout.mode is None: certsync restarts no workload; verification reports pods that serve a stale certificate"
		if remediates(cs) {
			msg += " and, as verify.remediate is true, evicts them"
		}
		setCondition(cs, v1alpha1.ConditionRolledOut, metav1.ConditionTrue, v1alpha1.ReasonRolloutDisabled, msg)
	case len(st.Stalled) > 0:
		setCondition(cs, v1alpha1.ConditionRolledOut, metav1.ConditionFalse, v1alpha1.ReasonRolloutStalled, st.Summary())
	case len(st.Missing) > 0:
		setCondition(cs, v1alpha1.ConditionRolledOut, metav1.ConditionFalse, v1alpha1.ReasonWorkloadNotFound,
			"listed workloads not found: "+st.Summary())
	case st.OnlyWaiting():
		setCondition(cs, v1alpha1.ConditionRolledOut, metav1.ConditionFalse, st.Waiting, st.Summary())
	case len(st.Pending) > 0:
		setCondition(cs, v1alpha1.ConditionRolledOut, metav1.ConditionFalse, v1alpha1.ReasonRollingOut, st.Summary())
	default:
		setCondition(cs, v1alpha1.ConditionRolledOut, metav1.ConditionTrue, v1alpha1.ReasonRolledOut,
			fmt.Sprintf("every workload using Secret %s runs pods started with certificate sha256 %.16s…", cs.Spec.Target.SecretName, s.ro.Held))
	}
}

func setVerified(s *scope) {
	cs, v := s.cs, &s.verify
	if v.at.IsZero() {
		status := metav1.ConditionUnknown
		if v.skippedReason == v1alpha1.ReasonNoPods {
			status = metav1.ConditionTrue // nothing serves the certificate, so nothing serves it wrong
		}
		if v.skippedReason == v1alpha1.ReasonNoEndpoints || v.skippedReason == v1alpha1.ReasonInvalidSelector {
			status = metav1.ConditionFalse
		}
		setCondition(cs, v1alpha1.ConditionVerified, status, v.skippedReason, v.skippedMessage)
		return
	}
	pods := cs.Status.Pods
	switch {
	case pods.Stale > 0 && len(v.afterRestart) == int(pods.Stale):
		setCondition(cs, v1alpha1.ConditionVerified, metav1.ConditionFalse, v1alpha1.ReasonStaleAfterRestart,
			fmt.Sprintf("%d of %d pods still serve a stale certificate after certsync restarted them (%s): restarting again will not help; check the image and how it loads the certificate. %s",
				pods.Stale, pods.Total, strings.Join(v.afterRestart, ", "), verifySummary(v)))
	case pods.Stale > 0:
		setCondition(cs, v1alpha1.ConditionVerified, metav1.ConditionFalse, v1alpha1.ReasonStaleCertificate,
			fmt.Sprintf("%d of %d pods serve a stale certificate (%s). %s", pods.Stale, pods.Total, strings.Join(pods.StaleNames, ", "), verifySummary(v)))
	case pods.Unreachable > 0:
		setCondition(cs, v1alpha1.ConditionVerified, metav1.ConditionFalse, v1alpha1.ReasonPodsUnreachable,
			fmt.Sprintf("%d of %d pods could not be checked (%s). %s", pods.Unreachable, pods.Total, strings.Join(pods.UnreachableNames, ", "), verifySummary(v)))
	default:
		setCondition(cs, v1alpha1.ConditionVerified, metav1.ConditionTrue, v1alpha1.ReasonVerified,
			fmt.Sprintf("%d of %d pods serve certificate sha256 %.16s… on every endpoint", pods.Verified, pods.Total, s.ro.Held))
	}
}

// setReady summarises: True only when the target holds the newest valid
// certificate, every workload runs it, and every pod serves it.
func setReady(cs *v1alpha1.CertSync) {
	for _, typ := range []string{v1alpha1.ConditionSynced, v1alpha1.ConditionRolledOut, v1alpha1.ConditionVerified} {
		c := meta.FindStatusCondition(cs.Status.Conditions, typ)
		if c == nil {
			setCondition(cs, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonReconciling, "not reconciled yet")
			return
		}
		if c.Status != metav1.ConditionTrue {
			setCondition(cs, v1alpha1.ConditionReady, metav1.ConditionFalse, c.Reason, c.Message)
			return
		}
	}
	synced := meta.FindStatusCondition(cs.Status.Conditions, v1alpha1.ConditionSynced)
	msg := synced.Message
	if cs.Status.Pods != nil && cs.Status.Pods.Total > 0 {
		msg += fmt.Sprintf("; %s pods verified", cs.Status.Pods.Summary)
	}
	setCondition(cs, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, msg)
}
