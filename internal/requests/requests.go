// Package requests decides about the on-call's requests to a CertSync
// (`kubectl certsync verify` and `renew`): annotations whose value, once
// served, is copied to status. Changing one must wake the reconciler,
// which otherwise only looks at spec changes.
package requests

import (
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"certsync.io/certsync/api/v1alpha1"
)

// Keys are the request annotations.
var Keys = []string{v1alpha1.AnnotationVerifyRequested, v1alpha1.AnnotationRenewRequested}

// Pending returns the annotation's value when it asks for something not
// served yet: set, and not the value last handled.
func Pending(annotations map[string]string, key, handled string) (string, bool) {
	v := annotations[key]
	return v, v != "" && v != handled
}

// Changed reports whether any request annotation differs between two
// versions of an object's annotations.
func Changed(before, after map[string]string) bool {
	for _, k := range Keys {
		if before[k] != after[k] {
			return true
		}
	}
	return false
}

// Predicate passes updates that change a request annotation; combined with
// GenerationChangedPredicate by Or, every other metadata or status change
// is still filtered out.
func Predicate() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			if e.ObjectOld == nil || e.ObjectNew == nil {
				return false
			}
			return Changed(e.ObjectOld.GetAnnotations(), e.ObjectNew.GetAnnotations())
		},
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// Served returns status.lastHandledRequests after a reconcile: last (nil
// when none was served yet) with the pending renew request marked served
// (a reconcile that records status has read every source again) and the
// pending verify request marked served once the verification ran
// (verified). Nil when nothing was ever served.
func Served(last *v1alpha1.HandledRequests, verify string, verified bool, renew string) *v1alpha1.HandledRequests {
	if renew == "" && (verify == "" || !verified) {
		return last
	}
	h := v1alpha1.HandledRequests{}
	if last != nil {
		h = *last
	}
	if renew != "" {
		h.Renew = renew
	}
	if verify != "" && verified {
		h.Verify = verify
	}
	return &h
}
