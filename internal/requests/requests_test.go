package requests

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"certsync.io/certsync/api/v1alpha1"
)

func TestPending(t *testing.T) {
	k := v1alpha1.AnnotationVerifyRequested
	tests := []struct {
		ann     map[string]string
		handled string
		want    bool
	}{
		{nil, "", false},
		{map[string]string{k: "t1"}, "", true},
		{map[string]string{k: "t1"}, "t1", false},
		{map[string]string{k: "t2"}, "t1", true},
		{map[string]string{v1alpha1.AnnotationRenewRequested: "t1"}, "", false},
	}
	for _, tt := range tests {
		if _, got := Pending(tt.ann, k, tt.handled); got != tt.want {
			t.Errorf("Pending(%v, handled %q) = %v, want %v", tt.ann, tt.handled, got, tt.want)
		}
	}
}

func TestPredicatePassesOnlyRequestChanges(t *testing.T) {
	obj := func(gen int64, ann map[string]string) *v1alpha1.CertSync {
		return &v1alpha1.CertSync{ObjectMeta: metav1.ObjectMeta{Generation: gen, Annotations: ann}}
	}
	p := Predicate()
	tests := []struct {
		name     string
		old, new *v1alpha1.CertSync
		want     bool
	}{
		{"verify set", obj(1, nil), obj(1, map[string]string{v1alpha1.AnnotationVerifyRequested: "t"}), true},
		{"renew changed", obj(1, map[string]string{v1alpha1.AnnotationRenewRequested: "a"}), obj(1, map[string]string{v1alpha1.AnnotationRenewRequested: "b"}), true},
		{"other annotation", obj(1, nil), obj(1, map[string]string{"team": "mail"}), false},
		{"nothing (a status update)", obj(1, map[string]string{v1alpha1.AnnotationVerifyRequested: "t"}), obj(1, map[string]string{v1alpha1.AnnotationVerifyRequested: "t"}), false},
	}
	for _, tt := range tests {
		if got := p.Update(event.UpdateEvent{ObjectOld: tt.old, ObjectNew: tt.new}); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestServed: a renew is served by any recorded reconcile, a verify only
// once the verification ran; what was served before is kept.
func TestServed(t *testing.T) {
	prev := &v1alpha1.HandledRequests{Verify: "v0", Renew: "r0"}
	for _, tc := range []struct {
		name     string
		last     *v1alpha1.HandledRequests
		verify   string
		verified bool
		renew    string
		want     *v1alpha1.HandledRequests
	}{
		{"nothing pending, nothing ever", nil, "", true, "", nil},
		{"nothing pending", prev, "", true, "", prev},
		{"renew served", prev, "", false, "r1", &v1alpha1.HandledRequests{Verify: "v0", Renew: "r1"}},
		{"verify before the verification ran", prev, "v1", false, "", prev},
		{"verify served", prev, "v1", true, "", &v1alpha1.HandledRequests{Verify: "v1", Renew: "r0"}},
		{"both, first time", nil, "v1", true, "r1", &v1alpha1.HandledRequests{Verify: "v1", Renew: "r1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Served(tc.last, tc.verify, tc.verified, tc.renew)
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Errorf("Served = %+v, want %+v", got, tc.want)
			}
			if tc.last != nil && *tc.last != *prev {
				t.Errorf("last modified: %+v", tc.last)
			}
		})
	}
}
