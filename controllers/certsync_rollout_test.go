package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
)

// TestRolloutRestartsOnceAndReportsAStall runs against an API server with
// no deployment controller: certsync restarts the Deployment whose pod
// mounts the target (by the template annotation, once), and since nothing
// ever rolls it out, reports RolloutStalled after the progress deadline,
// with one event — and still never restarts it a second time.
func TestRolloutRestartsOnceAndReportsAStall(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	deploymentWithPod(t, ns, true)

	p := validPair(t, time.Now().Add(-time.Hour), 1)
	mustCreate(t, sourceSecret(ns, "legacy", p.ChainPEM, p.KeyPEM))
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("legacy", "legacy", ""), func(cs *v1alpha1.CertSync) {
		cs.Spec.Rollout.ProgressDeadline = &metav1.Duration{Duration: 2 * time.Second}
	}))

	g.Eventually(func(g Gomega) {
		var got appsv1.Deployment
		g.Expect(k8s.Get(context.Background(), objKey(ns, "postfix"), &got)).To(Succeed())
		g.Expect(got.Spec.Template.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationRestartedFor, certs.Fingerprint(p.Cert)))
	}, eventually, poll).Should(Succeed())
	cs := waitCondition(t, ns, "mail", v1alpha1.ConditionRolledOut, metav1.ConditionFalse, v1alpha1.ReasonRolloutStalled)
	g.Expect(conditionMessage(cs, v1alpha1.ConditionRolledOut)).To(ContainSubstring("Deployment/postfix"))
	g.Expect(cs.Status.Restarts).To(HaveLen(1))
	st, reason := condition(cs, v1alpha1.ConditionReady)
	g.Expect(string(st) + "/" + reason).To(Equal("False/" + v1alpha1.ReasonRolloutStalled))

	var gen int64
	g.Eventually(func(g Gomega) {
		var got appsv1.Deployment
		g.Expect(k8s.Get(context.Background(), objKey(ns, "postfix"), &got)).To(Succeed())
		gen = got.Generation
	}, eventually, poll).Should(Succeed())
	touchSecret(t, ns, "legacy", 1)
	touchSecret(t, ns, "legacy", 2)
	g.Consistently(func(g Gomega) {
		var got appsv1.Deployment
		g.Expect(k8s.Get(context.Background(), objKey(ns, "postfix"), &got)).To(Succeed())
		g.Expect(got.Generation).To(Equal(gen), "restarted once per certificate, not again while stalled")
		evs := eventReasons(eventsFor(g, ns, "mail"))
		g.Expect(evs[v1alpha1.ReasonRolloutStarted]).To(Equal(1))
		g.Expect(evs[v1alpha1.ReasonRolloutStalled]).To(BeNumerically("<=", 1))
	}, 3*time.Second, poll).Should(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(eventReasons(eventsFor(g, ns, "mail"))).To(HaveKeyWithValue(v1alpha1.ReasonRolloutStalled, 1))
	}, eventually, poll).Should(Succeed())
}

// TestListedWorkloadWithoutTheSecretIsRestarted: a workload listed in
// rollout.workloads whose pods neither mount the target nor match the
// verify selector (a CSI driver, a sidecar) is found by its own selector.
func TestListedWorkloadWithoutTheSecretIsRestarted(t *testing.T) {
	ns := newNamespace(t)
	deploymentWithPod(t, ns, false)
	p := validPair(t, time.Now().Add(-time.Hour), 1)
	mustCreate(t, sourceSecret(ns, "legacy", p.ChainPEM, p.KeyPEM))
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("legacy", "legacy", ""), func(cs *v1alpha1.CertSync) {
		cs.Spec.Rollout.Mode = v1alpha1.RolloutExplicit
		cs.Spec.Rollout.Workloads = []v1alpha1.WorkloadRef{{Kind: "Deployment", Name: "postfix"}}
	}))
	NewWithT(t).Eventually(func(g Gomega) {
		var got appsv1.Deployment
		g.Expect(k8s.Get(context.Background(), objKey(ns, "postfix"), &got)).To(Succeed())
		g.Expect(got.Spec.Template.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationRestartedFor, certs.Fingerprint(p.Cert)))
	}, eventually, poll).Should(Succeed())
}

// deploymentWithPod creates a Deployment "postfix" and one pod of it, as its
// ReplicaSet would have made it, running since now (so before any
// certificate the test writes next). There is no deployment controller:
// nothing ever rolls it out.
func deploymentWithPod(t *testing.T, ns string, mountsTarget bool) {
	labels := map[string]string{"app": "postfix"}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "postfix", Image: "postfix"}}},
	}
	if mountsTarget {
		tmpl.Spec.Volumes = []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "mail-tls"}}}}
	}
	mustCreate(t, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "postfix"},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	})
	mustCreate(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "postfix-5d8f7b6c9-abcde",
			Labels: map[string]string{"app": "postfix", "pod-template-hash": "5d8f7b6c9"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "postfix-5d8f7b6c9",
				UID: "00000000-0000-0000-0000-000000000001", Controller: ptr.To(true)}}},
		Spec: tmpl.Spec,
	})
}
