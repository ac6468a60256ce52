package controllers

import (
	"context"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/sources"
	"certsync.io/certsync/test/cluster"
)

// TestIssuanceInFlightIsWatchedNotPolled: with cert-manager's CRD
// installed (as in the shared test cluster), a CertSync whose Certificate
// is being issued makes no API requests while it waits, and the
// Certificate turning Ready wakes it through the watch.
func TestIssuanceInFlightIsWatchedNotPolled(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	first := validPair(t, time.Now().Add(-time.Hour), 1)
	mustCreate(t, &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mail"},
		Spec: cmapi.CertificateSpec{SecretName: "mail-cm", DNSNames: []string{mailHost},
			IssuerRef: cmmeta.IssuerReference{Name: "ca", Kind: "Issuer"}},
	})
	mustCreate(t, sourceSecret(ns, "mail-cm", first.ChainPEM, first.KeyPEM, func(s *corev1.Secret) {
		s.Annotations = map[string]string{cmapi.CertificateNameKey: "mail"}
	}))
	setCertificateConditions(t, ns, "mail", cmmeta.ConditionTrue, cmmeta.ConditionFalse)
	mustCreate(t, newCertSync(ns, "mail", func(cs *v1alpha1.CertSync) {
		cs.Spec.Sources = []v1alpha1.CertSource{{Name: "cm", Certificate: &v1alpha1.CertificateSource{Name: "mail"}}}
	}))
	waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)

	setCertificateConditions(t, ns, "mail", cmmeta.ConditionFalse, cmmeta.ConditionTrue)
	renewed := validPair(t, time.Now().Add(-time.Minute), 2)
	updateSecretData(t, ns, "mail-cm", map[string][]byte{"tls.crt": renewed.ChainPEM, "tls.key": renewed.KeyPEM})
	cs := waitCondition(t, ns, "mail", v1alpha1.ConditionSourcesReady, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource)
	g.Expect(sourceStatus(cs, "cm").Reason).To(Equal(sources.ReasonIssuing))

	// Settled: longer than the 5 s an unwatched issuance is polled at, not
	// one request.
	g.Eventually(func(g Gomega) {
		before := apiRequests.get(ns)
		g.Consistently(func() int64 { return apiRequests.get(ns) }, time.Second, poll).Should(Equal(before), "still settling")
	}, eventually, poll).Should(Succeed())
	settled := apiRequests.get(ns)
	g.Consistently(func() int64 { return apiRequests.get(ns) }, 7*time.Second, poll).Should(Equal(settled), "no polling while the issuance is in flight")

	setCertificateConditions(t, ns, "mail", cmmeta.ConditionTrue, cmmeta.ConditionFalse)
	g.Eventually(func(g Gomega) {
		g.Expect(getSecret(g, ns, "mail-tls").Annotations[v1alpha1.AnnotationSHA256]).To(Equal(certs.Fingerprint(renewed.Cert)))
	}, eventually, poll).Should(Succeed())
}

// TestStartsWithoutCertManager: against an API server without
// cert-manager's CRD, the operator as main.go sets it up starts, syncs a
// CertSync from a Secret, and reports a Certificate source as
// NoCertManager.
func TestStartsWithoutCertManager(t *testing.T) {
	g := NewWithT(t)
	env, err := cluster.NewEnvironment()
	g.Expect(err).NotTo(HaveOccurred())
	cfg, err := env.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: testScheme})
	g.Expect(err).NotTo(HaveOccurred())

	opts := ManagerOptions(testScheme)
	opts.Metrics = metricsserver.Options{BindAddress: "0"}
	opts.HealthProbeBindAddress = "0"
	// The shared test manager runs controllers of the same names.
	opts.Controller = config.Controller{SkipNameValidation: ptr.To(true)}
	mgr, err := ctrl.NewManager(cfg, opts)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(SetupWithManager(mgr, Options{})).To(Succeed())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		g.Expect(<-done).To(Succeed())
	})

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	g.Expect(c.Create(ctx, ns)).To(Succeed())
	p := validPair(t, time.Now().Add(-time.Hour), 1)
	g.Expect(c.Create(ctx, sourceSecret(ns.Name, "legacy", p.ChainPEM, p.KeyPEM))).To(Succeed())
	g.Expect(c.Create(ctx, newCertSync(ns.Name, "mail", withSecretSource("legacy", "legacy", "")))).To(Succeed())
	g.Expect(c.Create(ctx, newCertSync(ns.Name, "cm", withTarget("cm-tls"), func(cs *v1alpha1.CertSync) {
		cs.Spec.Sources = []v1alpha1.CertSource{{Name: "cm", Certificate: &v1alpha1.CertificateSource{Name: "mail"}}}
	}))).To(Succeed())

	g.Eventually(func(g Gomega) {
		var secret corev1.Secret
		g.Expect(c.Get(ctx, objKey(ns.Name, "mail-tls"), &secret)).To(Succeed())
		g.Expect(secret.Annotations[v1alpha1.AnnotationSHA256]).To(Equal(certs.Fingerprint(p.Cert)))
	}, eventually, poll).Should(Succeed())
	g.Eventually(func(g Gomega) {
		var cs v1alpha1.CertSync
		g.Expect(c.Get(ctx, objKey(ns.Name, "cm"), &cs)).To(Succeed())
		g.Expect(cs.Status.Sources).To(HaveLen(1))
		g.Expect(cs.Status.Sources[0].Reason).To(Equal(sources.ReasonNoCertManager))
	}, eventually, poll).Should(Succeed())
}
