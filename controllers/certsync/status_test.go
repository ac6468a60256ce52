package certsync

// Unit tests of the pure status setters (certsync_status.go) and of the
// event transition logic (certsync_events.go). They build scope values
// directly and need neither the API server nor the manager that TestMain
// starts for the integration tests.

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
	"certsync.io/certsync/internal/probe"
	"certsync.io/certsync/internal/selection"
	"certsync.io/certsync/internal/sources"
	"certsync.io/certsync/internal/target"
	"certsync.io/certsync/internal/verification"
)

var stNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// stWant is the fingerprint of the certificate the target holds in these
// tests; only its first 16 digits show up in messages.
const stWant = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// Fixtures, built with functional options in the style of cert-manager's
// test/unit/gen.

// stCertSync is a CertSync "mail/mail" at generation 3 with target mail-tls.
func stCertSync(opts ...func(*v1alpha1.CertSync)) *v1alpha1.CertSync {
	cs := &v1alpha1.CertSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: "mail", Name: "mail", Generation: 3},
		Spec:       v1alpha1.CertSyncSpec{Target: v1alpha1.Target{SecretName: "mail-tls"}},
	}
	for _, o := range opts {
		o(cs)
	}
	return cs
}

func stSuspended(cs *v1alpha1.CertSync) { cs.Spec.Suspend = true }

func stMode(m v1alpha1.RolloutMode) func(*v1alpha1.CertSync) {
	return func(cs *v1alpha1.CertSync) { cs.Spec.Rollout.Mode = m }
}

// stCond sets a condition in a CertSync's status.
func stCond(typ string, status metav1.ConditionStatus, reason, msg string) func(*v1alpha1.CertSync) {
	return func(cs *v1alpha1.CertSync) {
		meta.SetStatusCondition(&cs.Status.Conditions, metav1.Condition{
			Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: cs.Generation,
		})
	}
}

func stPodsStatus(p v1alpha1.PodsStatus) func(*v1alpha1.CertSync) {
	return func(cs *v1alpha1.CertSync) { cs.Status.Pods = &p }
}

func stSourceStatus(ss ...v1alpha1.SourceStatus) func(*v1alpha1.CertSync) {
	return func(cs *v1alpha1.CertSync) { cs.Status.Sources = ss }
}

// stValid is a valid candidate from source name.
func stValid(t *testing.T, name string) selection.Candidate {
	t.Helper()
	p := certstest.New(t, certstest.WithDNSNames(mailHost), certstest.WithSerial(0x5eed))
	return selection.Candidate{Source: name, Valid: true, Reason: selection.ReasonValid,
		Bundle: &certs.Bundle{Leaf: p.Cert}, Message: certs.Describe(p.Cert)}
}

func stFailing(name, reason, msg string) selection.Candidate {
	return selection.Candidate{Source: name, Reason: reason, Message: msg}
}

type stScopeOption func(*scope)

// stScope is a reconcile's scope over stCertSync(): no candidate, no target.
func stScope(cs *v1alpha1.CertSync, opts ...stScopeOption) *scope {
	s := newScope(cs, stNow)
	s.synced, s.ro.Done, s.verifiedDone = true, true, true
	for _, o := range opts {
		o(s)
	}
	return s
}

// cands sets the candidates and picks the winner as readSources does.
func cands(cs ...selection.Candidate) stScopeOption {
	return func(s *scope) { s.candidates, s.winner = cs, selection.Pick(cs) }
}

func outcome(a target.Action, msg string) stScopeOption {
	return func(s *scope) { s.outcome = target.Decision{Action: a, Message: msg} }
}

func wrote() stScopeOption { return func(s *scope) { s.wrote = true } }

func writeErr(err error) stScopeOption { return func(s *scope) { s.err = err } }

func want(sha string) stScopeOption { return func(s *scope) { s.ro.Held = sha } }

func roll(st engine.RolloutState) stScopeOption { return func(s *scope) { s.ro.State = st } }

func verifySkipped(reason, msg string) stScopeOption {
	return func(s *scope) { s.verify = verifyState{skippedReason: reason, skippedMessage: msg} }
}

// verified records a verification at at with the given pod results.
func verified(at time.Time, pods ...verification.PodResult) stScopeOption {
	return func(s *scope) { s.verify.at, s.verify.pods = at, pods }
}

func afterRestart(pods ...string) stScopeOption {
	return func(s *scope) { s.verify.afterRestart = pods }
}

func withEvents(evs ...engine.Event) stScopeOption {
	return func(s *scope) { s.ro.Events = append(s.ro.Events, evs...) }
}

func pr(pod string, st probe.State) verification.PodResult {
	return verification.PodResult{Pod: pod, State: st, Detail: "detail-of-" + pod}
}

// cond returns the condition of type typ, failing the test when absent.
func cond(g Gomega, cs *v1alpha1.CertSync, typ string) metav1.Condition {
	c := meta.FindStatusCondition(cs.Status.Conditions, typ)
	g.ExpectWithOffset(1, c).NotTo(BeNil(), "condition %s", typ)
	return *c
}

// condExpect is what a test expects of one condition.
type condExpect struct {
	status  metav1.ConditionStatus
	reason  string
	message []string // substrings
}

func expectCond(t *testing.T, cs *v1alpha1.CertSync, typ string, want condExpect) {
	t.Helper()
	g := NewWithT(t)
	c := cond(g, cs, typ)
	g.Expect(string(c.Status)+"/"+c.Reason).To(Equal(string(want.status)+"/"+want.reason), "message: %s", c.Message)
	g.Expect(c.ObservedGeneration).To(Equal(cs.Generation))
	for _, sub := range want.message {
		g.Expect(c.Message).To(ContainSubstring(sub))
	}
	g.Expect(c.Message).NotTo(ContainSubstring("BEGIN"))
	g.Expect(c.Message).NotTo(ContainSubstring(stWant), "a whole fingerprint is noise in a message")
}

func TestSetSourcesReady(t *testing.T) {
	a, b := stValid(t, "a"), stValid(t, "b")
	tests := []struct {
		name  string
		cands []selection.Candidate
		want  condExpect
	}{
		{"all ok", []selection.Candidate{a, b},
			condExpect{metav1.ConditionTrue, v1alpha1.ReasonAllSourcesReady, []string{"2 of 2 sources yield a valid certificate"}}},
		{"one of one ok", []selection.Candidate{a},
			condExpect{metav1.ConditionTrue, v1alpha1.ReasonAllSourcesReady, []string{"1 of 1"}}},
		{"degraded", []selection.Candidate{a, stFailing("legacy", sources.ReasonNotFound, "Secret legacy-pki/drop not found")},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonSourcesDegraded, []string{
				"1 of 2 sources failing", "legacy: NotFound (Secret legacy-pki/drop not found)"}}},
		{"degraded, failing ones all named", []selection.Candidate{
			stFailing("x", certs.ReasonExpired, "certificate expired at 2026-01-01T00:00:00Z"), a, stFailing("y", sources.ReasonAPIError, "timeout")},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonSourcesDegraded, []string{
				"2 of 3 sources failing", "x: Expired (certificate expired at 2026-01-01T00:00:00Z); y: APIError (timeout)"}}},
		{"none", []selection.Candidate{stFailing("x", sources.ReasonNotPermitted, "no consent"), stFailing("y", certs.ReasonNotPEM, "not PEM")},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonNoValidSource, []string{
				"no source yields a valid certificate", "x: NotPermitted (no consent); y: NotPEM (not PEM)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := stCertSync()
			setSourcesReady(cs, tt.cands)
			expectCond(t, cs, v1alpha1.ConditionSourcesReady, tt.want)
		})
	}
}

func TestSetSynced(t *testing.T) {
	good := stValid(t, "legacy")
	bad := stFailing("legacy", sources.ReasonNotFound, "gone")
	tests := []struct {
		name string
		cs   *v1alpha1.CertSync
		opts []stScopeOption
		want condExpect
	}{
		{"created", stCertSync(), []stScopeOption{cands(good), outcome(target.Create, "creating"), wrote()},
			condExpect{metav1.ConditionTrue, v1alpha1.ReasonSynced, []string{`target Secret mail-tls holds CN=mail.example.com, serial 5eed`, `from source "legacy"`}}},
		{"updated", stCertSync(), []stScopeOption{cands(bad, good), outcome(target.Update, "updating"), wrote()},
			condExpect{metav1.ConditionTrue, v1alpha1.ReasonSynced, []string{`from source "legacy"`}}},
		{"already up to date", stCertSync(), []stScopeOption{cands(good), outcome(target.None, "target holds the chosen certificate")},
			condExpect{metav1.ConditionTrue, v1alpha1.ReasonSynced, []string{"holds CN=mail.example.com"}}},
		{"conflict", stCertSync(), []stScopeOption{cands(good), outcome(target.Conflict, `Secret mail-tls is managed by CertSync "other"`)},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonTargetConflict, []string{`Secret mail-tls is managed by CertSync "other"`}}},
		{"conflict beats no valid source", stCertSync(), []stScopeOption{cands(bad), outcome(target.Conflict, "not created by certsync")},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonTargetConflict, []string{"not created by certsync"}}},
		{"write failed", stCertSync(), []stScopeOption{cands(good), outcome(target.Update, "updating"), writeErr(errors.New("writing target Secret mail-tls: conflict"))},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonTargetWriteError, []string{"writing target Secret mail-tls: conflict"}}},
		{"no valid source", stCertSync(), []stScopeOption{cands(bad), outcome(target.None, "")},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonNoValidSource, []string{"no source yields a valid certificate", "the target keeps its current content"}}},
		{"no sources at all", stCertSync(), []stScopeOption{outcome(target.None, "")},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonNoValidSource, nil}},
		{"downgrade refused", stCertSync(), []stScopeOption{cands(good), outcome(target.Downgrade, "refusing to replace the newer certificate")},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonDowngradeRefused, []string{"refusing to replace the newer certificate"}}},
		{"suspended, update due", stCertSync(stSuspended), []stScopeOption{cands(good), outcome(target.Update, "updating")},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonSuspended, []string{"spec.suspend is true", "the target keeps its current content"}}},
		{"suspended, create due", stCertSync(stSuspended), []stScopeOption{cands(good), outcome(target.Create, "creating")},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonSuspended, nil}},
		{"suspended, nothing to do", stCertSync(stSuspended), []stScopeOption{cands(good), outcome(target.None, "")},
			condExpect{metav1.ConditionTrue, v1alpha1.ReasonSynced, nil}},
		{"suspended, downgrade refused", stCertSync(stSuspended), []stScopeOption{cands(good), outcome(target.Downgrade, "refusing")},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonDowngradeRefused, nil}},
		{"suspended, conflict", stCertSync(stSuspended), []stScopeOption{cands(good), outcome(target.Conflict, "not ours")},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonTargetConflict, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := stScope(tt.cs, tt.opts...)
			setSynced(s)
			expectCond(t, s.cs, v1alpha1.ConditionSynced, tt.want)
		})
	}
}

func TestSetRolledOut(t *testing.T) {
	tests := []struct {
		name string
		cs   *v1alpha1.CertSync
		roll engine.RolloutState
		want condExpect
	}{
		{"skipped", stCertSync(), engine.RolloutState{Skipped: "the target holds no certificate of this CertSync yet"},
			condExpect{metav1.ConditionUnknown, v1alpha1.ReasonWaitingForRollout, []string{"the target holds no certificate of this CertSync yet"}}},
		{"skipped beats None mode", stCertSync(stMode(v1alpha1.RolloutNone)), engine.RolloutState{Skipped: "no certificate"},
			condExpect{metav1.ConditionUnknown, v1alpha1.ReasonWaitingForRollout, nil}},
		{"None mode", stCertSync(stMode(v1alpha1.RolloutNone)), engine.RolloutState{},
			condExpect{metav1.ConditionTrue, v1alpha1.ReasonRolloutDisabled, []string{"rollout.mode is None"}}},
		{"stalled beats missing and pending", stCertSync(), engine.RolloutState{
			Stalled: []string{"Deployment/web: 1 of 3 replicas updated (no completion within 10m0s)"},
			Missing: []string{"StatefulSet/db"},
			Pending: []string{"DaemonSet/relay: 0 of 2 pods updated"}},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonRolloutStalled, []string{
				"Deployment/web: 1 of 3 replicas updated (no completion within 10m0s); StatefulSet/db; DaemonSet/relay: 0 of 2 pods updated"}}},
		{"missing beats pending", stCertSync(), engine.RolloutState{Missing: []string{"StatefulSet/db"}, Pending: []string{"Deployment/web: restart requested"}},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonWorkloadNotFound, []string{"listed workloads not found: StatefulSet/db; Deployment/web: restart requested"}}},
		{"pending", stCertSync(), engine.RolloutState{Pending: []string{"Deployment/web: restart requested", "bare pods: 1 of 2 evicted, waiting for the rest"}},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonRollingOut, []string{"Deployment/web: restart requested; bare pods: 1 of 2 evicted"}}},
		{"done", stCertSync(), engine.RolloutState{Started: nil},
			condExpect{metav1.ConditionTrue, v1alpha1.ReasonRolledOut, []string{"every workload using Secret mail-tls", "sha256 0123456789abcdef…"}}},
		{"done, Explicit mode", stCertSync(stMode(v1alpha1.RolloutExplicit)), engine.RolloutState{},
			condExpect{metav1.ConditionTrue, v1alpha1.ReasonRolledOut, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := stScope(tt.cs, want(stWant), roll(tt.roll))
			setRolledOut(s)
			expectCond(t, s.cs, v1alpha1.ConditionRolledOut, tt.want)
		})
	}
}

func TestSetVerified(t *testing.T) {
	tests := []struct {
		name string
		opts []stScopeOption
		want condExpect
	}{
		{"no pods", []stScopeOption{verifySkipped(v1alpha1.ReasonNoPods, "no ready pod uses the target Secret")},
			condExpect{metav1.ConditionTrue, v1alpha1.ReasonNoPods, []string{"no ready pod uses the target Secret"}}},
		{"no endpoints", []stScopeOption{verifySkipped(v1alpha1.ReasonNoEndpoints, "declare verify.endpoints")},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonNoEndpoints, []string{"declare verify.endpoints"}}},
		{"waiting for the rollout", []stScopeOption{verifySkipped(v1alpha1.ReasonWaitingForRollout, "verification starts when the rollout is complete")},
			condExpect{metav1.ConditionUnknown, v1alpha1.ReasonWaitingForRollout, nil}},
		{"nothing to verify", []stScopeOption{verifySkipped(v1alpha1.ReasonNothingToVerify, "no certificate yet")},
			condExpect{metav1.ConditionUnknown, v1alpha1.ReasonNothingToVerify, nil}},
		{"verified", []stScopeOption{verified(stNow, pr("mail-0", probe.Verified), pr("mail-1", probe.Verified))},
			condExpect{metav1.ConditionTrue, v1alpha1.ReasonVerified, []string{"2 of 2 pods serve certificate sha256 0123456789abcdef… on every endpoint"}}},
		{"stale", []stScopeOption{verified(stNow, pr("mail-0", probe.Verified), pr("mail-1", probe.Stale))},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonStaleCertificate, []string{"1 of 2 pods serve a stale certificate (mail-1)", "pod mail-1: detail-of-mail-1"}}},
		{"stale after restart", []stScopeOption{verified(stNow, pr("mail-0", probe.Verified), pr("mail-1", probe.Stale)), afterRestart("mail-1")},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonStaleAfterRestart, []string{"1 of 2 pods still serve a stale certificate after certsync restarted them (mail-1)", "restarting again will not help"}}},
		{"stale, only some after restart", []stScopeOption{verified(stNow, pr("mail-0", probe.Stale), pr("mail-1", probe.Stale)), afterRestart("mail-1")},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonStaleCertificate, []string{"2 of 2 pods serve a stale certificate (mail-0, mail-1)"}}},
		{"unreachable", []stScopeOption{verified(stNow, pr("mail-0", probe.Unreachable), pr("mail-1", probe.Verified))},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonPodsUnreachable, []string{"1 of 2 pods could not be checked (mail-0)", "pod mail-0: detail-of-mail-0"}}},
		{"stale beats unreachable", []stScopeOption{verified(stNow, pr("mail-0", probe.Unreachable), pr("mail-1", probe.Stale))},
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonStaleCertificate, []string{"(mail-1)", "pod mail-0: detail-of-mail-0; pod mail-1: detail-of-mail-1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := stScope(stCertSync(), append([]stScopeOption{want(stWant)}, tt.opts...)...)
			setPods(s) // setVerified reads the counts setPods records
			setVerified(s)
			expectCond(t, s.cs, v1alpha1.ConditionVerified, tt.want)
		})
	}
}

func TestSetVerifiedDetailsAreBounded(t *testing.T) {
	var pods []verification.PodResult
	for i := range 5 {
		pods = append(pods, pr(fmt.Sprintf("mail-%d", i), probe.Stale))
	}
	s := stScope(stCertSync(), want(stWant), verified(stNow, pods...))
	setPods(s)
	setVerified(s)
	msg := cond(NewWithT(t), s.cs, v1alpha1.ConditionVerified).Message
	if n := strings.Count(msg, "detail-of-"); n != 3 {
		t.Errorf("message carries %d pod details, want 3: %s", n, msg)
	}
}

func TestSetReady(t *testing.T) {
	const syncedMsg = `target Secret mail-tls holds CN=mail.example.com from source "legacy"`
	synced := stCond(v1alpha1.ConditionSynced, metav1.ConditionTrue, v1alpha1.ReasonSynced, syncedMsg)
	rolled := stCond(v1alpha1.ConditionRolledOut, metav1.ConditionTrue, v1alpha1.ReasonRolledOut, "rolled out")
	verifiedOK := stCond(v1alpha1.ConditionVerified, metav1.ConditionTrue, v1alpha1.ReasonVerified, "2 of 2 pods serve")
	tests := []struct {
		name string
		cs   *v1alpha1.CertSync
		want condExpect
		msg  string // exact message, if set
	}{
		{"not reconciled", stCertSync(), condExpect{metav1.ConditionFalse, "Reconciling", nil}, "not reconciled yet"},
		{"only Synced", stCertSync(synced), condExpect{metav1.ConditionFalse, "Reconciling", nil}, ""},
		{"Verified missing", stCertSync(synced, rolled), condExpect{metav1.ConditionFalse, "Reconciling", nil}, ""},
		{"all True", stCertSync(synced, rolled, verifiedOK, stPodsStatus(v1alpha1.PodsStatus{Summary: "2/2", Total: 2, Verified: 2})),
			condExpect{metav1.ConditionTrue, v1alpha1.ReasonReady, nil}, syncedMsg + "; 2/2 pods verified"},
		{"all True, no pods", stCertSync(synced, rolled,
			stCond(v1alpha1.ConditionVerified, metav1.ConditionTrue, v1alpha1.ReasonNoPods, "no ready pod"),
			stPodsStatus(v1alpha1.PodsStatus{Summary: "0/0"})),
			condExpect{metav1.ConditionTrue, v1alpha1.ReasonReady, nil}, syncedMsg},
		{"all True, rollout disabled", stCertSync(synced, verifiedOK,
			stCond(v1alpha1.ConditionRolledOut, metav1.ConditionTrue, v1alpha1.ReasonRolloutDisabled, "none")),
			condExpect{metav1.ConditionTrue, v1alpha1.ReasonReady, nil}, syncedMsg},
		{"Synced False", stCertSync(rolled, verifiedOK,
			stCond(v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource, "no source yields a valid certificate")),
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonNoValidSource, nil}, "no source yields a valid certificate"},
		{"RolledOut False", stCertSync(synced, verifiedOK,
			stCond(v1alpha1.ConditionRolledOut, metav1.ConditionFalse, v1alpha1.ReasonRollingOut, "Deployment/web: restart requested")),
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonRollingOut, nil}, "Deployment/web: restart requested"},
		{"RolledOut Unknown", stCertSync(synced, verifiedOK,
			stCond(v1alpha1.ConditionRolledOut, metav1.ConditionUnknown, v1alpha1.ReasonWaitingForRollout, "waiting")),
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonWaitingForRollout, nil}, "waiting"},
		{"Verified False", stCertSync(synced, rolled,
			stCond(v1alpha1.ConditionVerified, metav1.ConditionFalse, v1alpha1.ReasonStaleCertificate, "1 of 2 pods serve a stale certificate")),
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonStaleCertificate, nil}, "1 of 2 pods serve a stale certificate"},
		{"Verified Unknown", stCertSync(synced, rolled,
			stCond(v1alpha1.ConditionVerified, metav1.ConditionUnknown, v1alpha1.ReasonWaitingForRollout, "verification starts when the rollout is complete")),
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonWaitingForRollout, nil}, ""},
		{"first failing one wins", stCertSync(
			stCond(v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonTargetConflict, "not ours"),
			stCond(v1alpha1.ConditionRolledOut, metav1.ConditionFalse, v1alpha1.ReasonRolloutStalled, "stalled"),
			stCond(v1alpha1.ConditionVerified, metav1.ConditionFalse, v1alpha1.ReasonPodsUnreachable, "unreachable")),
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonTargetConflict, nil}, "not ours"},
		{"RolledOut before Verified", stCertSync(synced,
			stCond(v1alpha1.ConditionRolledOut, metav1.ConditionFalse, v1alpha1.ReasonRolloutStalled, "stalled"),
			stCond(v1alpha1.ConditionVerified, metav1.ConditionFalse, v1alpha1.ReasonPodsUnreachable, "unreachable")),
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonRolloutStalled, nil}, "stalled"},
		{"SourcesReady does not count", stCertSync(synced, rolled, verifiedOK,
			stCond(v1alpha1.ConditionSourcesReady, metav1.ConditionFalse, v1alpha1.ReasonSourcesDegraded, "1 of 2 sources failing")),
			condExpect{metav1.ConditionTrue, v1alpha1.ReasonReady, nil}, syncedMsg},
		{"a previous True is replaced", stCertSync(
			stCond(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, "was fine"), rolled, verifiedOK,
			stCond(v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonDowngradeRefused, "refusing")),
			condExpect{metav1.ConditionFalse, v1alpha1.ReasonDowngradeRefused, nil}, "refusing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setReady(tt.cs)
			expectCond(t, tt.cs, v1alpha1.ConditionReady, tt.want)
			if tt.msg != "" {
				if got := cond(NewWithT(t), tt.cs, v1alpha1.ConditionReady).Message; got != tt.msg {
					t.Errorf("Ready message = %q, want %q", got, tt.msg)
				}
			}
		})
	}
}

func TestSetPods(t *testing.T) {
	t1, t2 := stNow.Add(-10*time.Minute), stNow
	ts := func(t time.Time) *metav1.Time { m := metav1.NewTime(t); return &m }
	allOK := v1alpha1.PodsStatus{Summary: "2/2", Total: 2, Verified: 2}
	oneStale := v1alpha1.PodsStatus{Summary: "1/2", Total: 2, Verified: 1, Stale: 1, StaleNames: []string{"mail-1"}}
	ok2 := []verification.PodResult{pr("mail-0", probe.Verified), pr("mail-1", probe.Verified)}
	stale2 := []verification.PodResult{pr("mail-0", probe.Verified), pr("mail-1", probe.Stale)}

	tests := []struct {
		name         string
		pods         *v1alpha1.PodsStatus // status before
		lastVerified *metav1.Time         // status before
		opt          stScopeOption
		wantPods     *v1alpha1.PodsStatus
		wantLast     *metav1.Time
	}{
		{"first verification", nil, nil, verified(t2, ok2...), &allOK, ts(t2)},
		{"same result: lastVerifiedTime stays", &allOK, ts(t1), verified(t2, ok2...), &allOK, ts(t1)},
		{"same result, other details: lastVerifiedTime stays", &allOK, ts(t1),
			verified(t2, verification.PodResult{Pod: "mail-0", State: probe.Verified, Detail: "other"}, pr("mail-1", probe.Verified)), &allOK, ts(t1)},
		{"result changed: lastVerifiedTime moves", &allOK, ts(t1), verified(t2, stale2...), &oneStale, ts(t2)},
		{"result changed back: lastVerifiedTime moves", &oneStale, ts(t1), verified(t2, ok2...), &allOK, ts(t2)},
		{"same result but no lastVerifiedTime yet", &allOK, nil, verified(t2, ok2...), &allOK, ts(t2)},
		{"no pods: 0/0, lastVerifiedTime kept", &allOK, ts(t1), verifySkipped(v1alpha1.ReasonNoPods, ""), &v1alpha1.PodsStatus{Summary: "0/0"}, ts(t1)},
		{"waiting for the rollout: old counts dropped", &oneStale, ts(t1), verifySkipped(v1alpha1.ReasonWaitingForRollout, ""), nil, ts(t1)},
		{"no endpoints: none", nil, nil, verifySkipped(v1alpha1.ReasonNoEndpoints, ""), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			cs := stCertSync()
			if tt.pods != nil {
				p := *tt.pods
				cs.Status.Pods = &p
			}
			cs.Status.LastVerifiedTime = tt.lastVerified
			s := stScope(cs, want(stWant), tt.opt)
			setPods(s)
			g.Expect(cs.Status.Pods).To(Equal(tt.wantPods))
			if tt.wantLast == nil {
				g.Expect(cs.Status.LastVerifiedTime).To(BeNil())
			} else {
				g.Expect(cs.Status.LastVerifiedTime).NotTo(BeNil())
				g.Expect(cs.Status.LastVerifiedTime.Time).To(BeTemporally("==", tt.wantLast.Time))
			}
		})
	}
}

// evKey is what the transition tests compare: type and reason.
func evKeys(evs []engine.Event) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.Type+"/"+e.Reason)
	}
	return out
}

const (
	normal  = corev1.EventTypeNormal + "/"
	warning = corev1.EventTypeWarning + "/"
)

func TestTransitionEvents(t *testing.T) {
	good := stValid(t, "legacy")
	failed := func(reason, sha string) v1alpha1.SourceStatus {
		return v1alpha1.SourceStatus{Name: "legacy", Reason: reason, Message: "msg of " + reason, SHA256: sha}
	}
	ready := v1alpha1.SourceStatus{Name: "legacy", Ready: true, Reason: selection.ReasonValid, SHA256: "aaaa"}
	condT := func(typ, reason string) func(*v1alpha1.CertSync) {
		return stCond(typ, metav1.ConditionTrue, reason, typ+" is "+reason)
	}
	condF := func(typ, reason, msg string) func(*v1alpha1.CertSync) {
		return stCond(typ, metav1.ConditionFalse, reason, msg)
	}
	stalePods := func(names ...string) func(*v1alpha1.CertSync) {
		return stPodsStatus(v1alpha1.PodsStatus{Total: 3, Stale: int32(len(names)), StaleNames: names})
	}
	staleCond := condF(v1alpha1.ConditionVerified, v1alpha1.ReasonStaleCertificate, "pods serve a stale certificate")
	afterRestartCond := condF(v1alpha1.ConditionVerified, v1alpha1.ReasonStaleAfterRestart, "still stale after restart")
	type opts = []func(*v1alpha1.CertSync)

	tests := []struct {
		name          string
		before, after opts
		scope         []stScopeOption
		want          []string
	}{
		{name: "nothing happened", want: []string{}},
		{name: "steady state",
			before: opts{condT(v1alpha1.ConditionSynced, v1alpha1.ReasonSynced), condT(v1alpha1.ConditionRolledOut, v1alpha1.ReasonRolledOut), condT(v1alpha1.ConditionVerified, v1alpha1.ReasonVerified), stSourceStatus(ready)},
			after:  opts{condT(v1alpha1.ConditionSynced, v1alpha1.ReasonSynced), condT(v1alpha1.ConditionRolledOut, v1alpha1.ReasonRolledOut), condT(v1alpha1.ConditionVerified, v1alpha1.ReasonVerified), stSourceStatus(ready)},
			want:   []string{}},

		// Synced.
		{name: "Synced on write", scope: []stScopeOption{cands(good), wrote()}, want: []string{normal + v1alpha1.ReasonSynced}},
		{name: "no Synced without a write", scope: []stScopeOption{cands(good)},
			after: opts{condT(v1alpha1.ConditionSynced, v1alpha1.ReasonSynced)}, want: []string{}},

		// Sources.
		{name: "source NotFound: SourceUnavailable", after: opts{stSourceStatus(failed(sources.ReasonNotFound, ""))},
			want: []string{warning + v1alpha1.ReasonSourceUnavailable}},
		{name: "source NotPermitted: SourceUnavailable", after: opts{stSourceStatus(failed(sources.ReasonNotPermitted, ""))},
			want: []string{warning + v1alpha1.ReasonSourceUnavailable}},
		{name: "source Forbidden: SourceUnavailable", after: opts{stSourceStatus(failed(sources.ReasonForbidden, ""))},
			want: []string{warning + v1alpha1.ReasonSourceUnavailable}},
		{name: "source APIError: SourceUnavailable", after: opts{stSourceStatus(failed(sources.ReasonAPIError, ""))},
			want: []string{warning + v1alpha1.ReasonSourceUnavailable}},
		{name: "source MissingKey: SourceUnavailable", after: opts{stSourceStatus(failed(sources.ReasonMissingKey, ""))},
			want: []string{warning + v1alpha1.ReasonSourceUnavailable}},
		{name: "source Expired: ValidationFailed", after: opts{stSourceStatus(failed(certs.ReasonExpired, "bbbb"))},
			want: []string{warning + v1alpha1.ReasonValidationFailed}},
		{name: "source DNSNameMismatch: ValidationFailed", after: opts{stSourceStatus(failed(certs.ReasonDNSNameMismatch, "bbbb"))},
			want: []string{warning + v1alpha1.ReasonValidationFailed}},
		{name: "source NotPEM: ValidationFailed", after: opts{stSourceStatus(failed(certs.ReasonNotPEM, ""))},
			want: []string{warning + v1alpha1.ReasonValidationFailed}},
		{name: "source KeyMismatch: ValidationFailed", after: opts{stSourceStatus(failed(certs.ReasonKeyMismatch, ""))},
			want: []string{warning + v1alpha1.ReasonValidationFailed}},
		{name: "source still failing the same way: once per transition",
			before: opts{stSourceStatus(failed(sources.ReasonNotFound, ""))}, after: opts{stSourceStatus(failed(sources.ReasonNotFound, ""))},
			want: []string{}},
		{name: "source still failing, only the message changed",
			before: opts{stSourceStatus(failed(sources.ReasonAPIError, ""))},
			after:  opts{stSourceStatus(v1alpha1.SourceStatus{Name: "legacy", Reason: sources.ReasonAPIError, Message: "another timeout"})},
			want:   []string{}},
		{name: "source fails for another reason",
			before: opts{stSourceStatus(failed(sources.ReasonNotFound, ""))}, after: opts{stSourceStatus(failed(sources.ReasonNotPermitted, ""))},
			want: []string{warning + v1alpha1.ReasonSourceUnavailable}},
		{name: "source fails validation with another certificate",
			before: opts{stSourceStatus(failed(certs.ReasonExpired, "bbbb"))}, after: opts{stSourceStatus(failed(certs.ReasonExpired, "cccc"))},
			want: []string{warning + v1alpha1.ReasonValidationFailed}},
		{name: "source turned bad",
			before: opts{stSourceStatus(ready)}, after: opts{stSourceStatus(failed(certs.ReasonExpired, "aaaa"))},
			want: []string{warning + v1alpha1.ReasonValidationFailed}},
		{name: "source recovered", before: opts{stSourceStatus(failed(sources.ReasonNotFound, ""))}, after: opts{stSourceStatus(ready)},
			want: []string{}},

		// Synced failures.
		{name: "TargetConflict entered",
			after: opts{condF(v1alpha1.ConditionSynced, v1alpha1.ReasonTargetConflict, `managed by CertSync "other"`)},
			want:  []string{warning + v1alpha1.ReasonTargetConflict}},
		{name: "TargetConflict stays",
			before: opts{condF(v1alpha1.ConditionSynced, v1alpha1.ReasonTargetConflict, `managed by CertSync "other"`)},
			after:  opts{condF(v1alpha1.ConditionSynced, v1alpha1.ReasonTargetConflict, `managed by CertSync "other"`)},
			want:   []string{}},
		{name: "TargetConflict with another owner",
			before: opts{condF(v1alpha1.ConditionSynced, v1alpha1.ReasonTargetConflict, `managed by CertSync "other"`)},
			after:  opts{condF(v1alpha1.ConditionSynced, v1alpha1.ReasonTargetConflict, `managed by CertSync "third"`)},
			want:   []string{warning + v1alpha1.ReasonTargetConflict}},
		{name: "DowngradeRefused entered",
			before: opts{condT(v1alpha1.ConditionSynced, v1alpha1.ReasonSynced)},
			after:  opts{condF(v1alpha1.ConditionSynced, v1alpha1.ReasonDowngradeRefused, "refusing")},
			want:   []string{warning + v1alpha1.ReasonDowngradeRefused}},
		{name: "DowngradeRefused stays",
			before: opts{condF(v1alpha1.ConditionSynced, v1alpha1.ReasonDowngradeRefused, "refusing")},
			after:  opts{condF(v1alpha1.ConditionSynced, v1alpha1.ReasonDowngradeRefused, "refusing")},
			want:   []string{}},

		// Rollout.
		{name: "RolloutStarted for workloads, not for evicted pods",
			scope: []stScopeOption{roll(engine.RolloutState{Started: []v1alpha1.RestartRecord{
				{Kind: "Deployment", Name: "web", SHA256: stWant}, {Kind: "Pod", Name: "bare", SHA256: stWant}}})},
			want: []string{normal + v1alpha1.ReasonRolloutStarted}},
		{name: "phase events are passed on",
			scope: []stScopeOption{withEvents(engine.Normal(v1alpha1.ReasonPodRestarted, "Evict", "evicted pod bare"))},
			want:  []string{normal + v1alpha1.ReasonPodRestarted}},
		{name: "RolloutComplete after RollingOut",
			before: opts{condF(v1alpha1.ConditionRolledOut, v1alpha1.ReasonRollingOut, "pending")},
			after:  opts{condT(v1alpha1.ConditionRolledOut, v1alpha1.ReasonRolledOut)},
			want:   []string{normal + v1alpha1.ReasonRolloutComplete}},
		{name: "RolloutComplete after RolloutStalled",
			before: opts{condF(v1alpha1.ConditionRolledOut, v1alpha1.ReasonRolloutStalled, "stalled")},
			after:  opts{condT(v1alpha1.ConditionRolledOut, v1alpha1.ReasonRolledOut)},
			want:   []string{normal + v1alpha1.ReasonRolloutComplete}},
		{name: "no RolloutComplete when first seen",
			after: opts{condT(v1alpha1.ConditionRolledOut, v1alpha1.ReasonRolledOut)},
			want:  []string{}},
		{name: "no RolloutComplete after WaitingForRollout",
			before: opts{stCond(v1alpha1.ConditionRolledOut, metav1.ConditionUnknown, v1alpha1.ReasonWaitingForRollout, "waiting")},
			after:  opts{condT(v1alpha1.ConditionRolledOut, v1alpha1.ReasonRolledOut)},
			want:   []string{}},
		{name: "no RolloutComplete when it stays complete",
			before: opts{condT(v1alpha1.ConditionRolledOut, v1alpha1.ReasonRolledOut)},
			after:  opts{condT(v1alpha1.ConditionRolledOut, v1alpha1.ReasonRolledOut)},
			want:   []string{}},
		{name: "no RolloutComplete while rolling",
			before: opts{condF(v1alpha1.ConditionRolledOut, v1alpha1.ReasonRollingOut, "a")},
			after:  opts{condF(v1alpha1.ConditionRolledOut, v1alpha1.ReasonRollingOut, "b")},
			want:   []string{}},

		// Verified.
		{name: "Verified on entering",
			before: opts{stCond(v1alpha1.ConditionVerified, metav1.ConditionUnknown, v1alpha1.ReasonWaitingForRollout, "waiting")},
			after:  opts{condT(v1alpha1.ConditionVerified, v1alpha1.ReasonVerified)},
			want:   []string{normal + v1alpha1.ReasonVerified}},
		{name: "Verified when first seen", after: opts{condT(v1alpha1.ConditionVerified, v1alpha1.ReasonVerified)},
			want: []string{normal + v1alpha1.ReasonVerified}},
		{name: "Verified after stale", before: opts{staleCond, stalePods("mail-1")}, after: opts{condT(v1alpha1.ConditionVerified, v1alpha1.ReasonVerified)},
			want: []string{normal + v1alpha1.ReasonVerified}},
		{name: "Verified stays",
			before: opts{condT(v1alpha1.ConditionVerified, v1alpha1.ReasonVerified)},
			after:  opts{stCond(v1alpha1.ConditionVerified, metav1.ConditionTrue, v1alpha1.ReasonVerified, "3 of 3 pods serve")},
			want:   []string{}},
		{name: "no Verified for NoPods", after: opts{condT(v1alpha1.ConditionVerified, v1alpha1.ReasonNoPods)}, want: []string{}},

		// Stale.
		{name: "stale entered", before: opts{condT(v1alpha1.ConditionVerified, v1alpha1.ReasonVerified)}, after: opts{staleCond, stalePods("mail-1")},
			want: []string{warning + v1alpha1.ReasonStaleCertificate}},
		{name: "stale, same pods", before: opts{staleCond, stalePods("mail-1")}, after: opts{staleCond, stalePods("mail-1")},
			want: []string{}},
		{name: "stale, another pod", before: opts{staleCond, stalePods("mail-1")}, after: opts{staleCond, stalePods("mail-1", "mail-2")},
			want: []string{warning + v1alpha1.ReasonStaleCertificate}},
		{name: "stale, fewer pods", before: opts{staleCond, stalePods("mail-1", "mail-2")}, after: opts{staleCond, stalePods("mail-2")},
			want: []string{warning + v1alpha1.ReasonStaleCertificate}},
		{name: "stale after restart entered", before: opts{staleCond, stalePods("mail-1")}, after: opts{afterRestartCond, stalePods("mail-1")},
			want: []string{warning + v1alpha1.ReasonStaleCertificate}},
		{name: "stale after restart stays", before: opts{afterRestartCond, stalePods("mail-1")}, after: opts{afterRestartCond, stalePods("mail-1")},
			want: []string{}},
		{name: "stale to unreachable", before: opts{staleCond, stalePods("mail-1")},
			after: opts{condF(v1alpha1.ConditionVerified, v1alpha1.ReasonPodsUnreachable, "unreachable"), stalePods()},
			want:  []string{}},

		// Order.
		{name: "order: actions (sync, restarts, phase events), then transitions (sources, conflicts, completion, verification)",
			before: opts{
				condF(v1alpha1.ConditionRolledOut, v1alpha1.ReasonRollingOut, "pending"),
				stCond(v1alpha1.ConditionVerified, metav1.ConditionUnknown, v1alpha1.ReasonWaitingForRollout, "waiting")},
			after: opts{
				stSourceStatus(ready, v1alpha1.SourceStatus{Name: "backup", Reason: sources.ReasonNotFound}),
				condF(v1alpha1.ConditionSynced, v1alpha1.ReasonDowngradeRefused, "refusing"),
				condT(v1alpha1.ConditionRolledOut, v1alpha1.ReasonRolledOut),
				condT(v1alpha1.ConditionVerified, v1alpha1.ReasonVerified)},
			scope: []stScopeOption{cands(good), wrote(),
				roll(engine.RolloutState{Started: []v1alpha1.RestartRecord{{Kind: "StatefulSet", Name: "db", SHA256: stWant}}}),
				withEvents(engine.Warning(v1alpha1.ReasonPodRestarted, "Evict", "blocked"))},
			want: []string{normal + v1alpha1.ReasonSynced, normal + v1alpha1.ReasonRolloutStarted, warning + v1alpha1.ReasonPodRestarted,
				warning + v1alpha1.ReasonSourceUnavailable, warning + v1alpha1.ReasonDowngradeRefused, normal + v1alpha1.ReasonRolloutComplete, normal + v1alpha1.ReasonVerified}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, after := stCertSync(tt.before...), stCertSync(tt.after...)
			s := stScope(after, tt.scope...)
			evs := allEvents(before, after, s)
			NewWithT(t).Expect(evKeys(evs)).To(Equal(tt.want))
			for _, e := range evs {
				if e.Action == "" || e.Note == "" {
					t.Errorf("event %+v lacks an action or a note", e)
				}
				if strings.Contains(e.Note, "BEGIN") || strings.Contains(e.Note, "PRIVATE KEY") {
					t.Errorf("event note carries PEM: %q", e.Note)
				}
			}
		})
	}
}

func TestTransitionEventNotes(t *testing.T) {
	g := NewWithT(t)
	good := stValid(t, "legacy")
	before := stCertSync()
	after := stCertSync(
		stSourceStatus(v1alpha1.SourceStatus{Name: "backup", Reason: sources.ReasonNotFound, Message: "Secret mail/backup not found"}),
		stCond(v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonTargetConflict, `Secret mail-tls is managed by CertSync "other"`),
	)
	s := stScope(after, cands(good, stFailing("backup", sources.ReasonNotFound, "Secret mail/backup not found")), wrote(),
		roll(engine.RolloutState{Started: []v1alpha1.RestartRecord{{Kind: "Deployment", Name: "web", SHA256: stWant}}}))
	notes := map[string]string{}
	for _, e := range allEvents(before, after, s) {
		notes[e.Reason] = e.Action + ": " + e.Note
	}
	g.Expect(notes).To(HaveKeyWithValue(v1alpha1.ReasonSynced, ContainSubstring("Sync: wrote CN=mail.example.com, serial 5eed")))
	g.Expect(notes).To(HaveKeyWithValue(v1alpha1.ReasonSynced, HaveSuffix("from source legacy to Secret mail-tls")))
	g.Expect(notes).To(HaveKeyWithValue(v1alpha1.ReasonSourceUnavailable, "ReadSource: source backup: NotFound: Secret mail/backup not found"))
	g.Expect(notes).To(HaveKeyWithValue(v1alpha1.ReasonTargetConflict, `Sync: Secret mail-tls is managed by CertSync "other"`))
	g.Expect(notes).To(HaveKeyWithValue(v1alpha1.ReasonRolloutStarted, "Restart: restarting Deployment/web for certificate sha256 0123456789abcdef…"))
}

// TestTransitionEventsAcrossReconciles drives the real setters through a
// sequence of reconciles, as Reconcile does (setStatus, then the events
// between the status before and after), and checks that each event is
// emitted once per transition, not once per reconcile.
func TestTransitionEventsAcrossReconciles(t *testing.T) {
	good := stValid(t, "legacy")
	gone := stFailing("legacy", sources.ReasonNotFound, "Secret mail/drop not found")
	expired := stFailing("legacy", certs.ReasonExpired, "certificate expired")
	noPods := verifySkipped(v1alpha1.ReasonNoPods, "no ready pod")
	waiting := verifySkipped(v1alpha1.ReasonWaitingForRollout, "verification starts when the rollout is complete")
	ok := verified(stNow, pr("mail-0", probe.Verified), pr("mail-1", probe.Verified))
	stale := verified(stNow, pr("mail-0", probe.Verified), pr("mail-1", probe.Stale))
	pending := roll(engine.RolloutState{Pending: []string{"Deployment/web: 1 of 2 replicas updated"}})

	cs := stCertSync()
	steps := []struct {
		name string
		opts []stScopeOption
		want []string
	}{
		{"source missing", []stScopeOption{cands(gone), roll(engine.RolloutState{Skipped: "no certificate"}), verifySkipped(v1alpha1.ReasonNothingToVerify, "none")},
			[]string{warning + v1alpha1.ReasonSourceUnavailable}},
		{"source still missing", []stScopeOption{cands(gone), roll(engine.RolloutState{Skipped: "no certificate"}), verifySkipped(v1alpha1.ReasonNothingToVerify, "none")},
			[]string{}},
		{"source fails validation", []stScopeOption{cands(expired), roll(engine.RolloutState{Skipped: "no certificate"}), verifySkipped(v1alpha1.ReasonNothingToVerify, "none")},
			[]string{warning + v1alpha1.ReasonValidationFailed}},
		{"source fixed, target written", []stScopeOption{cands(good), outcome(target.Create, ""), wrote(), want(stWant), noPods},
			[]string{normal + v1alpha1.ReasonSynced}}, // NoPods is True but not Verified: no event
		{"steady", []stScopeOption{cands(good), want(stWant), noPods}, []string{}},
		{"restart requested", []stScopeOption{cands(good), want(stWant), waiting,
			roll(engine.RolloutState{Pending: []string{"Deployment/web: restart requested"}, Started: []v1alpha1.RestartRecord{{Kind: "Deployment", Name: "web", SHA256: stWant}}})},
			[]string{normal + v1alpha1.ReasonRolloutStarted}},
		{"rolling", []stScopeOption{cands(good), want(stWant), waiting, pending}, []string{}},
		{"still rolling", []stScopeOption{cands(good), want(stWant), waiting, pending}, []string{}},
		{"rolled out and verified", []stScopeOption{cands(good), want(stWant), ok},
			[]string{normal + v1alpha1.ReasonRolloutComplete, normal + v1alpha1.ReasonVerified}},
		{"still verified", []stScopeOption{cands(good), want(stWant), verified(stNow.Add(5*time.Minute), pr("mail-0", probe.Verified), pr("mail-1", probe.Verified))},
			[]string{}},
		{"a pod turns stale", []stScopeOption{cands(good), want(stWant), stale}, []string{warning + v1alpha1.ReasonStaleCertificate}},
		{"still stale", []stScopeOption{cands(good), want(stWant), stale}, []string{}},
		{"stale after its restart", []stScopeOption{cands(good), want(stWant), stale, afterRestart("mail-1")},
			[]string{warning + v1alpha1.ReasonStaleCertificate}},
		{"still stale after its restart", []stScopeOption{cands(good), want(stWant), stale, afterRestart("mail-1")}, []string{}},
	}
	for _, st := range steps {
		before := cs.DeepCopy()
		s := stScope(cs, st.opts...)
		setStatus(s)
		if got := evKeys(allEvents(before, cs, s)); strings.Join(got, ",") != strings.Join(st.want, ",") {
			t.Errorf("%s: events %v, want %v (Ready: %s)", st.name, got, st.want, condMessage(cs, v1alpha1.ConditionReady))
		}
	}
	NewWithT(t).Expect(meta.IsStatusConditionTrue(cs.Status.Conditions, v1alpha1.ConditionReady)).To(BeFalse())
}

// TestTransitionEventsFetchFailureOfAnyKind: a source that could not be
// fetched is SourceUnavailable whatever its reason string; ValidationFailed
// is for material that was fetched and then refused. transitionEvents
// decides from a hard-coded list of the Secret source's reasons, so every
// other fetch failure — the controller's own "Unsupported", and the reasons
// of the HTTPS source being added (Timeout, HTTPStatus, Redirected,
// Unreachable, TLSError: incident 3, a provider down or redirecting) — is
// announced as ValidationFailed.
func TestTransitionEventsFetchFailureOfAnyKind(t *testing.T) {
	for _, reason := range []string{"Unsupported", "Timeout", "HTTPStatus", "Redirected", "Unreachable", "TLSError"} {
		t.Run(reason, func(t *testing.T) {
			// As readSources builds it: a fetch error, so no bundle.
			c := selection.Evaluate("pki", sources.Material{}, &sources.Error{Reason: reason, Message: "provider down"},
				certs.Requirements{}, stNow)
			before, after := stCertSync(), stCertSync()
			s := stScope(after, cands(c))
			after.Status.Sources = sourceStatuses(s.candidates, nil)
			NewWithT(t).Expect(evKeys(allEvents(before, after, s))).To(Equal([]string{warning + v1alpha1.ReasonSourceUnavailable}))
		})
	}
}

// allEvents are the events a reconcile emits when its status is stored:
// its actions, then the transitions.
func allEvents(before, after *v1alpha1.CertSync, s *scope) []engine.Event {
	return append(actionEvents(s), transitionEvents(before, after, s)...)
}

// mailHost is the name the test certificates cover.
const mailHost = "mail.example.com"

func condMessage(cs *v1alpha1.CertSync, typ string) string {
	if c := meta.FindStatusCondition(cs.Status.Conditions, typ); c != nil {
		return c.Message
	}
	return ""
}
