// Package v1alpha1 contains the certsync.io/v1alpha1 API: CertSync, which
// keeps a TLS Secret filled with the newest valid certificate from a set of
// sources and proves that the pods using it serve it.
// +kubebuilder:object:generate=true
// +groupName=certsync.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is group version used to register these objects.
	GroupVersion = schema.GroupVersion{Group: "certsync.io", Version: "v1alpha1"}

	// SchemeBuilder is used to add go types to the GroupVersionKind scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types in this group-version to the given scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
