package fairqueue

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// TestQueueServesTheQuietNamespaceFirst: with 100 items of namespace a
// queued, an item of namespace b added after them is handed out among the
// first, and a's items keep their order.
func TestQueueServesTheQuietNamespaceFirst(t *testing.T) {
	q := New("test", workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Millisecond, time.Second))
	defer q.ShutDown()
	for i := range 100 {
		q.Add(req("a", fmt.Sprintf("%03d", i)))
	}
	q.Add(req("b", "only"))
	var order []reconcile.Request
	for q.Len() > 0 || len(order) < 101 {
		item, shutdown := q.Get()
		if shutdown {
			t.Fatal("queue shut down")
		}
		order = append(order, item)
		q.Done(item)
	}
	pos := -1
	for i, item := range order {
		if item.Namespace == "b" {
			pos = i
		}
	}
	if pos < 0 || pos > 1 {
		t.Errorf("b's item handed out at position %d of %d, want among the first 2 (a's first item has the same priority and came first)", pos, len(order))
	}
	prev := ""
	for _, item := range order {
		if item.Namespace == "a" {
			if item.Name < prev {
				t.Errorf("a's items out of order: %s after %s", item.Name, prev)
			}
			prev = item.Name
		}
	}
}

// TestQueueRequeueKeepsBasePriority: the priority GetWithPriority returns
// is the one the item was added with, so a controller requeueing with it
// (as controller-runtime does on RequeueAfter) does not sink the item
// further each time.
func TestQueueRequeueKeepsBasePriority(t *testing.T) {
	q := New("test", workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Millisecond, time.Second)).(*Queue)
	defer q.ShutDown()
	q.Add(req("a", "1"))
	q.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(-100)}, req("a", "2"))
	for range 5 {
		for range 2 {
			item, p, shutdown := q.GetWithPriority()
			if shutdown {
				t.Fatal("queue shut down")
			}
			want := 0
			if item.Name == "2" {
				want = -100
			}
			if p != want {
				t.Errorf("%s: priority %d, want %d", item, p, want)
			}
			q.Done(item)
			q.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(p)}, item)
		}
	}
}
