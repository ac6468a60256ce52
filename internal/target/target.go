// Package target decides what to do with the Secret that receives the chosen
// certificate: create it, update it, leave it alone, or refuse because it is
// not ours or because the write would roll a renewal back. Decisions are
// pure; the controller performs them.
package target

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
)

// KeyCA is the data key of the CA certificate, as cert-manager writes it.
const KeyCA = "ca.crt"

// Action is what the controller must do with the target.
type Action string

const (
	// Create the Secret: it does not exist.
	Create Action = "Create"
	// Update the Secret: it is ours and differs from the desired content.
	Update Action = "Update"
	// None: the Secret already holds the desired content.
	None Action = "None"
	// Conflict: the Secret exists and is not managed by this CertSync.
	Conflict Action = "Conflict"
	// Downgrade: the Secret holds a newer certificate than the candidate.
	Downgrade Action = "Downgrade"
)

// Decision is the outcome of Decide with a message for humans.
type Decision struct {
	Action  Action
	Message string
}

// Owner reports whether secret is managed by the CertSync named owner (in
// the Secret's namespace). certsync never adopts a Secret it did not create:
// a sync tool that did wiped keys of users' Secrets.
func Owner(secret *corev1.Secret) (owner string, managed bool) {
	if secret.Labels[v1alpha1.LabelManagedBy] != v1alpha1.ManagedByValue {
		return "", false
	}
	owner, ok := secret.Annotations[v1alpha1.AnnotationOwner]
	return owner, ok
}

// CheckOwnership returns a Conflict decision when current (non-nil) may not
// be written by the CertSync named owner.
func CheckOwnership(current *corev1.Secret, owner string) *Decision {
	who, managed := Owner(current)
	switch {
	case !managed:
		return &Decision{Conflict, fmt.Sprintf(
			"Secret %s exists and was not created by certsync; certsync never takes over a Secret it did not create: delete it or choose another target.secretName", current.Name)}
	case who != owner:
		return &Decision{Conflict, fmt.Sprintf("Secret %s is managed by CertSync %q; two CertSyncs must not share a target", current.Name, who)}
	case current.Type != corev1.SecretTypeTLS:
		return &Decision{Conflict, fmt.Sprintf("Secret %s has type %q, not %q", current.Name, current.Type, corev1.SecretTypeTLS)}
	}
	return nil
}

// Decide compares the target (nil when missing) with the winning bundle.
// extra holds additional data keys (output formats) to write with the
// certificate.
func Decide(current *corev1.Secret, owner, source string, want *certs.Bundle, extra map[string][]byte, allowDowngrade bool) Decision {
	if current == nil {
		return Decision{Create, fmt.Sprintf("creating Secret with %s", certs.Describe(want.Leaf))}
	}
	if d := CheckOwnership(current, owner); d != nil {
		return *d
	}
	if have := CurrentLeaf(current); have != nil && !allowDowngrade && certs.Newer(have, want.Leaf) {
		return Decision{Downgrade, fmt.Sprintf(
			"refusing to replace the newer certificate in the target (%s) with an older one (%s from source %q); set validation.allowDowngrade to permit it",
			certs.Describe(have), certs.Describe(want.Leaf), source)}
	}
	if UpToDate(current, source, want, extra) {
		return Decision{None, "target holds the chosen certificate"}
	}
	return Decision{Update, fmt.Sprintf("updating Secret to %s", certs.Describe(want.Leaf))}
}

// CurrentLeaf parses the leaf certificate the target holds, nil if it holds
// none that parses.
func CurrentLeaf(secret *corev1.Secret) *x509.Certificate {
	cs, err := certs.ParseCertificates(secret.Data[corev1.TLSCertKey])
	if err != nil || len(cs) == 0 {
		return nil
	}
	return cs[0]
}

// UpToDate reports whether current already holds every key and marker that
// Apply would write, so a steady state makes no writes.
func UpToDate(current *corev1.Secret, source string, want *certs.Bundle, extra map[string][]byte) bool {
	for k, v := range managedData(want, extra) {
		if !bytes.Equal(current.Data[k], v) {
			return false
		}
	}
	return current.Annotations[v1alpha1.AnnotationSHA256] == want.SHA256() &&
		current.Annotations[v1alpha1.AnnotationSource] == source
}

// Writable returns a copy of current to modify (nil: a new Secret of typ),
// its maps made and the managed-by label set: what both kinds' targets
// start from before their keys and markers are set.
func Writable(current *corev1.Secret, namespace, name string, typ corev1.SecretType) *corev1.Secret {
	var s *corev1.Secret
	if current == nil {
		s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Type: typ}
	} else {
		s = current.DeepCopy()
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	s.Labels[v1alpha1.LabelManagedBy] = v1alpha1.ManagedByValue
	return s
}

// Apply returns the Secret to write: current (nil to create one) with the
// certificate keys and markers set, and every other key, label and
// annotation kept as it was.
func Apply(current *corev1.Secret, namespace, name, owner, source string, want *certs.Bundle, extra map[string][]byte, now time.Time) *corev1.Secret {
	s := Writable(current, namespace, name, corev1.SecretTypeTLS)
	s.Annotations[v1alpha1.AnnotationOwner] = owner
	s.Annotations[v1alpha1.AnnotationSHA256] = want.SHA256()
	s.Annotations[v1alpha1.AnnotationSource] = source
	// synced-at says since when the workloads' pods may hold an older
	// certificate; a write that keeps the certificate and key (another
	// source with the same certificate, new keystores) must not move it, or
	// every pod would look stale and be restarted.
	if current == nil || !bytes.Equal(current.Data[corev1.TLSCertKey], want.CertPEM) ||
		!bytes.Equal(current.Data[corev1.TLSPrivateKeyKey], want.KeyPEM) || SyncedAt(current).IsZero() {
		s.Annotations[v1alpha1.AnnotationSyncedAt] = now.UTC().Format(time.RFC3339Nano)
	}
	for k, v := range managedData(want, extra) {
		s.Data[k] = v
	}
	return s
}

// managedData is the data certsync writes. ca.crt only when the source knows
// a CA: an absent CA must not blank one a previous certificate brought.
func managedData(b *certs.Bundle, extra map[string][]byte) map[string][]byte {
	d := map[string][]byte{
		corev1.TLSCertKey:       b.CertPEM,
		corev1.TLSPrivateKeyKey: b.KeyPEM,
	}
	for k, v := range extra {
		d[k] = v
	}
	if len(b.CAPEM) > 0 {
		d[KeyCA] = b.CAPEM
	}
	return d
}

// SyncedAt is when certsync wrote the target's current certificate; zero if
// unknown.
func SyncedAt(secret *corev1.Secret) time.Time {
	t, err := time.Parse(time.RFC3339Nano, secret.Annotations[v1alpha1.AnnotationSyncedAt])
	if err != nil {
		return time.Time{}
	}
	return t
}
