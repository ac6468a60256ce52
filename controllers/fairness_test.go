package controllers

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
)

// TestBusyNamespaceDoesNotStarveQuietOne: one renewed Secret wakes every
// CertSync of a busy namespace at once; a CertSync created in another
// namespace right after it is synced while most of the busy ones still
// wait (the fair queue ranks items within their namespace), not after all
// of them (first in, first out).
func TestBusyNamespaceDoesNotStarveQuietOne(t *testing.T) {
	const busyCount = 150
	g := NewWithT(t)
	busy, quiet := newNamespace(t), newNamespace(t)
	p1 := validPair(t, time.Now().Add(-2*time.Hour), 1)
	mustCreate(t, sourceSecret(busy, "legacy", p1.ChainPEM, p1.KeyPEM))
	mustCreate(t, sourceSecret(quiet, "legacy", p1.ChainPEM, p1.KeyPEM))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range busyCount {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cs := newCertSync(busy, fmt.Sprintf("cs-%03d", i), withSecretSource("legacy", "legacy", ""), withDNSNames(mailHost), withTarget(fmt.Sprintf("cs-%03d-tls", i)))
			if err := k8s.Create(context.Background(), cs); err != nil {
				t.Errorf("creating CertSync %s: %v", cs.Name, err) // not Fatal: another goroutine
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	first := certs.Fingerprint(p1.Cert)
	g.Eventually(func(g Gomega) {
		g.Expect(synced(g, busy, first)).To(Equal(busyCount))
	}, 5*time.Minute, time.Second).Should(Succeed(), "initial sync")

	// The busy namespace's one source renewed: busyCount reconciles queued
	// at once; then a CertSync created in the quiet namespace.
	p2 := validPair(t, time.Now().Add(-time.Hour), 2)
	updateSecretData(t, busy, "legacy", map[string][]byte{"tls.crt": p2.ChainPEM, "tls.key": p2.KeyPEM})
	second := certs.Fingerprint(p2.Cert)
	g.Eventually(func(g Gomega) {
		g.Expect(synced(g, busy, second)).To(BeNumerically(">", 0))
	}, 5*time.Minute, 20*time.Millisecond).Should(Succeed(), "the busy namespace's renewal under way")
	mustCreate(t, newCertSync(quiet, "only", withSecretSource("legacy", "legacy", ""), withDNSNames(mailHost), withTarget("only-tls")))
	var busyDone int
	g.Eventually(func(g Gomega) {
		var s corev1.Secret
		g.Expect(k8s.Get(context.Background(), objKey(quiet, "only-tls"), &s)).To(Succeed())
		g.Expect(s.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationSHA256, first))
		busyDone = synced(g, busy, second) // read as soon as the quiet one is seen synced
	}, 5*time.Minute, 50*time.Millisecond).Should(Succeed(), "the quiet namespace's CertSync")
	t.Logf("quiet namespace synced when %d of %d busy CertSyncs were", busyDone, busyCount)
	// Fair: served among the first handful; first in, first out: after
	// all busyCount. Half is a generous bound between the two.
	g.Expect(busyDone).To(BeNumerically("<", busyCount/2), "the quiet namespace waited behind the busy one")
	g.Eventually(func(g Gomega) {
		g.Expect(synced(g, busy, second)).To(Equal(busyCount))
	}, 5*time.Minute, time.Second).Should(Succeed(), "the busy namespace still syncs entirely")
}

// synced counts the targets in ns holding the certificate sha256.
func synced(g Gomega, ns, sha256 string) int {
	var list corev1.SecretList
	g.Expect(k8s.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	n := 0
	for _, s := range list.Items {
		if s.Labels[v1alpha1.LabelManagedBy] == v1alpha1.ManagedByValue && s.Annotations[v1alpha1.AnnotationSHA256] == sha256 {
			n++
		}
	}
	return n
}
