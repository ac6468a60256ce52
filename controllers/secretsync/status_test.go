package secretsync

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/expiry"
	"certsync.io/certsync/internal/oauth2check"
	"certsync.io/certsync/internal/secretvalues"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// unitScope is a reconcile of a SecretSync whose target holds values
// expiring at notAfter (zero: unknown), with one usable source.
func unitScope(notAfter time.Time, now time.Time) *scope {
	ss := &v1alpha1.SecretSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "idp"},
		Spec: v1alpha1.SecretSyncSpec{
			Sources: []v1alpha1.SecretSyncSource{{Name: "legacy", Secret: &v1alpha1.SecretSyncSecretRef{Name: "legacy"}}},
			Keys:    []v1alpha1.SecretSyncKey{{From: "client_id", To: "CLIENT_ID"}, {From: "client_secret", To: "CLIENT_SECRET"}},
			Target:  v1alpha1.SecretSyncTarget{SecretName: "oauth-client"},
		},
	}
	c := secretvalues.Candidate{Source: "legacy", Valid: true, Reason: secretvalues.ReasonValid, Values: map[string][]byte{"CLIENT_ID": []byte("a")}, NotAfter: notAfter}
	c.SHA256 = secretvalues.Hash(c.Values)
	s := newScope(ss, now)
	s.candidates, s.winner, s.heldSource, s.heldNotAfter, s.synced, s.ro.Done = []secretvalues.Candidate{c}, 0, "legacy", notAfter, true, true
	s.ro.Held = c.SHA256
	return s
}

func reasons(evs []engine.Event) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.Reason)
	}
	return out
}

// TestSecretSyncExpiryEventsOncePerWindow walks a secret through its
// windows, reconciling several times in each: each window entered is one
// event, staying in it none.
func TestSecretSyncExpiryEventsOncePerWindow(t *testing.T) {
	g := NewWithT(t)
	notAfter := t0.Add(40 * 24 * time.Hour)
	var status v1alpha1.SecretSyncStatus
	steps := []struct {
		at     time.Duration
		reason string
		events []string
	}{
		{0, v1alpha1.ReasonNotExpiring, []string{}},
		{time.Hour, v1alpha1.ReasonNotExpiring, []string{}},
		{11 * 24 * time.Hour, string(expiry.Warning), []string{v1alpha1.ReasonSecretExpiringSoon}},
		{12 * 24 * time.Hour, string(expiry.Warning), []string{}},
		{34 * 24 * time.Hour, string(expiry.Critical), []string{v1alpha1.ReasonSecretExpiringSoon}},
		{35 * 24 * time.Hour, string(expiry.Critical), []string{}},
		{41 * 24 * time.Hour, string(expiry.Expired), []string{v1alpha1.ReasonSecretExpired}},
		{50 * 24 * time.Hour, string(expiry.Expired), []string{}},
	}
	for _, st := range steps {
		s := unitScope(notAfter, t0.Add(st.at))
		s.ss.Status = *status.DeepCopy()
		before := s.ss.DeepCopy()
		setSecretSyncStatus(s)
		g.Expect(condition(s.ss, v1alpha1.ConditionExpiringSoon).Reason).To(Equal(st.reason), "at +%s", st.at)
		g.Expect(reasons(secretSyncTransitions(before, s))).To(Equal(st.events), "at +%s", st.at)
		status = s.ss.Status
	}
	ready := condition(&v1alpha1.SecretSync{Status: status}, v1alpha1.ConditionReady)
	g.Expect(string(ready.Status) + "/" + ready.Reason).To(Equal("False/" + string(expiry.Expired)))
}

func TestSecretSyncStatusIsStable(t *testing.T) {
	g := NewWithT(t)
	s := unitScope(t0.Add(90*24*time.Hour+500*time.Millisecond), t0)
	s.wrote = true
	setSecretSyncStatus(s)
	first := s.ss.Status.DeepCopy()
	// A later reconcile of the same world: the same status, no event.
	again := unitScope(t0.Add(90*24*time.Hour+500*time.Millisecond), t0.Add(time.Minute))
	again.ss.Status = *first.DeepCopy()
	before := again.ss.DeepCopy()
	setSecretSyncStatus(again)
	g.Expect(again.ss.Status).To(Equal(*first))
	g.Expect(secretSyncTransitions(before, again)).To(BeEmpty())
	g.Expect(secretSyncActions(again)).To(BeEmpty())
	g.Expect(first.Secret.NotAfter.Time).To(Equal(t0.Add(90*24*time.Hour)), "whole seconds, as stored")
}

func TestSecretSyncVerifiedCondition(t *testing.T) {
	tests := []struct {
		name    string
		verdict oauth2check.Verdict
		want    metav1.ConditionStatus
		event   []string
	}{
		{"issued", oauth2check.Verdict{OK: true, Reason: v1alpha1.ReasonTokenIssued, Message: "ok"}, metav1.ConditionTrue, []string{v1alpha1.ReasonVerified}},
		{"refused", oauth2check.Verdict{Reason: v1alpha1.ReasonTokenRequestFailed, Message: "HTTP 401"}, metav1.ConditionFalse, []string{v1alpha1.ReasonVerificationFailed}},
		{"nothing yet", oauth2check.Verdict{Reason: v1alpha1.ReasonNothingToVerify}, metav1.ConditionUnknown, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			s := unitScope(time.Time{}, t0)
			s.verify = &tokenCheck{verdict: tt.verdict, at: t0, again: time.Hour}
			before := s.ss.DeepCopy()
			setSecretSyncStatus(s)
			c := condition(s.ss, v1alpha1.ConditionVerified)
			g.Expect(c.Status).To(Equal(tt.want))
			g.Expect(reasons(secretSyncTransitions(before, s))).To(Equal(tt.event))
			ready := condition(s.ss, v1alpha1.ConditionReady)
			g.Expect(ready.Status == metav1.ConditionTrue).To(Equal(tt.verdict.OK))

			// The verification removed from the spec: no stale condition.
			s.verify = nil
			setSecretSyncStatus(s)
			g.Expect(condition(s.ss, v1alpha1.ConditionVerified).Type).To(BeEmpty())
		})
	}
}

func TestSecretSyncRequeue(t *testing.T) {
	g := NewWithT(t)
	// Nothing pending: the safety net.
	g.Expect(secretSyncRequeue(unitScope(time.Time{}, t0))).To(Equal(engine.MaxRequeue))
	// A source expiring soon changes the winner then.
	s := unitScope(time.Time{}, t0)
	s.candidates = append(s.candidates, secretvalues.Candidate{Source: "other", Valid: true, NotAfter: t0.Add(3 * time.Hour)})
	g.Expect(secretSyncRequeue(s)).To(Equal(3*time.Hour + time.Nanosecond))
	// The next token request.
	s.verify = &tokenCheck{at: t0.Add(-50 * time.Minute), again: time.Hour}
	g.Expect(secretSyncRequeue(s)).To(Equal(10 * time.Minute))
	// A rollout to follow.
	s.ro.State.Pending = []string{"Deployment/mailer: restart requested"}
	g.Expect(secretSyncRequeue(s)).To(Equal(engine.RollingRequeue))
}

func condition(ss *v1alpha1.SecretSync, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(ss.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// TestRequeueAtExpiryBoundaries: the reconciler wakes itself at the next
// expiry window boundary of what the target holds, whatever else happens.
func TestRequeueAtExpiryBoundaries(t *testing.T) {
	g := NewWithT(t)
	notAfter := t0.Add(40 * 24 * time.Hour)
	for _, boundary := range []time.Time{notAfter.Add(-expiry.DefaultWarnBefore), notAfter.Add(-expiry.DefaultCriticalBefore), notAfter} {
		s := unitScope(notAfter, boundary.Add(-time.Hour))
		g.Expect(secretSyncRequeue(s)).To(BeNumerically("~", time.Hour, time.Millisecond), "requeued for %v", boundary)
	}
}
