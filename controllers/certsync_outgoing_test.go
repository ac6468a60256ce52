package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
)

// The race these tests force: a workload's status says its rollout is
// complete while a pod of its previous revision is still Running, Ready and
// not (yet, as far as the cache knows) terminating, serving the previous
// certificate as mail servers do until they exit. There are no workload
// controllers here, so the test holds that state as long as it likes: the
// workload's status, its revisions and its pods are written by the test.
//
// Asserted: the outgoing pod is never judged stale nor evicted; a current pod
// that really turns stale is evicted exactly once (also after an eviction a
// PodDisruptionBudget refused, which records nothing), and its replacement
// is verified.

// raceWorkload is one workload in the forced race.
type raceWorkload struct {
	kind, name string
	owner      func(podName string) metav1.OwnerReference
	// labels of a pod of the current and of the previous revision.
	current, previous map[string]string
	// currentPods are the names of the current pods; outgoing is the pod of
	// the previous revision its controller is replacing; victim turns stale
	// later, and replacement is what its controller makes of it.
	currentPods          []string
	outgoing             string
	victim, replacement  string
	victimLabels         map[string]string
	expectedVerifiedPods int32
}

func TestOutgoingPodsAreNeverJudgedNorEvicted(t *testing.T) {
	for _, kind := range []string{"Deployment", "StatefulSet", "DaemonSet"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			runOutgoingRace(t, kind)
		})
	}
}

func runOutgoingRace(t *testing.T, kind string) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	cur := validPair(t, time.Now().Add(-time.Hour), 1)
	previous := validPair(t, time.Now().Add(-48*time.Hour), 2)
	want := certs.Fingerprint(cur.Cert)
	mustCreate(t, sourceSecret(ns, "legacy", cur.ChainPEM, cur.KeyPEM))
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("legacy", "legacy", ""), withDNSNames(mailHost), func(cs *v1alpha1.CertSync) {
		cs.Spec.Verify.Endpoints = []v1alpha1.VerifyEndpoint{{Port: simPort, Protocol: "TLS"}}
		cs.Spec.Verify.Interval = &metav1.Duration{Duration: 10 * time.Second}
		cs.Spec.Verify.Timeout = &metav1.Duration{Duration: 2 * time.Second}
	}))
	waitCondition(t, ns, "mail", v1alpha1.ConditionSynced, metav1.ConditionTrue, v1alpha1.ReasonSynced)

	w := completedRollout(t, ns, kind, want)

	// The outgoing pod first, serving the previous certificate: every
	// verification from here on sees it Ready and not terminating.
	startSimPod(t, ns, w.outgoing, w.previous, w.owner(w.outgoing))
	g.Expect(simulator(t).ServeStale(ns+"/"+w.outgoing, previous.ChainPEM, previous.KeyPEM)).To(Succeed())
	for _, name := range w.currentPods {
		labels := w.current
		if name == w.victim && w.victimLabels != nil {
			labels = w.victimLabels
		}
		startSimPod(t, ns, name, labels, w.owner(name))
	}

	cs := waitVerifiedPods(t, ns, w.expectedVerifiedPods)
	g.Expect(cs.Status.Pods.Stale).To(BeZero(), "the outgoing pod is not judged stale")
	g.Expect(podExists(g, ns, w.outgoing)).To(BeTrue(), "the outgoing pod is not evicted")
	g.Expect(evictions(g, ns)).To(BeZero())
	g.Expect(podRestartRecords(cs)).To(BeEmpty(), "nothing spent of the remediation budget")

	// A current pod really turns stale.
	var pdb *policyv1.PodDisruptionBudget
	if kind == "Deployment" {
		// No disruption controller runs here, so the budget never allows a
		// disruption: the eviction is refused, which must record nothing.
		pdb = &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: policyv1.PodDisruptionBudgetSpec{
				MinAvailable: ptr.To(intstr.FromInt32(2)),
				Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": w.name}},
			},
		}
		mustCreate(t, pdb)
		// Observed, with no disruption allowed: a refusal at once (an
		// unobserved budget makes the client wait out Retry-After).
		g.Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pdb), pdb)).To(Succeed())
			pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, DisruptionsAllowed: 0,
				CurrentHealthy: 2, DesiredHealthy: 2, ExpectedPods: 2}
			g.Expect(k8s.Status().Update(ctx, pdb)).To(Succeed())
		}, eventually, poll).Should(Succeed())
	}
	g.Expect(simulator(t).ServeStale(ns+"/"+w.victim, previous.ChainPEM, previous.KeyPEM)).To(Succeed())
	if pdb != nil {
		g.Eventually(func(g Gomega) {
			g.Expect(eventNotes(g, ns, "eviction of pod "+w.victim+" blocked by a PodDisruptionBudget")).To(Equal(1))
		}, eventually, poll).Should(Succeed())
		cs := getCertSync(g, ns, "mail")
		g.Expect(podRestartRecords(cs)).To(BeEmpty(), "a refused eviction records nothing")
		g.Expect(podExists(g, ns, w.victim)).To(BeTrue())
		g.Expect(k8s.Delete(ctx, pdb)).To(Succeed())
	}
	g.Eventually(func(g Gomega) {
		g.Expect(podExists(g, ns, w.victim)).To(BeFalse())
		g.Expect(evictions(g, ns)).To(Equal(1)) // events are sent asynchronously
	}, eventually, poll).Should(Succeed())

	// Its controller replaces it; the replacement starts with the target's
	// certificate.
	labels := w.current
	if w.victimLabels != nil {
		labels = w.victimLabels
	}
	startSimPod(t, ns, w.replacement, labels, w.owner(w.replacement))
	cs = waitVerifiedPods(t, ns, w.expectedVerifiedPods)
	g.Expect(cs.Status.Pods.Stale).To(BeZero())
	g.Expect(podRestartRecords(cs)).To(ConsistOf(HaveField("Owner", kind+"/"+w.name)))
	g.Consistently(func(g Gomega) {
		g.Expect(evictions(g, ns)).To(Equal(1), "evicted once")
		g.Expect(podExists(g, ns, w.outgoing)).To(BeTrue(), "the outgoing pod is never evicted")
	}, 3*time.Second, poll).Should(Succeed())
}

// completedRollout creates a workload restarted for the certificate want
// whose status says the rollout is complete, and the revision objects its
// controller would have made: the previous revision and the current one.
func completedRollout(t *testing.T, ns, kind, want string) raceWorkload {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	tmpl := func(app string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{
				Labels:      map[string]string{"app": app, simLabel: "true"},
				Annotations: map[string]string{v1alpha1.AnnotationRestartedFor: want},
			},
			Spec: simPodSpec(),
		}
	}
	selector := func(app string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
	}
	controllerRef := func(obj client.Object, kind string) metav1.OwnerReference {
		return metav1.OwnerReference{APIVersion: "apps/v1", Kind: kind, Name: obj.GetName(), UID: obj.GetUID(), Controller: ptr.To(true)}
	}
	setStatus := func(obj client.Object, set func()) {
		g.Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
			set()
			g.Expect(k8s.Status().Update(ctx, obj)).To(Succeed())
		}, eventually, poll).Should(Succeed())
	}

	switch kind {
	case "Deployment":
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: selector("web"), Template: tmpl("web")},
		}
		mustCreate(t, d)
		setStatus(d, func() {
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
		})
		replicaSets := map[string]*appsv1.ReplicaSet{}
		for rev, hash := range map[string]string{"1": "previous", "2": "current"} {
			labels := map[string]string{"app": "web", "pod-template-hash": hash}
			rs := &appsv1.ReplicaSet{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-" + hash, Labels: labels,
					Annotations:     map[string]string{"deployment.kubernetes.io/revision": rev},
					OwnerReferences: []metav1.OwnerReference{controllerRef(d, "Deployment")}},
				Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
					Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: simPodSpec()}},
			}
			mustCreate(t, rs)
			replicaSets[hash] = rs
		}
		return raceWorkload{
			kind: kind, name: "web",
			owner: func(pod string) metav1.OwnerReference {
				hash, _, _ := strings.Cut(strings.TrimPrefix(pod, "web-"), "-")
				return controllerRef(replicaSets[hash], "ReplicaSet")
			},
			current:  map[string]string{"app": "web", "pod-template-hash": "current"},
			previous: map[string]string{"app": "web", "pod-template-hash": "previous"},
			outgoing: "web-previous-aaaaa", currentPods: []string{"web-current-bbbbb", "web-current-ccccc"},
			victim: "web-current-bbbbb", replacement: "web-current-ddddd",
			expectedVerifiedPods: 2,
		}
	case "StatefulSet":
		// Partition 1: db-0 stays on the previous revision on purpose and is
		// not outgoing; db-2 is above the partition, so the controller is
		// replacing it. db-0 is the one that turns stale: a pod the partition
		// holds back has only remediation to bring it the new certificate.
		s := &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3), Selector: selector("db"), Template: tmpl("db"), ServiceName: "db",
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](1)}}},
		}
		mustCreate(t, s)
		setStatus(s, func() {
			s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 3,
				CurrentReplicas: 1, UpdatedReplicas: 2, CurrentRevision: "db-previous", UpdateRevision: "db-current"}
		})
		return raceWorkload{
			kind: kind, name: "db",
			owner:    func(string) metav1.OwnerReference { return controllerRef(s, "StatefulSet") },
			current:  map[string]string{"app": "db", "controller-revision-hash": "db-current"},
			previous: map[string]string{"app": "db", "controller-revision-hash": "db-previous"},
			outgoing: "db-2", currentPods: []string{"db-0", "db-1"},
			victim: "db-0", replacement: "db-0",
			victimLabels:         map[string]string{"app": "db", "controller-revision-hash": "db-previous"},
			expectedVerifiedPods: 2,
		}
	default: // DaemonSet
		ds := &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "relay"},
			Spec:       appsv1.DaemonSetSpec{Selector: selector("relay"), Template: tmpl("relay")},
		}
		mustCreate(t, ds)
		setStatus(ds, func() {
			ds.Status = appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, DesiredNumberScheduled: 2, CurrentNumberScheduled: 2,
				UpdatedNumberScheduled: 2, NumberAvailable: 2, NumberReady: 2}
		})
		for rev, hash := range map[int64]string{1: "previous", 2: "current"} {
			mustCreate(t, &appsv1.ControllerRevision{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "relay-" + hash,
					Labels:          map[string]string{"app": "relay", "controller-revision-hash": hash},
					OwnerReferences: []metav1.OwnerReference{controllerRef(ds, "DaemonSet")}},
				Data:     runtime.RawExtension{Raw: []byte(`{}`)},
				Revision: rev,
			})
		}
		return raceWorkload{
			kind: kind, name: "relay",
			owner:    func(string) metav1.OwnerReference { return controllerRef(ds, "DaemonSet") },
			current:  map[string]string{"app": "relay", "controller-revision-hash": "current"},
			previous: map[string]string{"app": "relay", "controller-revision-hash": "previous"},
			outgoing: "relay-old01", currentPods: []string{"relay-aaaaa", "relay-bbbbb"},
			victim: "relay-aaaaa", replacement: "relay-ccccc",
			expectedVerifiedPods: 2,
		}
	}
}

// waitVerifiedPods waits until the CertSync's latest verification counts n
// pods, all serving the target's certificate.
func waitVerifiedPods(t *testing.T, ns string, n int32) *v1alpha1.CertSync {
	t.Helper()
	var cs *v1alpha1.CertSync
	NewWithT(t).Eventually(func(g Gomega) {
		cs = getCertSync(g, ns, "mail")
		st, reason := condition(cs, v1alpha1.ConditionVerified)
		g.Expect(string(st)+"/"+reason).To(Equal("True/"+v1alpha1.ReasonVerified), conditionMessage(cs, v1alpha1.ConditionVerified))
		g.Expect(cs.Status.Pods).NotTo(BeNil())
		g.Expect(cs.Status.Pods.Total).To(Equal(n), "pods: %+v", cs.Status.Pods)
		g.Expect(cs.Status.Pods.Verified).To(Equal(n))
	}, eventually, poll).Should(Succeed())
	return cs
}

func podExists(g Gomega, ns, name string) bool {
	var p corev1.Pod
	err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &p)
	if apierrors.IsNotFound(err) {
		return false
	}
	g.Expect(err).NotTo(HaveOccurred())
	return p.DeletionTimestamp == nil
}

// evictions counts the pods the CertSync evicted, by its events.
func evictions(g Gomega, ns string) int {
	return eventNotes(g, ns, "evicted pod ")
}

// eventNotes counts the CertSync's events whose note starts with prefix.
func eventNotes(g Gomega, ns, prefix string) int {
	n := 0
	for _, e := range eventsFor(g, ns, "mail") {
		if strings.HasPrefix(e.Note, prefix) {
			n++
			if e.Series != nil {
				n += int(e.Series.Count) - 1
			}
		}
	}
	return n
}

func podRestartRecords(cs *v1alpha1.CertSync) []v1alpha1.RestartRecord {
	var out []v1alpha1.RestartRecord
	for _, r := range cs.Status.Restarts {
		if r.Kind == "Pod" {
			out = append(out, r)
		}
	}
	return out
}
