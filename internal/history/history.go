// Package history keeps a CertSync's previous certificate for an automatic
// rollback (spec.rollout.autoRollback) and decides when to roll back. The
// previous certificate lives in a managed Secret next to the target; the
// decisions are pure, the controller carries them out.
package history

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/certs"
)

// Suffix is appended to the target's name to name its history Secret.
const Suffix = "-certsync-history"

// AnnotationVerifiedPods, on a history Secret, counts the pods that were
// verified serving its certificate when it was replaced: a rollback because
// the new certificate's pods stopped answering needs the old ones to have
// answered.
const AnnotationVerifiedPods = "certsync.io/verified-pods"

// maxName is the longest Secret name.
const maxName = 253

// SecretName is the history Secret of target: target+Suffix, or, when that
// is too long for a name, a prefix of target and a hash of it, so two long
// targets never share a history.
func SecretName(target string) string {
	if len(target)+len(Suffix) <= maxName {
		return target + Suffix
	}
	sum := sha256.Sum256([]byte(target))
	h := hex.EncodeToString(sum[:])[:16]
	return target[:maxName-len(Suffix)-len(h)-1] + "-" + h + Suffix
}

// Entry is what a history Secret holds: a previous certificate, the source
// it came from and how many pods served it verified.
type Entry struct {
	Bundle       *certs.Bundle
	Source       string
	VerifiedPods int
}

// Encode returns the history Secret of the CertSync cs holding e, owned by
// cs (garbage-collected with it) and marked as certsync's. Type Opaque: it
// is no certificate for workloads to mount.
func Encode(cs *v1alpha1.CertSync, e Entry) *corev1.Secret {
	t := true
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: cs.Namespace,
			Name:      SecretName(cs.Spec.Target.SecretName),
			Labels: map[string]string{
				v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue,
				v1alpha1.LabelHistory:   "true",
			},
			Annotations: map[string]string{
				v1alpha1.AnnotationOwner:  cs.Name,
				v1alpha1.AnnotationSHA256: e.Bundle.SHA256(),
				v1alpha1.AnnotationSource: e.Source,
				AnnotationVerifiedPods:    strconv.Itoa(e.VerifiedPods),
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: v1alpha1.GroupVersion.String(), Kind: "CertSync",
				Name: cs.Name, UID: cs.UID, Controller: &t,
			}},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			corev1.TLSCertKey:       e.Bundle.CertPEM,
			corev1.TLSPrivateKeyKey: e.Bundle.KeyPEM,
		},
	}
	if len(e.Bundle.CAPEM) > 0 {
		s.Data["ca.crt"] = e.Bundle.CAPEM
	}
	return s
}

// Owned reports whether secret is the history Secret of the CertSync named
// owner: certsync never reads key material from, or overwrites, a Secret it
// did not make (a tenant could plant one).
func Owned(secret *corev1.Secret, owner string) bool {
	return secret.Labels[v1alpha1.LabelManagedBy] == v1alpha1.ManagedByValue &&
		secret.Labels[v1alpha1.LabelHistory] == "true" &&
		secret.Annotations[v1alpha1.AnnotationOwner] == owner
}

// Decode reads the entry of a history Secret of owner. It returns nil and
// why when there is nothing restorable: not ours, unparsable, or a
// certificate that is expired or fails req at now. The reason never holds
// key material.
func Decode(secret *corev1.Secret, owner string, req certs.Requirements, now time.Time) (*Entry, string) {
	if secret == nil {
		return nil, "no previous certificate is kept"
	}
	if !Owned(secret, owner) {
		return nil, "Secret " + secret.Name + " is not this CertSync's history"
	}
	b, err := certs.ParseBundle(secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey], secret.Data["ca.crt"])
	if err != nil {
		return nil, "the previous certificate does not parse"
	}
	if v := certs.Validate(b, req, now); v != nil {
		return nil, "the previous certificate is not restorable: " + v.Reason
	}
	n, _ := strconv.Atoi(secret.Annotations[AnnotationVerifiedPods])
	return &Entry{Bundle: b, Source: secret.Annotations[v1alpha1.AnnotationSource], VerifiedPods: n}, ""
}

// Keep decides whether the certificate the target holds (held, nil if none
// of ours) must be saved to history before the target is overwritten with
// next: only a different certificate that is still valid under req is
// worth restoring. stored is the fingerprint the history holds now: the
// same one is not rewritten (a steady state makes no writes).
func Keep(held *certs.Bundle, next *certs.Bundle, stored string, req certs.Requirements, now time.Time) bool {
	switch {
	case held == nil || next == nil:
		return false
	case held.SHA256() == next.SHA256(), held.SHA256() == stored:
		return false
	}
	return certs.Validate(held, req, now) == nil
}
