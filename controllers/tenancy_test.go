package controllers

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"software.sslmate.com/src/go-pkcs12"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs/certstest"
	"certsync.io/certsync/internal/consent"
	"certsync.io/certsync/internal/egress"
	"certsync.io/certsync/internal/secretvalues"
	"certsync.io/certsync/internal/sources"
)

// tenantClient returns a client acting as a user who may create and get
// CertSyncs and SecretSyncs in ns and nothing else (RBAC on the real API
// server, through impersonation): the threat model of docs/security.md.
func tenantClient(t *testing.T, ns string) client.Client {
	t.Helper()
	user := "tenant-" + ns
	mustCreate(t, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "certsync-author"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"certsyncs", "secretsyncs"}, Verbs: []string{"create", "get"}}}})
	mustCreate(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "certsync-author"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "certsync-author"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}}})
	cfg := rest.CopyConfig(testRESTConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: testScheme})
	if err != nil {
		t.Fatal(err)
	}
	// The API server's RBAC authorizer learns of a new binding through its
	// informers: wait until the tenant is allowed what the Role grants.
	NewWithT(t).Eventually(func() error {
		err := c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "rbac-probe"}, &v1alpha1.CertSync{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}, eventually, poll).Should(Succeed())
	return c
}

// allowTenantSecret lets the tenant of tenantClient get the Secret name of
// ns (RBAC by resourceNames, whether or not it exists): a namespace that
// hands out Secrets one by one.
func allowTenantSecret(t *testing.T, ns, name string) {
	t.Helper()
	mustCreate(t, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "read-" + name}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{name}, Verbs: []string{"get"}}}})
	mustCreate(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "read-" + name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "read-" + name},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "tenant-" + ns}}})
	// Wait until the authorizer has seen the binding (it learns of it
	// through its informers).
	reader := rest.CopyConfig(testRESTConfig)
	reader.Impersonate = rest.ImpersonationConfig{UserName: "tenant-" + ns}
	c, err := client.New(reader, client.Options{Scheme: testScheme})
	if err != nil {
		t.Fatal(err)
	}
	NewWithT(t).Eventually(func() bool {
		return !apierrors.IsForbidden(c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &corev1.Secret{}))
	}, eventually, poll).Should(BeTrue())
}

// tenantGet reads a SecretSync as the tenant, who may.
func tenantGet(g Gomega, c client.Client, ns, name string) *v1alpha1.SecretSync {
	var ss v1alpha1.SecretSync
	g.Expect(c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &ss)).To(Succeed())
	return &ss
}

// countingServer is an HTTPS endpoint that counts requests and would hand
// any credential it receives to the tenant.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"x","token_type":"Bearer","expires_in":3600}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// A tenant who may only create and get CertSyncs and SecretSyncs in their
// namespace tries each path of docs/security.md and gets nothing out, with
// a condition saying what was refused.
func TestTenantGetsNothingOut(t *testing.T) {
	g := NewWithT(t)
	ns := ssStart(t)
	other := newNamespace(t)
	tenant := tenantClient(t, ns)
	ctx := context.Background()

	// RBAC is on: the tenant cannot read the namespace's Secrets, except
	// (per-Secret RBAC) the one named loot, which does not exist yet. The
	// ServiceAccount token never consented to copies; the database
	// credentials allow copies within the namespace, and nothing more.
	mustCreate(t, ssSource(ns, "sa-token", map[string]string{"token": "sa-t0ken-DO-NOT-LEAK"}, ssNoConsent))
	mustCreate(t, ssSource(ns, "db", ssCreds("db-user", "db-pa55-DO-NOT-LEAK")))
	err := tenant.Get(ctx, types.NamespacedName{Namespace: ns, Name: "sa-token"}, &corev1.Secret{})
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the tenant can read Secrets: %v", err)
	allowTenantSecret(t, ns, "loot")
	err = tenant.Get(ctx, types.NamespacedName{Namespace: ns, Name: "loot"}, &corev1.Secret{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the tenant cannot read loot: %v", err)

	sink, requests := countingServer(t)
	mustCreate(t, ssSource(ns, "sink-ca", map[string]string{"ca.crt": string(pemCert(sink.Certificate().Raw))}))
	at := metav1.NewTime(time.Now().Add(60 * 24 * time.Hour).UTC().Truncate(time.Second))
	create := func(ss *v1alpha1.SecretSync) {
		t.Helper()
		g.Expect(tenant.Create(ctx, ss)).To(Succeed())
	}
	httpsTo := func(name, url string, mods ...func(*v1alpha1.SecretSyncHTTPSSource)) ssOption {
		return func(ss *v1alpha1.SecretSync) {
			h := &v1alpha1.SecretSyncHTTPSSource{URL: url, Format: sources.FormatRaw,
				CASecretRef: &v1alpha1.OAuth2CASecretRef{Name: "sink-ca", Key: "ca.crt"}, RefreshInterval: &metav1.Duration{Duration: time.Minute}}
			for _, m := range mods {
				m(h)
			}
			ss.Spec.Sources = append(ss.Spec.Sources, v1alpha1.SecretSyncSource{Name: name, HTTPS: h})
		}
	}
	rawKeys := ssKeys(v1alpha1.SecretSyncKey{From: secretvalues.RawKey, To: "V"})
	expiry := ssExpiry(v1alpha1.SecretSyncExpiryFrom{NotAfter: &at})

	// 1. Exfiltration through authSecretRef: the ServiceAccount token as the
	// bearer token of a request to the tenant's server.
	create(newSecretSync(ns, "exfil-auth", httpsTo("s", sink.URL+"/collect", func(h *v1alpha1.SecretSyncHTTPSSource) {
		h.AuthSecretRef = &v1alpha1.SecretSyncLocalSecretRef{Name: "sa-token"}
	}), rawKeys, expiry, func(ss *v1alpha1.SecretSync) { ss.Spec.Target.SecretName = "exfil-auth" }))

	// 2. Same-namespace source + tokenURL: the database credentials copied,
	// then POSTed as client credentials to the tenant's server.
	tok := newSecretSync(ns, "exfil-token", ssFrom("db", "db", ""), func(ss *v1alpha1.SecretSync) { ss.Spec.Target.SecretName = "exfil-token" })
	tok.Spec.Verify.OAuth2ClientCredentials = &v1alpha1.OAuth2ClientCredentials{TokenURL: sink.URL + "/token",
		ClientIDKey: "CLIENT_ID", ClientSecretKey: "CLIENT_SECRET", CASecretRef: &v1alpha1.OAuth2CASecretRef{Name: "sink-ca", Key: "ca.crt"}}
	create(tok)

	// 2b. Same-namespace copy into a target the tenant may read by name:
	// the ServiceAccount token as the value of loot; and a missing Secret,
	// which must read the same (no existence oracle).
	create(newSecretSync(ns, "copy-sa", ssFrom("s", "sa-token", ""), ssKeys(v1alpha1.SecretSyncKey{From: "token", To: "V"}), expiry,
		func(ss *v1alpha1.SecretSync) { ss.Spec.Target.SecretName = "loot" }))
	create(newSecretSync(ns, "copy-missing", ssFrom("s", "nope", ""), ssKeys(v1alpha1.SecretSyncKey{From: "token", To: "V"}), expiry,
		func(ss *v1alpha1.SecretSync) { ss.Spec.Target.SecretName = "loot-2" }))

	// 3. Raw fetch of an in-cluster HTTPS service (127.77/16 stands for the
	// cluster network the operator's flags deny) and 4. the metadata address.
	internal := newDeniedVaultServer(t, []byte("internal-DO-NOT-LEAK"))
	mustCreate(t, ssSource(ns, "internal-ca", map[string]string{"ca.crt": string(pemCert(internal.Certificate().Raw))}))
	create(newSecretSync(ns, "ssrf", httpsTo("internal", internal.URL+"/admin", func(h *v1alpha1.SecretSyncHTTPSSource) {
		h.CASecretRef.Name = "internal-ca"
	}), httpsTo("metadata", "https://169.254.169.254/latest/meta-data/"), rawKeys, expiry,
		func(ss *v1alpha1.SecretSync) { ss.Spec.Target.SecretName = "ssrf" }))

	// 5. Cross-namespace existence probe, both kinds: an existing Secret
	// without consent and a missing one read alike.
	mustCreate(t, ssSource(other, "exists", ssCreds("a", "b")))
	create(newSecretSync(ns, "probe-yes", ssFrom("s", "exists", other), func(ss *v1alpha1.SecretSync) { ss.Spec.Target.SecretName = "probe-yes" }))
	create(newSecretSync(ns, "probe-no", ssFrom("s", "missing", other), func(ss *v1alpha1.SecretSync) { ss.Spec.Target.SecretName = "probe-no" }))
	g.Expect(tenant.Create(ctx, newCertSync(ns, "cs-probe-yes", withSecretSource("s", "exists", other), withTarget("cs-probe-yes")))).To(Succeed())
	g.Expect(tenant.Create(ctx, newCertSync(ns, "cs-probe-no", withSecretSource("s", "missing", other), withTarget("cs-probe-no")))).To(Succeed())

	// 7. PKCS#12 password as an equality oracle: the tenant's server serves
	// PKCS#12 files encrypted with a guess at the database password, the
	// right one and a wrong one, and names that Secret key as the
	// password. Without consent both must read the same.
	const dbPassword = "db-pa55-DO-NOT-LEAK"
	oracle, oracleRequests := pkcs12Server(t, validPair(t, time.Now().Add(-time.Hour), 7), map[string]string{
		"/right.p12": dbPassword, "/wrong.p12": "db-pa55-WRONG-GUESS"})
	mustCreate(t, ssSource(ns, "oracle-ca", map[string]string{"ca.crt": string(pemCert(oracle.Certificate().Raw))}))
	guessWith := func(name, path string) *v1alpha1.CertSync {
		return newCertSync(ns, name, withTarget(name), withDNSNames(mailHost), func(cs *v1alpha1.CertSync) {
			cs.Spec.Sources = append(cs.Spec.Sources, v1alpha1.CertSource{Name: "guess", HTTPS: &v1alpha1.HTTPSSource{
				URL: oracle.URL + path, Format: sources.FormatPKCS12,
				PasswordSecretRef: &v1alpha1.SecretKeySelector{Name: "db", Key: "client_secret"},
				CASecretRef:       &v1alpha1.SecretKeySelector{Name: "oracle-ca", Key: "ca.crt"},
				RefreshInterval:   &metav1.Duration{Duration: 10 * time.Second}}})
		})
	}
	g.Expect(tenant.Create(ctx, guessWith("guess-right", "/right.p12"))).To(Succeed())
	g.Expect(tenant.Create(ctx, guessWith("guess-wrong", "/wrong.p12"))).To(Succeed())

	reasonOf := func(g Gomega, name, source string) (string, string) {
		s := ssSourceStatusOf(tenantGet(g, tenant, ns, name), source)
		return s.Reason, s.Message
	}
	g.Eventually(func(g Gomega) {
		r, msg := reasonOf(g, "exfil-auth", "s")
		g.Expect(r).To(Equal(consent.ReasonCredentialNotReleased))
		g.Expect(msg).To(ContainSubstring(consent.AnnotationAllowedHosts))
		v := ssCondition(tenantGet(g, tenant, ns, "exfil-token"), v1alpha1.ConditionVerified)
		g.Expect(v.Reason).To(Equal(consent.ReasonCredentialNotReleased))
		r, msg = reasonOf(g, "copy-sa", "s")
		g.Expect(r).To(Equal(sources.ReasonNotPermitted))
		g.Expect(msg).To(ContainSubstring(v1alpha1.AnnotationAllowedNamespaces))
		g.Expect(msg).To(ContainSubstring(`listing "` + ns + `"`))
		missing, missingMsg := reasonOf(g, "copy-missing", "s")
		g.Expect(missing).To(Equal(r))
		g.Expect(strings.ReplaceAll(missingMsg, "/nope", "/sa-token")).To(Equal(msg))
		copySA := tenantGet(g, tenant, ns, "copy-sa")
		g.Expect(ssCondition(copySA, v1alpha1.ConditionSynced).Reason).To(Equal(v1alpha1.ReasonNoValidSource))
		// The condition the tenant reads says what to ask the Secret's owner for.
		g.Expect(ssCondition(copySA, v1alpha1.ConditionSourcesReady).Message).To(ContainSubstring(v1alpha1.AnnotationAllowedNamespaces))
		g.Expect(ssEventsFor(g, ns, "copy-sa")).To(ContainElement(And(
			HaveField("Reason", v1alpha1.ReasonSourceUnavailable), HaveField("Note", ContainSubstring(sources.ReasonNotPermitted)))))
		r, _ = reasonOf(g, "ssrf", "internal")
		g.Expect(r).To(Equal(egress.ReasonEgressDenied))
		r, _ = reasonOf(g, "ssrf", "metadata")
		g.Expect(r).To(Equal(egress.ReasonEgressDenied))
		yes, yesMsg := reasonOf(g, "probe-yes", "s")
		no, noMsg := reasonOf(g, "probe-no", "s")
		g.Expect(yes).To(Equal(sources.ReasonNotPermitted))
		g.Expect(no).To(Equal(yes))
		g.Expect(strings.ReplaceAll(noMsg, "missing", "exists")).To(Equal(yesMsg))
		var csYes, csNo v1alpha1.CertSync
		g.Expect(tenant.Get(ctx, types.NamespacedName{Namespace: ns, Name: "cs-probe-yes"}, &csYes)).To(Succeed())
		g.Expect(tenant.Get(ctx, types.NamespacedName{Namespace: ns, Name: "cs-probe-no"}, &csNo)).To(Succeed())
		g.Expect(sourceStatus(&csYes, "s").Reason).To(Equal(sources.ReasonNotPermitted))
		g.Expect(sourceStatus(&csNo, "s").Reason).To(Equal(sourceStatus(&csYes, "s").Reason))
		g.Expect(strings.ReplaceAll(sourceStatus(&csNo, "s").Message, "missing", "exists")).To(Equal(sourceStatus(&csYes, "s").Message))
	}, eventually, poll).Should(Succeed())
	g.Expect(requests.Load()).To(BeZero(), "a request reached the tenant's server")
	g.Expect(internal.requestCount()).To(BeZero(), "a request reached the denied service")
	err = tenant.Get(ctx, types.NamespacedName{Namespace: ns, Name: "loot"}, &corev1.Secret{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the token was copied where the tenant reads: %v", err)

	// 6. Hash oracle: the copied values' fingerprint in the status the
	// tenant reads is keyed; the unkeyed hash of the right guess differs.
	ss := tenantGet(g, tenant, ns, "exfil-token")
	g.Expect(ss.Status.Secret).NotTo(BeNil())
	guess := plainHash(map[string][]byte{"CLIENT_ID": []byte("db-user"), "CLIENT_SECRET": []byte("db-pa55-DO-NOT-LEAK")}, "CLIENT_ID", "CLIENT_SECRET")
	g.Expect(ss.Status.Secret.SHA256).NotTo(Equal(guess))

	// 7. The right and the wrong guess read alike: the same reason and
	// message on the source and on every condition; neither file was
	// fetched, so nothing was decrypted.
	g.Eventually(func(g Gomega) {
		var right, wrong v1alpha1.CertSync
		g.Expect(tenant.Get(ctx, types.NamespacedName{Namespace: ns, Name: "guess-right"}, &right)).To(Succeed())
		g.Expect(tenant.Get(ctx, types.NamespacedName{Namespace: ns, Name: "guess-wrong"}, &wrong)).To(Succeed())
		src := sourceStatus(&right, "guess")
		g.Expect(src.Reason).To(Equal(consent.ReasonCredentialNotReleased))
		g.Expect(src.Message).To(ContainSubstring(consent.AnnotationAllowedHosts))
		g.Expect(src.Message).To(ContainSubstring("127.0.0.1"))
		g.Expect(sourceStatus(&wrong, "guess").Reason).To(Equal(src.Reason))
		g.Expect(sourceStatus(&wrong, "guess").Message).To(Equal(src.Message))
		g.Expect(right.Status.Conditions).NotTo(BeEmpty())
		for _, c := range right.Status.Conditions {
			w := meta.FindStatusCondition(wrong.Status.Conditions, c.Type)
			g.Expect(w).NotTo(BeNil(), c.Type)
			g.Expect([]any{w.Status, w.Reason, w.Message}).To(Equal([]any{c.Status, c.Reason, c.Message}), c.Type)
		}
		g.Expect(len(wrong.Status.Conditions)).To(Equal(len(right.Status.Conditions)))
		g.Expect(right.Status.Certificate).To(BeNil())
		g.Expect(wrong.Status.Certificate).To(BeNil())
		g.Expect(eventReasons(eventsFor(g, ns, "guess-right"))).To(Equal(eventReasons(eventsFor(g, ns, "guess-wrong"))))
	}, eventually, poll).Should(Succeed())
	g.Expect(oracleRequests.Load()).To(BeZero(), "a PKCS#12 file was fetched with a password that never consented")
	for _, name := range []string{"guess-right", "guess-wrong"} {
		var cs v1alpha1.CertSync
		g.Expect(tenant.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &cs)).To(Succeed())
		raw, err := json.Marshal(cs.Status)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(string(raw)).NotTo(ContainSubstring(dbPassword), "the password in status")
		for _, e := range eventsFor(g, ns, name) {
			g.Expect(e.Note).NotTo(ContainSubstring(dbPassword), "the password in an event")
		}
	}

	// Nothing secret in anything the tenant can read.
	for _, name := range []string{"exfil-auth", "exfil-token", "copy-sa", "copy-missing", "ssrf", "probe-yes", "probe-no"} {
		ssExpectNoValues(t, ns, name, "sa-t0ken-DO-NOT-LEAK", "db-pa55-DO-NOT-LEAK", "internal-DO-NOT-LEAK")
	}
}

// pkcs12Server is an HTTPS endpoint that serves, at each path of
// passwords, a PKCS#12 file of p encrypted with that password, and counts
// requests.
func pkcs12Server(t *testing.T, p *certstest.Pair, passwords map[string]string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	files := map[string][]byte{}
	for path, pw := range passwords {
		pfx, err := pkcs12.Modern.Encode(p.Key, p.Cert, nil, pw)
		if err != nil {
			t.Fatal(err)
		}
		files[path] = pfx
	}
	var n atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		pfx, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-pkcs12")
		_, _ = w.Write(pfx)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
