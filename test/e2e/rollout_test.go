package e2e

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/test/mailsim"
)

// TestRenewalReachesEveryPod is the incident: the legacy PKI renews; the
// target is updated, both workloads roll exactly once, and all five pods are
// proven to serve the new certificate on every port.
func TestRenewalReachesEveryPod(t *testing.T) {
	g := NewWithT(t)
	startOperator(t)
	ns := newNamespace(t)
	old := certificate(t, time.Now().Add(-24*time.Hour))
	mustCreate(t, legacySecret(ns, old))
	mustCreate(t, certSync(ns))
	mustCreate(t, deployment(ns, "postfix", 3, nil))
	mustCreate(t, statefulSet(ns, "dovecot", 2))
	waitVerified(t, ns, 5, fingerprint(old))
	// Pods that may have started before the target held the certificate
	// (pod timestamps have one-second resolution) were restarted once; count
	// from here.
	rsBefore, revBefore := replicaSets(g, ns, "postfix"), revisions(g, ns, "dovecot")

	renewed := certificate(t, time.Now().Add(-time.Minute))
	start := time.Now()
	renew(t, ns, renewed)
	cs := waitVerified(t, ns, 5, fingerprint(renewed))
	t.Logf("renewal to all 5 pods verified: %s", time.Since(start).Round(time.Millisecond))

	// Exactly one rollout per workload, with the fingerprint in the template.
	g.Consistently(func(g Gomega) {
		g.Expect(replicaSets(g, ns, "postfix")).To(Equal(rsBefore + 1))
		g.Expect(revisions(g, ns, "dovecot")).To(Equal(revBefore + 1))
	}, 3*time.Second, poll).Should(Succeed())
	var d appsv1.Deployment
	g.Expect(k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "postfix"}, &d)).To(Succeed())
	g.Expect(d.Spec.Template.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationRestartedFor, fingerprint(renewed)))
	g.Expect(d.Spec.Template.Annotations[v1alpha1.AnnotationRestartedFor]).To(Equal(fingerprint(renewed)))
	g.Expect(eventCount(g, ns, v1alpha1.ReasonPodRestarted)).To(BeZero(), "a rollout, not evictions, restarts workloads")

	// Every pod serves the new certificate on every port: asked of the
	// simulator, independently of the operator's own verdict.
	served := servedBy(ns)
	g.Expect(served).To(HaveLen(5))
	for pod, sha := range served {
		g.Expect(sha).To(Equal(fingerprint(renewed)), "pod %s", pod)
	}
	for _, st := range sim.Serving() {
		if st.SHA256 == fingerprint(renewed) {
			g.Expect(st.Addrs).To(HaveLen(3))
		}
	}
	g.Expect(cs.Status.Pods.Stale).To(BeZero())
	g.Expect(conditionOf(cs, v1alpha1.ConditionRolledOut).Status).To(Equal(metav1.ConditionTrue))
	g.Eventually(func(g Gomega) {
		g.Expect(eventCount(g, ns, v1alpha1.ReasonRolloutComplete)).To(BeNumerically(">=", 1))
		g.Expect(eventCount(g, ns, v1alpha1.ReasonVerified)).To(BeNumerically(">=", 1))
	}, eventually, poll).Should(Succeed())
}

// TestStalePodIsCaughtAndHealed: a pod serving a stale certificate behind
// the operator's back is found within one verification interval and
// restarted.
func TestStalePodIsCaughtAndHealed(t *testing.T) {
	g := NewWithT(t)
	startOperator(t)
	ns := newNamespace(t)
	cur := certificate(t, time.Now().Add(-time.Hour))
	mustCreate(t, legacySecret(ns, cur))
	mustCreate(t, certSync(ns))
	mustCreate(t, deployment(ns, "postfix", 3, nil))
	waitVerified(t, ns, 3, fingerprint(cur))

	victim := podNames(g, ns, "postfix")[0]
	expired := certificate(t, time.Now().Add(-100*24*time.Hour))
	g.Expect(sim.ServeStale(ns+"/"+victim, expired.ChainPEM, expired.KeyPEM)).To(Succeed())
	start := time.Now()

	// Within one interval (10s) plus a generous margin for a loaded machine.
	g.Eventually(func(g Gomega) {
		g.Expect(podNames(g, ns, "postfix")).NotTo(ContainElement(victim))
	}, eventually, poll).Should(Succeed())
	t.Logf("stale pod %s replaced %s after it turned stale", victim, time.Since(start).Round(time.Millisecond))
	waitVerified(t, ns, 3, fingerprint(cur))
	g.Eventually(func(g Gomega) {
		g.Expect(eventCount(g, ns, v1alpha1.ReasonStaleCertificate)).To(BeNumerically(">=", 1))
		g.Expect(eventCount(g, ns, v1alpha1.ReasonPodRestarted)).To(Equal(1))
	}, eventually, poll).Should(Succeed())
}

// TestRolloutNoneReportsStalePods: with restarts disabled, a renewal leaves
// the pods stale, and the CertSync says so by name.
func TestRolloutNoneReportsStalePods(t *testing.T) {
	g := NewWithT(t)
	startOperator(t)
	ns := newNamespace(t)
	old := certificate(t, time.Now().Add(-24*time.Hour))
	mustCreate(t, legacySecret(ns, old))
	mustCreate(t, certSync(ns, func(cs *v1alpha1.CertSync) {
		cs.Spec.Rollout.Mode = v1alpha1.RolloutNone
		cs.Spec.Verify.Remediate = new(bool)
	}))
	mustCreate(t, deployment(ns, "postfix", 2, nil))
	waitVerified(t, ns, 2, fingerprint(old))
	rsBefore := replicaSets(g, ns, "postfix")

	renew(t, ns, certificate(t, time.Now().Add(-time.Minute)))
	g.Eventually(func(g Gomega) {
		cs := getCertSync(g, ns)
		c := conditionOf(cs, v1alpha1.ConditionVerified)
		g.Expect(string(c.Status) + "/" + c.Reason).To(Equal("False/" + v1alpha1.ReasonStaleCertificate))
		g.Expect(cs.Status.Pods.Stale).To(Equal(int32(2)))
		g.Expect(cs.Status.Pods.StaleNames).To(ConsistOf(podNames(g, ns, "postfix")))
		g.Expect(c.Message).To(ContainSubstring("serves sha256"))
		g.Expect(conditionOf(cs, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
	}, eventually, poll).Should(Succeed())
	g.Expect(replicaSets(g, ns, "postfix")).To(Equal(rsBefore), "mode None restarts nothing")
}

// TestUnreachablePortIsNotStale: a declared port nobody listens on makes the
// pods unreachable, which is reported apart from stale.
func TestUnreachablePortIsNotStale(t *testing.T) {
	g := NewWithT(t)
	startOperator(t)
	ns := newNamespace(t)
	cur := certificate(t, time.Now().Add(-time.Hour))
	mustCreate(t, legacySecret(ns, cur))
	mustCreate(t, certSync(ns, func(cs *v1alpha1.CertSync) {
		cs.Spec.Verify.Endpoints = []v1alpha1.VerifyEndpoint{{Port: 1993, Protocol: "TLS"}, {Port: 1465, Protocol: "TLS"}}
	}))
	mustCreate(t, deployment(ns, "postfix", 2, nil))
	g.Eventually(func(g Gomega) {
		cs := getCertSync(g, ns)
		c := conditionOf(cs, v1alpha1.ConditionVerified)
		g.Expect(string(c.Status)+"/"+c.Reason).To(Equal("False/"+v1alpha1.ReasonPodsUnreachable), c.Message)
		g.Expect(cs.Status.Pods.Unreachable).To(Equal(int32(2)))
		g.Expect(cs.Status.Pods.Stale).To(BeZero())
		g.Expect(cs.Status.Pods.UnreachableNames).To(HaveLen(2))
		g.Expect(c.Message).To(ContainSubstring(":1465"))
	}, eventually, poll).Should(Succeed())
	// Verification runs only after any rollout completed, so the count is final.
	rs := replicaSets(g, ns, "postfix")
	g.Consistently(func(g Gomega) {
		g.Expect(replicaSets(g, ns, "postfix")).To(Equal(rs), "unreachable is no reason to restart")
		g.Expect(eventCount(g, ns, v1alpha1.ReasonPodRestarted)).To(BeZero())
	}, 5*time.Second, poll).Should(Succeed())
}

// TestOperatorRestartMidRollout: the operator dies right after asking for a
// rollout; its successor completes it without restarting anything twice.
func TestOperatorRestartMidRollout(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := newNamespace(t)
	old := certificate(t, time.Now().Add(-24*time.Hour))
	mustCreate(t, legacySecret(ns, old))
	mustCreate(t, certSync(ns))
	mustCreate(t, deployment(ns, "postfix", 3, nil))
	waitVerified(t, ns, 3, fingerprint(old))
	rsBefore := replicaSets(g, ns, "postfix")
	startedBefore := eventCount(g, ns, v1alpha1.ReasonRolloutStarted)

	renewed := certificate(t, time.Now().Add(-time.Minute))
	renew(t, ns, renewed)
	g.Eventually(func(g Gomega) {
		var d appsv1.Deployment
		g.Expect(k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "postfix"}, &d)).To(Succeed())
		g.Expect(d.Spec.Template.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationRestartedFor, fingerprint(renewed)))
	}, eventually, 20*time.Millisecond).Should(Succeed())
	op.kill()

	startOperator(t)
	waitVerified(t, ns, 3, fingerprint(renewed))
	g.Consistently(func(g Gomega) {
		g.Expect(replicaSets(g, ns, "postfix")).To(Equal(rsBefore+1), "one rollout for one certificate")
	}, 3*time.Second, poll).Should(Succeed())
	// The killed operator may not have sent its RolloutStarted event (events
	// are sent asynchronously); its successor must not send another.
	g.Expect(eventCount(g, ns, v1alpha1.ReasonRolloutStarted)).To(BeNumerically("<=", startedBefore+1))
	g.Expect(eventCount(g, ns, v1alpha1.ReasonPodRestarted)).To(BeZero())
}

// TestStaleAfterRestartIsReportedNotLooped: pods of a broken image keep
// serving the old certificate after restarts; certsync restarts each old pod
// once, then reports StaleAfterRestart instead of restarting forever.
func TestStaleAfterRestartIsReportedNotLooped(t *testing.T) {
	g := NewWithT(t)
	startOperator(t)
	ns := newNamespace(t)
	old := certificate(t, time.Now().Add(-24*time.Hour))
	mustCreate(t, legacySecret(ns, old))
	mustCreate(t, certSync(ns, func(cs *v1alpha1.CertSync) {
		cs.Spec.Rollout.Mode = v1alpha1.RolloutNone // leave the restarts to remediation
		cs.Spec.Verify.Remediate = ptr.To(true)
	}))
	mustCreate(t, deployment(ns, "broken", 2, map[string]string{mailsim.BrokenAnnotation: "true"}))
	waitVerified(t, ns, 2, fingerprint(old))

	renew(t, ns, certificate(t, time.Now().Add(-time.Minute)))
	g.Eventually(func(g Gomega) {
		cs := getCertSync(g, ns)
		c := conditionOf(cs, v1alpha1.ConditionVerified)
		g.Expect(string(c.Status)+"/"+c.Reason).To(Equal("False/"+v1alpha1.ReasonStaleAfterRestart), c.Message)
	}, eventually, poll).Should(Succeed())
	// Each of the two original pods was evicted once; nothing more, ever.
	g.Consistently(func(g Gomega) {
		g.Expect(eventCount(g, ns, v1alpha1.ReasonPodRestarted)).To(Equal(2))
		var pods corev1.PodList
		g.Expect(k8s.List(context.Background(), &pods)).To(Succeed())
	}, 25*time.Second, time.Second).Should(Succeed())
}
