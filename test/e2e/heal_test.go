package e2e

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"certsync.io/certsync/api/v1alpha1"
)

// TestRenewalThenStalePodHealedTenTimes runs the product's core loop ten
// times in a row on one estate: a renewal rolls both workloads (and evicts
// nothing: the pods of the old revisions are on their way out, whatever
// they still serve), then a current pod turns stale behind the operator's
// back and is evicted exactly once and replaced by one serving the
// renewal. A miss in any round — an outgoing pod evicted mid-rollout, a
// remediation budget spent on it, a stale pod never healed — fails it.
func TestRenewalThenStalePodHealedTenTimes(t *testing.T) {
	g := NewWithT(t)
	startOperator(t)
	ns := newNamespace(t)
	first := certificate(t, time.Now().Add(-24*time.Hour))
	mustCreate(t, legacySecret(ns, first))
	mustCreate(t, certSync(ns))
	mustCreate(t, deployment(ns, "postfix", 3, nil))
	mustCreate(t, statefulSet(ns, "dovecot", 2))
	waitVerified(t, ns, 5, fingerprint(first))
	expired := certificate(t, time.Now().Add(-100*24*time.Hour))

	for round := 1; round <= 10; round++ {
		evictedBefore := evictionCount(g, ns)
		renewed := certificate(t, time.Now().Add(-time.Minute))
		renew(t, ns, renewed)
		waitVerified(t, ns, 5, fingerprint(renewed))
		g.Expect(evictionCount(g, ns)).To(Equal(evictedBefore), "round %d: the rollout evicted a pod", round)

		// A pod of the current revision: one that serves the renewal (a pod
		// of the previous one may still be on its way out).
		app := []string{"postfix", "dovecot"}[round%2]
		var current []string
		for _, name := range podNames(g, ns, app) {
			if servedBy(ns)[name] == fingerprint(renewed) {
				current = append(current, name)
			}
		}
		g.Expect(current).NotTo(BeEmpty())
		victim := current[(round/2)%len(current)]
		uid := podUID(g, ns, victim)
		g.Expect(sim.ServeStale(ns+"/"+victim, expired.ChainPEM, expired.KeyPEM)).To(Succeed())
		g.Eventually(func(g Gomega) {
			g.Expect(podUID(g, ns, victim)).NotTo(Equal(uid), "round %d: stale pod %s not replaced", round, victim)
		}, eventually, poll).Should(Succeed())
		waitVerified(t, ns, 5, fingerprint(renewed))
		// Asked of the simulator too, which closes an evicted pod's
		// listeners once it sees the pod gone.
		g.Eventually(func(g Gomega) {
			served := servedBy(ns)
			g.Expect(served).To(HaveLen(5))
			for pod, sha := range served {
				g.Expect(sha).To(Equal(fingerprint(renewed)), "round %d: pod %s", round, pod)
			}
			g.Expect(evictionCount(g, ns)).To(Equal(evictedBefore+1), "round %d: one eviction for one stale pod", round)
		}, eventually, poll).Should(Succeed())
		t.Logf("round %d: renewal rolled out and stale pod %s healed", round, victim)
	}
}

// podUID is the UID of the live pod of that name, "" when there is none.
func podUID(g Gomega, ns, name string) types.UID {
	var p corev1.Pod
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &p); err != nil || p.DeletionTimestamp != nil {
		return ""
	}
	return p.UID
}

// evictionCount counts the pods the operator evicted ("evicted pod …"
// events), not the warnings about evictions a budget refused.
func evictionCount(g Gomega, ns string) int {
	return countEvents(eventsOf(g, ns, v1alpha1.ReasonPodRestarted), "evicted pod ")
}
