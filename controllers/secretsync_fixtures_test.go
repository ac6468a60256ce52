package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/controllers/secretsync"
	"certsync.io/certsync/internal/metrics"
)

// newTestSecretSyncReconciler is the SecretSync reconciler of the shared
// test manager: its writes are counted and its clocks are the tests'.
func newTestSecretSyncReconciler(mgr ctrl.Manager) *secretsync.Reconciler {
	return &secretsync.Reconciler{Core: engine.Core{Client: countingClient{mgr.GetClient()}, ClockFor: clocks.For, Egress: testEgress, RolloutsFor: budgets.For,
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

// ssSource builds a source Secret holding OAuth2 client credentials. Like
// every Secret a SecretSync copies, it consents to its own namespace
// (certsync.io/allowed-namespaces); ssNoConsent takes that away.
func ssSource(ns, name string, data map[string]string, mods ...func(*corev1.Secret)) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
		Annotations: map[string]string{v1alpha1.AnnotationAllowedNamespaces: ns}}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

// ssNoConsent removes the consent annotation of ssSource: a Secret whose
// writer never said certsync may copy it (a ServiceAccount token, say).
func ssNoConsent(s *corev1.Secret) { delete(s.Annotations, v1alpha1.AnnotationAllowedNamespaces) }

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

// ssPoke changes a label of a Secret, which wakes the SecretSyncs of
// namespace ns using it (the way a clock that moved is noticed in the
// tests), and waits until a reconcile of one of them that started after the
// change has finished. It counts that namespace's reconciles only, so tests
// in other namespaces may reconcile meanwhile (t.Parallel).
func ssPoke(t *testing.T, ns, secretName string) {
	t.Helper()
	g := NewWithT(t)
	before := reconciles.snapshot("secretsync", ns)
	g.Eventually(func(g Gomega) {
		s := getSecret(g, ns, secretName)
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		s.Labels["poke"] = fmt.Sprint(ssPokes.Add(1))
		g.Expect(k8s.Update(context.Background(), s)).To(Succeed())
	}, eventually, poll).Should(Succeed())
	g.Eventually(func() bool { return reconciles.finishedSince("secretsync", ns, before) }, eventually, poll).Should(BeTrue(),
		"no SecretSync of %s was reconciled after %s changed", ns, secretName)
}

// reconciles counts, per controller and object, the reconciles that
// controller-runtime started and finished, from the lines it logs for each
// (see reconcileSink): a test waits for its own objects' reconciles, not
// for a global count other tests move too.
var reconciles = &reconcileLog{objects: map[reconcileKey]*reconcileCounts{}}

type reconcileKey struct{ controller, namespace, name string }

type reconcileCounts struct{ started, finished int }

type reconcileLog struct {
	mu      sync.Mutex
	objects map[reconcileKey]*reconcileCounts
}

func (l *reconcileLog) add(k reconcileKey, started, finished int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.objects[k]
	if !ok {
		c = &reconcileCounts{}
		l.objects[k] = c
	}
	c.started += started
	c.finished += finished
}

// snapshot is how many reconciles of each object of the controller in ns
// have started so far.
func (l *reconcileLog) snapshot(controller, ns string) map[reconcileKey]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := map[reconcileKey]int{}
	for k, c := range l.objects {
		if k.controller == controller && k.namespace == ns {
			m[k] = c.started
		}
	}
	return m
}

// finishedSince reports whether some object of the controller in ns has
// finished a reconcile that started after the snapshot: one object's
// reconciles never overlap, so its finished count passing the started
// count of then means exactly that.
func (l *reconcileLog) finishedSince(controller, ns string, before map[reconcileKey]int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, c := range l.objects {
		if k.controller == controller && k.namespace == ns && c.finished > before[k] {
			return true
		}
	}
	return false
}

// finished is how many reconciles of the controller's objects in ns have
// finished.
func (l *reconcileLog) finished(controller, ns string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for k, c := range l.objects {
		if k.controller == controller && k.namespace == ns {
			n += c.finished
		}
	}
	return n
}

// reconcileSink passes every log line on to the suite's logger and counts
// the ones controller-runtime writes around each reconcile, with the
// request's logger: "Reconciling" before it, one of "Reconcile
// successful", "Reconcile done, ..." or "Reconciler error" after it.
type reconcileSink struct {
	logr.LogSink
	key reconcileKey
}

// withReconcileCounts wraps the suite's logger so that reconciles counts.
func withReconcileCounts(l logr.Logger) logr.Logger {
	return logr.New(reconcileSink{LogSink: l.GetSink()})
}

// Enabled is true at every level: the lines counted are logged at V(5),
// below what the suite prints.
func (s reconcileSink) Enabled(int) bool { return true }

func (s reconcileSink) Info(level int, msg string, kv ...any) {
	switch {
	case msg == "Reconciling":
		s.count(1, 0)
	case msg == "Reconcile successful", strings.HasPrefix(msg, "Reconcile done"):
		s.count(0, 1)
	}
	if s.LogSink.Enabled(level) {
		s.LogSink.Info(level, msg, kv...)
	}
}

func (s reconcileSink) Error(err error, msg string, kv ...any) {
	if msg == "Reconciler error" {
		s.count(0, 1)
	}
	s.LogSink.Error(err, msg, kv...)
}

func (s reconcileSink) count(started, finished int) {
	if s.key.controller != "" && s.key.name != "" {
		reconciles.add(s.key, started, finished)
	}
}

func (s reconcileSink) WithValues(kv ...any) logr.LogSink {
	for i := 0; i+1 < len(kv); i += 2 {
		v, _ := kv[i+1].(string)
		switch kv[i] {
		case "controller":
			s.key.controller = v
		case "namespace":
			s.key.namespace = v
		case "name":
			s.key.name = v
		}
	}
	s.LogSink = s.LogSink.WithValues(kv...)
	return s
}

func (s reconcileSink) WithName(name string) logr.LogSink {
	s.LogSink = s.LogSink.WithName(name)
	return s
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
