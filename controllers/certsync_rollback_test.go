package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
	"certsync.io/certsync/internal/history"
)

// TestRollbackAfterStalledRollout: against an API server with no deployment
// controller every rollout stalls. The first certificate's stall rolls
// nothing back (nothing earlier is kept); the renewal's stall restores the
// first certificate from the history Secret, restarts the Deployment once
// for it and reports RolledBack, and the rejected certificate is not synced
// again — until a renewal is requested, after which it is not rolled back a
// second time.
func TestRollbackAfterStalledRollout(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	deploymentWithPod(t, ns, true)

	a := validPair(t, time.Now().Add(-2*time.Hour), 1)
	b := validPair(t, time.Now().Add(-time.Hour), 2)
	shaA, shaB := certs.Fingerprint(a.Cert), certs.Fingerprint(b.Cert)
	mustCreate(t, sourceSecret(ns, "legacy", a.ChainPEM, a.KeyPEM))
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("legacy", "legacy", ""), func(cs *v1alpha1.CertSync) {
		cs.Spec.Rollout.ProgressDeadline = &metav1.Duration{Duration: 2 * time.Second}
		cs.Spec.Rollout.MinRestartInterval = &metav1.Duration{} // renewals seconds apart restart at once
	}))
	restartedFor := func(g Gomega) string {
		var d appsv1.Deployment
		g.Expect(k8s.Get(context.Background(), objKey(ns, "postfix"), &d)).To(Succeed())
		return d.Spec.Template.Annotations[v1alpha1.AnnotationRestartedFor]
	}

	// The first certificate stalls too, but there is nothing to go back to.
	waitCondition(t, ns, "mail", v1alpha1.ConditionRolledOut, metav1.ConditionFalse, v1alpha1.ReasonRolloutStalled)
	g.Expect(restartedFor(g)).To(Equal(shaA))
	var hist corev1.Secret
	err := k8s.Get(context.Background(), objKey(ns, history.SecretName("mail-tls")), &hist)
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no history before a renewal: %v", err)

	// The renewal: the previous certificate is kept, the new one stalls
	// and is rolled back.
	updateSecretData(t, ns, "legacy", map[string][]byte{corev1.TLSCertKey: b.ChainPEM, corev1.TLSPrivateKeyKey: b.KeyPEM})
	cs := waitCondition(t, ns, "mail", v1alpha1.ConditionRolledBack, metav1.ConditionTrue, v1alpha1.ReasonRolloutStalled)
	g.Expect(cs.Status.RolledBack).NotTo(BeNil())
	g.Expect(cs.Status.RolledBack.RejectedSHA256).To(Equal(shaB))
	g.Expect(cs.Status.RolledBack.RestoredSHA256).To(Equal(shaA))
	g.Expect(getSecret(g, ns, "mail-tls").Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationSHA256, shaA))

	hist = *getSecret(g, ns, history.SecretName("mail-tls"))
	g.Expect(hist.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationSHA256, shaA))
	g.Expect(hist.Labels).To(HaveKeyWithValue(v1alpha1.LabelHistory, "true"))
	g.Expect(hist.OwnerReferences).To(ContainElement(HaveField("UID", cs.UID)))
	g.Expect(hist.Type).To(Equal(corev1.SecretTypeOpaque))

	// Rolled back once: the Deployment is restarted for the restored
	// certificate, and then nothing moves, although that rollout stalls
	// as well and the source still offers the rejected certificate.
	g.Eventually(restartedFor, eventually, poll).Should(Equal(shaA))
	waitCondition(t, ns, "mail", v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonRollbackHeld)
	waitCondition(t, ns, "mail", v1alpha1.ConditionRolledOut, metav1.ConditionFalse, v1alpha1.ReasonRolloutStalled)
	touchSecret(t, ns, "legacy", 1)
	g.Consistently(func(g Gomega) {
		g.Expect(getSecret(g, ns, "mail-tls").Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationSHA256, shaA))
		g.Expect(restartedFor(g)).To(Equal(shaA))
		evs := eventReasons(eventsFor(g, ns, "mail"))
		g.Expect(evs[v1alpha1.ReasonRolledBack]).To(Equal(1))
		g.Expect(evs[v1alpha1.ReasonRolloutStarted]).To(Equal(3), "A, B, and A again: one rollback rollout")
	}, 5*time.Second, poll).Should(Succeed())
	for _, e := range eventsFor(g, ns, "mail") {
		g.Expect(e.Note).NotTo(ContainSubstring("PRIVATE KEY"))
	}

	// A renewal requested after the rollback syncs the rejected certificate
	// again; it stalls again, and is not rolled back a second time.
	g.Eventually(func(g Gomega) {
		cur := getCertSync(g, ns, "mail")
		metav1.SetMetaDataAnnotation(&cur.ObjectMeta, v1alpha1.AnnotationRenewRequested, time.Now().Add(time.Second).UTC().Format(time.RFC3339))
		g.Expect(k8s.Update(context.Background(), cur)).To(Succeed())
	}, eventually, poll).Should(Succeed())
	touchSecret(t, ns, "legacy", 2) // a second wake-up, whether or not the annotation change woke it
	g.Eventually(func(g Gomega) {
		g.Expect(getSecret(g, ns, "mail-tls").Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationSHA256, shaB))
	}, eventually, poll).Should(Succeed())
	waitCondition(t, ns, "mail", v1alpha1.ConditionRolledBack, metav1.ConditionFalse, v1alpha1.ReasonRollbackSuperseded)
	waitCondition(t, ns, "mail", v1alpha1.ConditionRolledOut, metav1.ConditionFalse, v1alpha1.ReasonRolloutStalled)
	g.Consistently(func(g Gomega) {
		g.Expect(getSecret(g, ns, "mail-tls").Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationSHA256, shaB))
		g.Expect(eventReasons(eventsFor(g, ns, "mail"))[v1alpha1.ReasonRolledBack]).To(Equal(1))
	}, 5*time.Second, poll).Should(Succeed())
}

// TestNoRollbackWhenOptedOut: with rollout.autoRollback false a stalled
// renewal is only reported, and no history Secret is written.
func TestNoRollbackWhenOptedOut(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	deploymentWithPod(t, ns, true)
	a := validPair(t, time.Now().Add(-2*time.Hour), 1)
	b := validPair(t, time.Now().Add(-time.Hour), 2)
	mustCreate(t, sourceSecret(ns, "legacy", a.ChainPEM, a.KeyPEM))
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("legacy", "legacy", ""), func(cs *v1alpha1.CertSync) {
		cs.Spec.Rollout.ProgressDeadline = &metav1.Duration{Duration: 2 * time.Second}
		cs.Spec.Rollout.MinRestartInterval = &metav1.Duration{} // renewals seconds apart restart at once
		cs.Spec.Rollout.AutoRollback = ptr.To(false)
	}))
	waitCondition(t, ns, "mail", v1alpha1.ConditionRolledOut, metav1.ConditionFalse, v1alpha1.ReasonRolloutStalled)
	updateSecretData(t, ns, "legacy", map[string][]byte{corev1.TLSCertKey: b.ChainPEM, corev1.TLSPrivateKeyKey: b.KeyPEM})
	g.Eventually(func(g Gomega) {
		g.Expect(getSecret(g, ns, "mail-tls").Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationSHA256, certs.Fingerprint(b.Cert)))
	}, eventually, poll).Should(Succeed())
	cs := waitCondition(t, ns, "mail", v1alpha1.ConditionRolledOut, metav1.ConditionFalse, v1alpha1.ReasonRolloutStalled)
	g.Expect(cs.Status.RolledBack).To(BeNil())
	g.Consistently(func(g Gomega) {
		g.Expect(getSecret(g, ns, "mail-tls").Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationSHA256, certs.Fingerprint(b.Cert)))
		var hist corev1.Secret
		err := k8s.Get(context.Background(), objKey(ns, history.SecretName("mail-tls")), &hist)
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no history when opted out: %v", err)
	}, 4*time.Second, poll).Should(Succeed())
}
