package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"software.sslmate.com/src/go-pkcs12"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/certs/certstest"
	"certsync.io/certsync/internal/consent"
	"certsync.io/certsync/internal/sources"
)

// pkiServer plays a legacy PKI's HTTPS endpoint on 127.0.0.1: it serves a
// PEM bundle with an ETag, answers conditional requests with 304, and can
// be switched into an outage.
type pkiServer struct {
	*httptest.Server
	mu       sync.Mutex
	body     []byte
	status   int    // 0: serve the body
	location string // with a 3xx status
	requests int
	bodies   int // 200 responses carrying a body
}

func newPKIServer(t *testing.T) *pkiServer {
	p := &pkiServer{}
	p.Server = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.StartTLS()
	t.Cleanup(p.Close)
	return p
}

func (p *pkiServer) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	if p.status != 0 {
		if p.location != "" {
			w.Header().Set("Location", p.location)
		}
		w.WriteHeader(p.status)
		return
	}
	sum := sha256.Sum256(p.body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	p.bodies++
	_, _ = w.Write(p.body)
}

func (p *pkiServer) set(body []byte, status int, location string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.body, p.status, p.location = body, status, location
}

func (p *pkiServer) counts() (requests, bodies int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests, p.bodies
}

// caPEM is the trust for the test server's self-signed certificate.
func (p *pkiServer) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Certificate().Raw})
}

func bundle(p *certstest.Pair) []byte { return append(append([]byte{}, p.ChainPEM...), p.KeyPEM...) }

func withHTTPSSource(name string, srv *pkiServer, refresh time.Duration) csOption {
	return func(cs *v1alpha1.CertSync) {
		cs.Spec.Sources = append(cs.Spec.Sources, v1alpha1.CertSource{Name: name, HTTPS: &v1alpha1.HTTPSSource{
			URL:             srv.URL + "/certs/mail.pem",
			CASecretRef:     &v1alpha1.SecretKeySelector{Name: "pki-ca", Key: "ca.crt"},
			RefreshInterval: &metav1.Duration{Duration: refresh},
		}})
	}
}

func createPKICA(t *testing.T, ns string, srv *pkiServer) {
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pki-ca"}, Data: map[string][]byte{"ca.crt": srv.caPEM()}})
}

func sourceStatus(cs *v1alpha1.CertSync, name string) v1alpha1.SourceStatus {
	for _, s := range cs.Status.Sources {
		if s.Name == name {
			return s
		}
	}
	return v1alpha1.SourceStatus{}
}

func TestHTTPSSourceSyncsAndStaysQuiet(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	srv := newPKIServer(t)
	p := validPair(t, time.Now().Add(-time.Hour), 1)
	srv.set(bundle(p), 0, "")
	createPKICA(t, ns, srv)
	mustCreate(t, newCertSync(ns, "mail", withHTTPSSource("pki", srv, 10*time.Second)))
	cs := waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	g.Expect(cs.Status.Certificate.Source).To(Equal("pki"))
	g.Expect(cs.Status.Certificate.SHA256).To(Equal(certs.Fingerprint(p.Cert)))
	g.Expect(sourceStatus(cs, "pki").LastChecked).NotTo(BeNil())

	// Steady state: reconciles woken by unrelated changes neither fetch nor
	// write; the periodic refresh is a conditional request answered by 304.
	var settled int64
	g.Eventually(func() bool {
		w := writes.get(ns)
		stable := w == settled
		settled = w
		return stable
	}, eventually, time.Second).Should(BeTrue())
	_, bodies := srv.counts()
	for i := range 3 {
		g.Eventually(func(g Gomega) {
			s := getSecret(g, ns, "pki-ca")
			s.Labels = map[string]string{"touch": string(rune('a' + i))}
			g.Expect(k8s.Update(context.Background(), s)).To(Succeed())
		}, eventually, poll).Should(Succeed())
	}
	requestsBefore, _ := srv.counts()
	g.Eventually(func() int { r, _ := srv.counts(); return r }, eventually, poll).Should(BeNumerically(">", requestsBefore),
		"the refresh interval passes and the source is checked again")
	_, bodiesAfter := srv.counts()
	g.Expect(bodiesAfter).To(Equal(bodies), "an unchanged body is not transferred again (304)")
	g.Expect(writes.get(ns)).To(Equal(settled), "steady state makes no API writes")
}

func TestHTTPSOutageFallsBackAndRecovers(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	srv := newPKIServer(t)
	srv.set(nil, http.StatusServiceUnavailable, "")
	createPKICA(t, ns, srv)
	backup := validPair(t, time.Now().Add(-48*time.Hour), 1)
	mustCreate(t, sourceSecret(ns, "backup", backup.ChainPEM, backup.KeyPEM))
	mustCreate(t, newCertSync(ns, "mail", withHTTPSSource("pki", srv, 10*time.Second), withSecretSource("backup", "backup", "")))

	// The healthy source carries the CertSync; the failing one is named.
	cs := waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	g.Expect(cs.Status.Certificate.Source).To(Equal("backup"))
	st, reason := condition(cs, v1alpha1.ConditionSourcesReady)
	g.Expect(string(st) + "/" + reason).To(Equal("False/" + v1alpha1.ReasonSourcesDegraded))
	g.Expect(conditionMessage(cs, v1alpha1.ConditionSourcesReady)).To(ContainSubstring("pki: HTTPStatus"))
	g.Expect(sourceStatus(cs, "pki").Message).To(ContainSubstring("503"))
	g.Eventually(func(g Gomega) {
		g.Expect(eventReasons(eventsFor(g, ns, "mail"))).To(HaveKeyWithValue(v1alpha1.ReasonSourceUnavailable, 1))
	}, eventually, poll).Should(Succeed())

	// The PKI comes back with a renewal: picked up on its next (backed-off)
	// check, and it wins because it is newer.
	renewed := validPair(t, time.Now().Add(-time.Hour), 2)
	srv.set(bundle(renewed), 0, "")
	g.Eventually(func(g Gomega) {
		cs := getCertSync(g, ns, "mail")
		g.Expect(cs.Status.Certificate.SHA256).To(Equal(certs.Fingerprint(renewed.Cert)))
		g.Expect(cs.Status.Certificate.Source).To(Equal("pki"))
		st, _ := condition(cs, v1alpha1.ConditionSourcesReady)
		g.Expect(st).To(Equal(metav1.ConditionTrue))
	}, eventually, poll).Should(Succeed())
}

func TestHTTPSStaleSourceNeverRollsBack(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	srv := newPKIServer(t)
	stale := validPair(t, time.Now().Add(-30*24*time.Hour), 1)
	srv.set(bundle(stale), 0, "")
	createPKICA(t, ns, srv)
	fresh := validPair(t, time.Now().Add(-time.Hour), 2)
	mustCreate(t, sourceSecret(ns, "fresh", fresh.ChainPEM, fresh.KeyPEM))
	mustCreate(t, newCertSync(ns, "mail", withHTTPSSource("pki", srv, 10*time.Second), withSecretSource("fresh", "fresh", "")))
	cs := waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	g.Expect(cs.Status.Certificate.Source).To(Equal("fresh"), "the newest valid candidate wins, whatever its source")
	g.Expect(sourceStatus(cs, "pki").Ready).To(BeTrue(), "a stale but valid source is healthy, just not chosen")
}

func TestHTTPSRedirectToLoginPageIsAnOutage(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	srv := newPKIServer(t)
	srv.set(nil, http.StatusFound, "https://login.pki.invalid/sso?next=/certs/mail.pem")
	createPKICA(t, ns, srv)
	mustCreate(t, newCertSync(ns, "mail", withHTTPSSource("pki", srv, 10*time.Second)))
	cs := waitCondition(t, ns, "mail", v1alpha1.ConditionSourcesReady, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource)
	g.Expect(sourceStatus(cs, "pki").Reason).To(Equal(sources.ReasonRedirected))
	g.Expect(sourceStatus(cs, "pki").Message).To(ContainSubstring("login.pki.invalid"))
	var tgt corev1.Secret
	g.Expect(k8s.Get(context.Background(), objKey(ns, "mail-tls"), &tgt)).NotTo(Succeed(), "nothing is written from a redirect")
}

func TestCertManagerSourceFollowsIssuance(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	first := validPair(t, time.Now().Add(-time.Hour), 1)
	crt := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mail"},
		Spec: cmapi.CertificateSpec{SecretName: "mail-cm", DNSNames: []string{mailHost},
			IssuerRef: cmmeta.IssuerReference{Name: "ca", Kind: "Issuer"}},
	}
	mustCreate(t, crt)
	cmSecret := sourceSecret(ns, "mail-cm", first.ChainPEM, first.KeyPEM, func(s *corev1.Secret) {
		s.Annotations = map[string]string{cmapi.CertificateNameKey: "mail"}
	})
	mustCreate(t, cmSecret)
	setCertificateConditions(t, ns, "mail", cmmeta.ConditionTrue, cmmeta.ConditionFalse)
	mustCreate(t, newCertSync(ns, "mail", func(cs *v1alpha1.CertSync) {
		cs.Spec.Sources = []v1alpha1.CertSource{{Name: "cm", Certificate: &v1alpha1.CertificateSource{Name: "mail"}}}
	}))
	waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	g.Expect(getSecret(g, ns, "mail-tls").Annotations[v1alpha1.AnnotationSHA256]).To(Equal(certs.Fingerprint(first.Cert)))

	// Issuance in flight: cert-manager writes the new Secret before the
	// Certificate is Ready again. Not a candidate yet.
	setCertificateConditions(t, ns, "mail", cmmeta.ConditionFalse, cmmeta.ConditionTrue)
	renewed := validPair(t, time.Now().Add(-time.Minute), 2)
	updateSecretData(t, ns, "mail-cm", map[string][]byte{"tls.crt": renewed.ChainPEM, "tls.key": renewed.KeyPEM})
	cs := waitCondition(t, ns, "mail", v1alpha1.ConditionSourcesReady, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource)
	g.Expect(sourceStatus(cs, "cm").Reason).To(Equal(sources.ReasonIssuing))
	g.Expect(getSecret(g, ns, "mail-tls").Annotations[v1alpha1.AnnotationSHA256]).To(Equal(certs.Fingerprint(first.Cert)))

	// Issued: the renewal is followed.
	setCertificateConditions(t, ns, "mail", cmmeta.ConditionTrue, cmmeta.ConditionFalse)
	g.Eventually(func(g Gomega) {
		g.Expect(getSecret(g, ns, "mail-tls").Annotations[v1alpha1.AnnotationSHA256]).To(Equal(certs.Fingerprint(renewed.Cert)))
	}, eventually, poll).Should(Succeed())
}

// setCertificateConditions plays cert-manager: it sets the Certificate's
// Ready and Issuing conditions.
func setCertificateConditions(t *testing.T, ns, name string, ready, issuing cmmeta.ConditionStatus) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		var crt cmapi.Certificate
		g.Expect(k8s.Get(context.Background(), objKey(ns, name), &crt)).To(Succeed())
		now := metav1.Now()
		crt.Status.Conditions = []cmapi.CertificateCondition{
			{Type: cmapi.CertificateConditionReady, Status: ready, Reason: "Test", Message: "set by the test", LastTransitionTime: &now},
			{Type: cmapi.CertificateConditionIssuing, Status: issuing, Reason: "Test", Message: "set by the test", LastTransitionTime: &now},
		}
		g.Expect(k8s.Status().Update(context.Background(), &crt)).To(Succeed())
	}, eventually, poll).Should(Succeed())
}

func TestOutputFormatsAreWrittenOnceAndDecodable(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	p := validPair(t, time.Now().Add(-time.Hour), 1)
	mustCreate(t, sourceSecret(ns, "legacy", p.ChainPEM, p.KeyPEM))
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "keystore-pass"}, Data: map[string][]byte{"password": []byte("changeit")}})
	pw := v1alpha1.SecretKeySelector{Name: "keystore-pass", Key: "password"}
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("legacy", "legacy", ""), func(cs *v1alpha1.CertSync) {
		cs.Spec.Target.AdditionalOutputFormats = []v1alpha1.AdditionalOutputFormat{{Type: "CombinedPEM"}, {Type: "DER"}}
		cs.Spec.Target.Keystores = &v1alpha1.Keystores{
			PKCS12: &v1alpha1.Keystore{Create: true, PasswordSecretRef: pw},
			JKS:    &v1alpha1.Keystore{Create: true, PasswordSecretRef: pw},
		}
	}))
	waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	tgt := getSecret(g, ns, "mail-tls")
	g.Expect(tgt.Data).To(HaveKey("tls-combined.pem"))
	g.Expect(tgt.Data).To(HaveKey("key.der"))
	g.Expect(tgt.Data).To(HaveKey("keystore.p12"))
	g.Expect(tgt.Data).To(HaveKey("keystore.jks"))
	// tls-combined.pem: the key, then the chain.
	var types []string
	rest := tgt.Data["tls-combined.pem"]
	for {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		types = append(types, blk.Type)
		if blk.Type == "CERTIFICATE" && len(types) == 2 {
			g.Expect(blk.Bytes).To(Equal(p.Cert.Raw))
		}
	}
	g.Expect(types).To(HaveLen(2))
	g.Expect(types[0]).To(HaveSuffix("PRIVATE KEY"))
	certPEM, _, _, err := certs.DecodePKCS12(tgt.Data["keystore.p12"], "changeit")
	g.Expect(err).NotTo(HaveOccurred())
	leaf, err := certs.ParseCertificates(certPEM)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(certs.Fingerprint(leaf[0])).To(Equal(certs.Fingerprint(p.Cert)))

	// Salted keystores are not re-encoded for an unchanged certificate.
	rv := tgt.ResourceVersion
	for i := range 3 {
		g.Eventually(func(g Gomega) {
			s := getSecret(g, ns, "legacy")
			s.Labels = map[string]string{"touch": string(rune('a' + i))}
			g.Expect(k8s.Update(context.Background(), s)).To(Succeed())
		}, eventually, poll).Should(Succeed())
	}
	g.Consistently(func(g Gomega) {
		g.Expect(getSecret(g, ns, "mail-tls").ResourceVersion).To(Equal(rv))
	}, 2*time.Second, poll).Should(Succeed())

	// A missing keystore password refuses the write and says why.
	g.Expect(k8s.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "keystore-pass"}})).To(Succeed())
	renewed := validPair(t, time.Now().Add(-time.Minute), 2)
	updateSecretData(t, ns, "legacy", map[string][]byte{"tls.crt": renewed.ChainPEM, "tls.key": renewed.KeyPEM})
	cs := waitCondition(t, ns, "mail", v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonOutputFormatFailed)
	g.Expect(conditionMessage(cs, v1alpha1.ConditionSynced)).To(ContainSubstring("keystore-pass"))
	g.Expect(getSecret(g, ns, "mail-tls").ResourceVersion).To(Equal(rv))
}

// TestHTTPSPKCS12PasswordNeedsConsent: the password of a PKCS#12 source
// opens files only from hosts its Secret's certsync.io/allowed-hosts
// names (docs/security.md, the password equality oracle). Without it the
// source is CredentialNotReleased, naming the annotation and the host, and
// nothing is fetched; once the Secret's writer consents, the same
// CertSync syncs the file's certificate, woken by the annotation.
func TestHTTPSPKCS12PasswordNeedsConsent(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	srv := newPKIServer(t)
	p := validPair(t, time.Now().Add(-time.Hour), 1)
	const password = "p12-pa55-DO-NOT-LEAK"
	pfx, err := pkcs12.Modern.Encode(p.Key, p.Cert, nil, password)
	g.Expect(err).NotTo(HaveOccurred())
	srv.set(pfx, 0, "")
	createPKICA(t, ns, srv)
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pki-p12"}, Data: map[string][]byte{"password": []byte(password)}})
	mustCreate(t, newCertSync(ns, "mail", withDNSNames(mailHost), func(cs *v1alpha1.CertSync) {
		cs.Spec.Sources = append(cs.Spec.Sources, v1alpha1.CertSource{Name: "pki", HTTPS: &v1alpha1.HTTPSSource{
			URL: srv.URL + "/certs/mail.p12", Format: sources.FormatPKCS12,
			PasswordSecretRef: &v1alpha1.SecretKeySelector{Name: "pki-p12", Key: "password"},
			CASecretRef:       &v1alpha1.SecretKeySelector{Name: "pki-ca", Key: "ca.crt"},
			RefreshInterval:   &metav1.Duration{Duration: 10 * time.Second}}})
	}))

	g.Eventually(func(g Gomega) {
		src := sourceStatus(getCertSync(g, ns, "mail"), "pki")
		g.Expect(src.Reason).To(Equal(consent.ReasonCredentialNotReleased))
		g.Expect(src.Message).To(And(ContainSubstring(ns+"/pki-p12"), ContainSubstring(consent.AnnotationAllowedHosts),
			ContainSubstring("add 127.0.0.1 to")))
	}, eventually, poll).Should(Succeed())
	cs := getCertSync(g, ns, "mail")
	g.Expect(cs.Status.Certificate).To(BeNil())
	requests, _ := srv.counts()
	g.Expect(requests).To(BeZero(), "the file was fetched before the password Secret consented")

	// Whoever manages the Secret consents for the PKI's host.
	g.Eventually(func(g Gomega) {
		s := getSecret(g, ns, "pki-p12")
		s.Annotations = map[string]string{consent.AnnotationAllowedHosts: "127.0.0.1"}
		g.Expect(k8s.Update(context.Background(), s)).To(Succeed())
	}, eventually, poll).Should(Succeed())
	cs = waitCondition(t, ns, "mail", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	g.Expect(cs.Status.Certificate.Source).To(Equal("pki"))
	g.Expect(cs.Status.Certificate.SHA256).To(Equal(certs.Fingerprint(p.Cert)))
	g.Expect(getSecret(g, ns, "mail-tls").Data[corev1.TLSCertKey]).To(Equal(p.ChainPEM))
	raw, err := json.Marshal(cs.Status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(raw)).NotTo(ContainSubstring(password))
}
