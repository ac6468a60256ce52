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

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/history"
)

// TestRejectedRenewalIsRolledBackOnce is a renewal the mail pods cannot use:
// every pod started with it stops answering. certsync restores the previous
// certificate from the history Secret, rolls the Deployment back once,
// reports RolledBack with the reason and one event, and does not roll the
// rejected certificate out again although its source still offers it.
func TestRejectedRenewalIsRolledBackOnce(t *testing.T) {
	g := NewWithT(t)
	startOperator(t)
	ns := newNamespace(t)
	old := certificate(t, time.Now().Add(-24*time.Hour))
	mustCreate(t, legacySecret(ns, old))
	mustCreate(t, certSync(ns))
	mustCreate(t, deployment(ns, "postfix", 3, nil))
	waitVerified(t, ns, 3, fingerprint(old))

	renewed := certificate(t, time.Now().Add(-time.Minute))
	sim.Reject(fingerprint(renewed))
	start := time.Now()
	renew(t, ns, renewed)

	// The renewal reaches the target (and the previous certificate the
	// history), the pods roll, stop answering, and are rolled back.
	var cs *v1alpha1.CertSync
	g.Eventually(func(g Gomega) {
		cs = getCertSync(g, ns)
		c := conditionOf(cs, v1alpha1.ConditionRolledBack)
		g.Expect(string(c.Status)+"/"+c.Reason).To(Equal("True/"+v1alpha1.ReasonPodsUnreachable), c.Message)
	}, eventually, poll).Should(Succeed())
	t.Logf("renewal to rollback: %s", time.Since(start).Round(time.Millisecond))
	g.Expect(cs.Status.RolledBack.RejectedSHA256).To(Equal(fingerprint(renewed)))
	g.Expect(cs.Status.RolledBack.RestoredSHA256).To(Equal(fingerprint(old)))
	var hist corev1.Secret
	g.Expect(k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: history.SecretName("mail-tls")}, &hist)).To(Succeed())
	g.Expect(hist.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationSHA256, fingerprint(old)))

	// The pods serve the previous certificate again, on every port.
	g.Eventually(func(g Gomega) {
		cs := getCertSync(g, ns)
		g.Expect(cs.Status.Certificate.SHA256).To(Equal(fingerprint(old)))
		g.Expect(cs.Status.Pods).NotTo(BeNil())
		g.Expect(cs.Status.Pods.Verified).To(Equal(int32(3)), "pods: %+v", cs.Status.Pods)
		served := servedBy(ns)
		g.Expect(served).To(HaveLen(3))
		for pod, sha := range served {
			g.Expect(sha).To(Equal(fingerprint(old)), "pod %s", pod)
		}
	}, eventually, poll).Should(Succeed())
	t.Logf("renewal to previous certificate verified on all pods: %s", time.Since(start).Round(time.Millisecond))
	rs := replicaSets(g, ns, "postfix")

	// No loop: the source still offers the rejected certificate; over
	// several verification intervals nothing rolls and nothing is written.
	g.Consistently(func(g Gomega) {
		cs := getCertSync(g, ns)
		g.Expect(cs.Status.Certificate.SHA256).To(Equal(fingerprint(old)))
		g.Expect(conditionOf(cs, v1alpha1.ConditionSynced).Reason).To(Equal(v1alpha1.ReasonRollbackHeld))
		g.Expect(replicaSets(g, ns, "postfix")).To(Equal(rs))
		var d appsv1.Deployment
		g.Expect(k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "postfix"}, &d)).To(Succeed())
		g.Expect(d.Spec.Template.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationRestartedFor, fingerprint(old)))
		g.Expect(eventCount(g, ns, v1alpha1.ReasonRolledBack)).To(Equal(1))
	}, 25*time.Second, time.Second).Should(Succeed())
	evs := eventsOf(g, ns, v1alpha1.ReasonRolledBack)
	g.Expect(evs).To(HaveLen(1))
	g.Expect(evs[0].Type).To(Equal(corev1.EventTypeWarning))
	g.Expect(evs[0].Note).To(ContainSubstring(v1alpha1.ReasonPodsUnreachable))
	// One rollout for the renewal and one back: the Deployment's restarts
	// for the certificates, each once.
	g.Expect(countEvents(eventsOf(g, ns, v1alpha1.ReasonRolloutStarted), "restarting Deployment/postfix for certificate sha256 "+fingerprint(old)[:16])).
		To(BeNumerically("<=", 2), "the previous certificate's rollout (at most once at creation) and the rollback's")
	g.Expect(countEvents(eventsOf(g, ns, v1alpha1.ReasonRolloutStarted), "restarting Deployment/postfix for certificate sha256 "+fingerprint(renewed)[:16])).To(Equal(1))
}

// TestCrashingRenewalIsRolledBackOnce is a renewal the mail pods crash on:
// every pod started with it exits at once and never turns Ready, so the
// Deployment's rollout cannot complete (its old pods keep serving). Past
// rollout.progressDeadline certsync restores the previous certificate,
// rolls back once (RolledBack, reason RolloutStalled, one event), and does
// not roll the rejected certificate out again although its source still
// offers it.
func TestCrashingRenewalIsRolledBackOnce(t *testing.T) {
	g := NewWithT(t)
	startOperator(t)
	ns := newNamespace(t)
	old := certificate(t, time.Now().Add(-24*time.Hour))
	mustCreate(t, legacySecret(ns, old))
	mustCreate(t, certSync(ns, func(cs *v1alpha1.CertSync) {
		cs.Spec.Rollout.ProgressDeadline = &metav1.Duration{Duration: 20 * time.Second}
	}))
	mustCreate(t, deployment(ns, "postfix", 3, nil))
	waitVerified(t, ns, 3, fingerprint(old))

	renewed := certificate(t, time.Now().Add(-time.Minute))
	sim.Crash(fingerprint(renewed))
	start := time.Now()
	renew(t, ns, renewed)

	var cs *v1alpha1.CertSync
	g.Eventually(func(g Gomega) {
		cs = getCertSync(g, ns)
		c := conditionOf(cs, v1alpha1.ConditionRolledBack)
		g.Expect(string(c.Status)+"/"+c.Reason).To(Equal("True/"+v1alpha1.ReasonRolloutStalled), c.Message)
	}, eventually, poll).Should(Succeed())
	t.Logf("renewal to rollback: %s", time.Since(start).Round(time.Millisecond))
	g.Expect(cs.Status.RolledBack.RejectedSHA256).To(Equal(fingerprint(renewed)))
	g.Expect(cs.Status.RolledBack.RestoredSHA256).To(Equal(fingerprint(old)))
	g.Expect(cs.Status.RolledBack.Message).To(ContainSubstring("Deployment/postfix"))
	var crashed []string
	for _, p := range sim.Crashed() {
		if pod, ok := cutPrefix(p, ns+"/"); ok {
			crashed = append(crashed, pod)
		}
	}
	g.Expect(crashed).NotTo(BeEmpty(), "no pod crashed on the renewal")

	// The crashing pods are gone; every pod serves the previous
	// certificate, verified.
	g.Eventually(func(g Gomega) {
		cs := getCertSync(g, ns)
		g.Expect(cs.Status.Certificate.SHA256).To(Equal(fingerprint(old)))
		g.Expect(conditionOf(cs, v1alpha1.ConditionRolledOut).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(cs.Status.Pods).NotTo(BeNil())
		g.Expect(cs.Status.Pods.Verified).To(Equal(int32(3)), "pods: %+v", cs.Status.Pods)
		names := podNames(g, ns, "postfix")
		g.Expect(names).To(HaveLen(3))
		for _, c := range crashed {
			g.Expect(names).NotTo(ContainElement(c))
		}
		served := servedBy(ns)
		g.Expect(served).To(HaveLen(3))
		for pod, sha := range served {
			g.Expect(sha).To(Equal(fingerprint(old)), "pod %s", pod)
		}
	}, eventually, poll).Should(Succeed())
	t.Logf("renewal to previous certificate verified on all pods: %s", time.Since(start).Round(time.Millisecond))
	rs := replicaSets(g, ns, "postfix")

	// No loop: nothing rolls again while the source still offers the
	// rejected certificate.
	g.Consistently(func(g Gomega) {
		cs := getCertSync(g, ns)
		g.Expect(cs.Status.Certificate.SHA256).To(Equal(fingerprint(old)))
		g.Expect(conditionOf(cs, v1alpha1.ConditionSynced).Reason).To(Equal(v1alpha1.ReasonRollbackHeld))
		g.Expect(replicaSets(g, ns, "postfix")).To(Equal(rs))
		g.Expect(eventCount(g, ns, v1alpha1.ReasonRolledBack)).To(Equal(1))
	}, 25*time.Second, time.Second).Should(Succeed())
	evs := eventsOf(g, ns, v1alpha1.ReasonRolledBack)
	g.Expect(evs).To(HaveLen(1))
	g.Expect(evs[0].Type).To(Equal(corev1.EventTypeWarning))
	g.Expect(evs[0].Note).To(ContainSubstring(v1alpha1.ReasonRolloutStalled))
	g.Expect(countEvents(eventsOf(g, ns, v1alpha1.ReasonRolloutStarted), "restarting Deployment/postfix for certificate sha256 "+fingerprint(renewed)[:16])).To(Equal(1))

	// The on-call asks for the rejected certificate again (`kubectl
	// certsync renew`): it is synced and rolled out once more; its pods
	// crash again, and this time the stall is reported, not rolled back.
	out, code := runPlugin(t, "renew", "mail", "-n", ns, "--timeout", "90s")
	g.Expect(code).To(Equal(0), out)
	g.Expect(out).To(ContainSubstring(`Target holds the certificate from "legacy" (sha256 ` + fingerprint(renewed)[:16]))
	g.Eventually(func(g Gomega) {
		cs := getCertSync(g, ns)
		g.Expect(cs.Status.Certificate.SHA256).To(Equal(fingerprint(renewed)))
		g.Expect(conditionOf(cs, v1alpha1.ConditionReady).Reason).To(Equal(v1alpha1.ReasonRolloutStalled))
	}, eventually, poll).Should(Succeed())
	g.Consistently(func(g Gomega) {
		cs := getCertSync(g, ns)
		g.Expect(cs.Status.Certificate.SHA256).To(Equal(fingerprint(renewed)))
		g.Expect(eventCount(g, ns, v1alpha1.ReasonRolledBack)).To(Equal(1))
	}, 5*time.Second, time.Second).Should(Succeed())
	g.Expect(countEvents(eventsOf(g, ns, v1alpha1.ReasonRolloutStarted), "restarting Deployment/postfix for certificate sha256 "+fingerprint(renewed)[:16])).To(Equal(2))
}
