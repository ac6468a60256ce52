package controllers

// Restart storms, against the real API server (envtest runs no workload
// controllers: the tests play the deployment controller by writing
// Deployment status): a new rollout waits for the previous one and for
// rollout.minRestartInterval, in both kinds; the operator's budget bounds
// the rollouts in progress across objects, also when it is rebuilt from
// status as after an operator restart; the once-per-lineage rule holds for
// 60 workloads.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/certsync"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/internal/certs"
)

// budgets gives a test's namespace a rollout budget of its own
// (engine.Core.RolloutsFor); other namespaces have none, i.e. no bound.
var budgets = &testBudgets{byNamespace: map[string]*engine.Budget{}}

type testBudgets struct {
	mu          sync.Mutex
	byNamespace map[string]*engine.Budget
}

func (b *testBudgets) For(ns string) *engine.Budget {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byNamespace[ns]
}

func (b *testBudgets) set(t *testing.T, ns string, budget *engine.Budget) {
	b.mu.Lock()
	b.byNamespace[ns] = budget
	b.mu.Unlock()
	t.Cleanup(func() {
		b.mu.Lock()
		delete(b.byNamespace, ns)
		b.mu.Unlock()
	})
}

// templateAnnotations are the pod-template annotations of a Deployment.
func templateAnnotations(g Gomega, ns, name string) map[string]string {
	var d appsv1.Deployment
	g.Expect(k8s.Get(context.Background(), objKey(ns, name), &d)).To(Succeed())
	return d.Spec.Template.Annotations
}

// completeRollout plays the deployment controller: the Deployment's
// rollout of its current template is complete.
func completeRollout(g Gomega, ns, name string) {
	g.Eventually(func(g Gomega) {
		var d appsv1.Deployment
		g.Expect(k8s.Get(context.Background(), objKey(ns, name), &d)).To(Succeed())
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
		g.Expect(k8s.Status().Update(context.Background(), &d)).To(Succeed())
	}, eventually, poll).Should(Succeed())
}

// TestNewRolloutWaitsAndIsPaced: new content that arrives while the
// previous rollout of a workload is under way updates the target at once,
// but the workload is restarted for it only once that rollout completed
// (WaitingForPreviousRollout) and minRestartInterval (default 10m) passed
// since the last restart (RolloutPaced); then exactly once.
func TestNewRolloutWaitsAndIsPaced(t *testing.T) {
	forBothKinds(t, func(t *testing.T, k kindCase) {
		g := NewWithT(t)
		ns := k.start(t)
		workload := "postfix"
		if k.kind == "CertSync" {
			deploymentWithPod(t, ns, true)
		} else {
			ssWorkload(t, ns)
			workload = "mailer"
		}
		rolledOut := func(reason string) {
			g.Eventually(func(g Gomega) {
				c := k.status(g, ns).condition(v1alpha1.ConditionRolledOut)
				g.Expect(c.Reason).To(Equal(reason), "message: %s", c.Message)
				g.Expect(c.Message).To(ContainSubstring("Deployment/" + workload))
			}, eventually, poll).Should(Succeed())
		}
		restartedFor := func(g Gomega) string {
			return templateAnnotations(g, ns, workload)[v1alpha1.AnnotationRestartedFor]
		}
		k.create(t, ns)
		g.Eventually(restartedFor, eventually, poll).ShouldNot(BeEmpty())
		first := restartedFor(g)
		g.Expect(templateAnnotations(g, ns, workload)).To(HaveKey(v1alpha1.AnnotationRestartedAt))

		// New content while the first rollout is under way.
		var next string
		if k.kind == "CertSync" {
			p := validPair(t, time.Now().Add(-30*time.Minute), 2)
			next = certs.Fingerprint(p.Cert)
			updateSecretData(t, ns, "legacy", map[string][]byte{corev1.TLSCertKey: p.ChainPEM, corev1.TLSPrivateKeyKey: p.KeyPEM})
		} else {
			next = ssHash("app", "v2")
			updateSecretData(t, ns, "legacy", map[string][]byte{"client_id": []byte("app"), "client_secret": []byte("v2")})
		}
		rolledOut(v1alpha1.ReasonWaitingForPreviousRollout)
		g.Eventually(func(g Gomega) {
			// The target already holds the new content: pods that start
			// meanwhile load it.
			data := getSecret(g, ns, k.targetSecret).Data
			if k.kind == "CertSync" {
				g.Expect(getSecret(g, ns, k.targetSecret).Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationSHA256, next))
			} else {
				g.Expect(fmt.Sprint(data)).To(ContainSubstring(fmt.Sprint([]byte("v2"))))
			}
		}, eventually, poll).Should(Succeed())
		g.Consistently(restartedFor, 2*time.Second, poll).Should(Equal(first))

		// The first rollout completes: the next restart is paced.
		completeRollout(g, ns, workload)
		rolledOut(v1alpha1.ReasonRolloutPaced)
		g.Expect(k.status(g, ns).condition(v1alpha1.ConditionRolledOut).Message).To(ContainSubstring("minRestartInterval 10m0s"))
		g.Consistently(restartedFor, 2*time.Second, poll).Should(Equal(first))
		g.Expect(k.status(g, ns).condition(v1alpha1.ConditionReady).Reason).To(Equal(v1alpha1.ReasonRolloutPaced))

		// Ten minutes after the first restart it goes, once.
		k.advance(t, ns, 10*time.Minute)
		g.Eventually(restartedFor, eventually, poll).Should(Equal(next))
		rolledOut(v1alpha1.ReasonRollingOut)
		g.Consistently(func(g Gomega) {
			g.Expect(eventsOf(g, ns, k.kind, "obj")).To(HaveKeyWithValue(v1alpha1.ReasonRolloutStarted, 2))
		}, 2*time.Second, poll).Should(Succeed())
	})
}

// budgetedCertSyncs creates n CertSyncs reading one source Secret, each
// writing its own target, and a Deployment (with one pod started before
// anything was synced) mounting each target.
func budgetedCertSyncs(t *testing.T, ns string, n int) {
	p := validPair(t, time.Now().Add(-2*time.Hour), 1)
	mustCreate(t, sourceSecret(ns, "ca-issued", p.ChainPEM, p.KeyPEM))
	for i := range n {
		name := fmt.Sprintf("svc-%d", i)
		deploymentMounting(t, ns, name, name+"-tls")
		completeRollout(NewWithT(t), ns, name) // running before anything is synced
	}
	for i := range n {
		name := fmt.Sprintf("svc-%d", i)
		mustCreate(t, newCertSync(ns, name, withSecretSource("ca", "ca-issued", ""), withTarget(name+"-tls"), func(cs *v1alpha1.CertSync) {
			// Renewals seconds apart: this test is about the budget alone.
			cs.Spec.Rollout.MinRestartInterval = &metav1.Duration{}
		}))
	}
}

// deploymentMounting creates a Deployment whose pods mount secret, and one
// pod of it (started now, before anything is synced).
func deploymentMounting(t *testing.T, ns, name, secret string) {
	labels := map[string]string{"app": name}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}},
			Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}}}},
	}
	mustCreate(t, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}})
	mustCreate(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-5d8f7b6c9-abcde",
			Labels: map[string]string{"app": name, "pod-template-hash": "5d8f7b6c9"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name + "-5d8f7b6c9",
				UID: "00000000-0000-0000-0000-000000000001", Controller: ptr.To(true)}}},
		Spec: tmpl.Spec,
	})
}

// inProgress lists the Deployments whose latest template the (simulated)
// deployment controller has not rolled out yet.
func inProgress(g Gomega, ns string) []string {
	var list appsv1.DeploymentList
	g.Expect(k8s.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, d := range list.Items {
		if d.Status.ObservedGeneration < d.Generation {
			out = append(out, d.Name)
		}
	}
	return out
}

// playDeploymentController completes each Deployment's rollout a while
// after it started, until every one runs a template restarted for want;
// it fails the test if more than max rollouts are ever in progress at once.
func playDeploymentController(t *testing.T, ns string, n, max int, want string) {
	t.Helper()
	g := NewWithT(t)
	seen := map[string]time.Time{}
	most := 0
	g.Eventually(func(g Gomega) {
		now := time.Now()
		running := inProgress(g, ns)
		if len(running) > most {
			most = len(running)
			t.Logf("rollouts in progress at once: %v", running)
		}
		for _, name := range running {
			if _, ok := seen[name]; !ok {
				seen[name] = now
			}
			if now.Sub(seen[name]) > 500*time.Millisecond {
				completeRollout(g, ns, name)
				delete(seen, name)
			}
		}
		done := 0
		for i := range n {
			name := fmt.Sprintf("svc-%d", i)
			if templateAnnotations(g, ns, name)[v1alpha1.AnnotationRestartedFor] == want && !strings.Contains(strings.Join(inProgress(g, ns), ","), name) {
				done++
			}
		}
		g.Expect(done).To(Equal(n), "workloads rolled out for the new certificate")
	}, 3*eventually, poll).Should(Succeed())
	t.Logf("at most %d of %d rollouts in progress at once (budget %d)", most, n, max)
	g.Expect(most).To(BeNumerically("<=", max), "rollouts in progress at once")
	g.Expect(most).To(BeNumerically(">", 0))
}

// TestRolloutBudgetBoundsConcurrentRollouts: five CertSyncs renewed at once
// by one source (a CA rotation) with a budget of 2: never more than two
// rollouts in progress at once, the others wait with reason
// WaitingForRolloutSlot and are woken as slots free, and all finish. A
// budget rebuilt from status mid-way (as after an operator restart, whose
// memory is gone) still counts the rollouts under way.
func TestRolloutBudgetBoundsConcurrentRollouts(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	const n, budget = 5, 2
	budgets.set(t, ns, &engine.Budget{Max: budget, Seed: engine.SeedFromStatus(k8s, ns)})
	budgetedCertSyncs(t, ns, n)
	// The first certificate: the initial restarts are budgeted too.
	var first string
	g.Eventually(func(g Gomega) {
		c := getCertSync(g, ns, "svc-0").Status.Certificate
		g.Expect(c).NotTo(BeNil())
		first = c.SHA256
		g.Expect(first).NotTo(BeEmpty())
	}, eventually, poll).Should(Succeed())
	playDeploymentController(t, ns, n, budget, first)

	// The CA rotation: one renewal reaches all five at once.
	renewed := validPair(t, time.Now().Add(-time.Hour), 2)
	updateSecretData(t, ns, "ca-issued", map[string][]byte{corev1.TLSCertKey: renewed.ChainPEM, corev1.TLSPrivateKeyKey: renewed.KeyPEM})
	want := certs.Fingerprint(renewed.Cert)
	reasons := func(g Gomega) map[string]int {
		out := map[string]int{}
		for i := range n {
			cs := getCertSync(g, ns, fmt.Sprintf("svc-%d", i))
			if c := meta.FindStatusCondition(cs.Status.Conditions, v1alpha1.ConditionRolledOut); c != nil && cs.Status.Certificate != nil && cs.Status.Certificate.SHA256 == want {
				out[c.Reason]++
			}
		}
		return out
	}
	g.Eventually(func(g Gomega) {
		g.Expect(inProgress(g, ns)).To(HaveLen(budget))
		g.Expect(reasons(g)).To(Equal(map[string]int{v1alpha1.ReasonRollingOut: budget, v1alpha1.ReasonWaitingForRolloutSlot: n - budget}))
	}, eventually, poll).Should(Succeed())

	// An operator restart forgets the budget: the new one is rebuilt from
	// status and still admits no third rollout.
	fresh := &engine.Budget{Max: budget, Seed: engine.SeedFromStatus(k8s, ns)}
	budgets.set(t, ns, fresh)
	touchSecret(t, ns, "ca-issued", 1)
	g.Consistently(func(g Gomega) {
		g.Expect(inProgress(g, ns)).To(HaveLen(budget))
	}, 3*time.Second, poll).Should(Succeed())
	g.Eventually(func(g Gomega) {
		inUse, waiting := fresh.Counts()
		g.Expect(inUse).To(Equal(budget))
		g.Expect(waiting).To(Equal(n - budget))
	}, eventually, poll).Should(Succeed())

	playDeploymentController(t, ns, n, budget, want)
	g.Eventually(func(g Gomega) {
		g.Expect(reasons(g)).To(Equal(map[string]int{v1alpha1.ReasonRolledOut: n}))
		inUse, waiting := fresh.Counts()
		g.Expect(inUse + waiting).To(BeZero())
	}, eventually, poll).Should(Succeed())
	for i := range n {
		g.Expect(eventsFor(g, ns, fmt.Sprintf("svc-%d", i))).NotTo(BeEmpty())
		g.Expect(eventReasons(eventsFor(g, ns, fmt.Sprintf("svc-%d", i)))[v1alpha1.ReasonRolloutStarted]).To(Equal(2), "svc-%d: one restart per certificate", i)
	}
}

// TestOncePerLineageForSixtyWorkloads: one certificate restarts each of 60
// workloads that mount the target exactly once, records one restart per
// workload (more than the 50 records status used to keep), and nothing is
// restarted again or rewritten on later reconciles, nor by a reconciler
// that starts with no memory (an operator restart).
func TestOncePerLineageForSixtyWorkloads(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	const n = 60
	for i := range n {
		deploymentMounting(t, ns, fmt.Sprintf("app-%02d", i), "mail-tls")
	}
	p := validPair(t, time.Now().Add(-time.Hour), 1)
	sha := certs.Fingerprint(p.Cert)
	mustCreate(t, sourceSecret(ns, "legacy", p.ChainPEM, p.KeyPEM))
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("legacy", "legacy", "")))

	generations := func(g Gomega) map[string]int64 {
		var list appsv1.DeploymentList
		g.Expect(k8s.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
		out := map[string]int64{}
		for _, d := range list.Items {
			g.Expect(d.Spec.Template.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationRestartedFor, sha), d.Name)
			out[d.Name] = d.Generation
		}
		return out
	}
	once := map[string]int64{}
	for i := range n {
		once[fmt.Sprintf("app-%02d", i)] = 2 // created, then one template change
	}
	g.Eventually(generations, eventually, poll).Should(Equal(once))
	g.Eventually(func(g Gomega) {
		g.Expect(getCertSync(g, ns, "mail").Status.Restarts).To(HaveLen(n))
	}, eventually, poll).Should(Succeed())

	for i := range n {
		completeRollout(g, ns, fmt.Sprintf("app-%02d", i))
	}
	var settled *v1alpha1.CertSync
	g.Eventually(func(g Gomega) {
		settled = waitCondition(t, ns, "mail", v1alpha1.ConditionRolledOut, metav1.ConditionTrue, v1alpha1.ReasonRolledOut)
		g.Expect(settled.Status.Restarts).To(HaveLen(n))
		for _, rec := range settled.Status.Restarts {
			g.Expect(rec.Completed).To(BeTrue(), rec.Name)
		}
	}, eventually, poll).Should(Succeed())

	// Re-reconciles, then a reconciler without memory, as after an
	// operator restart: nothing restarted, status not rewritten.
	for i := range 3 {
		touchSecret(t, ns, "legacy", i+1)
	}
	fresh := &certsync.Reconciler{Core: testCertSyncReconciler.Core, Prober: testCertSyncReconciler.Prober, Poller: testCertSyncReconciler.Poller}
	for range 3 {
		_, err := fresh.Reconcile(context.Background(), ctrl.Request{NamespacedName: objKey(ns, "mail")})
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Consistently(func(g Gomega) {
		g.Expect(generations(g)).To(Equal(once))
		cs := getCertSync(g, ns, "mail")
		g.Expect(cs.ResourceVersion).To(Equal(settled.ResourceVersion), "no status write in steady state")
		g.Expect(cs.Status.Restarts).To(HaveLen(n))
	}, 3*time.Second, poll).Should(Succeed())
}
