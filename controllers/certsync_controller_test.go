package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
)

func TestCreateWritesTarget(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	p := validPair(t, time.Now().Add(-time.Hour), 1)
	mustCreate(t, sourceSecret(ns, "legacy", p.ChainPEM, p.KeyPEM))
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("legacy", "legacy", ""), withDNSNames(mailHost)))

	cs := waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	tgt := getSecret(g, ns, "mail-tls")
	g.Expect(tgt.Type).To(Equal(corev1.SecretTypeTLS))
	g.Expect(tgt.Labels).To(HaveKeyWithValue(v1alpha1.LabelManagedBy, v1alpha1.ManagedByValue))
	g.Expect(tgt.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationOwner, "mail"))
	g.Expect(tgt.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationSHA256, certs.Fingerprint(p.Cert)))
	g.Expect(tgt.OwnerReferences).To(BeEmpty(), "an owner reference would let the garbage collector delete the target")
	served, err := certs.ParseBundle(tgt.Data["tls.crt"], tgt.Data["tls.key"], nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(served.SHA256()).To(Equal(certs.Fingerprint(p.Cert)))

	g.Expect(cs.Status.ObservedGeneration).To(Equal(cs.Generation))
	g.Expect(cs.Status.Certificate).NotTo(BeNil())
	g.Expect(cs.Status.Certificate.Source).To(Equal("legacy"))
	g.Expect(cs.Status.Certificate.SHA256).To(Equal(certs.Fingerprint(p.Cert)))
	g.Expect(cs.Status.Certificate.DNSNames).To(ConsistOf(mailHost))
	g.Expect(cs.Status.Certificate.NotAfter.Time).To(BeTemporally("==", p.Cert.NotAfter))
	g.Expect(cs.Status.LastSyncTime).NotTo(BeNil())
	g.Expect(cs.Status.Sources).To(HaveLen(1))
	g.Expect(cs.Status.Sources[0].Ready).To(BeTrue())
	for _, typ := range []string{v1alpha1.ConditionSourcesReady, v1alpha1.ConditionSynced} {
		st, _ := condition(cs, typ)
		g.Expect(st).To(Equal(metav1.ConditionTrue), typ)
	}
	g.Eventually(func(g Gomega) {
		g.Expect(eventReasons(eventsFor(g, ns, "mail"))).To(HaveKeyWithValue(v1alpha1.ReasonSynced, 1))
	}, eventually, poll).Should(Succeed())
}

func TestRenewalUpdatesTargetAndKeepsForeignKeys(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	old := validPair(t, time.Now().Add(-48*time.Hour), 1)
	mustCreate(t, sourceSecret(ns, "legacy", old.ChainPEM, old.KeyPEM))
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("legacy", "legacy", "")))
	waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)

	// A user adds a key of their own to the target: certsync must keep it.
	tgt := getSecret(g, ns, "mail-tls")
	tgt.Data["dhparams.pem"] = []byte("user data")
	g.Expect(k8s.Update(context.Background(), tgt)).To(Succeed())

	renewed := validPair(t, time.Now().Add(-time.Hour), 2)
	updateSecretData(t, ns, "legacy", map[string][]byte{"tls.crt": renewed.ChainPEM, "tls.key": renewed.KeyPEM})

	g.Eventually(func(g Gomega) {
		tgt := getSecret(g, ns, "mail-tls")
		g.Expect(tgt.Annotations[v1alpha1.AnnotationSHA256]).To(Equal(certs.Fingerprint(renewed.Cert)))
		g.Expect(tgt.Data["dhparams.pem"]).To(Equal([]byte("user data")))
		cs := getCertSync(g, ns, "mail")
		g.Expect(cs.Status.Certificate.SerialNumber).To(Equal(certs.SerialHex(renewed.Cert)))
	}, eventually, poll).Should(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(eventReasons(eventsFor(g, ns, "mail"))).To(HaveKeyWithValue(v1alpha1.ReasonSynced, 2))
	}, eventually, poll).Should(Succeed())
}

// badInputCases are source contents that must never reach the target.
func badInputCases(t *testing.T) []struct {
	name, reason string
	data         map[string][]byte
} {
	now := time.Now()
	good := validPair(t, now.Add(-time.Hour), 10)
	other := validPair(t, now.Add(-time.Hour), 11)
	expired := certstest.New(t, certstest.WithDNSNames(mailHost), certstest.WithValidity(now.Add(-48*time.Hour), now.Add(-time.Hour)))
	future := certstest.New(t, certstest.WithDNSNames(mailHost), certstest.WithValidity(now.Add(24*time.Hour), now.Add(48*time.Hour)))
	wrongName := certstest.New(t, certstest.WithDNSNames("www.example.org"), certstest.WithValidity(now.Add(-time.Hour), now.Add(48*time.Hour)))
	return []struct {
		name, reason string
		data         map[string][]byte
	}{
		{"garbage", certs.ReasonNotPEM, map[string][]byte{"tls.crt": []byte("\x00\x01garbage"), "tls.key": good.KeyPEM}},
		{"html", certs.ReasonNotPEM, map[string][]byte{"tls.crt": []byte("<html><body>Login required</body></html>"), "tls.key": good.KeyPEM}},
		{"truncated", certs.ReasonParseError, map[string][]byte{"tls.crt": good.CertPEM[:len(good.CertPEM)/2], "tls.key": good.KeyPEM}},
		{"wrong key", certs.ReasonKeyMismatch, map[string][]byte{"tls.crt": good.CertPEM, "tls.key": other.KeyPEM}},
		{"expired", certs.ReasonExpired, map[string][]byte{"tls.crt": expired.CertPEM, "tls.key": expired.KeyPEM}},
		{"not yet valid", certs.ReasonNotYetValid, map[string][]byte{"tls.crt": future.CertPEM, "tls.key": future.KeyPEM}},
		{"wrong dns name", certs.ReasonDNSNameMismatch, map[string][]byte{"tls.crt": wrongName.CertPEM, "tls.key": wrongName.KeyPEM}},
		{"empty", certs.ReasonEmpty, map[string][]byte{"tls.crt": {}, "tls.key": good.KeyPEM}},
	}
}

func TestBadInputLeavesTargetUntouched(t *testing.T) {
	ns := newNamespace(t)
	first := validPair(t, time.Now().Add(-2*time.Hour), 1)
	mustCreate(t, sourceSecret(ns, "legacy", first.ChainPEM, first.KeyPEM))
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("legacy", "legacy", ""), withDNSNames(mailHost)))
	waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	before := getSecret(NewWithT(t), ns, "mail-tls")

	for _, tc := range badInputCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			updateSecretData(t, ns, "legacy", tc.data)
			g.Eventually(func(g Gomega) {
				cs := getCertSync(g, ns, "mail")
				g.Expect(cs.Status.Sources).To(HaveLen(1))
				g.Expect(cs.Status.Sources[0].Reason).To(Equal(tc.reason), cs.Status.Sources[0].Message)
				st, reason := condition(cs, v1alpha1.ConditionSynced)
				g.Expect(string(st) + "/" + reason).To(Equal("False/" + v1alpha1.ReasonNoValidSource))
				st, _ = condition(cs, v1alpha1.ConditionReady)
				g.Expect(st).To(Equal(metav1.ConditionFalse))
			}, eventually, poll).Should(Succeed())
			after := getSecret(g, ns, "mail-tls")
			g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion), "target must stay untouched")
			g.Expect(after.Data).To(Equal(before.Data))
			g.Eventually(func(g Gomega) {
				found := false
				for _, e := range eventsFor(g, ns, "mail") {
					if e.Reason == v1alpha1.ReasonValidationFailed && strings.Contains(e.Note, tc.reason) {
						found = true
					}
					g.Expect(e.Note).NotTo(ContainSubstring("PRIVATE KEY"))
				}
				g.Expect(found).To(BeTrue(), "a ValidationFailed event naming %s", tc.reason)
			}, eventually, poll).Should(Succeed())
		})
	}

	// And the operator recovers as soon as the source is good again.
	renewed := validPair(t, time.Now().Add(-time.Hour), 3)
	updateSecretData(t, ns, "legacy", map[string][]byte{"tls.crt": renewed.ChainPEM, "tls.key": renewed.KeyPEM})
	waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	NewWithT(t).Expect(getSecret(NewWithT(t), ns, "mail-tls").Annotations[v1alpha1.AnnotationSHA256]).To(Equal(certs.Fingerprint(renewed.Cert)))
}

func TestOlderCertificateIsRefused(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	newer := validPair(t, time.Now().Add(-time.Hour), 2)
	mustCreate(t, sourceSecret(ns, "legacy", newer.ChainPEM, newer.KeyPEM))
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("legacy", "legacy", "")))
	waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	before := getSecret(g, ns, "mail-tls")

	older := validPair(t, time.Now().Add(-72*time.Hour), 1)
	updateSecretData(t, ns, "legacy", map[string][]byte{"tls.crt": older.ChainPEM, "tls.key": older.KeyPEM})
	waitCondition(t, ns, "mail", v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonDowngradeRefused)
	after := getSecret(g, ns, "mail-tls")
	g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion))
	g.Eventually(func(g Gomega) {
		g.Expect(eventReasons(eventsFor(g, ns, "mail"))).To(HaveKeyWithValue(v1alpha1.ReasonDowngradeRefused, 1))
	}, eventually, poll).Should(Succeed())

	// Allowing downgrades is an explicit choice.
	cs := getCertSync(g, ns, "mail")
	cs.Spec.Validation.AllowDowngrade = true
	g.Expect(k8s.Update(context.Background(), cs)).To(Succeed())
	waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	g.Expect(getSecret(g, ns, "mail-tls").Annotations[v1alpha1.AnnotationSHA256]).To(Equal(certs.Fingerprint(older.Cert)))
}

func TestSourceDeletedKeepsTarget(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	p := validPair(t, time.Now().Add(-time.Hour), 1)
	src := sourceSecret(ns, "legacy", p.ChainPEM, p.KeyPEM)
	mustCreate(t, src)
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("legacy", "legacy", "")))
	waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	before := getSecret(g, ns, "mail-tls")

	g.Expect(k8s.Delete(context.Background(), src)).To(Succeed())
	cs := waitCondition(t, ns, "mail", v1alpha1.ConditionSourcesReady, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource)
	g.Expect(cs.Status.Sources[0].Reason).To(Equal("NotFound"))
	g.Expect(cs.Status.Sources[0].Message).To(ContainSubstring("legacy"))
	// The target still holds the last good certificate, and status says so.
	g.Expect(cs.Status.Certificate.SHA256).To(Equal(certs.Fingerprint(p.Cert)))
	after := getSecret(g, ns, "mail-tls")
	g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion))
	g.Eventually(func(g Gomega) {
		g.Expect(eventReasons(eventsFor(g, ns, "mail"))).To(HaveKeyWithValue(v1alpha1.ReasonSourceUnavailable, 1))
	}, eventually, poll).Should(Succeed())
}

func TestCrossNamespaceSourceNeedsConsent(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	pki := newNamespace(t)
	p := validPair(t, time.Now().Add(-time.Hour), 1)
	src := sourceSecret(pki, "drop", p.ChainPEM, p.KeyPEM)
	mustCreate(t, src)
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("legacy", "drop", pki)))

	cs := waitCondition(t, ns, "mail", v1alpha1.ConditionSourcesReady, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource)
	g.Expect(cs.Status.Sources[0].Reason).To(Equal("NotPermitted"))
	g.Expect(cs.Status.Sources[0].Message).To(ContainSubstring(v1alpha1.AnnotationAllowedNamespaces))
	var tgt corev1.Secret
	err := k8s.Get(context.Background(), objKey(ns, "mail-tls"), &tgt)
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "nothing may be copied without consent")

	// Consent for another namespace is not consent for this one.
	g.Eventually(func(g Gomega) {
		s := getSecret(g, pki, "drop")
		s.Annotations = map[string]string{v1alpha1.AnnotationAllowedNamespaces: "someone-else"}
		g.Expect(k8s.Update(context.Background(), s)).To(Succeed())
	}, eventually, poll).Should(Succeed())
	g.Consistently(func(g Gomega) {
		err := k8s.Get(context.Background(), objKey(ns, "mail-tls"), &tgt)
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
	}, 2*time.Second, poll).Should(Succeed())

	g.Eventually(func(g Gomega) {
		s := getSecret(g, pki, "drop")
		s.Annotations = map[string]string{v1alpha1.AnnotationAllowedNamespaces: "someone-else, " + ns}
		g.Expect(k8s.Update(context.Background(), s)).To(Succeed())
	}, eventually, poll).Should(Succeed())
	waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	g.Expect(getSecret(g, ns, "mail-tls").Annotations[v1alpha1.AnnotationSHA256]).To(Equal(certs.Fingerprint(p.Cert)))
}

func TestTwoCertSyncsOnOneTargetConflictWithoutFlapping(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	a := validPair(t, time.Now().Add(-2*time.Hour), 1)
	b := validPair(t, time.Now().Add(-time.Hour), 2)
	mustCreate(t, sourceSecret(ns, "src-a", a.ChainPEM, a.KeyPEM))
	mustCreate(t, sourceSecret(ns, "src-b", b.ChainPEM, b.KeyPEM))
	mustCreate(t, newCertSync(ns, "first", withSecretSource("a", "src-a", "")))
	waitCondition(t, ns, "first", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	mustCreate(t, newCertSync(ns, "second", withSecretSource("b", "src-b", "")))
	cs := waitCondition(t, ns, "second", v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonTargetConflict)
	g.Expect(conditionMessage(cs, v1alpha1.ConditionSynced)).To(ContainSubstring(`"first"`))

	before := getSecret(g, ns, "mail-tls")
	// Wake both CertSyncs repeatedly: neither may write.
	for i := range 3 {
		for _, name := range []string{"src-a", "src-b"} {
			g.Eventually(func(g Gomega) {
				s := getSecret(g, ns, name)
				s.Labels = map[string]string{"touch": string(rune('a' + i))}
				g.Expect(k8s.Update(context.Background(), s)).To(Succeed())
			}, eventually, poll).Should(Succeed())
		}
	}
	g.Consistently(func(g Gomega) {
		after := getSecret(g, ns, "mail-tls")
		g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion))
		g.Expect(after.Annotations[v1alpha1.AnnotationOwner]).To(Equal("first"))
	}, 3*time.Second, poll).Should(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(eventReasons(eventsFor(g, ns, "second"))).To(HaveKeyWithValue(v1alpha1.ReasonTargetConflict, 1))
	}, eventually, poll).Should(Succeed())
}

func TestUnmanagedTargetIsNeverAdopted(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	p := validPair(t, time.Now().Add(-time.Hour), 1)
	mustCreate(t, sourceSecret(ns, "legacy", p.ChainPEM, p.KeyPEM))
	users := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mail-tls"},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"password": []byte("hunter2")},
	}
	mustCreate(t, users)
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("legacy", "legacy", "")))
	cs := waitCondition(t, ns, "mail", v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonTargetConflict)
	g.Expect(cs.Status.Certificate).To(BeNil())
	after := getSecret(g, ns, "mail-tls")
	g.Expect(after.Data).To(Equal(users.Data))
	g.Expect(after.ResourceVersion).To(Equal(users.ResourceVersion))
}

func TestDeletingCertSyncKeepsTarget(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	p := validPair(t, time.Now().Add(-time.Hour), 1)
	mustCreate(t, sourceSecret(ns, "legacy", p.ChainPEM, p.KeyPEM))
	cs := newCertSync(ns, "mail", withSecretSource("legacy", "legacy", ""))
	mustCreate(t, cs)
	waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	before := getSecret(g, ns, "mail-tls")

	g.Expect(k8s.Delete(context.Background(), cs)).To(Succeed())
	g.Eventually(func() bool {
		err := k8s.Get(context.Background(), objKey(ns, "mail"), &v1alpha1.CertSync{})
		return apierrors.IsNotFound(err)
	}, eventually, poll).Should(BeTrue())
	// A change to the source after deletion must not touch the target either.
	renewed := validPair(t, time.Now().Add(-time.Minute), 2)
	updateSecretData(t, ns, "legacy", map[string][]byte{"tls.crt": renewed.ChainPEM, "tls.key": renewed.KeyPEM})
	g.Consistently(func(g Gomega) {
		after := getSecret(g, ns, "mail-tls")
		g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion))
	}, 2*time.Second, poll).Should(Succeed())
}

func TestSteadyStateMakesNoWrites(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	p := validPair(t, time.Now().Add(-time.Hour), 1)
	mustCreate(t, sourceSecret(ns, "legacy", p.ChainPEM, p.KeyPEM))
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("legacy", "legacy", ""), withDNSNames(mailHost)))
	waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	// Let the echo of our own writes (target and status events) settle.
	var settled int64
	g.Eventually(func() bool {
		w := writes.get(ns)
		stable := w == settled
		settled = w
		return stable
	}, eventually, time.Second).Should(BeTrue())

	// Each metadata change of the source wakes the CertSync; none may write.
	start := reconcileCount(t)
	for i := range 5 {
		g.Eventually(func(g Gomega) {
			s := getSecret(g, ns, "legacy")
			s.Labels = map[string]string{"touch": strings.Repeat("x", i+1)}
			g.Expect(k8s.Update(context.Background(), s)).To(Succeed())
		}, eventually, poll).Should(Succeed())
	}
	g.Eventually(func() float64 { return reconcileCount(t) - start }, eventually, poll).Should(BeNumerically(">=", 5))
	g.Expect(writes.get(ns)).To(Equal(settled), "steady state must make no API writes")
	t.Logf("writes to reach steady state: %d; writes during %v steady reconciles: %d", settled, reconcileCount(t)-start, writes.get(ns)-settled)
}

func TestSuspendStopsWrites(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	p := validPair(t, time.Now().Add(-2*time.Hour), 1)
	mustCreate(t, sourceSecret(ns, "legacy", p.ChainPEM, p.KeyPEM))
	cs := newCertSync(ns, "mail", withSecretSource("legacy", "legacy", ""))
	cs.Spec.Suspend = true
	mustCreate(t, cs)
	waitCondition(t, ns, "mail", v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonSuspended)
	g.Expect(apierrors.IsNotFound(k8s.Get(context.Background(), objKey(ns, "mail-tls"), &corev1.Secret{}))).To(BeTrue())

	cs = getCertSync(g, ns, "mail")
	cs.Spec.Suspend = false
	g.Expect(k8s.Update(context.Background(), cs)).To(Succeed())
	waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
}

func TestNewestValidSourceWins(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	stale := validPair(t, time.Now().Add(-30*24*time.Hour), 1)
	fresh := validPair(t, time.Now().Add(-time.Hour), 2)
	mustCreate(t, sourceSecret(ns, "stale", stale.ChainPEM, stale.KeyPEM))
	mustCreate(t, sourceSecret(ns, "fresh", fresh.ChainPEM, fresh.KeyPEM))
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("stale", "stale", ""), withSecretSource("fresh", "fresh", ""),
		withSecretSource("missing", "does-not-exist", "")))
	cs := waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	g.Expect(cs.Status.Certificate.Source).To(Equal("fresh"))
	st, reason := condition(cs, v1alpha1.ConditionSourcesReady)
	g.Expect(string(st) + "/" + reason).To(Equal("False/" + v1alpha1.ReasonSourcesDegraded))
	g.Expect(conditionMessage(cs, v1alpha1.ConditionSourcesReady)).To(ContainSubstring("missing"))
}

func TestCRDValidation(t *testing.T) {
	ns := newNamespace(t)
	neg := metav1.Duration{Duration: -time.Hour}
	tests := []struct {
		name string
		mod  func(*v1alpha1.CertSync)
		want string
	}{
		{"no sources", func(cs *v1alpha1.CertSync) { cs.Spec.Sources = nil }, "spec.sources"},
		{"no source kind", func(cs *v1alpha1.CertSync) { cs.Spec.Sources = []v1alpha1.CertSource{{Name: "x"}} }, "exactly one source kind"},
		{"duplicate names", func(cs *v1alpha1.CertSync) {
			s := v1alpha1.CertSource{Name: "dup", Secret: &v1alpha1.SecretSource{Name: "a"}}
			cs.Spec.Sources = []v1alpha1.CertSource{s, s}
		}, "Duplicate value"},
		{"bad source name", func(cs *v1alpha1.CertSync) { cs.Spec.Sources[0].Name = "Not_A_Label" }, "spec.sources[0].name"},
		{"negative duration", func(cs *v1alpha1.CertSync) { cs.Spec.Validation.MinRemainingValidity = &neg }, "minRemainingValidity must be positive"},
		{"negative restart interval", func(cs *v1alpha1.CertSync) { cs.Spec.Rollout.MinRestartInterval = &neg }, "minRestartInterval must not be negative"},
		{"no target", func(cs *v1alpha1.CertSync) { cs.Spec.Target.SecretName = "" }, "spec.target.secretName"},
		{"empty verify selector", func(cs *v1alpha1.CertSync) { cs.Spec.Verify.Selector = &metav1.LabelSelector{} }, "an empty selector matches every pod"},
		{"verify selector with empty lists", func(cs *v1alpha1.CertSync) {
			cs.Spec.Verify.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{}, MatchExpressions: []metav1.LabelSelectorRequirement{}}
		}, "an empty selector matches every pod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := newCertSync(ns, "invalid", withSecretSource("legacy", "legacy", ""))
			tt.mod(cs)
			err := k8s.Create(context.Background(), cs)
			NewWithT(t).Expect(err).To(HaveOccurred())
			NewWithT(t).Expect(err.Error()).To(ContainSubstring(tt.want))
		})
	}
	// Defaults are applied by the API server.
	g := NewWithT(t)
	cs := newCertSync(ns, "defaults", withSecretSource("legacy", "legacy", ""))
	g.Expect(k8s.Create(context.Background(), cs)).To(Succeed())
	g.Expect(cs.Spec.Sources[0].Secret.CertKey).To(Equal("tls.crt"))
	g.Expect(cs.Spec.Sources[0].Secret.KeyKey).To(Equal("tls.key"))
	g.Expect(cs.Spec.Sources[0].Secret.CAKey).To(Equal("ca.crt"))
	g.Expect(cs.Spec.Rollout.MinRestartInterval).To(Equal(&metav1.Duration{Duration: 10 * time.Minute}))
}
