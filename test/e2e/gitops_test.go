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
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/health"
	"certsync.io/certsync/test/gitops"
)

// TestGitOpsHealth checks what kstatus (Flux, kpt) and Argo CD (the shipped
// config/argocd/health.lua under gopher-lua) show for CertSyncs and
// SecretSyncs that real reconciles by the real operator left in each state:
// healthy → Current/Healthy; renewal in flight → InProgress/Progressing;
// stalled rollout, stale pod, no valid source, target conflict →
// Failed/Degraded. Every snapshot polled along the way is checked against
// the same table, not only the final one.
func TestGitOpsHealth(t *testing.T) {
	startOperator(t)
	script, err := gitops.HealthScript()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("healthy", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t)
		cur := certificate(t, time.Now().Add(-time.Hour))
		mustCreate(t, legacySecret(ns, cur))
		mustCreate(t, certSync(ns))
		mustCreate(t, deployment(ns, "postfix", 2, nil))
		waitVerified(t, ns, 2, fingerprint(cur))
		expectHealth(t, script, getCertSync(NewWithT(t), ns), status.CurrentStatus, "Healthy")
	})

	t.Run("no valid source", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t)
		mustCreate(t, certSync(ns)) // its source Secret does not exist
		cs := waitReady(t, script, ns, v1alpha1.ReasonNoValidSource)
		expectHealth(t, script, cs, status.FailedStatus, "Degraded")
	})

	t.Run("target conflict", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t)
		cur := certificate(t, time.Now().Add(-time.Hour))
		mustCreate(t, legacySecret(ns, cur))
		mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mail-tls"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": cur.ChainPEM, "tls.key": cur.KeyPEM}}) // someone else's
		mustCreate(t, certSync(ns))
		cs := waitReady(t, script, ns, v1alpha1.ReasonTargetConflict)
		expectHealth(t, script, cs, status.FailedStatus, "Degraded")
	})

	t.Run("stale pod", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t)
		old := certificate(t, time.Now().Add(-24*time.Hour))
		mustCreate(t, legacySecret(ns, old))
		mustCreate(t, certSync(ns, func(cs *v1alpha1.CertSync) {
			cs.Spec.Rollout.Mode = v1alpha1.RolloutNone
			cs.Spec.Verify.Remediate = new(bool)
		}))
		mustCreate(t, deployment(ns, "postfix", 1, nil))
		waitVerified(t, ns, 1, fingerprint(old))
		renew(t, ns, certificate(t, time.Now().Add(-time.Minute)))
		cs := waitReady(t, script, ns, v1alpha1.ReasonStaleCertificate)
		expectHealth(t, script, cs, status.FailedStatus, "Degraded")
	})

	t.Run("renewal in flight then stalled rollout", func(t *testing.T) {
		t.Parallel()
		g := NewWithT(t)
		ns := newNamespace(t)
		old := certificate(t, time.Now().Add(-24*time.Hour))
		mustCreate(t, legacySecret(ns, old))
		mustCreate(t, certSync(ns, func(cs *v1alpha1.CertSync) {
			cs.Spec.Rollout.ProgressDeadline = &metav1.Duration{Duration: 20 * time.Second}
			// The stall itself is what this case shows to the tools; with
			// automatic rollback on, the stall would be rolled back
			// (RolledBackCertificateHeld, also Failed/Degraded).
			cs.Spec.Rollout.AutoRollback = ptr.To(false)
		}))
		d := deployment(ns, "postfix", 1, nil)
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromInt32(1))}}
		mustCreate(t, d)
		waitVerified(t, ns, 1, fingerprint(old))
		// New pods of this Deployment can no longer be scheduled: the
		// renewal's restart will never complete, the old pod stays.
		g.Eventually(func(g Gomega) {
			var got appsv1.Deployment
			g.Expect(k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "postfix"}, &got)).To(Succeed())
			got.Spec.Template.Spec.NodeSelector = map[string]string{"certsync-e2e/no-such-node": "true"}
			g.Expect(k8s.Update(context.Background(), &got)).To(Succeed())
		}, eventually, poll).Should(Succeed())
		renew(t, ns, certificate(t, time.Now().Add(-time.Minute)))
		cs := waitReady(t, script, ns, v1alpha1.ReasonRollingOut)
		expectHealth(t, script, cs, status.InProgressStatus, "Progressing")
		cs = waitReady(t, script, ns, v1alpha1.ReasonRolloutStalled)
		expectHealth(t, script, cs, status.FailedStatus, "Degraded")
	})

	t.Run("SecretSync healthy and without a valid source", func(t *testing.T) {
		t.Parallel()
		g := NewWithT(t)
		ns := newNamespace(t)
		mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "idp",
			Annotations: map[string]string{v1alpha1.AnnotationAllowedNamespaces: ns}},
			StringData: map[string]string{"client_id": "mailer", "client_secret": "s3cr3t-value"}})
		for _, name := range []string{"good", "broken"} {
			src := "idp"
			if name == "broken" {
				src = "missing"
			}
			mustCreate(t, &v1alpha1.SecretSync{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec: v1alpha1.SecretSyncSpec{
					Sources: []v1alpha1.SecretSyncSource{{Name: "idp", Secret: &v1alpha1.SecretSyncSecretRef{Name: src}}},
					Keys:    []v1alpha1.SecretSyncKey{{From: "client_id", To: "CLIENT_ID"}, {From: "client_secret", To: "CLIENT_SECRET"}},
					Target:  v1alpha1.SecretSyncTarget{SecretName: name + "-client"},
				},
			})
		}
		for name, want := range map[string]struct {
			reason string
			k      status.Status
			argo   string
		}{"good": {v1alpha1.ReasonReady, status.CurrentStatus, "Healthy"}, "broken": {v1alpha1.ReasonNoValidSource, status.FailedStatus, "Degraded"}} {
			var ss v1alpha1.SecretSync
			g.Eventually(func(g Gomega) {
				g.Expect(k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &ss)).To(Succeed())
				checkConsistent(g, script, &ss, ss.Status.Conditions, ss.Generation, ss.Status.ObservedGeneration)
				ready := findCondition(ss.Status.Conditions, v1alpha1.ConditionReady)
				g.Expect(ready).NotTo(BeNil())
				g.Expect(ready.Reason).To(Equal(want.reason), ready.Message)
			}, eventually, poll).Should(Succeed())
			expectHealth(t, script, &ss, want.k, want.argo)
		}
	})
}

// waitReady waits until the CertSync's Ready condition has reason (for its
// current generation), checking every snapshot seen on the way.
func waitReady(t *testing.T, script, ns, reason string) *v1alpha1.CertSync {
	t.Helper()
	var cs *v1alpha1.CertSync
	NewWithT(t).Eventually(func(g Gomega) {
		cs = getCertSync(g, ns)
		checkConsistent(g, script, cs, cs.Status.Conditions, cs.Generation, cs.Status.ObservedGeneration)
		ready := conditionOf(cs, v1alpha1.ConditionReady)
		g.Expect(ready.ObservedGeneration).To(Equal(cs.Generation))
		g.Expect(ready.Reason).To(Equal(reason), "Ready: %s %s", ready.Status, ready.Message)
	}, eventually, 50*time.Millisecond).Should(Succeed())
	return cs
}

// checkConsistent asserts the table every snapshot must follow: what the
// tools show follows from Ready (and health.Stalled) alone.
func checkConsistent(g Gomega, script string, obj client.Object, conds []metav1.Condition, gen, observed int64) {
	k, _, err := gitops.KStatus(obj)
	g.Expect(err).NotTo(HaveOccurred())
	argo, _, err := gitops.ArgoHealth(script, obj)
	g.Expect(err).NotTo(HaveOccurred())
	ready := findCondition(conds, v1alpha1.ConditionReady)
	switch {
	case ready == nil || observed != gen:
		g.Expect(k).To(Equal(status.InProgressStatus))
		g.Expect(argo).To(Equal("Progressing"))
	case ready.Status == metav1.ConditionTrue:
		g.Expect(k).To(Equal(status.CurrentStatus))
		g.Expect(argo).To(Equal("Healthy"))
	case health.Stalled(ready.Reason):
		g.Expect(k).To(Equal(status.FailedStatus), "Ready reason %s", ready.Reason)
		if ready.Reason != v1alpha1.ReasonSuspended {
			g.Expect(argo).To(Equal("Degraded"), "Ready reason %s", ready.Reason)
		}
	default:
		g.Expect(k).To(Equal(status.InProgressStatus), "Ready reason %s", ready.Reason)
		g.Expect(argo).To(Equal("Progressing"), "Ready reason %s", ready.Reason)
	}
}

// expectHealth asserts kstatus's and Argo CD's verdict on obj, and logs
// them with their messages (what a user sees).
func expectHealth(t *testing.T, script string, obj client.Object, wantK status.Status, wantArgo string) {
	t.Helper()
	g := NewWithT(t)
	k, kmsg, err := gitops.KStatus(obj)
	g.Expect(err).NotTo(HaveOccurred())
	argo, amsg, err := gitops.ArgoHealth(script, obj)
	g.Expect(err).NotTo(HaveOccurred())
	kind := "CertSync"
	if _, ok := obj.(*v1alpha1.SecretSync); ok {
		kind = "SecretSync"
	}
	t.Logf("%s %s/%s: kstatus %s (%s); Argo CD %s (%s)", kind, obj.GetNamespace(), obj.GetName(), k, kmsg, argo, amsg)
	g.Expect(k).To(Equal(wantK), kmsg)
	g.Expect(argo).To(Equal(wantArgo), amsg)
}

func findCondition(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}
