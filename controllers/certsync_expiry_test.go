package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs/certstest"
)

// TestExpiryWindows moves the controller's clock across a certificate's
// warning, critical and expiry boundaries: each window entered sets the
// condition and emits exactly one event, however often the CertSync is
// reconciled inside it.
func TestExpiryWindows(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	now := time.Now()
	p := certstest.New(t, certstest.WithDNSNames(mailHost), certstest.WithValidity(now.Add(-time.Hour), now.Add(40*24*time.Hour)))
	mustCreate(t, sourceSecret(ns, "legacy", p.ChainPEM, p.KeyPEM))
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("legacy", "legacy", "")))
	cs := waitCondition(t, ns, "mail", v1alpha1.ConditionExpiringSoon, metav1.ConditionFalse, v1alpha1.ReasonNotExpiring)
	g.Expect(conditionMessage(cs, v1alpha1.ConditionExpiringSoon)).To(ContainSubstring("outside the warning window"))

	steps := []struct {
		shift  time.Duration
		status metav1.ConditionStatus
		reason string
		event  string
	}{
		{15 * 24 * time.Hour, metav1.ConditionTrue, v1alpha1.ReasonWithinWarn, v1alpha1.ReasonCertificateExpiringSoon},
		{35 * 24 * time.Hour, metav1.ConditionTrue, v1alpha1.ReasonWithinCrit, v1alpha1.ReasonCertificateExpiringSoon},
		{41 * 24 * time.Hour, metav1.ConditionTrue, v1alpha1.ReasonExpired, v1alpha1.ReasonCertificateExpired},
	}
	want := map[string]int{}
	clk := clocks.shifted(t, ns)
	for i, step := range steps {
		clk.shift(step.shift)
		// Wake the CertSync a few times inside the window.
		for j := range 3 {
			touchSecret(t, ns, "legacy", i*10+j)
		}
		cs := waitCondition(t, ns, "mail", v1alpha1.ConditionExpiringSoon, step.status, step.reason)
		g.Expect(conditionMessage(cs, v1alpha1.ConditionExpiringSoon)).To(ContainSubstring("Secret mail-tls"))
		want[step.event]++
		g.Eventually(func(g Gomega) {
			got := eventReasons(eventsFor(g, ns, "mail"))
			g.Expect(got[v1alpha1.ReasonCertificateExpiringSoon]).To(Equal(want[v1alpha1.ReasonCertificateExpiringSoon]))
			g.Expect(got[v1alpha1.ReasonCertificateExpired]).To(Equal(want[v1alpha1.ReasonCertificateExpired]))
		}, eventually, poll).Should(Succeed())
		g.Consistently(func(g Gomega) {
			got := eventReasons(eventsFor(g, ns, "mail"))
			g.Expect(got[step.event]).To(Equal(want[step.event]), "one event per window entered")
		}, time.Second, poll).Should(Succeed())
	}
}

// TestEarliestDeadlineWins: a source nobody renews any more warns even
// though the target holds a fresh certificate.
func TestEarliestDeadlineWins(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	now := time.Now()
	fresh := certstest.New(t, certstest.WithDNSNames(mailHost), certstest.WithValidity(now.Add(-time.Hour), now.Add(90*24*time.Hour)))
	dying := certstest.New(t, certstest.WithDNSNames(mailHost), certstest.WithValidity(now.Add(-80*24*time.Hour), now.Add(3*24*time.Hour)))
	mustCreate(t, sourceSecret(ns, "fresh", fresh.ChainPEM, fresh.KeyPEM))
	mustCreate(t, sourceSecret(ns, "old", dying.ChainPEM, dying.KeyPEM))
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("fresh", "fresh", ""), withSecretSource("old", "old", "")))
	cs := waitCondition(t, ns, "mail", v1alpha1.ConditionExpiringSoon, metav1.ConditionTrue, v1alpha1.ReasonWithinCrit)
	g.Expect(conditionMessage(cs, v1alpha1.ConditionExpiringSoon)).To(ContainSubstring("source old"))
	g.Expect(cs.Status.Certificate.Source).To(Equal("fresh"))
	ready, _ := condition(cs, v1alpha1.ConditionReady)
	g.Expect(ready).To(Equal(metav1.ConditionTrue), "an expiring source warns; it does not make the CertSync unready")
}

func touchSecret(t *testing.T, ns, name string, n int) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		s := getSecret(g, ns, name)
		s.Labels = map[string]string{"touch": strings.Repeat("x", n+1)}
		g.Expect(k8s.Update(context.Background(), s)).To(Succeed())
	}, eventually, poll).Should(Succeed())
}
