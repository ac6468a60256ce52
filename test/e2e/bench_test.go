package e2e

import (
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
)

// BenchmarkRenewalToAllVerified measures, on the local cluster with the real
// operator binary, the time from a renewed certificate landing in the legacy
// Secret to the CertSync reporting all five pods (a 3-replica Deployment and
// a 2-replica StatefulSet) verified serving it: sync, two rollouts, and a
// TLS/STARTTLS check of 15 endpoints. Each iteration is one renewal.
//
//	go test -run '^$' -bench RenewalToAllVerified -benchtime 10x ./test/e2e/
func BenchmarkRenewalToAllVerified(b *testing.B) {
	g := NewWithT(b)
	startOperator(b)
	ns := newNamespace(b)
	first := certificate(b, time.Now().Add(-24*time.Hour))
	mustCreate(b, legacySecret(ns, first))
	mustCreate(b, certSync(ns))
	mustCreate(b, deployment(ns, "postfix", 3, nil))
	mustCreate(b, statefulSet(ns, "dovecot", 2))
	waitVerifiedG(g, ns, 5, fingerprint(first))

	var took []time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		// Each renewal is newer than the last, a minute apart in notBefore.
		p := certificate(b, time.Now().Add(time.Duration(i-b.N)*time.Minute))
		b.StartTimer()
		start := time.Now()
		renew(b, ns, p)
		waitVerifiedG(g, ns, 5, fingerprint(p))
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "median-ms")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "max-ms")
}

// waitVerifiedG is waitVerified for benchmarks.
func waitVerifiedG(g Gomega, ns string, n int32, fp string) {
	g.Eventually(func(g Gomega) {
		cs := getCertSync(g, ns)
		g.Expect(conditionOf(cs, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(cs.Status.Certificate.SHA256).To(Equal(fp))
		g.Expect(cs.Status.Pods).NotTo(BeNil())
		g.Expect(cs.Status.Pods.Verified).To(Equal(n))
	}, eventually, 20*time.Millisecond).Should(Succeed())
}
