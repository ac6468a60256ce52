package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

func TestMayStart(t *testing.T) {
	for _, tc := range []struct {
		name                         string
		total, inNS, maxTotal, perNS int
		want                         bool
	}{
		{"free", 0, 0, 4, 2, true},
		{"namespace share left", 3, 1, 4, 2, true},
		{"namespace share used", 1, 2, 4, 2, false},
		{"all slots used, namespace has some", 4, 1, 4, 2, false},
		{"all slots used, namespace has none: its first starts", 4, 0, 4, 2, true},
		{"over the total, namespace has none", 9, 0, 4, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mayStart(tc.total, tc.inNS, tc.maxTotal, tc.perNS); got != tc.want {
				t.Errorf("mayStart(%d, %d, %d, %d) = %v, want %v", tc.total, tc.inNS, tc.maxTotal, tc.perNS, got, tc.want)
			}
		})
	}
}

// TestSlotsIsolateNamespaces: a namespace that fills its share, and then
// every slot, keeps no other namespace waiting; its own jobs wait their
// turn and start as slots free.
func TestSlotsIsolateNamespaces(t *testing.T) {
	s := &Slots{Total: 3, PerNamespace: 2}
	block := make(chan struct{})
	var started sync.WaitGroup
	var hostile atomic.Int32
	for range 5 {
		started.Add(1)
		s.Submit("hostile", func() { hostile.Add(1); started.Done(); <-block })
	}
	waitFor(t, func() bool { return hostile.Load() == 2 })
	if total, in, queued := s.Running("hostile"); total != 2 || in != 2 || queued != 3 {
		t.Fatalf("running %d (namespace %d), queued %d; want 2, 2, 3", total, in, queued)
	}
	// Another namespace starts at once, also past the total.
	benign := make(chan struct{}, 2)
	s.Submit("other", func() { benign <- struct{}{}; <-block })
	s.Submit("third", func() { benign <- struct{}{}; <-block })
	for range 2 {
		select {
		case <-benign:
		case <-time.After(10 * time.Second):
			t.Fatal("a job of another namespace waited behind the hostile one's")
		}
	}
	close(block)
	started.Wait() // the queued hostile jobs ran once slots freed
	waitFor(t, func() bool { total, _, queued := s.Running("hostile"); return total == 0 && queued == 0 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBackgroundDo: a job answering within the wait is used by the same
// reconcile and wakes nobody; a slow one leaves the reconcile at once,
// is not started twice, wakes its object when done and is handed over
// once to the next reconcile; a changed spec starts a new job; Forget
// cancels.
func TestBackgroundDo(t *testing.T) {
	b := &Background{Wait: 200 * time.Millisecond}
	wake := make(chan event.GenericEvent, 8)
	b.wake = wake
	obj := types.NamespacedName{Namespace: "ns", Name: "obj"}
	key := JobKey{Object: obj, Name: "fetch/a"}
	ctx := context.Background()

	v, done := b.Do(ctx, key, "s1", func(context.Context) any { return "fast" })
	if !done || v != "fast" {
		t.Fatalf("fast job: %v, %v", v, done)
	}
	if b.Jobs() != 0 {
		t.Errorf("%d jobs kept after hand-over", b.Jobs())
	}

	release := make(chan struct{})
	var runs atomic.Int32
	slow := func(context.Context) any { runs.Add(1); <-release; return "slow" }
	start := time.Now()
	if _, done := b.Do(ctx, key, "s1", slow); done {
		t.Fatal("slow job reported done")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the reconcile waited %s", d)
	}
	if _, done := b.Do(ctx, key, "s1", slow); done || !b.InFlight(key) {
		t.Fatal("in-flight job reported done, or not in flight")
	}
	close(release)
	select {
	case ev := <-wake:
		if ev.Object.GetName() != "obj" || ev.Object.GetNamespace() != "ns" {
			t.Errorf("woke %s/%s", ev.Object.GetNamespace(), ev.Object.GetName())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a finished job woke nobody")
	}
	if runs.Load() != 1 {
		t.Errorf("%d runs, want 1 (one job in flight per key)", runs.Load())
	}
	if v, done := b.Do(ctx, key, "s1", slow); !done || v != "slow" {
		t.Fatalf("finished job: %v, %v", v, done)
	}
	select {
	case <-wake:
		t.Error("a job whose result was taken woke its object")
	default:
	}

	// A finished job for another spec is dropped and the new one runs.
	if _, done := b.Do(ctx, key, "s2", func(context.Context) any { return "v2" }); !done {
		t.Fatal("new spec not run")
	}

	// Forget cancels a running job.
	canceled := make(chan struct{})
	b.Do(ctx, JobKey{Object: obj, Name: "verify"}, "s", func(ctx context.Context) any { <-ctx.Done(); close(canceled); return nil })
	b.Forget(obj, nil)
	select {
	case <-canceled:
	case <-time.After(10 * time.Second):
		t.Fatal("Forget did not cancel the job")
	}
	if b.Jobs() != 0 {
		t.Errorf("%d jobs kept after Forget", b.Jobs())
	}
}

// TestBackgroundBudget: the wait is per reconcile, not per job: a reconcile
// starting several slow jobs waits once.
func TestBackgroundBudget(t *testing.T) {
	b := &Background{Wait: time.Second}
	release := make(chan struct{})
	defer close(release)
	ctx := b.WithBudget(context.Background())
	start := time.Now()
	for i := range 8 {
		b.Do(ctx, JobKey{Object: types.NamespacedName{Namespace: "ns", Name: "o"}, Name: string(rune('a' + i))}, "s",
			func(context.Context) any { <-release; return nil })
	}
	if d := time.Since(start); d > 5*time.Second { // 8s if each job had its own wait
		t.Errorf("8 slow jobs held the reconcile %s; the budget is 1s", d)
	}
}
