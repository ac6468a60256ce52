// Package fairqueue keeps one namespace's burst of work from starving
// another namespace's: a controller's queue orders ready items by
// priority, then first in, first out, so 1,000 CertSyncs created (or
// renewed, or due for verification) at once in one namespace would
// otherwise all be reconciled before a single CertSync of another
// namespace that changed a moment later.
//
// The queue is controller-runtime's priority queue with each item's
// priority lowered by its rank in its namespace: how many items of the same
// namespace were already queued when it was added, capped at MaxRank. The
// first items of every namespace therefore go first, round-robin, and a
// namespace with one item queued is served next whatever another namespace
// holds. Past MaxRank items are first in, first out as before: the cap
// keeps the number of distinct priorities (a label of the workqueue depth
// metric) small, and a namespace holding more than MaxRank items is the
// busy one.
package fairqueue

import (
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// MaxRank is the largest amount an item's priority is lowered by.
const MaxRank = 10

// Queue is a priorityqueue.PriorityQueue of reconcile requests that ranks
// items within their namespace. Create it with New.
type Queue struct {
	priorityqueue.PriorityQueue[reconcile.Request]

	mu    sync.Mutex
	ranks *Ranks
}

// New returns a fair queue for controllerName, with controller-runtime's
// priority queue (and rateLimiter) underneath. Its signature is that of
// controller.Options.NewQueue.
func New(controllerName string, rateLimiter workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
	return Wrap(priorityqueue.New(controllerName, func(o *priorityqueue.Opts[reconcile.Request]) {
		o.RateLimiter = rateLimiter
	}))
}

// Wrap ranks the items added to q.
func Wrap(q priorityqueue.PriorityQueue[reconcile.Request]) *Queue {
	return &Queue{PriorityQueue: q, ranks: NewRanks()}
}

// Add queues item now.
func (q *Queue) Add(item reconcile.Request) {
	q.AddWithOpts(priorityqueue.AddOpts{}, item)
}

// AddAfter queues item once d has passed.
func (q *Queue) AddAfter(item reconcile.Request, d time.Duration) {
	q.AddWithOpts(priorityqueue.AddOpts{After: d}, item)
}

// AddRateLimited queues item after its rate limiter's delay.
func (q *Queue) AddRateLimited(item reconcile.Request) {
	q.AddWithOpts(priorityqueue.AddOpts{RateLimited: true}, item)
}

// AddWithOpts queues items with o.Priority lowered by each one's rank in
// its namespace.
func (q *Queue) AddWithOpts(o priorityqueue.AddOpts, items ...reconcile.Request) {
	q.mu.Lock()
	defer q.mu.Unlock()
	base := ptr.Deref(o.Priority, 0)
	for _, item := range items {
		oi := o
		oi.Priority = ptr.To(q.ranks.Add(item, base))
		q.PriorityQueue.AddWithOpts(oi, item)
	}
}

// Get returns the next item (see GetWithPriority).
func (q *Queue) Get() (reconcile.Request, bool) {
	item, _, shutdown := q.GetWithPriority()
	return item, shutdown
}

// GetWithPriority returns the next item and the priority it was added
// with, before ranking: the controller adds it back with that priority
// when it requeues it, and it is ranked again then.
func (q *Queue) GetWithPriority() (reconcile.Request, int, bool) {
	item, priority, shutdown := q.PriorityQueue.GetWithPriority()
	if shutdown {
		return item, priority, shutdown
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return item, q.ranks.Got(item), false
}
