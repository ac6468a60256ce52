package fairqueue

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func req(ns, name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}
}

func TestRanks(t *testing.T) {
	type step struct {
		get  bool // Got instead of Add
		item reconcile.Request
		base int
		want int // priority from Add, base from Got
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"first of a namespace keeps its priority", []step{
			{item: req("a", "1"), want: 0},
			{item: req("b", "1"), base: -100, want: -100},
		}},
		{"later items of a busy namespace go lower, others not", []step{
			{item: req("a", "1"), want: 0},
			{item: req("a", "2"), want: -1},
			{item: req("a", "3"), want: -2},
			{item: req("b", "1"), want: 0},
		}},
		{"an item already queued keeps its rank and the higher base", []step{
			{item: req("a", "1"), base: -100, want: -100},
			{item: req("a", "2"), base: -100, want: -101},
			{item: req("a", "2"), base: 0, want: -1},
			{item: req("a", "2"), base: -100, want: -1},
		}},
		{"got frees the rank and returns the base, not the ranked priority", []step{
			{item: req("a", "1"), want: 0},
			{item: req("a", "2"), base: -100, want: -101},
			{get: true, item: req("a", "2"), want: -100},
			{get: true, item: req("a", "1"), want: 0},
			{item: req("a", "3"), want: 0},
		}},
		{"an item not recorded has base 0", []step{
			{get: true, item: req("a", "1"), want: 0},
			{item: req("a", "2"), want: 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRanks()
			for i, s := range tc.steps {
				var got int
				if s.get {
					got = r.Got(s.item)
				} else {
					got = r.Add(s.item, s.base)
				}
				if got != s.want {
					t.Errorf("step %d (%+v): got %d, want %d", i, s, got, s.want)
				}
			}
		})
	}
}

func TestRanksCapAndCleanup(t *testing.T) {
	r := NewRanks()
	for i := range 3 * MaxRank {
		if got, want := r.Add(req("a", fmt.Sprint(i)), 0), -min(i, MaxRank); got != want {
			t.Fatalf("item %d: priority %d, want %d", i, got, want)
		}
	}
	for i := range 3 * MaxRank {
		r.Got(req("a", fmt.Sprint(i)))
	}
	if r.Len() != 0 || len(r.perNS) != 0 {
		t.Errorf("after every item left: %d queued, %d namespaces kept", r.Len(), len(r.perNS))
	}
}
