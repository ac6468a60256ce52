package controllers

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/controllers/secretsync"
	"certsync.io/certsync/internal/metrics"
)

// newTestSecretSyncReconciler is the SecretSync reconciler of the shared
// test manager: its writes are counted and its clocks are the tests'.
func newTestSecretSyncReconciler(mgr ctrl.Manager) *secretsync.Reconciler {
	return &secretsync.Reconciler{Core: engine.Core{Client: countingClient{mgr.GetClient()}, ClockFor: clocks.For, Egress: testEgress,
		Recorder: journalRecorder{mgr.GetEventRecorder("certsync")}, Metrics: metrics.Register(testMetrics)}}
}

// ssStart gives a test its namespace, whose SecretSyncs see a clock that
// stands still at the wall clock's now until the test moves it (ssClock).
func ssStart(t *testing.T) string {
	t.Helper()
	ns := newNamespace(t)
	clocks.fake(t, ns)
	return ns
}

// ssClock is the clock of the SecretSyncs of namespace ns: the test moves
// it to cross expiry windows, progress deadlines and verification
// intervals without sleeping, and no other test's.
func ssClock(ns string) *clocktesting.FakeClock {
	return clocks.For(ns).(*clocktesting.FakeClock)
}

// ssSource builds a source Secret holding OAuth2 client credentials.
func ssSource(ns, name string, data map[string]string, mods ...func(*corev1.Secret)) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

func ssCreds(id, secret string, kv ...string) map[string]string {
	m := map[string]string{"client_id": id, "client_secret": secret}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

type ssOption func(*v1alpha1.SecretSync)

func ssFrom(name, secretName, secretNS string) ssOption {
	return func(ss *v1alpha1.SecretSync) {
		ss.Spec.Sources = append(ss.Spec.Sources, v1alpha1.SecretSyncSource{
			Name: name, Secret: &v1alpha1.SecretSyncSecretRef{Name: secretName, Namespace: secretNS}})
	}
}

func ssExpiry(from v1alpha1.SecretSyncExpiryFrom) ssOption {
	return func(ss *v1alpha1.SecretSync) { ss.Spec.Expiry.From = &from }
}

// newSecretSync is a SecretSync copying client_id and client_secret to
// CLIENT_ID and CLIENT_SECRET of the target oauth-client.
func newSecretSync(ns, name string, opts ...ssOption) *v1alpha1.SecretSync {
	ss := &v1alpha1.SecretSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.SecretSyncSpec{
			Keys:   []v1alpha1.SecretSyncKey{{From: "client_id", To: "CLIENT_ID"}, {From: "client_secret", To: "CLIENT_SECRET"}},
			Target: v1alpha1.SecretSyncTarget{SecretName: "oauth-client"},
		},
	}
	for _, o := range opts {
		o(ss)
	}
	return ss
}

// mustCreateSecretSync creates ss and deletes it when the test ends, so it
// stops reconciling when the test ends.
func mustCreateSecretSync(t *testing.T, ss *v1alpha1.SecretSync) {
	t.Helper()
	mustCreate(t, ss)
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ss) })
}

func getSecretSync(g Gomega, ns, name string) *v1alpha1.SecretSync {
	var ss v1alpha1.SecretSync
	g.Expect(k8s.Get(context.Background(), objKey(ns, name), &ss)).To(Succeed())
	return &ss
}

// ssWaitCondition waits until the SecretSync's condition has status and
// reason for the current generation.
func ssWaitCondition(t *testing.T, ns, name, typ string, status metav1.ConditionStatus, reason string) *v1alpha1.SecretSync {
	t.Helper()
	var ss *v1alpha1.SecretSync
	NewWithT(t).Eventually(func(g Gomega) string {
		ss = getSecretSync(g, ns, name)
		c := ssCondition(ss, typ)
		if c.ObservedGeneration != ss.Generation {
			return fmt.Sprintf("%s of generation %d, not %d", typ, c.ObservedGeneration, ss.Generation)
		}
		return fmt.Sprintf("%s/%s (%s)", c.Status, c.Reason, c.Message)
	}, eventually, poll).Should(HavePrefix(fmt.Sprintf("%s/%s (", status, reason)))
	return ss
}

func ssCondition(ss *v1alpha1.SecretSync, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(ss.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// ssEventsFor lists the events regarding a SecretSync.
func ssEventsFor(g Gomega, ns, name string) []eventsv1.Event {
	var list eventsv1.EventList
	g.Expect(k8s.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	return slices.DeleteFunc(list.Items, func(e eventsv1.Event) bool {
		return e.Regarding.Kind != "SecretSync" || e.Regarding.Name != name
	})
}

// ssExpectEvents waits until the SecretSync's events count exactly want
// for each reason listed.
func ssExpectEvents(t *testing.T, ns, name string, want map[string]int) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		got := eventReasons(ssEventsFor(g, ns, name))
		for reason, n := range want {
			g.Expect(got[reason]).To(Equal(n), "events %s (all: %v)", reason, got)
		}
	}, eventually, poll).Should(Succeed())
}

var ssPokes atomic.Int64

// ssPoke changes a label of a Secret, which wakes the SecretSyncs using it
// (the way a clock that moved is noticed in the tests), and waits until one
// more reconcile of the secretsync controller has finished.
func ssPoke(t *testing.T, ns, secretName string) {
	t.Helper()
	g := NewWithT(t)
	before := ssReconciles(t)
	g.Eventually(func(g Gomega) {
		s := getSecret(g, ns, secretName)
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		s.Labels["poke"] = fmt.Sprint(ssPokes.Add(1))
		g.Expect(k8s.Update(context.Background(), s)).To(Succeed())
	}, eventually, poll).Should(Succeed())
	g.Eventually(func() float64 { return ssReconciles(t) }, eventually, poll).Should(BeNumerically(">", before))
}

// ssReconciles is controller-runtime's count of finished reconciles of the
// secretsync controller.
func ssReconciles(t *testing.T) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if f.GetName() == "controller_runtime_reconcile_total" && ssHasLabel(m.GetLabel(), "controller", "secretsync") {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

func ssHasLabel[L interface {
	GetName() string
	GetValue() string
}](labels []L, name, value string) bool {
	for _, l := range labels {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}
