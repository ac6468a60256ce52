package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/consent"
	"certsync.io/certsync/internal/sources"
)

// request sets a request annotation as `kubectl certsync verify|renew` does
// (a merge patch of metadata only: the generation does not move) and waits
// until status says it was served.
func request(t *testing.T, ns, name, key string) *v1alpha1.CertSync {
	t.Helper()
	g := NewWithT(t)
	value := time.Now().UTC().Format(time.RFC3339Nano)
	before := getCertSync(g, ns, name)
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, key, value))
	g.Expect(k8s.Patch(context.Background(), before, client.RawPatch("application/merge-patch+json", patch))).To(Succeed())
	var cs *v1alpha1.CertSync
	g.Eventually(func(g Gomega) {
		cs = getCertSync(g, ns, name)
		g.Expect(cs.Status.LastHandledRequests).NotTo(BeNil())
		h := cs.Status.LastHandledRequests.Verify
		if key == v1alpha1.AnnotationRenewRequested {
			h = cs.Status.LastHandledRequests.Renew
		}
		g.Expect(h).To(Equal(value))
	}, eventually, poll).Should(Succeed())
	g.Expect(cs.Generation).To(Equal(before.Generation), "an annotation is no spec change")
	return cs
}

func TestRenewRequestBypassesRefreshInterval(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	srv := newPKIServer(t)
	first := validPair(t, time.Now().Add(-time.Hour), 1)
	srv.set(bundle(first), 0, "")
	createPKICA(t, ns, srv)
	mustCreate(t, newCertSync(ns, "mail", withHTTPSSource("pki", srv, time.Hour)))
	waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)

	// The PKI renews; the next scheduled fetch is an hour away.
	renewed := validPair(t, time.Now().Add(-time.Minute), 2)
	srv.set(bundle(renewed), 0, "")
	requests, _ := srv.counts()
	g.Consistently(func() int { r, _ := srv.counts(); return r }, 2*time.Second, poll).Should(Equal(requests), "not due before an hour")

	request(t, ns, "mail", v1alpha1.AnnotationRenewRequested)
	g.Eventually(func(g Gomega) {
		g.Expect(getSecret(g, ns, "mail-tls").Annotations[v1alpha1.AnnotationSHA256]).To(Equal(certs.Fingerprint(renewed.Cert)))
	}, eventually, poll).Should(Succeed())

	// Served once: no fetch until the interval, no writes.
	after, _ := srv.counts()
	w := writes.get(ns)
	g.Consistently(func() int { r, _ := srv.counts(); return r }, 2*time.Second, poll).Should(Equal(after))
	g.Expect(writes.get(ns)).To(Equal(w), "a served request makes no more writes")
}

func TestRenewRequestAsksCertManagerToReissue(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	first := validPair(t, time.Now().Add(-time.Hour), 1)
	mustCreate(t, &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mail"},
		Spec: cmapi.CertificateSpec{SecretName: "mail-cm", DNSNames: []string{mailHost},
			IssuerRef: cmmeta.IssuerReference{Name: "ca", Kind: "Issuer"}},
	})
	mustCreate(t, sourceSecret(ns, "mail-cm", first.ChainPEM, first.KeyPEM))
	setCertificateConditions(t, ns, "mail", cmmeta.ConditionTrue, cmmeta.ConditionFalse)
	mustCreate(t, newCertSync(ns, "mail", func(cs *v1alpha1.CertSync) {
		cs.Spec.Sources = []v1alpha1.CertSource{{Name: "cm", Certificate: &v1alpha1.CertificateSource{Name: "mail"}}}
	}))
	waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)

	cs := request(t, ns, "mail", v1alpha1.AnnotationRenewRequested)
	var crt cmapi.Certificate
	g.Expect(k8s.Get(context.Background(), objKey(ns, "mail"), &crt)).To(Succeed())
	var issuing *cmapi.CertificateCondition
	for i := range crt.Status.Conditions {
		if crt.Status.Conditions[i].Type == cmapi.CertificateConditionIssuing {
			issuing = &crt.Status.Conditions[i]
		}
	}
	g.Expect(issuing).NotTo(BeNil())
	g.Expect(issuing.Status).To(Equal(cmmeta.ConditionTrue))
	g.Expect(issuing.Reason).To(Equal(sources.ReasonManuallyTriggered), "as cmctl renew sets it")
	g.Expect(sourceStatus(cs, "cm").Reason).To(Equal(sources.ReasonIssuing), "the source waits for the issuance")
}

func TestVerifyRequestProbesNow(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	current := validPair(t, time.Now().Add(-time.Hour), 1)
	other := validPair(t, time.Now().Add(-2*time.Hour), 2)
	mustCreate(t, sourceSecret(ns, "legacy", current.ChainPEM, current.KeyPEM))
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("legacy", "legacy", ""), withDNSNames(mailHost), func(cs *v1alpha1.CertSync) {
		cs.Spec.Verify.Endpoints = []v1alpha1.VerifyEndpoint{{Port: simPort, Protocol: "TLS"}}
		cs.Spec.Verify.Interval = &metav1.Duration{Duration: time.Hour}
		cs.Spec.Verify.Timeout = &metav1.Duration{Duration: 2 * time.Second}
		cs.Spec.Verify.Remediate = ptr.To(false)
		// Nothing restarted: the pod is created in the second the target
		// is written, which counts as before it.
		cs.Spec.Rollout.Mode = v1alpha1.RolloutNone
	}))
	waitCondition(t, ns, "mail", v1alpha1.ConditionSynced, metav1.ConditionTrue, v1alpha1.ReasonSynced)
	startSimPod(t, ns, "imap-0", nil, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "00000000-0000-0000-0000-0000000000aa"})
	waitVerifiedPods(t, ns, 1)

	// The pod turns stale behind everyone's back; the next periodic check
	// is an hour away.
	g.Expect(simulator(t).ServeStale(ns+"/imap-0", other.ChainPEM, other.KeyPEM)).To(Succeed())
	g.Consistently(func(g Gomega) {
		st, _ := condition(getCertSync(g, ns, "mail"), v1alpha1.ConditionVerified)
		g.Expect(st).To(Equal(metav1.ConditionTrue))
	}, 2*time.Second, poll).Should(Succeed())

	cs := request(t, ns, "mail", v1alpha1.AnnotationVerifyRequested)
	st, reason := condition(cs, v1alpha1.ConditionVerified)
	g.Expect(string(st) + "/" + reason).To(Equal("False/" + v1alpha1.ReasonStaleCertificate))
	g.Expect(cs.Status.Pods.StaleNames).To(ConsistOf("imap-0"))
}

// ssRequest is request for a SecretSync.
func ssRequest(t *testing.T, ns, name, key string) *v1alpha1.SecretSync {
	t.Helper()
	g := NewWithT(t)
	value := time.Now().UTC().Format(time.RFC3339Nano)
	before := getSecretSync(g, ns, name)
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, key, value))
	g.Expect(k8s.Patch(context.Background(), before, client.RawPatch("application/merge-patch+json", patch))).To(Succeed())
	var ss *v1alpha1.SecretSync
	g.Eventually(func(g Gomega) {
		ss = getSecretSync(g, ns, name)
		g.Expect(ss.Status.LastHandledRequests).NotTo(BeNil())
		h := ss.Status.LastHandledRequests.Verify
		if key == v1alpha1.AnnotationRenewRequested {
			h = ss.Status.LastHandledRequests.Renew
		}
		g.Expect(h).To(Equal(value))
	}, eventually, poll).Should(Succeed())
	g.Expect(ss.Generation).To(Equal(before.Generation), "an annotation is no spec change")
	return ss
}

// TestSecretSyncRenewRequestBypassesRefreshInterval: `kubectl certsync
// renew` on a SecretSync fetches its HTTPS source now, an hour before the
// refresh is due, and the new values reach the target.
func TestSecretSyncRenewRequestBypassesRefreshInterval(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := ssStart(t)
	notAfter := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second)
	v := newVaultServer(t, "application/json", vaultJSON("mailer", "s3cret-v1", notAfter))
	createVaultCA(t, ns, v)
	mustCreateSecretSync(t, newSecretSync(ns, "idp",
		ssHTTPS("vault", v, sources.FormatJSON, func(h *v1alpha1.SecretSyncHTTPSSource) {
			h.RefreshInterval = &metav1.Duration{Duration: time.Hour}
		}),
		ssKeys(v1alpha1.SecretSyncKey{From: ".data.client_id", To: "CLIENT_ID"}, v1alpha1.SecretSyncKey{From: ".data.client_secret", To: "CLIENT_SECRET"})))
	ssWaitCondition(t, ns, "idp", v1alpha1.ConditionSynced, metav1.ConditionTrue, v1alpha1.ReasonSynced)

	// The vault rotates; the next scheduled fetch is an hour away.
	v.set(0, vaultJSON("mailer", "s3cret-v2", notAfter))
	n := v.requestCount()
	ssPoke(t, ns, "vault-ca")
	g.Expect(v.requestCount()).To(Equal(n), "not due before an hour")

	// Fetched on request (a reconcile that runs before the cache shows the
	// request served may fetch once more).
	ss := ssRequest(t, ns, "idp", v1alpha1.AnnotationRenewRequested)
	g.Expect(v.requestCount()).To(BeNumerically(">", n), "fetched on request")
	g.Expect(ssSourceStatusOf(ss, "vault").SHA256).To(Equal(ssHash("mailer", "s3cret-v2")))
	g.Eventually(func(g Gomega) {
		g.Expect(getSecret(g, ns, "oauth-client").Data).To(HaveKeyWithValue("CLIENT_SECRET", []byte("s3cret-v2")))
	}, eventually, poll).Should(Succeed())

	// Served: reconciles after it fetch nothing until the interval.
	ssWaitSettled(t, ns)
	n = v.requestCount()
	ssPoke(t, ns, "vault-ca")
	g.Expect(v.requestCount()).To(Equal(n))
	ssExpectNoValues(t, ns, "idp", "s3cret")
}

// TestSecretSyncVerifyRequestAsksTheTokenEndpointNow: `kubectl certsync
// verify` on a SecretSync makes the token request again at once, although
// its interval (an hour) has not passed, and reports the result.
func TestSecretSyncVerifyRequestAsksTheTokenEndpointNow(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := ssStart(t)
	const goodSecret = "good-secret-value"
	te := newTokenEndpoint(t, "app", goodSecret)
	mustCreate(t, ssSource(ns, "idp-ca", map[string]string{"ca.crt": string(te.caPEM())}))
	mustCreate(t, ssSource(ns, "legacy", ssCreds("app", goodSecret), func(s *corev1.Secret) {
		metav1.SetMetaDataAnnotation(&s.ObjectMeta, consent.AnnotationAllowedHosts, "127.0.0.1")
	}))
	ss := newSecretSync(ns, "idp", ssFrom("legacy", "legacy", ""))
	ss.Spec.Verify.OAuth2ClientCredentials = &v1alpha1.OAuth2ClientCredentials{
		TokenURL: te.URL + "/oauth2/token", ClientIDKey: "CLIENT_ID", ClientSecretKey: "CLIENT_SECRET",
		CASecretRef: &v1alpha1.OAuth2CASecretRef{Name: "idp-ca", Key: "ca.crt"},
		Timeout:     &metav1.Duration{Duration: time.Second},
	}
	mustCreateSecretSync(t, ss)
	ssWaitCondition(t, ns, "idp", v1alpha1.ConditionVerified, metav1.ConditionTrue, v1alpha1.ReasonTokenIssued)
	n := te.requests.Load()
	ssPoke(t, ns, "legacy")
	g.Expect(te.requests.Load()).To(Equal(n), "reconciles within the interval make no token request")

	ss = ssRequest(t, ns, "idp", v1alpha1.AnnotationVerifyRequested)
	g.Expect(te.requests.Load()).To(BeNumerically(">", n), "a token request, on request")
	g.Expect(ssCondition(ss, v1alpha1.ConditionVerified).Reason).To(Equal(v1alpha1.ReasonTokenIssued))
	ssWaitSettled(t, ns)
	n = te.requests.Load()
	ssPoke(t, ns, "legacy")
	g.Expect(te.requests.Load()).To(Equal(n), "served: no more requests within the interval")
	ssExpectNoValues(t, ns, "idp", goodSecret)
}
