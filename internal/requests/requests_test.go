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
