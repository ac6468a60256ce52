// Package controllers holds certsync's reconcilers: thin orchestration over
// the packages in internal/.
package controllers

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ManagerOptions returns the manager options certsync needs for memory to
// scale with what it manages, not with the cluster:
//
//   - Secrets are never cached with their data. The client reads them straight
//     from the API server (so an unlabelled Secret that exists is never
//     mistaken for a missing one), and the watch that wakes CertSyncs is
//     metadata-only.
//   - Cached metadata is stripped of managedFields and of the
//     last-applied-configuration annotation, which for a Secret applied with
//     kubectl holds its data in clear.
func ManagerOptions(scheme *runtime.Scheme) ctrl.Options {
	return ctrl.Options{
		Scheme: scheme,
		Cache: crcache.Options{
			DefaultTransform: stripMetadata,
		},
		Client: client.Options{
			Cache: &client.CacheOptions{
				DisableFor: []client.Object{&corev1.Secret{}},
			},
		},
	}
}

// stripMetadata drops what certsync never reads from cached objects.
func stripMetadata(in any) (any, error) {
	if d, ok := in.(cache.DeletedFinalStateUnknown); ok {
		return d, nil
	}
	obj, ok := in.(metav1.Object)
	if !ok {
		return in, nil
	}
	obj.SetManagedFields(nil)
	if ann := obj.GetAnnotations(); ann != nil {
		for k := range ann {
			if strings.HasPrefix(k, "kubectl.kubernetes.io/last-applied-configuration") {
				delete(ann, k)
			}
		}
		obj.SetAnnotations(ann)
	}
	return obj, nil
}
