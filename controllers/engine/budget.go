package engine

import (
	"context"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/rollout"
)

// RolloutKey names one object's rollout in the budget.
type RolloutKey struct {
	// Kind is "CertSync" or "SecretSync".
	Kind string
	types.NamespacedName
}

// Budget is the operator's cluster-wide bound on rollouts in progress at
// once (--max-concurrent-rollouts), shared by both kinds: a CA rotation
// that renews hundreds of objects at once restarts their workloads a few
// objects at a time. One object's rollout (all its workload restarts and
// bare-pod evictions for one content) holds one slot from its first restart
// until it completes or stalls; objects over budget wait, first come first
// served, and are woken when a slot frees.
//
// The slots are kept in memory, and rebuilt after an operator restart from
// what status says (Seed, before the first slot is given): each object's
// reconcile then confirms or releases its slot, so the budget is
// level-triggered, not only remembered.
type Budget struct {
	// Max is the number of rollouts in progress at once; 0 means no limit.
	Max int
	// Seed lists the rollouts status shows in progress; called once,
	// before the first slot is given. Nil seeds nothing.
	Seed func(ctx context.Context) ([]RolloutKey, error)
	// Observe, when set, is told the rollouts in progress and waiting
	// whenever they change (the metrics gauges).
	Observe func(inProgress, waiting int)

	mu      sync.Mutex
	seeded  bool
	holders map[RolloutKey]struct{}
	waiting []RolloutKey
	wake    map[string]chan event.GenericEvent
}

// Acquire gives key a slot (true) or queues it (false): it is woken
// through its kind's Source when a slot frees. A key that holds a slot
// keeps it.
func (b *Budget) Acquire(ctx context.Context, key RolloutKey) bool {
	if b == nil {
		return true
	}
	b.seed(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.observe()
	if _, ok := b.holders[key]; ok {
		return true
	}
	pos := slices.Index(b.waiting, key)
	if pos < 0 {
		pos = len(b.waiting)
	}
	if !rollout.AdmitRollout(b.Max, len(b.holders), pos) {
		if pos == len(b.waiting) {
			b.waiting = append(b.waiting, key)
		}
		return false
	}
	if pos < len(b.waiting) {
		b.waiting = slices.Delete(b.waiting, pos, pos+1)
	}
	b.holders[key] = struct{}{}
	return true
}

// Hold marks key's rollout in progress: one found under way (after an
// operator restart, or started before a budget existed) counts against the
// budget even when that puts it over.
func (b *Budget) Hold(key RolloutKey) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.observe()
	b.init()
	b.holders[key] = struct{}{}
	b.waiting = slices.DeleteFunc(b.waiting, func(k RolloutKey) bool { return k == key })
}

// Release ends key's rollout, or its wait, and wakes the waiters a freed
// slot admits.
func (b *Budget) Release(key RolloutKey) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	_, held := b.holders[key]
	waited := slices.Contains(b.waiting, key)
	delete(b.holders, key)
	b.waiting = slices.DeleteFunc(b.waiting, func(k RolloutKey) bool { return k == key })
	if held || waited {
		// A freed slot, or a place ahead in the queue: the next waiters
		// may now be admitted.
		b.wakeAdmitted()
	}
	b.observe()
}

// Waiting reports whether key waits for a slot.
func (b *Budget) Waiting(key RolloutKey) bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Contains(b.waiting, key)
}

// Counts are the rollouts in progress and waiting.
func (b *Budget) Counts() (inProgress, waiting int) {
	if b == nil {
		return 0, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.holders), len(b.waiting)
}

// SetWaker tells the budget how to wake waiting objects of kind: ch
// feeds the kind's controller (Core.NewController adds it).
func (b *Budget) SetWaker(kind string, ch chan event.GenericEvent) {
	if b == nil || ch == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	b.wake[kind] = ch
}

func (b *Budget) init() {
	if b.holders == nil {
		b.holders = map[RolloutKey]struct{}{}
	}
	if b.wake == nil {
		b.wake = map[string]chan event.GenericEvent{}
	}
}

// seed rebuilds the slots from status once, before the first is given.
func (b *Budget) seed(ctx context.Context) {
	b.mu.Lock()
	b.init()
	if b.seeded || b.Seed == nil {
		b.seeded = true
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	keys, err := b.Seed(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		// Tried again at the next Acquire; until then nothing is given out
		// beyond what is known.
		log.FromContext(ctx).Error(err, "rebuilding the rollout budget from status")
		return
	}
	if b.seeded {
		return
	}
	b.seeded = true
	for _, k := range keys {
		b.holders[k] = struct{}{}
	}
	b.observe()
}

// wakeAdmitted wakes the first waiters the free slots admit; their
// reconcile calls Acquire. Called with mu held.
func (b *Budget) wakeAdmitted() {
	free := len(b.waiting)
	if b.Max > 0 {
		free = min(free, b.Max-len(b.holders))
	}
	for _, k := range b.waiting[:max(free, 0)] {
		ch := b.wake[k.Kind]
		if ch == nil {
			continue
		}
		obj := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name}}
		select {
		case ch <- event.GenericEvent{Object: obj}:
		default:
			// Full: the waiter's own requeue (WaitingRequeue) finds the slot.
		}
	}
}

func (b *Budget) observe() {
	if b.Observe != nil {
		b.Observe(len(b.holders), len(b.waiting))
	}
}

// SeedFromStatus lists the CertSyncs and SecretSyncs (in namespaces, or
// the cluster when empty) whose status shows a rollout in progress:
// RolledOut False with reason RollingOut. Stale ones are released by their
// object's next reconcile.
func SeedFromStatus(c client.Reader, namespaces ...string) func(ctx context.Context) ([]RolloutKey, error) {
	if len(namespaces) == 0 {
		namespaces = []string{""} // the whole cluster
	}
	return func(ctx context.Context) ([]RolloutKey, error) {
		var keys []RolloutKey
		add := func(kind string, obj metav1.Object, conds []metav1.Condition) {
			if c := meta.FindStatusCondition(conds, v1alpha1.ConditionRolledOut); c != nil && c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonRollingOut {
				keys = append(keys, RolloutKey{Kind: kind, NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}})
			}
		}
		for _, ns := range namespaces {
			var cs v1alpha1.CertSyncList
			if err := c.List(ctx, &cs, client.InNamespace(ns)); err != nil {
				return nil, err
			}
			for i := range cs.Items {
				add(KindCertSync, &cs.Items[i], cs.Items[i].Status.Conditions)
			}
			var ss v1alpha1.SecretSyncList
			if err := c.List(ctx, &ss, client.InNamespace(ns)); err != nil {
				return nil, err
			}
			for i := range ss.Items {
				add(KindSecretSync, &ss.Items[i], ss.Items[i].Status.Conditions)
			}
		}
		return keys, nil
	}
}

// The kinds, as RolloutKey names them.
const (
	KindCertSync   = "CertSync"
	KindSecretSync = "SecretSync"
)
