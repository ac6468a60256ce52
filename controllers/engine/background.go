package engine

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Defaults of the background I/O limits (--background-io-*).
const (
	// DefaultBackgroundWait is how long one reconcile waits, in total, for
	// the network work it started: a fast answer is used at once (no extra
	// reconcile), a slow one arrives later and wakes the object.
	DefaultBackgroundWait = time.Second
	// DefaultBackgroundSlots bounds the network jobs (fetches, pod
	// verifications, token requests) running at once, both kinds together.
	DefaultBackgroundSlots = 32
	// DefaultBackgroundPerNamespace bounds the jobs of one namespace
	// running at once: a tenant's slow endpoints hold at most this many
	// slots, whatever number of objects they create.
	DefaultBackgroundPerNamespace = 8
)

// JobKey names one kind of network work of one object: one HTTPS source,
// the pod verification, the token request. At most one job per key runs.
type JobKey struct {
	Object types.NamespacedName
	Name   string
}

// Background runs a kind's slow network work (HTTPS fetches, pod probes,
// OAuth2 token requests) off the reconcile workers. A reconcile asks for a
// result with Do: a finished job hands its result over; otherwise the job
// is started (one in flight per key) and waited for briefly. A job that
// outlives the wait finishes in the background and wakes its object through
// a channel source, whose reconcile then picks the result up. So an object
// whose endpoints drip or hang holds a worker for at most the wait, and
// holds one of a bounded number of Slots, shared fairly among namespaces,
// while its job runs.
type Background struct {
	// Slots bounds the jobs running at once; shared by both kinds. Nil:
	// slots of its own with the defaults.
	Slots *Slots
	// Wait bounds how long a reconcile waits for jobs it started; 0 means
	// DefaultBackgroundWait. A negative Wait never waits.
	Wait time.Duration

	mu   sync.Mutex
	jobs map[JobKey]*job
	wake chan event.GenericEvent
	base context.Context
}

type job struct {
	spec   string
	done   chan struct{}
	value  any
	cancel context.CancelFunc
	// finished and waited are guarded by Background.mu: a job whose
	// result a waiting reconcile takes wakes nobody.
	finished, waited bool
}

// Source is the channel source through which finished jobs wake their
// objects; the controller of the kind watches it (NewController).
func (b *Background) Source() source.Source {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wake == nil {
		b.wake = make(chan event.GenericEvent, 1024)
	}
	return source.Channel(b.wake, &handler.EnqueueRequestForObject{})
}

// Start keeps the manager's context for the jobs: they end with it. It
// implements manager.Runnable.
func (b *Background) Start(ctx context.Context) error {
	b.mu.Lock()
	b.base = ctx
	b.mu.Unlock()
	<-ctx.Done()
	return nil
}

// NeedLeaderElection is false: the jobs' context is needed as soon as any
// reconcile runs.
func (b *Background) NeedLeaderElection() bool { return false }

type budgetKey struct{}

// WithBudget gives a reconcile its total wait for background jobs.
func (b *Background) WithBudget(ctx context.Context) context.Context {
	return context.WithValue(ctx, budgetKey{}, time.Now().Add(b.wait()))
}

// Wrap gives every reconcile of r its wait budget (WithBudget).
func (b *Background) Wrap(r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
		return r.Reconcile(b.WithBudget(ctx), req)
	})
}

func (b *Background) wait() time.Duration {
	if b.Wait == 0 {
		return DefaultBackgroundWait
	}
	return max(b.Wait, 0)
}

// Do returns the result of the job key for spec (what the job works on:
// a configuration hash, a certificate and a pod set) when it is known. A
// finished job for spec hands its result over, once. Otherwise a job is
// started unless one for the key is in flight (whatever its spec: its end
// wakes the object, whose next reconcile starts the job for the new spec),
// and waited for within the reconcile's budget. run gets a context that
// ends when the object is forgotten or the manager stops.
func (b *Background) Do(ctx context.Context, key JobKey, spec string, run func(context.Context) any) (any, bool) {
	b.mu.Lock()
	if j := b.jobs[key]; j != nil {
		if !j.finished {
			b.mu.Unlock()
			return nil, false
		}
		delete(b.jobs, key)
		if j.spec == spec {
			b.mu.Unlock()
			return j.value, true
		}
	}
	base := b.base
	if base == nil {
		base = context.Background()
	}
	jctx, cancel := context.WithCancel(log.IntoContext(base, log.FromContext(ctx)))
	j := &job{spec: spec, done: make(chan struct{}), cancel: cancel, waited: true}
	if b.jobs == nil {
		b.jobs = map[JobKey]*job{}
	}
	b.jobs[key] = j
	slots := b.slots()
	b.mu.Unlock()

	slots.Submit(key.Object.Namespace, func() {
		var v any
		if jctx.Err() == nil {
			v = run(jctx)
		}
		cancel()
		b.mu.Lock()
		j.value, j.finished = v, true
		wake := !j.waited && b.jobs[key] == j
		b.mu.Unlock()
		close(j.done)
		if wake {
			b.wakeUp(base, key.Object)
		}
	})
	return b.await(ctx, key, j)
}

// await waits for j within the reconcile's budget; on giving up, the job's
// end wakes the object instead.
func (b *Background) await(ctx context.Context, key JobKey, j *job) (any, bool) {
	until := time.Now().Add(b.wait())
	if d, ok := ctx.Value(budgetKey{}).(time.Time); ok && d.Before(until) {
		until = d
	}
	if wait := time.Until(until); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-j.done:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if j.finished {
		if b.jobs[key] == j {
			delete(b.jobs, key)
		}
		return j.value, true
	}
	j.waited = false
	return nil, false
}

// InFlight says whether a job for key is running or queued.
func (b *Background) InFlight(key JobKey) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	j := b.jobs[key]
	return j != nil && !j.finished
}

// Forget cancels and drops the jobs of obj whose names keep does not
// accept (nil: all of them): an object deleted, or a source removed from
// its spec, leaves nothing running or kept.
func (b *Background) Forget(obj types.NamespacedName, keep func(name string) bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, j := range b.jobs {
		if k.Object == obj && (keep == nil || !keep(k.Name)) {
			j.cancel()
			delete(b.jobs, k)
		}
	}
}

// Jobs returns how many jobs the Background holds (running, queued or
// finished and not yet picked up).
func (b *Background) Jobs() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.jobs)
}

func (b *Background) slots() *Slots {
	if b.Slots == nil {
		b.Slots = &Slots{}
	}
	return b.Slots
}

// wakeUp enqueues a reconcile of obj, unless the controller is gone.
func (b *Background) wakeUp(base context.Context, obj types.NamespacedName) {
	b.mu.Lock()
	ch := b.wake
	b.mu.Unlock()
	if ch == nil {
		return
	}
	ev := event.GenericEvent{Object: &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: obj.Namespace, Name: obj.Name}}}
	select {
	case ch <- ev:
	case <-base.Done():
	}
}

var _ client.Object = &metav1.PartialObjectMetadata{}
