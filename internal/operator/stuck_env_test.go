package operator

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
)

// TestHealthzReportsAStuckReconcile: a reconcile that runs longer than
// --stuck-reconcile-timeout makes /healthz fail while it runs, and pass
// again once it returns. Fetches run off the reconcile workers; to hold one,
// the reconcile is told to wait for its fetch (--background-io-wait) longer
// than the timeout, and the HTTPS source accepts the request and never
// answers.
func TestHealthzReportsAStuckReconcile(t *testing.T) {
	needEnv(t)
	g := NewWithT(t)
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
	})

	ns := "stuck-test"
	ensureNamespace(t, ns)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	g.Expect(k8s.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pki-ca"},
		Data: map[string][]byte{"ca.crt": caPEM}})).To(Succeed())

	probe := freeAddr(t)
	// The HTTPS source is on 127.0.0.1, which the egress policy denies by
	// default.
	run(t, admin, "--metrics-bind-address=0", "--health-probe-bind-address="+probe, "--stuck-reconcile-timeout=2s", "--egress-allow-loopback", "--background-io-wait=10m")
	healthz := func() int {
		code, _, err := get("http://"+probe+"/healthz", "")
		if err != nil {
			return 0
		}
		return code
	}
	g.Eventually(healthz, eventually, poll).Should(Equal(http.StatusOK))

	g.Expect(k8s.Create(context.Background(), &v1alpha1.CertSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mail"},
		Spec: v1alpha1.CertSyncSpec{
			Sources: []v1alpha1.CertSource{{Name: "pki", HTTPS: &v1alpha1.HTTPSSource{
				URL: srv.URL + "/mail.pem", CASecretRef: &v1alpha1.SecretKeySelector{Name: "pki-ca", Key: "ca.crt"}}}},
			Target: v1alpha1.Target{SecretName: "mail-tls"},
		},
	})).To(Succeed())
	start := time.Now()
	g.Eventually(healthz, eventually, poll).Should(Equal(http.StatusInternalServerError))
	t.Logf("/healthz failed %s after the hanging fetch began", time.Since(start).Round(time.Millisecond))

	close(release)
	released = true
	g.Eventually(healthz, eventually, poll).Should(Equal(http.StatusOK))
}
