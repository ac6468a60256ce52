package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/secretvalues"
	"certsync.io/certsync/internal/sources"
)

// Memory follows the spec: the poller state and cached bodies (with
// private keys) of an HTTPS source renamed in, then removed from, a
// CertSync are dropped at the next reconcile, and all of them when the
// CertSync is deleted; likewise for a SecretSync.
func TestHTTPSStatePrunedWithTheSpec(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	srv := newPKIServer(t)
	srv.set(bundle(validPair(t, time.Now().Add(-time.Hour), 1)), 0, "")
	createPKICA(t, ns, srv)
	mustCreate(t, newCertSync(ns, "mail", withHTTPSSource("one", srv, time.Hour), withHTTPSSource("two", srv, time.Hour)))
	key := types.NamespacedName{Namespace: ns, Name: "mail"}
	held := func() int { return testCertSyncReconciler.Poller.SourcesOf(key) }
	g.Eventually(held, eventually, poll).Should(Equal(2))

	update := func(mod func(*v1alpha1.CertSync)) {
		g.Eventually(func() error {
			cs := getCertSync(g, ns, "mail")
			mod(cs)
			return k8s.Update(context.Background(), cs)
		}, eventually, poll).Should(Succeed())
	}
	update(func(cs *v1alpha1.CertSync) { cs.Spec.Sources[1].Name = "renamed" })
	g.Eventually(func(g Gomega) {
		cs := getCertSync(g, ns, "mail")
		g.Expect(cs.Status.ObservedGeneration).To(Equal(cs.Generation))
		g.Expect(sourceStatus(cs, "renamed").Reason).NotTo(BeEmpty())
	}, eventually, poll).Should(Succeed())
	g.Eventually(held, eventually, poll).Should(Equal(2), "one + renamed, not three")

	update(func(cs *v1alpha1.CertSync) { cs.Spec.Sources = cs.Spec.Sources[:1] })
	g.Eventually(held, eventually, poll).Should(Equal(1))

	g.Expect(k8s.Delete(context.Background(), getCertSync(g, ns, "mail"))).To(Succeed())
	g.Eventually(held, eventually, poll).Should(BeZero())

	// SecretSync: a removed source is forgotten, then the object.
	ssNS := ssStart(t)
	v := newVaultServer(t, "application/octet-stream", []byte("raw-value"))
	createVaultCA(t, ssNS, v)
	at := metav1.NewTime(time.Now().Add(60 * 24 * time.Hour).UTC().Truncate(time.Second))
	mustCreateSecretSync(t, newSecretSync(ssNS, "api", ssHTTPS("a", v, sources.FormatRaw), ssHTTPS("b", v, sources.FormatRaw),
		ssKeys(v1alpha1.SecretSyncKey{From: secretvalues.RawKey, To: "TOKEN"}), ssExpiry(v1alpha1.SecretSyncExpiryFrom{NotAfter: &at})))
	ssKey := types.NamespacedName{Namespace: ssNS, Name: "api"}
	ssHeld := func() int { return testSecretSyncReconciler.Poller.SourcesOf(ssKey) }
	g.Eventually(ssHeld, eventually, poll).Should(Equal(2))
	g.Eventually(func() error {
		ss := getSecretSync(g, ssNS, "api")
		ss.Spec.Sources = ss.Spec.Sources[1:]
		return k8s.Update(context.Background(), ss)
	}, eventually, poll).Should(Succeed())
	g.Eventually(ssHeld, eventually, poll).Should(Equal(1))
	g.Expect(k8s.Delete(context.Background(), getSecretSync(g, ssNS, "api"))).To(Succeed())
	g.Eventually(ssHeld, eventually, poll).Should(BeZero())
}
