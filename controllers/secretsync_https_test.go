package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/consent"
	"certsync.io/certsync/internal/jsonpath"
	"certsync.io/certsync/internal/secretvalues"
	"certsync.io/certsync/internal/sources"
)

// vaultServer plays a vault's (or an identity provider's) HTTPS API on
// 127.0.0.1: it serves one body with an ETag, answers conditional requests
// with 304, can demand a bearer token, and can be switched into an outage.
type vaultServer struct {
	*httptest.Server
	mu          sync.Mutex
	body        []byte
	contentType string
	status      int    // 0: serve the body
	token       string // required bearer token; "" for none
	requests    int
	bodies      int // 200 responses carrying a body
	notModified int
}

func newVaultServer(t *testing.T, contentType string, body []byte) *vaultServer {
	v := &vaultServer{body: body, contentType: contentType}
	v.Server = httptest.NewUnstartedServer(http.HandlerFunc(v.serve))
	v.Config.ErrorLog = log.New(io.Discard, "", 0)
	v.StartTLS()
	t.Cleanup(v.Close)
	return v
}

func (v *vaultServer) serve(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.requests++
	if v.token != "" && r.Header.Get("Authorization") != "Bearer "+v.token {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if v.status != 0 {
		w.WriteHeader(v.status)
		return
	}
	sum := sha256.Sum256(v.body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		v.notModified++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	v.bodies++
	w.Header().Set("Content-Type", v.contentType)
	_, _ = w.Write(v.body)
}

func (v *vaultServer) set(status int, body []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.status = status
	if body != nil {
		v.body = body
	}
}

// counts returns the requests, the bodies sent and the 304s answered.
func (v *vaultServer) counts() (requests, bodies, notModified int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.requests, v.bodies, v.notModified
}

func (v *vaultServer) requestCount() int {
	r, _, _ := v.counts()
	return r
}

// createVaultCA stores the trust for the server's self-signed certificate
// as Secret vault-ca, key ca.crt.
func createVaultCA(t *testing.T, ns string, v *vaultServer) {
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: v.Certificate().Raw})
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vault-ca"}, Data: map[string][]byte{"ca.crt": caPEM}})
}

// ssHTTPS adds an HTTPS source reading v, trusted through vault-ca,
// refreshed every minute of its clock.
func ssHTTPS(name string, v *vaultServer, format string, mods ...func(*v1alpha1.SecretSyncHTTPSSource)) ssOption {
	return func(ss *v1alpha1.SecretSync) {
		h := &v1alpha1.SecretSyncHTTPSSource{
			URL:             v.URL + "/v1/mail/oauth",
			Format:          format,
			CASecretRef:     &v1alpha1.OAuth2CASecretRef{Name: "vault-ca", Key: "ca.crt"},
			RefreshInterval: &metav1.Duration{Duration: time.Minute},
		}
		for _, m := range mods {
			m(h)
		}
		ss.Spec.Sources = append(ss.Spec.Sources, v1alpha1.SecretSyncSource{Name: name, HTTPS: h})
	}
}

func ssKeys(keys ...v1alpha1.SecretSyncKey) ssOption {
	return func(ss *v1alpha1.SecretSync) { ss.Spec.Keys = keys }
}

func vaultJSON(id, secret string, expiresAt time.Time) []byte {
	return fmt.Appendf(nil, `{"data":{"client_id":%q,"client_secret":%q},"metadata":{"expires_at":%d,"ttl":"ignored"}}`,
		id, secret, expiresAt.Unix())
}

// ssSourceStatusOf returns the status of source name.
func ssSourceStatusOf(ss *v1alpha1.SecretSync, name string) v1alpha1.SecretSyncSourceStatus {
	for _, s := range ss.Status.Sources {
		if s.Name == name {
			return s
		}
	}
	return v1alpha1.SecretSyncSourceStatus{}
}

// ssExpectNoValues asserts that no value appears in the SecretSync's status
// or in its events.
func ssExpectNoValues(t *testing.T, ns, name string, values ...string) {
	t.Helper()
	g := NewWithT(t)
	ss := getSecretSync(g, ns, name)
	raw, err := json.Marshal(ss.Status)
	g.Expect(err).NotTo(HaveOccurred())
	var notes strings.Builder
	for _, e := range ssEventsFor(g, ns, name) {
		notes.WriteString(e.Note + "\n")
	}
	for _, v := range values {
		g.Expect(string(raw)).NotTo(ContainSubstring(v), "a value in status")
		g.Expect(notes.String()).NotTo(ContainSubstring(v), "a value in an event")
	}
}

// ssWaitSettled waits until the operator stops writing in ns and returns
// the count of writes then.
func ssWaitSettled(t *testing.T, ns string) int64 {
	var settled int64 = -1
	NewWithT(t).Eventually(func() bool {
		w := writes.get(ns)
		stable := w == settled
		settled = w
		return stable
	}, eventually, time.Second).Should(BeTrue())
	return settled
}

// A JSON body with renamed keys and the expiry in a JSON field, behind a
// bearer token: synced once, then refreshed per refreshInterval with 304s
// that transfer no body and write nothing; a new body is synced at the next
// refresh; a rotated token is used at once.
func TestSecretSyncHTTPSJSON(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := ssStart(t)
	notAfter := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second)
	v := newVaultServer(t, "application/json", vaultJSON("mailer", "s3cret-v1", notAfter))
	v.token = "t0ken-s3cret"
	createVaultCA(t, ns, v)
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vault-token"}, Data: map[string][]byte{"token": []byte(v.token + "\n")}})
	mustCreateSecretSync(t, newSecretSync(ns, "idp",
		ssHTTPS("vault", v, sources.FormatJSON, func(h *v1alpha1.SecretSyncHTTPSSource) {
			h.AuthSecretRef = &v1alpha1.SecretSyncLocalSecretRef{Name: "vault-token"}
		}),
		ssKeys(v1alpha1.SecretSyncKey{From: ".data.client_id", To: "CLIENT_ID"}, v1alpha1.SecretSyncKey{From: "$.data.client_secret", To: "CLIENT_SECRET"}),
		ssExpiry(v1alpha1.SecretSyncExpiryFrom{Key: ".metadata.expires_at"})))

	// The token is sent nowhere until the auth Secret names the host.
	ss := ssWaitCondition(t, ns, "idp", v1alpha1.ConditionSourcesReady, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource)
	g.Eventually(func(g Gomega) {
		src := ssSourceStatusOf(getSecretSync(g, ns, "idp"), "vault")
		g.Expect(src.Reason).To(Equal(consent.ReasonCredentialNotReleased))
		g.Expect(src.Message).To(ContainSubstring(consent.AnnotationAllowedHosts))
	}, eventually, poll).Should(Succeed())
	g.Expect(v.requestCount()).To(BeZero(), "a request was made with an unreleased credential")
	g.Eventually(func() error {
		sec := getSecret(g, ns, "vault-token")
		sec.Annotations = map[string]string{consent.AnnotationAllowedHosts: "vault.example.com, 127.0.0.1"}
		return k8s.Update(context.Background(), sec)
	}, eventually, poll).Should(Succeed())

	ss = ssWaitCondition(t, ns, "idp", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	tgt := getSecret(g, ns, "oauth-client")
	g.Expect(tgt.Data).To(Equal(map[string][]byte{"CLIENT_ID": []byte("mailer"), "CLIENT_SECRET": []byte("s3cret-v1")}))
	g.Expect(tgt.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationSource, "vault"))
	g.Expect(tgt.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationExpiresAt, notAfter.Format(time.RFC3339)))
	g.Expect(ss.Status.Secret.NotAfter.Time.Equal(notAfter)).To(BeTrue(), "expiry from the JSON field")
	src := ssSourceStatusOf(ss, "vault")
	g.Expect(src.Reason).To(Equal(secretvalues.ReasonValid))
	g.Expect(src.Message).To(Equal(`2 keys, expires at ` + notAfter.Format(time.RFC3339) + ` (key ".metadata.expires_at")`))
	g.Expect(src.SHA256).To(Equal(ssHash("mailer", "s3cret-v1")))
	g.Expect(ssCondition(ss, v1alpha1.ConditionExpiringSoon).Reason).To(Equal(v1alpha1.ReasonNotExpiring))
	ssExpectEvents(t, ns, "idp", map[string]int{v1alpha1.ReasonSynced: 1})
	ssExpectNoValues(t, ns, "idp", "s3cret", "t0ken")

	// Steady state: reconciles within refreshInterval make no request at
	// all, and none writes.
	settled := ssWaitSettled(t, ns)
	requests, bodies, _ := v.counts()
	g.Expect(bodies).To(Equal(1))
	for range 3 {
		ssPoke(t, ns, "vault-ca")
	}
	g.Expect(v.requestCount()).To(Equal(requests), "no fetch before refreshInterval")
	// Each refresh is a conditional request answered 304: no body, no write.
	for i := range 2 {
		ssClock(ns).Step(time.Minute + time.Second)
		ssPoke(t, ns, "vault-ca")
		g.Eventually(func() int { _, _, nm := v.counts(); return nm }, eventually, poll).Should(Equal(i + 1))
	}
	_, b, _ := v.counts()
	g.Expect(b).To(Equal(bodies), "a refresh of an unchanged secret transfers no body")
	g.Expect(writes.get(ns)).To(Equal(settled), "steady state must make no API writes")

	// A new secret is synced at the next refresh.
	v.set(0, vaultJSON("mailer", "s3cret-v2", notAfter.Add(30*24*time.Hour)))
	ssClock(ns).Step(time.Minute + time.Second)
	ssPoke(t, ns, "vault-ca")
	g.Eventually(func(g Gomega) {
		g.Expect(string(getSecret(g, ns, "oauth-client").Data["CLIENT_SECRET"])).To(Equal("s3cret-v2"))
		g.Expect(getSecretSync(g, ns, "idp").Status.Secret.SHA256).To(Equal(ssHash("mailer", "s3cret-v2")))
	}, eventually, poll).Should(Succeed())

	// A rotated token is used at once, without waiting for refreshInterval:
	// here a wrong one, which the endpoint refuses; the target stays.
	before := getSecret(g, ns, "oauth-client").ResourceVersion
	updateSecretData(t, ns, "vault-token", map[string][]byte{"token": []byte("wr0ng-s3cret")})
	g.Eventually(func(g Gomega) string {
		return ssSourceStatusOf(getSecretSync(g, ns, "idp"), "vault").Message
	}, eventually, poll).Should(And(ContainSubstring("401 Unauthorized"), ContainSubstring("check the credentials")))
	ss = ssWaitCondition(t, ns, "idp", v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource)
	g.Expect(ssSourceStatusOf(ss, "vault").Reason).To(Equal(sources.ReasonHTTPStatus))
	g.Expect(getSecret(g, ns, "oauth-client").ResourceVersion).To(Equal(before))
	ssExpectNoValues(t, ns, "idp", "s3cret", "t0ken", "wr0ng")
}

// A Raw body is the value of the single key "body"; a web page served in
// its place is refused and the target keeps its value.
func TestSecretSyncHTTPSRaw(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := ssStart(t)
	v := newVaultServer(t, "application/octet-stream", []byte("raw-t0ken-s3cret"))
	createVaultCA(t, ns, v)
	at := metav1.NewTime(time.Now().Add(60 * 24 * time.Hour).UTC().Truncate(time.Second))
	mustCreateSecretSync(t, newSecretSync(ns, "api", ssHTTPS("tokens", v, sources.FormatRaw),
		ssKeys(v1alpha1.SecretSyncKey{From: secretvalues.RawKey, To: "API_TOKEN"}),
		ssExpiry(v1alpha1.SecretSyncExpiryFrom{NotAfter: &at})))

	ss := ssWaitCondition(t, ns, "api", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	g.Expect(getSecret(g, ns, "oauth-client").Data).To(Equal(map[string][]byte{"API_TOKEN": []byte("raw-t0ken-s3cret")}))
	g.Expect(ss.Status.Secret.SHA256).To(Equal(secretvalues.Hash(map[string][]byte{"API_TOKEN": []byte("raw-t0ken-s3cret")})))
	g.Expect(ssSourceStatusOf(ss, "tokens").Message).To(ContainSubstring("1 key, expires at"))
	before := getSecret(g, ns, "oauth-client").ResourceVersion

	// A login page served with 200 at the next refresh.
	v.set(0, []byte("<!DOCTYPE html><html><body>Sign in</body></html>"))
	ssClock(ns).Step(time.Minute + time.Second)
	ssPoke(t, ns, "vault-ca")
	ss = ssWaitCondition(t, ns, "api", v1alpha1.ConditionSourcesReady, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource)
	src := ssSourceStatusOf(ss, "tokens")
	g.Expect(src.Reason).To(Equal(sources.ReasonHTMLResponse))
	g.Expect(src.Message).To(ContainSubstring("a Raw body must not start with '<'"))
	g.Expect(src.Message).NotTo(ContainSubstring("Sign in"))
	g.Expect(ssCondition(ss, v1alpha1.ConditionSynced).Message).To(ContainSubstring("the target keeps its current values"))
	g.Expect(getSecret(g, ns, "oauth-client").ResourceVersion).To(Equal(before))
	ssExpectEvents(t, ns, "api", map[string]int{v1alpha1.ReasonSourceUnavailable: 1, v1alpha1.ReasonSynced: 1})
	ssExpectNoValues(t, ns, "api", "raw-t0ken-s3cret")
}

// An outage (503) leaves the target untouched and is retried with backoff,
// not on every reconcile; the secret is synced again once the endpoint is
// back.
func TestSecretSyncHTTPSOutageAndRecovery(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := ssStart(t)
	v := newVaultServer(t, "application/json", vaultJSON("mailer", "s3cret-v1", time.Now().Add(90*24*time.Hour)))
	createVaultCA(t, ns, v)
	mustCreateSecretSync(t, newSecretSync(ns, "idp", ssHTTPS("vault", v, sources.FormatJSON),
		ssKeys(v1alpha1.SecretSyncKey{From: "data.client_id", To: "CLIENT_ID"}, v1alpha1.SecretSyncKey{From: "data.client_secret", To: "CLIENT_SECRET"})))
	ssWaitCondition(t, ns, "idp", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	before := getSecret(g, ns, "oauth-client")

	v.set(http.StatusServiceUnavailable, nil)
	ssClock(ns).Step(time.Minute + time.Second)
	ssPoke(t, ns, "vault-ca")
	ss := ssWaitCondition(t, ns, "idp", v1alpha1.ConditionSourcesReady, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource)
	src := ssSourceStatusOf(ss, "vault")
	g.Expect(src.Reason).To(Equal(sources.ReasonHTTPStatus))
	g.Expect(src.Message).To(ContainSubstring("503 Service Unavailable"))
	g.Expect(ssCondition(ss, v1alpha1.ConditionSynced).Reason).To(Equal(v1alpha1.ReasonNoValidSource))
	g.Expect(ssCondition(ss, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
	ssExpectEvents(t, ns, "idp", map[string]int{v1alpha1.ReasonSourceUnavailable: 1})
	after := getSecret(g, ns, "oauth-client")
	g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion), "an outage must not touch the target")
	g.Expect(after.Data).To(Equal(before.Data))

	// Within the backoff (at least 4s after the first failure) nothing is
	// fetched, however often the SecretSync is reconciled.
	requests, _, _ := v.counts()
	ssClock(ns).Step(time.Second)
	ssPoke(t, ns, "vault-ca")
	ssPoke(t, ns, "vault-ca")
	g.Expect(v.requestCount()).To(Equal(requests), "retried before its backoff")
	ssExpectEvents(t, ns, "idp", map[string]int{v1alpha1.ReasonSourceUnavailable: 1})

	// Back, with a renewed secret: synced at the next retry.
	v.set(0, vaultJSON("mailer", "s3cret-v2", time.Now().Add(120*24*time.Hour)))
	ssClock(ns).Step(10 * time.Second) // past the first backoff (5s ±20%)
	ssPoke(t, ns, "vault-ca")
	ss = ssWaitCondition(t, ns, "idp", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	g.Expect(ssSourceStatusOf(ss, "vault").Reason).To(Equal(secretvalues.ReasonValid))
	g.Expect(string(getSecret(g, ns, "oauth-client").Data["CLIENT_SECRET"])).To(Equal("s3cret-v2"))
	ssExpectNoValues(t, ns, "idp", "s3cret")
}

// A JSON body whose paths are missing or address an object: refused with
// the path named, the target untouched (here: never created).
func TestSecretSyncHTTPSJSONRefusals(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := ssStart(t)
	v := newVaultServer(t, "application/json", []byte(`{"data":{"client_id":"mailer","client_secret":{"value":"s3cret"}}}`))
	createVaultCA(t, ns, v)
	mustCreateSecretSync(t, newSecretSync(ns, "idp", ssHTTPS("vault", v, sources.FormatJSON),
		ssKeys(v1alpha1.SecretSyncKey{From: ".data.client_id"}, v1alpha1.SecretSyncKey{From: ".data.client_secret", To: "CLIENT_SECRET"})))
	ss := ssWaitCondition(t, ns, "idp", v1alpha1.ConditionSourcesReady, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource)
	src := ssSourceStatusOf(ss, "vault")
	g.Expect(src.Reason).To(Equal(jsonpath.ReasonUnsupportedValue))
	g.Expect(src.Message).To(ContainSubstring(`path ".data.client_secret" holds a JSON object`))
	ssExpectEvents(t, ns, "idp", map[string]int{v1alpha1.ReasonValidationFailed: 1})

	v.set(0, []byte(`{"data":{"client_id":"mailer"}}`))
	ssClock(ns).Step(time.Minute + time.Second)
	ssPoke(t, ns, "vault-ca")
	g.Eventually(func(g Gomega) {
		src := ssSourceStatusOf(getSecretSync(g, ns, "idp"), "vault")
		g.Expect(src.Reason).To(Equal(secretvalues.ReasonMissingKey))
		g.Expect(src.Message).To(ContainSubstring(`".data.client_secret"`))
	}, eventually, poll).Should(Succeed())
	var tgt corev1.Secret
	g.Expect(k8s.Get(context.Background(), objKey(ns, "oauth-client"), &tgt)).NotTo(Succeed(), "nothing to sync: no target")
	ssExpectNoValues(t, ns, "idp", "s3cret")
}

func TestSecretSyncHTTPSValidation(t *testing.T) {
	t.Parallel()
	ns := ssStart(t)
	at := metav1.NewTime(time.Now())
	https := func(mods ...func(*v1alpha1.SecretSyncHTTPSSource)) *v1alpha1.SecretSyncHTTPSSource {
		h := &v1alpha1.SecretSyncHTTPSSource{URL: "https://vault.example.com/v1/mail/oauth"}
		for _, m := range mods {
			m(h)
		}
		return h
	}
	raw := func(h *v1alpha1.SecretSyncHTTPSSource) { h.Format = sources.FormatRaw }
	rawKey := []v1alpha1.SecretSyncKey{{From: secretvalues.RawKey, To: "TOKEN"}}
	tests := []struct {
		name string
		mod  func(*v1alpha1.SecretSync)
		want string
	}{
		{"secret and https", func(ss *v1alpha1.SecretSync) { ss.Spec.Sources[0].HTTPS = https() }, "exactly one source kind (secret or https)"},
		{"plain http", func(ss *v1alpha1.SecretSync) {
			ss.Spec.Sources[0] = v1alpha1.SecretSyncSource{Name: "v", HTTPS: https(func(h *v1alpha1.SecretSyncHTTPSSource) { h.URL = "http://vault.example.com/x" })}
		}, "spec.sources[0].https.url"},
		{"credentials in the URL", func(ss *v1alpha1.SecretSync) {
			ss.Spec.Sources[0] = v1alpha1.SecretSyncSource{Name: "v", HTTPS: https(func(h *v1alpha1.SecretSyncHTTPSSource) { h.URL = "https://u:p@vault.example.com/x" })}
		}, "spec.sources[0].https.url"},
		{"unknown format", func(ss *v1alpha1.SecretSync) {
			ss.Spec.Sources[0] = v1alpha1.SecretSyncSource{Name: "v", HTTPS: https(func(h *v1alpha1.SecretSyncHTTPSSource) { h.Format = "PEM" })}
		}, "spec.sources[0].https.format"},
		{"short refreshInterval", func(ss *v1alpha1.SecretSync) {
			ss.Spec.Sources[0] = v1alpha1.SecretSyncSource{Name: "v", HTTPS: https(func(h *v1alpha1.SecretSyncHTTPSSource) {
				h.RefreshInterval = &metav1.Duration{Duration: 5 * time.Second}
			})}
		}, "refreshInterval must be at least 10s"},
		{"long timeout", func(ss *v1alpha1.SecretSync) {
			ss.Spec.Sources[0] = v1alpha1.SecretSyncSource{Name: "v", HTTPS: https(func(h *v1alpha1.SecretSyncHTTPSSource) {
				h.Timeout = &metav1.Duration{Duration: time.Hour}
			})}
		}, "timeout must be positive and at most 5m"},
		{"Raw with another key", func(ss *v1alpha1.SecretSync) {
			ss.Spec.Sources[0] = v1alpha1.SecretSyncSource{Name: "v", HTTPS: https(raw)}
			ss.Spec.Keys = []v1alpha1.SecretSyncKey{{From: "token"}}
		}, "keys must be exactly one entry with from: body"},
		{"Raw with two keys", func(ss *v1alpha1.SecretSync) {
			ss.Spec.Sources[0] = v1alpha1.SecretSyncSource{Name: "v", HTTPS: https(raw)}
			ss.Spec.Keys = append(rawKey, v1alpha1.SecretSyncKey{From: "other"})
		}, "keys must be exactly one entry with from: body"},
		{"Raw with an expiry key", func(ss *v1alpha1.SecretSync) {
			ss.Spec.Sources[0] = v1alpha1.SecretSyncSource{Name: "v", HTTPS: https(raw)}
			ss.Spec.Keys = rawKey
			ss.Spec.Expiry.From = &v1alpha1.SecretSyncExpiryFrom{Key: "expires_at"}
		}, "expiry.from.key cannot be read from an https source of format Raw"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss := newSecretSync(ns, "invalid", ssFrom("legacy", "legacy", ""))
			tt.mod(ss)
			NewWithT(t).Expect(k8s.Create(context.Background(), ss)).To(MatchError(ContainSubstring(tt.want)))
		})
	}

	// Accepted: Raw with its one key and a fixed expiry; defaults applied.
	g := NewWithT(t)
	ss := newSecretSync(ns, "raw", ssKeys(rawKey...), ssExpiry(v1alpha1.SecretSyncExpiryFrom{NotAfter: &at}))
	ss.Spec.Sources = []v1alpha1.SecretSyncSource{{Name: "v", HTTPS: https(raw)}}
	g.Expect(k8s.Create(context.Background(), ss, client.DryRunAll)).To(Succeed())
	ss = newSecretSync(ns, "json", ssExpiry(v1alpha1.SecretSyncExpiryFrom{Key: ".metadata.expires_at"}))
	ss.Spec.Sources = []v1alpha1.SecretSyncSource{{Name: "v", HTTPS: https()}}
	g.Expect(k8s.Create(context.Background(), ss, client.DryRunAll)).To(Succeed())
	h := ss.Spec.Sources[0].HTTPS
	g.Expect(h.Format).To(Equal(sources.FormatJSON))
	g.Expect(h.RefreshInterval).To(Equal(&metav1.Duration{Duration: 15 * time.Minute}))
	g.Expect(h.Timeout).To(Equal(&metav1.Duration{Duration: 10 * time.Second}))
}
