package controllers

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers/certsync"
	"certsync.io/certsync/controllers/engine"
	"certsync.io/certsync/controllers/secretsync"
	"certsync.io/certsync/internal/egress"
	"certsync.io/certsync/internal/hashkey"
	"certsync.io/certsync/internal/metrics"
	"certsync.io/certsync/internal/probe"
	"certsync.io/certsync/internal/secretvalues"
	"certsync.io/certsync/test/cluster"
)

// The integration tests share one real kube-apiserver + etcd and one
// manager; each test works in its own namespace.
var (
	testEnv    *envtest.Environment
	k8s        client.Client // direct, uncached: what a user sees
	testScheme = runtime.NewScheme()
	writes     = &writeCounter{byNamespace: map[string]*atomic.Int64{}}
	// testEgress allows loopback, where every test server listens, except
	// 127.77.0.0/16, which stands for a denied in-cluster network.
	// The reconcilers the manager runs, for tests that inspect what they
	// hold in memory.
	testRESTConfig           *rest.Config // the API server's admin
	testCertSyncReconciler   *certsync.Reconciler
	testSecretSyncReconciler *secretsync.Reconciler
	testEgress               = &egress.Policy{AllowLoopback: true, DenyPrefixes: []netip.Prefix{netip.MustParsePrefix("127.77.0.0/16")}}
)

// writeCounter counts the API writes the operator makes, per namespace, so
// tests can prove that a steady state writes nothing.
type writeCounter struct {
	mu          sync.Mutex
	byNamespace map[string]*atomic.Int64
}

func (w *writeCounter) add(ns string) {
	w.mu.Lock()
	c, ok := w.byNamespace[ns]
	if !ok {
		c = &atomic.Int64{}
		w.byNamespace[ns] = c
	}
	w.mu.Unlock()
	c.Add(1)
}

func (w *writeCounter) get(ns string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c, ok := w.byNamespace[ns]; ok {
		return c.Load()
	}
	return 0
}

// apiRequests counts the HTTP requests the operator sends to the API server,
// per namespace in the request path: what a steady state costs the cluster.
var apiRequests = &requestCounter{writes: writeCounter{byNamespace: map[string]*atomic.Int64{}}}

type requestCounter struct{ writes writeCounter }

func (c *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if parts := strings.Split(req.URL.Path, "/"); len(parts) > 0 {
			for i, p := range parts {
				if p == "namespaces" && i+1 < len(parts) {
					c.writes.add(parts[i+1])
					break
				}
			}
		}
		return rt.RoundTrip(req)
	})
}

func (c *requestCounter) get(ns string) int64 { return c.writes.get(ns) }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// countingClient wraps the operator's real client and counts its writes.
type countingClient struct{ client.Client }

// Get fails when the test injected a fault for the object's namespace.
func (c countingClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := faults.check(key.Namespace, "get", obj, key.Name); err != nil {
		return err
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// List fails when the test injected a fault for the listed namespace.
func (c countingClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	lo := (&client.ListOptions{}).ApplyOptions(opts)
	if err := faults.check(lo.Namespace, "list", list, ""); err != nil {
		return err
	}
	return c.Client.List(ctx, list, opts...)
}

func (c countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	writes.add(obj.GetNamespace())
	return c.Client.Create(ctx, obj, opts...)
}

func (c countingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	writes.add(obj.GetNamespace())
	return c.Client.Update(ctx, obj, opts...)
}

func (c countingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	writes.add(obj.GetNamespace())
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c countingClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	writes.add(obj.GetNamespace())
	return c.Client.Delete(ctx, obj, opts...)
}

func (c countingClient) Status() client.SubResourceWriter {
	return countingStatus{c.Client.Status()}
}

type countingStatus struct{ client.SubResourceWriter }

func (c countingStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	writes.add(obj.GetNamespace())
	return c.SubResourceWriter.Update(ctx, obj, opts...)
}

func (c countingStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	writes.add(obj.GetNamespace())
	err := c.SubResourceWriter.Patch(ctx, obj, patch, opts...)
	if err == nil {
		journal.add(obj.GetNamespace(), "status")
	}
	return err
}

// faults are the API errors tests inject into the operator's client, per
// namespace: the API server stays real, one answer is replaced.
var faults = &faultTable{byNamespace: map[string]faultFunc{}}

// faultFunc returns the error for a verb ("get", "list") on obj (named
// name), or nil to let the request through.
type faultFunc func(verb string, obj runtime.Object, name string) error

type faultTable struct {
	mu          sync.Mutex
	byNamespace map[string]faultFunc
}

// set injects f for namespace ns until the test ends or clear is called.
func (f *faultTable) set(t *testing.T, ns string, fn faultFunc) {
	f.mu.Lock()
	f.byNamespace[ns] = fn
	f.mu.Unlock()
	t.Cleanup(func() { f.clear(ns) })
}

func (f *faultTable) clear(ns string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.byNamespace, ns)
}

func (f *faultTable) check(ns, verb string, obj runtime.Object, name string) error {
	f.mu.Lock()
	fn := f.byNamespace[ns]
	f.mu.Unlock()
	if fn == nil {
		return nil
	}
	return fn(verb, obj, name)
}

// journal records, per namespace, the operator's successful status writes
// and its events in the order it made them, so a test can tell which came
// first (events reach the API server asynchronously).
var journal = &journalLog{byNamespace: map[string][]string{}}

type journalLog struct {
	mu          sync.Mutex
	byNamespace map[string][]string
}

func (j *journalLog) add(ns, entry string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.byNamespace[ns] = append(j.byNamespace[ns], entry)
}

func (j *journalLog) get(ns string) []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.byNamespace[ns])
}

// journalRecorder records each event in the journal, then emits it.
type journalRecorder struct{ events.EventRecorder }

func (r journalRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	if o, ok := regarding.(client.Object); ok {
		journal.add(o.GetNamespace(), "event:"+reason)
	}
	r.EventRecorder.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

// testMetrics is the registry of the test reconcilers' series.
var testMetrics = prometheus.NewRegistry()

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	logf.SetLogger(withReconcileCounts(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapLevel()))))
	utilruntime.Must(clientgoscheme.AddToScheme(testScheme))
	utilruntime.Must(v1alpha1.AddToScheme(testScheme))
	utilruntime.Must(cmapi.AddToScheme(testScheme))

	var err error
	crds, err := certManagerCRDs()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cert-manager CRDs:", err)
		return 1
	}
	testEnv, err = cluster.NewEnvironment(crds...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		return 1
	}
	cfg, err := testEnv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer func() { _ = testEnv.Stop() }()

	testRESTConfig = cfg
	k8s, err = client.New(cfg, client.Options{Scheme: testScheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := loadTestFingerprintKey(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "fingerprint key:", err)
		return 1
	}
	if err := startManager(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "starting manager:", err)
		return 1
	}
	return m.Run()
}

// certManagerCRDs are the CRDs of cert-manager's Certificate, from the
// cert-manager Go module certsync depends on: the tests play cert-manager's
// part by writing Certificate status and Secrets themselves.
func certManagerCRDs() ([]string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cert-manager/cert-manager").Output()
	if err != nil {
		return nil, fmt.Errorf("locating the cert-manager module: %w", err)
	}
	return []string{filepath.Join(strings.TrimSpace(string(out)), "deploy", "crds", "cert-manager.io_certificates.yaml")}, nil
}

func zapLevel() zapcore.Level {
	if os.Getenv("CERTSYNC_TEST_VERBOSE") != "" {
		return -1
	}
	return 1 // warnings and errors only: keep test output readable
}

func startManager(ctx context.Context, cfg *rest.Config) error {
	opts := ManagerOptions(testScheme)
	opts.Metrics = metricsserver.Options{BindAddress: "0"}
	opts.HealthProbeBindAddress = "0"
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(apiRequests.wrap)
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return err
	}
	r := &certsync.Reconciler{
		Core: engine.Core{Client: countingClient{mgr.GetClient()}, ClockFor: clocks.For, Egress: testEgress, RolloutsFor: budgets.For,
			Recorder: journalRecorder{mgr.GetEventRecorder("certsync")}, Metrics: metrics.Register(testMetrics)},
		Prober: &probe.Prober{},
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	testCertSyncReconciler = r
	ssr := newTestSecretSyncReconciler(mgr)
	if err := ssr.SetupWithManager(mgr); err != nil {
		return err
	}
	testSecretSyncReconciler = ssr
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager stopped:", err)
		}
	}()
	return nil
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// reconcileCount reads controller-runtime's own counter of finished
// reconciles of the certsync controller.
func reconcileCount(t testing.TB) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == "certsync" {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}

// eventsFor lists the events.k8s.io Events regarding a CertSync.
func eventsFor(g Gomega, ns, name string) []eventsv1.Event {
	var list eventsv1.EventList
	g.Expect(k8s.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == "CertSync" && e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	return out
}

func eventReasons(evs []eventsv1.Event) map[string]int {
	m := map[string]int{}
	for _, e := range evs {
		n := 1
		if e.Series != nil {
			n = int(e.Series.Count)
		}
		m[e.Reason] += n
	}
	return m
}

// clocks is the reconcilers' notion of now in the tests, injected into
// both (engine.Core.ClockFor): each test that moves time has a clock of its
// own namespace, so it moves nobody else's; other namespaces use the wall
// clock.
var clocks = &testClocks{byNamespace: map[string]clock.PassiveClock{}}

type testClocks struct {
	mu          sync.Mutex
	byNamespace map[string]clock.PassiveClock
}

// For is the clock of namespace ns (nil: the wall clock).
func (c *testClocks) For(ns string) clock.PassiveClock {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byNamespace[ns]
}

func (c *testClocks) set(t *testing.T, ns string, clk clock.PassiveClock) {
	c.mu.Lock()
	c.byNamespace[ns] = clk
	c.mu.Unlock()
	t.Cleanup(func() {
		c.mu.Lock()
		delete(c.byNamespace, ns)
		c.mu.Unlock()
	})
}

// fake gives namespace ns a clock that stands still at the wall clock's
// now until the test moves it.
func (c *testClocks) fake(t *testing.T, ns string) *clocktesting.FakeClock {
	clk := clocktesting.NewFakeClock(time.Now())
	c.set(t, ns, clk)
	return clk
}

// shifted gives namespace ns the wall clock shifted by what the test asks
// for, to cross expiry windows without waiting for them.
func (c *testClocks) shifted(t *testing.T, ns string) *shiftedClock {
	clk := &shiftedClock{}
	c.set(t, ns, clk)
	return clk
}

type shiftedClock struct{ offset atomic.Int64 }

func (c *shiftedClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *shiftedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// shift moves the clock to d past the wall clock.
func (c *shiftedClock) shift(d time.Duration) { c.offset.Store(int64(d)) }

const (
	eventually = 60 * time.Second
	poll       = 100 * time.Millisecond
)

// operatorNamespace stands for the operator's own namespace, where the
// fingerprint key lives.
const operatorNamespace = "certsync-operator"

// loadTestFingerprintKey does what main does: the fingerprints of secret
// values are HMACs with a key from the operator's namespace.
func loadTestFingerprintKey(ctx context.Context) error {
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}); err != nil {
		return err
	}
	key, err := hashkey.LoadOrCreate(ctx, k8s, operatorNamespace, hashkey.DefaultSecretName)
	if err != nil {
		return err
	}
	secretvalues.SetHashKey(key)
	return nil
}
