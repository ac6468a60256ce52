package controllers

import (
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/egress"
	"certsync.io/certsync/internal/secretvalues"
	"certsync.io/certsync/internal/sources"
)

// newDeniedVaultServer is a vault server on an address of 127.77.0.0/16,
// the network testEgress denies: it stands for an in-cluster service a
// tenant wants the operator to read for them.
func newDeniedVaultServer(t *testing.T, body []byte) *vaultServer {
	t.Helper()
	var ln net.Listener
	var err error
	for range 20 {
		addr := fmt.Sprintf("127.77.%d.%d:0", rand.IntN(256), 1+rand.IntN(254))
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
	}
	if err != nil {
		t.Skipf("cannot listen on 127.77.0.0/16: %v", err)
	}
	v := &vaultServer{body: body, contentType: "application/octet-stream"}
	v.Server = httptest.NewUnstartedServer(http.HandlerFunc(v.serve))
	v.Listener.Close()
	v.Listener = ln
	v.Config.ErrorLog = log.New(io.Discard, "", 0)
	v.StartTLS()
	t.Cleanup(v.Close)
	return v
}

// SSRF: a tenant's Raw source pointed at an in-cluster address the
// operator's egress policy denies, and at the cloud metadata address, gets
// nothing: no request reaches the service, no target is written, and the
// source says EgressDenied without naming a resolved address.
func TestSecretSyncHTTPSEgressDenied(t *testing.T) {
	g := NewWithT(t)
	ns := ssStart(t)
	v := newDeniedVaultServer(t, []byte("internal-s3cret"))
	createVaultCA(t, ns, v)
	at := metav1.NewTime(time.Now().Add(60 * 24 * time.Hour).UTC().Truncate(time.Second))
	mustCreateSecretSync(t, newSecretSync(ns, "api",
		ssHTTPS("internal", v, sources.FormatRaw),
		ssHTTPS("metadata", v, sources.FormatRaw, func(h *v1alpha1.SecretSyncHTTPSSource) {
			h.URL = "https://169.254.169.254/latest/meta-data/iam/security-credentials/"
		}),
		ssKeys(v1alpha1.SecretSyncKey{From: secretvalues.RawKey, To: "API_TOKEN"}),
		ssExpiry(v1alpha1.SecretSyncExpiryFrom{NotAfter: &at})))

	ss := ssWaitCondition(t, ns, "api", v1alpha1.ConditionSourcesReady, metav1.ConditionFalse, v1alpha1.ReasonNoValidSource)
	g.Eventually(func(g Gomega) {
		ss = getSecretSync(g, ns, "api")
		for _, name := range []string{"internal", "metadata"} {
			src := ssSourceStatusOf(ss, name)
			g.Expect(src.Reason).To(Equal(egress.ReasonEgressDenied), name)
			g.Expect(src.Message).To(ContainSubstring("egress policy"), name)
		}
	}, eventually, poll).Should(Succeed())
	g.Expect(v.requestCount()).To(BeZero(), "a request reached the denied service")
	err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "oauth-client"}, &corev1.Secret{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a target was written: %v", err)
	ssExpectNoValues(t, ns, "api", "internal-s3cret")
}
