package secretwatch

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	metadatafake "k8s.io/client-go/metadata/fake"
	"k8s.io/client-go/rest"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"certsync.io/certsync/test/cluster"
)

const eventually = 2 * time.Minute // generous: 2 shared cores

var (
	env   *envtest.Environment
	admin *rest.Config
)

func TestMain(m *testing.M) {
	if os.Getenv("CERTSYNC_SKIP_CLUSTER") == "1" {
		os.Exit(m.Run()) // the envtest tests skip themselves
	}
	var err error
	if env, err = cluster.NewEnvironment(); err != nil {
		panic(err)
	}
	if admin, err = env.Start(); err != nil {
		panic(err)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

func newQueue() workqueue.TypedRateLimitingInterface[reconcile.Request] {
	return workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
}

// next waits for the queue's next request.
func next(t *testing.T, q workqueue.TypedRateLimitingInterface[reconcile.Request]) reconcile.Request {
	t.Helper()
	got := make(chan reconcile.Request, 1)
	go func() {
		r, shutdown := q.Get()
		if !shutdown {
			q.Done(r)
			got <- r
		}
	}()
	select {
	case r := <-got:
		return r
	case <-time.After(eventually):
		t.Fatalf("no request within %s", eventually)
		return reconcile.Request{}
	}
}

// recorder is a Map that wakes "owner-<name>" for Secrets named "wanted-*"
// and remembers every namespace it saw.
type recorder struct {
	mu  sync.Mutex
	nss []string
}

func (r *recorder) Map(_ context.Context, obj *metav1.PartialObjectMetadata) []reconcile.Request {
	r.mu.Lock()
	r.nss = append(r.nss, obj.Namespace)
	r.mu.Unlock()
	if len(obj.Name) < 7 || obj.Name[:7] != "wanted-" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.Namespace, Name: "owner-" + obj.Name}}}
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.nss)
}

// A Secret event in a watched namespace wakes what it maps to, on create,
// update and delete; Secrets of other namespaces are not even received.
func TestEventsAreMappedPerNamespace(t *testing.T) {
	if env == nil {
		t.Skip("CERTSYNC_SKIP_CLUSTER=1")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cs := kubernetes.NewForConfigOrDie(admin)
	for _, ns := range []string{"sw-a", "sw-b", "sw-other"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recorder{}
	var alls atomic.Int32
	src := &Source{
		Client:     metadata.NewForConfigOrDie(admin),
		Namespaces: []string{"sw-a", "sw-b"},
		Map:        rec.Map,
		All:        func(context.Context) ([]reconcile.Request, error) { alls.Add(1); return nil, nil },
	}
	q := newQueue()
	defer q.ShutDown()
	if err := src.Start(ctx, q); err != nil {
		t.Fatal(err)
	}
	syncCtx, syncCancel := context.WithTimeout(ctx, eventually)
	defer syncCancel()
	if err := src.WaitForSync(syncCtx); err != nil {
		t.Fatal(err)
	}

	secret := func(ns, name string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{"k": []byte("v")}}
	}
	// Unrelated Secrets first: they map to nothing.
	for _, ns := range []string{"sw-other", "sw-a"} {
		if _, err := cs.CoreV1().Secrets(ns).Create(ctx, secret(ns, "unrelated"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	want := types.NamespacedName{Namespace: "sw-b", Name: "owner-wanted-1"}
	s, err := cs.CoreV1().Secrets("sw-b").Create(ctx, secret("sw-b", "wanted-1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := next(t, q); got.NamespacedName != want {
		t.Fatalf("created: got %v, want %v", got, want)
	}
	s.Data["k"] = []byte("w")
	if _, err := cs.CoreV1().Secrets("sw-b").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := next(t, q); got.NamespacedName != want {
		t.Fatalf("updated: got %v, want %v", got, want)
	}
	if err := cs.CoreV1().Secrets("sw-b").Delete(ctx, "wanted-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := next(t, q); got.NamespacedName != want {
		t.Fatalf("deleted: got %v, want %v", got, want)
	}
	// sw-a's unrelated Secret was created before sw-b's, but the two
	// namespaces are separate watches: wait for it before checking.
	deadline := time.Now().Add(eventually)
	for !slices.Contains(rec.seen(), "sw-a") {
		if time.Now().After(deadline) {
			t.Fatalf("sw-a's Secret never reached Map; seen %v", rec.seen())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if slices.Contains(rec.seen(), "sw-other") {
		t.Errorf("a Secret of an unwatched namespace reached Map: %v", rec.seen())
	}
	if n := alls.Load(); n != 0 {
		t.Errorf("All called %d times without a watch gap", n)
	}
}

// A watch whose resourceVersion expired (410) loses the events in between:
// the source enqueues everything All gives and watches from a fresh version.
func TestExpiredWatchResyncsAll(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	scheme := runtime.NewScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	fc := metadatafake.NewSimpleMetadataClient(scheme)
	var mu sync.Mutex
	var watches []string // resourceVersions watched from
	fc.PrependWatchReactor("secrets", func(a clienttesting.Action) (bool, watch.Interface, error) {
		mu.Lock()
		defer mu.Unlock()
		watches = append(watches, a.(clienttesting.WatchActionImpl).WatchRestrictions.ResourceVersion)
		w := watch.NewFake()
		if len(watches) == 1 {
			go w.Error(&apierrors.NewResourceExpired("too old resource version").ErrStatus)
		}
		return true, w, nil
	})
	everything := []reconcile.Request{
		{NamespacedName: types.NamespacedName{Namespace: "a", Name: "one"}},
		{NamespacedName: types.NamespacedName{Namespace: "b", Name: "two"}},
	}
	src := &Source{
		Client: fc,
		Map:    func(context.Context, *metav1.PartialObjectMetadata) []reconcile.Request { return nil },
		All:    func(context.Context) ([]reconcile.Request, error) { return everything, nil },
	}
	q := newQueue()
	defer q.ShutDown()
	if err := src.Start(ctx, q); err != nil {
		t.Fatal(err)
	}
	var got []reconcile.Request
	for range everything {
		got = append(got, next(t, q))
	}
	slices.SortFunc(got, func(x, y reconcile.Request) int { return strings.Compare(x.String(), y.String()) })
	if !slices.Equal(got, everything) {
		t.Fatalf("after the watch expired: got %v, want %v", got, everything)
	}
	deadline := time.Now().Add(eventually)
	for {
		mu.Lock()
		n := len(watches)
		mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the watch was not reopened after it expired")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
