package controllers

// The behaviours CertSync and SecretSync share through the engine, each
// tested for both kinds against the real API server: a failing phase after
// a write still records it, bare pods are evicted, a rollout's stall clock
// starts at its restart record, a missing cross-namespace Secret reads like
// a forbidden one, and the status is stored before the events go out.

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/metrics"
)

// kindCase drives one kind through the shared scenarios: it creates a
// source and an object whose target is mounted by the pods the scenario
// makes, and reads the object's status back in kind-neutral terms.
type kindCase struct {
	kind string
	// start gives the test a namespace (and, for SecretSync, its clock).
	start func(t *testing.T) string
	// create makes the source and the object "obj" reading it.
	create func(t *testing.T, ns string, mods ...func(client.Object))
	// status reads the object's status.
	status func(g Gomega, ns string) kindStatus
	// targetSecret is the target's name; mounts makes a pod spec using it.
	targetSecret string
	// advance moves the object's clock by d (and wakes it).
	advance func(t *testing.T, ns string, d time.Duration)
	// crossNamespace creates an object "obj-<suffix>" whose only source is
	// Secret name in namespace from.
	crossNamespace func(t *testing.T, ns, suffix, from, name string)
}

type kindStatus struct {
	lastSync      *metav1.Time
	conditions    []metav1.Condition
	restarts      []v1alpha1.RestartRecord
	sourceReasons []string
	sourceMsgs    []string
}

func (s kindStatus) condition(typ string) metav1.Condition {
	for _, c := range s.conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

var kindCases = []kindCase{
	{
		kind:         "CertSync",
		start:        newNamespace,
		targetSecret: "mail-tls",
		create: func(t *testing.T, ns string, mods ...func(client.Object)) {
			p := validPair(t, time.Now().Add(-time.Hour), 1)
			mustCreate(t, sourceSecret(ns, "legacy", p.ChainPEM, p.KeyPEM))
			cs := newCertSync(ns, "obj", withSecretSource("legacy", "legacy", ""))
			for _, m := range mods {
				m(cs)
			}
			mustCreate(t, cs)
		},
		status: func(g Gomega, ns string) kindStatus {
			cs := getCertSync(g, ns, "obj")
			st := kindStatus{lastSync: cs.Status.LastSyncTime, conditions: cs.Status.Conditions, restarts: cs.Status.Restarts}
			for _, s := range cs.Status.Sources {
				st.sourceReasons, st.sourceMsgs = append(st.sourceReasons, s.Reason), append(st.sourceMsgs, s.Message)
			}
			return st
		},
		advance: func(t *testing.T, ns string, d time.Duration) {
			clk, ok := clocks.For(ns).(*shiftedClock)
			if !ok {
				clk = clocks.shifted(t, ns)
			}
			clk.shift(time.Duration(clk.offset.Load()) + d)
			touchSecret(t, ns, "legacy", int(touches.Add(1)%50))
		},
		crossNamespace: func(t *testing.T, ns, suffix, from, name string) {
			mustCreate(t, newCertSync(ns, "obj-"+suffix, withSecretSource("x", name, from), withTarget("target-"+suffix)))
		},
	},
	{
		kind:         "SecretSync",
		start:        ssStart,
		targetSecret: "oauth-client",
		create: func(t *testing.T, ns string, mods ...func(client.Object)) {
			mustCreate(t, ssSource(ns, "legacy", ssCreds("app", "v1")))
			// Pods created so far started before the values are written.
			ssClock(ns).Step(2 * time.Second)
			ss := newSecretSync(ns, "obj", ssFrom("legacy", "legacy", ""))
			for _, m := range mods {
				m(ss)
			}
			mustCreateSecretSync(t, ss)
		},
		status: func(g Gomega, ns string) kindStatus {
			ss := getSecretSync(g, ns, "obj")
			st := kindStatus{lastSync: ss.Status.LastSyncTime, conditions: ss.Status.Conditions, restarts: ss.Status.Restarts}
			for _, s := range ss.Status.Sources {
				st.sourceReasons, st.sourceMsgs = append(st.sourceReasons, s.Reason), append(st.sourceMsgs, s.Message)
			}
			return st
		},
		advance: func(t *testing.T, ns string, d time.Duration) {
			ssClock(ns).Step(d)
			ssPoke(t, ns, "legacy")
		},
		crossNamespace: func(t *testing.T, ns, suffix, from, name string) {
			ss := newSecretSync(ns, "obj-"+suffix, ssFrom("x", name, from))
			ss.Spec.Target.SecretName = "target-" + suffix
			mustCreateSecretSync(t, ss)
		},
	},
}

func forBothKinds(t *testing.T, f func(t *testing.T, k kindCase)) {
	for _, k := range kindCases {
		t.Run(k.kind, func(t *testing.T) { f(t, k) })
	}
}

// rolloutOf returns a mod setting spec.rollout of either kind.
func rolloutOf(set func(*v1alpha1.Rollout)) func(client.Object) {
	return func(o client.Object) {
		switch o := o.(type) {
		case *v1alpha1.CertSync:
			set(&o.Spec.Rollout)
		case *v1alpha1.SecretSync:
			set(&o.Spec.Rollout)
		}
	}
}

var touches atomic.Int64

// barePod creates a running, ready pod without a controller that mounts
// secret (a pod that is not ready already counts as unavailable, and
// maxUnavailable 1 would leave no room to evict it).
func barePod(t *testing.T, ns, name, secret string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "app"}},
			Volumes:    []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}}},
		},
	}
	mustCreate(t, pod)
	now := metav1.Now()
	ip := nextPodIP()
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, StartTime: &now,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}}
	NewWithT(t).Expect(k8s.Status().Update(context.Background(), pod)).To(Succeed())
	return pod
}

// syncCount is certsync_sync_total for the objects of namespace ns.
func syncCount(t *testing.T, ns, kind, result string) float64 {
	t.Helper()
	families, err := testMetrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, f := range families {
		if f.GetName() != metrics.SyncTotalName {
			continue
		}
		for _, m := range f.GetMetric() {
			if ssHasLabel(m.GetLabel(), "namespace", ns) && ssHasLabel(m.GetLabel(), "kind", kind) && ssHasLabel(m.GetLabel(), "result", result) {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

func eventsOf(g Gomega, ns, kind, name string) map[string]int {
	if kind == "SecretSync" {
		return eventReasons(ssEventsFor(g, ns, name))
	}
	return eventReasons(eventsFor(g, ns, name))
}

// TestWriteThenFailingPhaseStillRecords: the target is written, then
// listing pods fails (an API error injected for the namespace). The
// reconcile fails and is retried, but what it did is recorded at once:
// lastSyncTime, Synced, the Synced event and the success metric.
func TestWriteThenFailingPhaseStillRecords(t *testing.T) {
	forBothKinds(t, func(t *testing.T, k kindCase) {
		g := NewWithT(t)
		ns := k.start(t)
		faults.set(t, ns, func(verb string, obj runtime.Object, _ string) error {
			if _, ok := obj.(*corev1.PodList); ok && verb == "list" {
				return apierrors.NewServiceUnavailable("injected: listing pods fails")
			}
			return nil
		})
		k.create(t, ns)
		g.Eventually(func(g Gomega) {
			st := k.status(g, ns)
			g.Expect(st.lastSync).NotTo(BeNil(), "lastSyncTime")
			g.Expect(st.condition(v1alpha1.ConditionSynced).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(eventsOf(g, ns, k.kind, "obj")).To(HaveKeyWithValue(v1alpha1.ReasonSynced, 1))
		}, eventually, poll).Should(Succeed())
		g.Expect(getSecret(g, ns, k.targetSecret).Annotations).To(HaveKey(v1alpha1.AnnotationOwner))
		g.Expect(syncCount(t, ns, k.kind, "success")).To(Equal(1.0))
		// The failing phase is retried; the write is not repeated.
		g.Consistently(func(g Gomega) {
			g.Expect(eventsOf(g, ns, k.kind, "obj")).To(HaveKeyWithValue(v1alpha1.ReasonSynced, 1))
			g.Expect(syncCount(t, ns, k.kind, "success")).To(Equal(1.0))
		}, 2*time.Second, poll).Should(Succeed())
		faults.clear(ns)
		g.Eventually(func(g Gomega) {
			g.Expect(k.status(g, ns).condition(v1alpha1.ConditionRolledOut).Reason).To(Equal(v1alpha1.ReasonRolledOut))
		}, eventually, poll).Should(Succeed())
	})
}

// TestBarePodsAreEvicted: a pod without a controller that started before
// the content was written is evicted (rollout.pods promises it for both
// kinds), recorded once in status.restarts, announced by a PodRestarted
// event.
func TestBarePodsAreEvicted(t *testing.T) {
	forBothKinds(t, func(t *testing.T, k kindCase) {
		g := NewWithT(t)
		ns := k.start(t)
		pod := barePod(t, ns, "bare", k.targetSecret)
		k.create(t, ns)
		g.Eventually(func(g Gomega) {
			var p corev1.Pod
			err := k8s.Get(context.Background(), objKey(ns, "bare"), &p)
			g.Expect(apierrors.IsNotFound(err) || (err == nil && (p.UID != pod.UID || p.DeletionTimestamp != nil))).To(BeTrue(), "the bare pod is evicted")
		}, eventually, poll).Should(Succeed())
		g.Eventually(func(g Gomega) {
			st := k.status(g, ns)
			g.Expect(slices.ContainsFunc(st.restarts, func(r v1alpha1.RestartRecord) bool { return r.Kind == "Pod" && r.Name == "bare" })).
				To(BeTrue(), "restarts: %+v", st.restarts)
			g.Expect(eventsOf(g, ns, k.kind, "obj")).To(HaveKeyWithValue(v1alpha1.ReasonPodRestarted, 1))
		}, eventually, poll).Should(Succeed())
	})
}

// TestStallClockStartsAtTheRestart: content written long before a
// workload is restarted for it (rollout.mode None at first) gets the full
// progress deadline from the restart, not from when it was written; past
// the deadline from the restart, the rollout is stalled.
func TestStallClockStartsAtTheRestart(t *testing.T) {
	forBothKinds(t, func(t *testing.T, k kindCase) {
		g := NewWithT(t)
		ns := k.start(t)
		if k.kind == "CertSync" {
			deploymentWithPod(t, ns, true)
		} else {
			ssWorkload(t, ns)
		}
		k.create(t, ns, rolloutOf(func(ro *v1alpha1.Rollout) { ro.Mode = v1alpha1.RolloutNone }))
		g.Eventually(func(g Gomega) {
			g.Expect(k.status(g, ns).condition(v1alpha1.ConditionRolledOut).Reason).To(Equal(v1alpha1.ReasonRolloutDisabled))
		}, eventually, poll).Should(Succeed())

		// 15 minutes later (past the 10 minute default deadline since the
		// write), restarts are switched on.
		k.advance(t, ns, 15*time.Minute)
		g.Eventually(func(g Gomega) {
			var obj client.Object = &v1alpha1.CertSync{}
			if k.kind == "SecretSync" {
				obj = &v1alpha1.SecretSync{}
			}
			g.Expect(k8s.Get(context.Background(), objKey(ns, "obj"), obj)).To(Succeed())
			switch o := obj.(type) {
			case *v1alpha1.CertSync:
				o.Spec.Rollout.Mode = v1alpha1.RolloutAuto
			case *v1alpha1.SecretSync:
				o.Spec.Rollout.Mode = v1alpha1.RolloutAuto
			}
			g.Expect(k8s.Update(context.Background(), obj)).To(Succeed())
		}, eventually, poll).Should(Succeed())
		g.Eventually(func(g Gomega) {
			st := k.status(g, ns)
			g.Expect(st.restarts).To(HaveLen(1))
			g.Expect(st.condition(v1alpha1.ConditionRolledOut).Reason).To(Equal(v1alpha1.ReasonRollingOut))
		}, eventually, poll).Should(Succeed())
		g.Consistently(func(g Gomega) {
			g.Expect(k.status(g, ns).condition(v1alpha1.ConditionRolledOut).Reason).To(Equal(v1alpha1.ReasonRollingOut), "not stalled within the deadline from the restart")
		}, 3*time.Second, poll).Should(Succeed())

		k.advance(t, ns, 11*time.Minute)
		g.Eventually(func(g Gomega) {
			g.Expect(k.status(g, ns).condition(v1alpha1.ConditionRolledOut).Reason).To(Equal(v1alpha1.ReasonRolloutStalled))
		}, eventually, poll).Should(Succeed())
	})
}

// TestCrossNamespaceMissingReadsLikeForbidden: a source Secret in another
// namespace that does not exist reads exactly like one that exists without
// consent, so an author learns nothing of what exists where they may not
// look. Both kinds give the same answer.
func TestCrossNamespaceMissingReadsLikeForbidden(t *testing.T) {
	forBothKinds(t, func(t *testing.T, k kindCase) {
		g := NewWithT(t)
		ns := k.start(t)
		present, absent := newNamespace(t), newNamespace(t)
		mustCreate(t, ssSource(present, "drop", ssCreds("app", "s3cret")))
		k.crossNamespace(t, ns, "present", present, "drop")
		k.crossNamespace(t, ns, "absent", absent, "drop")
		read := func(g Gomega, name string) (string, string) {
			var reasons, msgs []string
			if k.kind == "CertSync" {
				cs := getCertSync(g, ns, name)
				for _, s := range cs.Status.Sources {
					reasons, msgs = append(reasons, s.Reason), append(msgs, s.Message)
				}
			} else {
				ss := getSecretSync(g, ns, name)
				for _, s := range ss.Status.Sources {
					reasons, msgs = append(reasons, s.Reason), append(msgs, s.Message)
				}
			}
			g.Expect(reasons).To(HaveLen(1))
			return reasons[0], msgs[0]
		}
		g.Eventually(func(g Gomega) {
			r1, m1 := read(g, "obj-present")
			r2, m2 := read(g, "obj-absent")
			g.Expect(r1).To(Equal("NotPermitted"))
			g.Expect(r2).To(Equal(r1))
			g.Expect(strings.ReplaceAll(m2, absent, present)).To(Equal(m1))
		}, eventually, poll).Should(Succeed())
	})
}

// TestEventOrder: both kinds store the status first and emit the events
// after it, so an event never announces what the object does not show.
func TestEventOrder(t *testing.T) {
	forBothKinds(t, func(t *testing.T, k kindCase) {
		g := NewWithT(t)
		ns := k.start(t)
		k.create(t, ns)
		g.Eventually(func() []string { return journal.get(ns) }, eventually, poll).Should(ContainElement("event:" + v1alpha1.ReasonSynced))
		entries := journal.get(ns)
		synced := slices.Index(entries, "event:"+v1alpha1.ReasonSynced)
		status := slices.Index(entries, "status")
		g.Expect(status).To(BeNumerically(">=", 0), "journal: %v", entries)
		g.Expect(status).To(BeNumerically("<", synced), "the status is stored before the Synced event: %v", entries)
	})
}

// TestTransientKeystorePasswordIsRetried: an API error reading a
// keystore's password is retried, not reported as a permanent
// OutputFormatFailed; once the API server answers, the keystore is written.
func TestTransientKeystorePasswordIsRetried(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "keystore-pass"},
		Data: map[string][]byte{"password": []byte("changeit")}})
	faults.set(t, ns, func(verb string, obj runtime.Object, name string) error {
		if _, ok := obj.(*corev1.Secret); ok && verb == "get" && name == "keystore-pass" {
			return apierrors.NewTimeoutError("injected: etcd is slow", 1)
		}
		return nil
	})
	p := validPair(t, time.Now().Add(-time.Hour), 1)
	mustCreate(t, sourceSecret(ns, "legacy", p.ChainPEM, p.KeyPEM))
	mustCreate(t, newCertSync(ns, "mail", withSecretSource("legacy", "legacy", ""), func(cs *v1alpha1.CertSync) {
		cs.Spec.Target.Keystores = &v1alpha1.Keystores{PKCS12: &v1alpha1.Keystore{Create: true,
			PasswordSecretRef: v1alpha1.SecretKeySelector{Name: "keystore-pass", Key: "password"}}}
	}))
	g.Consistently(func(g Gomega) {
		var cs v1alpha1.CertSync
		err := k8s.Get(context.Background(), objKey(ns, "mail"), &cs)
		g.Expect(err).NotTo(HaveOccurred())
		for _, c := range cs.Status.Conditions {
			g.Expect(c.Reason).NotTo(Equal(v1alpha1.ReasonOutputFormatFailed))
		}
	}, 3*time.Second, poll).Should(Succeed())
	faults.clear(ns)
	waitCondition(t, ns, "mail", v1alpha1.ConditionSynced, metav1.ConditionTrue, v1alpha1.ReasonSynced)
	g.Expect(getSecret(g, ns, "mail-tls").Data).To(HaveKey("keystore.p12"))
}
