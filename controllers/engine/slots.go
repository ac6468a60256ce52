package engine

import "sync"

// Slots bounds the background jobs running at once: at most Total in all
// and at most PerNamespace per namespace, except that a namespace with
// nothing running may always start one job. So the tenants of one
// namespace, however many objects and slow endpoints they create, hold at
// most PerNamespace slots and can neither exhaust sockets and goroutines
// nor keep another namespace waiting behind them: that namespace's first
// job starts at once. (Namespaces are created by admins, not tenants, so
// the exception adds at most one job per namespace.) Jobs waiting for a
// slot are queued as functions, not goroutines, and start in submission
// order among those allowed to start.
type Slots struct {
	// Total bounds the jobs running at once; 0 means
	// DefaultBackgroundSlots.
	Total int
	// PerNamespace bounds the jobs of one namespace running at once; 0
	// means DefaultBackgroundPerNamespace.
	PerNamespace int

	mu      sync.Mutex
	running map[string]int
	total   int
	queue   []queued
}

type queued struct {
	ns  string
	run func()
}

// Submit runs run in a goroutine of its own once a slot is free.
func (s *Slots) Submit(ns string, run func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, queued{ns: ns, run: run})
	s.dispatchLocked()
}

// Running returns the jobs running in all and in namespace ns, and how
// many wait for a slot.
func (s *Slots) Running(ns string) (total, inNamespace, queued int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total, s.running[ns], len(s.queue)
}

// mayStart is the admission rule (see Slots).
func mayStart(total, inNamespace, maxTotal, perNamespace int) bool {
	return inNamespace < perNamespace && (total < maxTotal || inNamespace == 0)
}

func (s *Slots) dispatchLocked() {
	maxTotal, perNS := s.Total, s.PerNamespace
	if maxTotal <= 0 {
		maxTotal = DefaultBackgroundSlots
	}
	if perNS <= 0 {
		perNS = DefaultBackgroundPerNamespace
	}
	if s.running == nil {
		s.running = map[string]int{}
	}
	kept := s.queue[:0]
	for _, q := range s.queue {
		if !mayStart(s.total, s.running[q.ns], maxTotal, perNS) {
			kept = append(kept, q)
			continue
		}
		s.total++
		s.running[q.ns]++
		go func() {
			defer s.release(q.ns)
			q.run()
		}()
	}
	clear(s.queue[len(kept):])
	s.queue = kept
}

func (s *Slots) release(ns string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.running[ns]--; s.running[ns] <= 0 {
		delete(s.running, ns)
	}
	s.dispatchLocked()
}
