package fairqueue

import "sigs.k8s.io/controller-runtime/pkg/reconcile"

// Ranks is the bookkeeping of Queue, apart from the queue so that it can
// be tested as a pure function of the adds and gets: which items are
// queued, with what base priority, and how many per namespace.
type Ranks struct {
	queued map[reconcile.Request]entry
	perNS  map[string]int
}

type entry struct {
	base, rank int
}

// NewRanks returns empty bookkeeping.
func NewRanks() *Ranks {
	return &Ranks{queued: map[reconcile.Request]entry{}, perNS: map[string]int{}}
}

// Add records item as queued with base priority and returns the priority
// to queue it with: base lowered by the number of items of its namespace
// already queued, at most MaxRank. An item already queued (the queue keeps
// one copy) keeps its rank and the higher of the two bases, as the queue
// keeps the higher priority.
func (r *Ranks) Add(item reconcile.Request, base int) int {
	if e, ok := r.queued[item]; ok {
		e.base = max(e.base, base)
		r.queued[item] = e
		return e.base - e.rank
	}
	rank := min(r.perNS[item.Namespace], MaxRank)
	r.queued[item] = entry{base: base, rank: rank}
	r.perNS[item.Namespace]++
	return base - rank
}

// Got records that item left the queue and returns its base priority. An
// item not recorded (added again in the instant between the queue handing
// it out and Got) has base 0.
func (r *Ranks) Got(item reconcile.Request) int {
	e, ok := r.queued[item]
	if !ok {
		return 0
	}
	delete(r.queued, item)
	if r.perNS[item.Namespace]--; r.perNS[item.Namespace] <= 0 {
		delete(r.perNS, item.Namespace)
	}
	return e.base
}

// Len is how many items are recorded as queued.
func (r *Ranks) Len() int { return len(r.queued) }
