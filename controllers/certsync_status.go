package controllers

import (
	"crypto/x509"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/selection"
	"certsync.io/certsync/internal/target"
)

// setStatus records what the reconcile found and did. Every field derives
// from the scope alone, so an unchanged world yields an identical status and
// no write.
func setStatus(s *scope) {
	st := &s.cs.Status
	st.ObservedGeneration = s.cs.Generation
	st.Sources = sourceStatuses(s.cands)
	st.Certificate = certificateInfo(s)
	if s.wrote {
		t := metav1.NewTime(s.now)
		st.LastSyncTime = &t
	}
	setSourcesReady(s.cs, s.cands)
	setSynced(s)
	setReady(s.cs)
}

func sourceStatuses(cands []selection.Candidate) []v1alpha1.SourceStatus {
	out := make([]v1alpha1.SourceStatus, 0, len(cands))
	for _, c := range cands {
		ss := v1alpha1.SourceStatus{Name: c.Source, Ready: c.Valid, Reason: c.Reason, Message: c.Message}
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
	leaf := target.CurrentLeaf(s.target)
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
	case s.winner < 0:
		setCondition(cs, v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource,
			"no source yields a valid certificate; "+keeps)
	case s.outcome.Action == target.Downgrade:
		setCondition(cs, v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonDowngradeRefused, s.outcome.Message)
	case cs.Spec.Suspend && s.outcome.Action != target.None:
		setCondition(cs, v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonSuspended,
			"spec.suspend is true and the target differs from the chosen certificate; "+keeps)
	default:
		w := s.cands[s.winner]
		setCondition(cs, v1alpha1.ConditionSynced, metav1.ConditionTrue, v1alpha1.ReasonSynced,
			fmt.Sprintf("target Secret %s holds %s from source %q", cs.Spec.Target.SecretName, certs.Describe(w.Bundle.Leaf), w.Source))
	}
}

// setReady summarises: Ready mirrors Synced, so it is True only when the
// target holds the newest valid certificate.
func setReady(cs *v1alpha1.CertSync) {
	synced := meta.FindStatusCondition(cs.Status.Conditions, v1alpha1.ConditionSynced)
	if synced != nil && synced.Status == metav1.ConditionTrue {
		setCondition(cs, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, synced.Message)
		return
	}
	reason, msg := "Reconciling", "not reconciled yet"
	if synced != nil {
		reason, msg = synced.Reason, synced.Message
	}
	setCondition(cs, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
}
