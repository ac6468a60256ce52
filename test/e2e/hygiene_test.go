package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"certsync.io/certsync/api/v1alpha1"
)

// secretRegistry holds every secret value the tests hand the operator:
// private keys, keystore passwords, client secrets, tokens. The hygiene
// check looks for each of them, in every form it could leak in, in
// everything the operator writes where users or monitoring can read it.
var secretRegistry struct {
	sync.Mutex
	values []registered
}

type registered struct {
	what  string
	forms []string // substrings that betray the value
}

// registerSecret records a secret value; PEM private keys are also
// recorded as their DER body (each base64 line, the hex of the DER).
func registerSecret(what string, value []byte) {
	forms := []string{
		string(value),
		base64.StdEncoding.EncodeToString(value),
		base64.RawURLEncoding.EncodeToString(value),
		hex.EncodeToString(value),
	}
	if bytes.Contains(value, []byte("-----BEGIN")) {
		forms = forms[1:] // the raw form is caught by its PEM marker anyway
		rest := value
		for {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			der := base64.StdEncoding.EncodeToString(b.Bytes)
			// Every 48-byte run of the DER, base64-encoded, is one PEM body
			// line; any of them appearing is a leak.
			for i := 0; i+64 <= len(der); i += 64 {
				forms = append(forms, der[i:i+64])
			}
			forms = append(forms, hex.EncodeToString(b.Bytes)[:64], string(b.Bytes[:min(len(b.Bytes), 48)]))
		}
	}
	secretRegistry.Lock()
	defer secretRegistry.Unlock()
	secretRegistry.values = append(secretRegistry.values, registered{what: what, forms: forms})
}

// pemMarkers betray PEM anywhere: certificates are no secret, but nothing
// certsync writes for humans or monitors should carry PEM at all.
var pemMarkers = []string{"-----BEGIN", "-----END", "PRIVATE KEY-----"}

// leaks returns what of the registered secrets (and PEM markers) text holds.
func leaks(source, text string) []string {
	var out []string
	for _, m := range pemMarkers {
		if strings.Contains(text, m) {
			out = append(out, fmt.Sprintf("%s: PEM marker %q", source, m))
		}
	}
	secretRegistry.Lock()
	defer secretRegistry.Unlock()
	for _, r := range secretRegistry.values {
		for _, f := range r.forms {
			if len(f) >= 12 && strings.Contains(text, f) {
				out = append(out, fmt.Sprintf("%s: %s", source, r.what))
				break
			}
		}
	}
	return out
}

// checkHygiene scans the logs of every operator the run started (at the
// most verbose level), every event in the cluster, the status of every
// CertSync and SecretSync, and a scrape of a fresh operator's metrics.
// It returns what it scanned, for the report.
func checkHygiene(ctx context.Context) (string, error) {
	var found []string
	logs, _ := filepath.Glob(filepath.Join(workDir, "certsync-*.log"))
	var logBytes int
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		logBytes += len(b)
		found = append(found, leaks("log "+filepath.Base(p), string(b))...)
	}
	var events eventsv1.EventList
	if err := k8s.List(ctx, &events); err != nil {
		return "", err
	}
	for _, e := range events.Items {
		b, _ := json.Marshal(e)
		found = append(found, leaks("event "+e.Namespace+"/"+e.Name, string(b))...)
	}
	var css v1alpha1.CertSyncList
	if err := k8s.List(ctx, &css); err != nil {
		return "", err
	}
	for _, cs := range css.Items {
		b, _ := json.Marshal(cs.Status)
		found = append(found, leaks("status of CertSync "+cs.Namespace+"/"+cs.Name, string(b))...)
	}
	var sss v1alpha1.SecretSyncList
	if err := k8s.List(ctx, &sss); err != nil {
		return "", err
	}
	for _, ss := range sss.Items {
		b, _ := json.Marshal(ss.Status)
		found = append(found, leaks("status of SecretSync "+ss.Namespace+"/"+ss.Name, string(b))...)
	}
	metrics, err := scrapeAll(ctx, len(css.Items))
	if err != nil {
		return "", err
	}
	found = append(found, leaks("metrics", metrics)...)
	summary := fmt.Sprintf("%d operator logs (%d KiB), %d events, %d CertSync and %d SecretSync statuses, %d bytes of metrics, %d secret values",
		len(logs), logBytes/1024, len(events.Items), len(css.Items), len(sss.Items), len(metrics), len(secretRegistry.values))
	if len(found) > 0 {
		return summary, fmt.Errorf("secret material in operator output:\n  %s", strings.Join(found, "\n  "))
	}
	return summary, nil
}

// scrapeAll starts one more operator (the ServiceAccount's identity, metrics
// on a loopback port) and scrapes it once it has a certsync_ready series for
// every CertSync, i.e. after it reconciled them all.
func scrapeAll(ctx context.Context, certSyncs int) (string, error) {
	l, err := listenLoopback()
	if err != nil {
		return "", err
	}
	addr := l
	p, err := startOperatorProcess(filepath.Join(workDir, "certsync-hygiene.log"), operatorKubeconfig, "--metrics-bind-address="+addr, "--metrics-secure=false")
	if err != nil {
		return "", err
	}
	defer p.stop()
	var body string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return false, nil
		}
		body = string(b)
		n := 0
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, "certsync_ready{") && strings.Contains(line, `kind="CertSync"`) {
				n++
			}
		}
		return n >= certSyncs, nil
	})
	if err != nil {
		return "", fmt.Errorf("metrics of all %d CertSyncs: %w", certSyncs, err)
	}
	return body, nil
}

// listenLoopback returns a free 127.0.0.1 address.
func listenLoopback() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// TestFaultSecretsHygieneMaterial gives the operator every kind of secret
// it handles besides private keys — keystore passwords and the keystores
// themselves, an OAuth2 client secret and an API token through a
// SecretSync — so that the hygiene check after the run (TestMain) looks for
// all of them in the logs, events, statuses and metrics. (The HTTPS source's
// bearer token comes from TestFaultSourceOutageMidRollout.)
func TestFaultSecretsHygieneMaterial(t *testing.T) {
	g := NewWithT(t)
	startOperator(t)
	ns := newNamespace(t)
	cur := certificate(t, time.Now().Add(-time.Hour))
	mustCreate(t, legacySecret(ns, cur))
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "keystore-pass"},
		Data: map[string][]byte{"password": []byte(randomSecret(t, "keystore password"))}})
	mustCreate(t, certSync(ns, func(cs *v1alpha1.CertSync) {
		ref := v1alpha1.SecretKeySelector{Name: "keystore-pass", Key: "password"}
		cs.Spec.Target.Keystores = &v1alpha1.Keystores{
			PKCS12: &v1alpha1.Keystore{Create: true, PasswordSecretRef: ref},
			JKS:    &v1alpha1.Keystore{Create: true, PasswordSecretRef: ref},
		}
	}))
	// The source consents to copies in its namespace (docs/security.md).
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "idp",
		Annotations: map[string]string{v1alpha1.AnnotationAllowedNamespaces: ns}}, Data: map[string][]byte{
		"client_id":     []byte("mailer"),
		"client_secret": []byte(randomSecret(t, "OAuth2 client secret")),
		"api_token":     []byte(randomSecret(t, "API token")),
	}})
	mustCreate(t, &v1alpha1.SecretSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "oauth"},
		Spec: v1alpha1.SecretSyncSpec{
			Sources: []v1alpha1.SecretSyncSource{{Name: "idp", Secret: &v1alpha1.SecretSyncSecretRef{Name: "idp"}}},
			Keys: []v1alpha1.SecretSyncKey{{From: "client_id", To: "CLIENT_ID"}, {From: "client_secret", To: "CLIENT_SECRET"},
				{From: "api_token", To: "TOKEN"}},
			Target: v1alpha1.SecretSyncTarget{SecretName: "oauth-client"},
		},
	})
	g.Eventually(func(g Gomega) {
		cs := getCertSync(g, ns)
		g.Expect(conditionOf(cs, v1alpha1.ConditionSynced).Status).To(Equal(metav1.ConditionTrue))
		tgt := targetSecret(g, ns)
		g.Expect(tgt.Data).To(HaveKey("keystore.p12"))
		g.Expect(tgt.Data).To(HaveKey("keystore.jks"))
		var out corev1.Secret
		g.Expect(k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "oauth-client"}, &out)).To(Succeed())
		g.Expect(out.Data).To(HaveKey("CLIENT_SECRET"))
		g.Expect(out.Data).To(HaveKey("TOKEN"))
	}, eventually, poll).Should(Succeed())
	tgt := targetSecret(g, ns)
	registerSecret("PKCS#12 keystore", tgt.Data["keystore.p12"])
	registerSecret("JKS keystore", tgt.Data["keystore.jks"])
}
