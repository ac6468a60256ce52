package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"certsync.io/certsync/api/v1alpha1"
)

func key(name string) RolloutKey {
	return RolloutKey{Kind: KindCertSync, NamespacedName: types.NamespacedName{Namespace: "mail", Name: name}}
}

// TestBudgetQueuesAndWakesInOrder: over budget, objects wait first come
// first served; a freed slot wakes the next waiter (and only it), which
// then gets the slot even if a later arrival asks first.
func TestBudgetQueuesAndWakesInOrder(t *testing.T) {
	var gauge [2]int
	b := &Budget{Max: 2, Observe: func(in, w int) { gauge = [2]int{in, w} }}
	wake := make(chan event.GenericEvent, 10)
	b.SetWaker(KindCertSync, wake)
	ctx := context.Background()
	for _, k := range []string{"a", "b"} {
		if !b.Acquire(ctx, key(k)) {
			t.Fatalf("%s: refused within the budget", k)
		}
	}
	if !b.Acquire(ctx, key("a")) {
		t.Fatal("a holder asking again was refused")
	}
	for _, k := range []string{"c", "d"} {
		if b.Acquire(ctx, key(k)) {
			t.Fatalf("%s: admitted over budget", k)
		}
	}
	if gauge != [2]int{2, 2} {
		t.Errorf("gauge = %v, want 2 in progress, 2 waiting", gauge)
	}
	b.Release(key("a"))
	select {
	case ev := <-wake:
		if ev.Object.GetName() != "c" {
			t.Errorf("woke %s, want c (first in the queue)", ev.Object.GetName())
		}
	default:
		t.Fatal("no waiter woken when a slot freed")
	}
	if len(wake) != 0 {
		t.Errorf("%d more woken for one free slot", len(wake))
	}
	if b.Acquire(ctx, key("e")) || b.Acquire(ctx, key("d")) {
		t.Fatal("a later waiter overtook c")
	}
	if !b.Acquire(ctx, key("c")) {
		t.Fatal("c, woken, was refused")
	}
	if in, w := b.Counts(); in != 2 || w != 2 {
		t.Errorf("counts = %d, %d; want 2 in progress (b, c), 2 waiting (d, e)", in, w)
	}
	// A waiter that no longer needs a slot leaves the queue, and the one
	// behind it is woken when that admits it.
	b.Release(key("b"))
	<-wake // d, first in the queue
	b.Release(key("d"))
	if !b.Waiting(key("e")) || b.Waiting(key("d")) {
		t.Error("queue after d left")
	}
	select {
	case ev := <-wake:
		if ev.Object.GetName() != "e" {
			t.Errorf("woke %s, want e", ev.Object.GetName())
		}
	default:
		t.Error("e not woken when d left the queue ahead of it")
	}
}

// TestBudgetHoldAndSeed: rollouts found under way count even over
// budget (Hold), and a new budget starts from what status shows (Seed),
// retried if reading it failed.
func TestBudgetHoldAndSeed(t *testing.T) {
	ctx := context.Background()
	calls := 0
	b := &Budget{Max: 1, Seed: func(context.Context) ([]RolloutKey, error) {
		calls++
		if calls == 1 {
			return nil, errors.New("cache not ready")
		}
		return []RolloutKey{key("seeded")}, nil
	}}
	b.Hold(key("found"))
	if b.Acquire(ctx, key("x")) {
		t.Fatal("admitted while a found rollout uses the only slot")
	}
	b.Release(key("found"))
	if b.Acquire(ctx, key("x")) {
		t.Fatal("admitted although status shows a rollout in progress (seed)")
	}
	if calls != 2 {
		t.Errorf("seed called %d times, want 2 (a failure is retried, a success is not)", calls)
	}
	b.Release(key("seeded")) // its reconcile found nothing under way
	if !b.Acquire(ctx, key("x")) {
		t.Fatal("refused with a free slot")
	}
	var unlimited *Budget
	if !unlimited.Acquire(ctx, key("y")) {
		t.Fatal("a nil budget bounds nothing")
	}
	if !(&Budget{}).Acquire(ctx, key("z")) {
		t.Fatal("Max 0 bounds nothing")
	}
}

// TestRolloutStateRequeue: a rollout under way is looked at soon; one only
// held back wakes when its wait ends, or as a safety net for a budget wait.
func TestRolloutStateRequeue(t *testing.T) {
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	paced := RolloutState{}
	paced.hold("Deployment/a", v1alpha1.ReasonRolloutPaced, "paced", now.Add(7*time.Minute))
	paced.hold("Deployment/b", v1alpha1.ReasonRolloutPaced, "paced", now.Add(3*time.Minute))
	slot := RolloutState{}
	slot.hold("Deployment/a", v1alpha1.ReasonWaitingForRolloutSlot, "slot", time.Time{})
	mixed := paced
	mixed.Pending = append(mixed.Pending, "Deployment/c: 0 of 1 replicas updated")
	mixed.InFlight = 1
	for _, tc := range []struct {
		name   string
		st     RolloutState
		want   time.Duration
		reason string
	}{
		{"paced", paced, 3*time.Minute + BoundaryMargin, v1alpha1.ReasonRolloutPaced},
		{"waiting for a slot", slot, WaitingRequeue, v1alpha1.ReasonWaitingForRolloutSlot},
		{"paced and rolling", mixed, RollingRequeue, v1alpha1.ReasonRolloutPaced},
		{"rolling", RolloutState{Pending: []string{"x"}, InFlight: 1}, RollingRequeue, ""},
	} {
		if got := tc.st.Requeue(now); got != tc.want {
			t.Errorf("%s: Requeue = %s, want %s", tc.name, got, tc.want)
		}
		if tc.st.Waiting != tc.reason {
			t.Errorf("%s: Waiting = %q, want %q", tc.name, tc.st.Waiting, tc.reason)
		}
	}
	if !paced.OnlyWaiting() || mixed.OnlyWaiting() {
		t.Error("OnlyWaiting: paced alone is only waiting; with a rollout in flight it is not")
	}
}
