package sources

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/nsguard"
)

// ReadSecret fetches the material of a secret source for a CertSync in
// namespace ns. reader must not be a label-filtered cache: a Secret that
// exists must never be reported missing.
func ReadSecret(ctx context.Context, reader client.Reader, ns string, src *v1alpha1.SecretSource) (Material, error) {
	key := types.NamespacedName{Namespace: src.Namespace, Name: src.Name}
	if key.Namespace == "" {
		key.Namespace = ns
	}
	secret, err := GetSourceSecret(ctx, reader, ns, key)
	if err != nil {
		return Material{}, err
	}
	m := Material{CertPEM: secret.Data[keyOr(src.CertKey, corev1.TLSCertKey)], KeyPEM: secret.Data[keyOr(src.KeyKey, corev1.TLSPrivateKeyKey)]}
	if m.CertPEM == nil {
		return Material{}, &Error{Reason: ReasonMissingKey, Message: fmt.Sprintf("Secret %s has no key %q", key, keyOr(src.CertKey, corev1.TLSCertKey))}
	}
	if m.KeyPEM == nil {
		return Material{}, &Error{Reason: ReasonMissingKey, Message: fmt.Sprintf("Secret %s has no key %q", key, keyOr(src.KeyKey, corev1.TLSPrivateKeyKey))}
	}
	m.CAPEM = secret.Data[keyOr(src.CAKey, "ca.crt")]
	return m, nil
}

// SecretRef is the namespace/name a secret source reads, for indexing.
func SecretRef(ns string, src *v1alpha1.SecretSource) string {
	if src.Namespace != "" {
		ns = src.Namespace
	}
	return ns + "/" + src.Name
}

// GetSourceSecret reads the source Secret key for an object of namespace ns
// (a CertSync or a SecretSync) and applies the consent rule. Across
// namespaces a Secret that is missing, one certsync may not read (RBAC) and
// one whose owner did not consent all read the same, NotPermitted: the
// author of the object must not learn what exists where they may not look.
// reader must not be a label-filtered cache.
func GetSourceSecret(ctx context.Context, reader client.Reader, ns string, key types.NamespacedName) (*corev1.Secret, error) {
	var secret corev1.Secret
	err := reader.Get(ctx, key, &secret)
	cross := key.Namespace != ns
	switch {
	case nsguard.IsNotWatched(err):
		// A namespaced install never reads outside its namespaces.
		return nil, &Error{Reason: ReasonNamespaceNotWatched, Message: fmt.Sprintf("Secret %s: %v", key, err)}
	case err == nil && cross && !NamespaceAllowed(secret.Annotations[v1alpha1.AnnotationAllowedNamespaces], ns):
		return nil, notPermitted(key, ns)
	case err == nil:
		return &secret, nil
	case cross && (apierrors.IsNotFound(err) || apierrors.IsForbidden(err)):
		return nil, notPermitted(key, ns)
	case apierrors.IsNotFound(err):
		return nil, &Error{Reason: ReasonNotFound, Message: fmt.Sprintf("Secret %s not found", key)}
	case apierrors.IsForbidden(err):
		return nil, &Error{Reason: ReasonForbidden, Message: fmt.Sprintf("certsync may not read Secret %s (RBAC)", key)}
	default:
		return nil, &Error{Reason: ReasonAPIError, Message: fmt.Sprintf("reading Secret %s: %v", key, err), Transient: true}
	}
}

func keyOr(k, def string) string {
	if k == "" {
		return def
	}
	return k
}

func notPermitted(key types.NamespacedName, ns string) error {
	return &Error{Reason: ReasonNotPermitted, Message: fmt.Sprintf(
		"Secret %s does not exist or does not allow namespace %q to read it: its owner must add the annotation %s listing %q",
		key, ns, v1alpha1.AnnotationAllowedNamespaces, ns)}
}
