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
	return getSecret(ctx, reader, ns, key, key.Namespace != ns)
}

// GetCopiedSecret reads a Secret whose values certsync copies into a
// target of namespace ns (a SecretSync's Secret source). Unlike
// GetSourceSecret it asks for the consent annotation in the Secret's own
// namespace too: being allowed to create a SecretSync does not mean being
// allowed to read the namespace's Secrets, and without consent a tenant
// could copy any of them (a ServiceAccount token, a database password)
// into a target they can read (RBAC by resourceNames, a pod they control).
// A missing Secret and one without consent read alike (NotPermitted), as
// across namespaces.
func GetCopiedSecret(ctx context.Context, reader client.Reader, ns string, key types.NamespacedName) (*corev1.Secret, error) {
	return getSecret(ctx, reader, ns, key, true)
}

// getSecret reads key; with guarded, the Secret must consent to being read
// from ns, and a missing or unreadable one is reported as not consenting.
func getSecret(ctx context.Context, reader client.Reader, ns string, key types.NamespacedName, guarded bool) (*corev1.Secret, error) {
	var secret corev1.Secret
	err := reader.Get(ctx, key, &secret)
	switch {
	case nsguard.IsNotWatched(err):
		// A namespaced install never reads outside its namespaces.
		return nil, &Error{Reason: ReasonNamespaceNotWatched, Message: fmt.Sprintf("Secret %s: %v", key, err)}
	case err == nil && guarded && !NamespaceAllowed(secret.Annotations[v1alpha1.AnnotationAllowedNamespaces], ns):
		return nil, notPermitted(key, ns)
	case err == nil:
		return &secret, nil
	case guarded && (apierrors.IsNotFound(err) || apierrors.IsForbidden(err)):
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
	msg := fmt.Sprintf("Secret %s does not exist or does not allow namespace %q to read it: its owner must add the annotation %s listing %q",
		key, ns, v1alpha1.AnnotationAllowedNamespaces, ns)
	if key.Namespace == ns {
		// Since the same-namespace rule came in later, say so: an upgrade
		// is the likeliest cause.
		msg += " (or \"*\"); a Secret copied into a target needs it in its own namespace too"
	}
	return &Error{Reason: ReasonNotPermitted, Message: msg}
}
