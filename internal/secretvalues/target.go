package secretvalues

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/target"
)

// ownerPrefix makes a SecretSync's owner annotation differ from any
// CertSync's (which is the bare name), so a CertSync and a SecretSync of the
// same name never share a target.
const ownerPrefix = "SecretSync/"

// Owner is the certsync.io/owner annotation of SecretSync name's target.
func Owner(name string) string { return ownerPrefix + name }

// hashKey keys Hash; set once at startup by SetHashKey.
var hashKey atomic.Pointer[[]byte]

// SetHashKey makes Hash an HMAC-SHA256 keyed with key (an operator-held
// secret, see internal/hashkey). Without a key, Hash is plain SHA-256, which
// anyone who can read a SecretSync's status or a workload's pod template
// could use to test guesses of a low-entropy value offline. Call it before
// the controllers start; the key must stay the same across restarts, or
// every target is rewritten and its consumers restarted once.
func SetHashKey(key []byte) {
	k := append([]byte(nil), key...)
	hashKey.Store(&k)
}

// Hash is the HMAC-SHA256 with the operator's key (SetHashKey; SHA-256
// without one), in hex, of key/value pairs sorted by key: each key, a NUL,
// the value's length (8 bytes big-endian) and the value, so no two
// different sets of pairs hash alike. It identifies a set of values (in
// status, annotations and restarts) without revealing them, and keyed, it
// cannot be used to check a guess of them.
func Hash(values map[string][]byte) string {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	if k := hashKey.Load(); k != nil && len(*k) > 0 {
		h = hmac.New(sha256.New, *k)
	}
	var n [8]byte
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
		binary.BigEndian.PutUint64(n[:], uint64(len(values[k])))
		h.Write(n[:])
		h.Write(values[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CheckOwnership returns why current (an existing Secret) may not be
// written by the SecretSync named name, or "" if it may.
func CheckOwnership(current *corev1.Secret, name string) string {
	who, managed := target.Owner(current)
	switch {
	case !managed:
		return fmt.Sprintf("Secret %s exists and was not created by certsync; certsync never takes over a Secret it did not create: delete it or choose another target.secretName", current.Name)
	case who == Owner(name):
	case strings.HasPrefix(who, ownerPrefix):
		return fmt.Sprintf("Secret %s is managed by SecretSync %q; two SecretSyncs must not share a target", current.Name, strings.TrimPrefix(who, ownerPrefix))
	default:
		return fmt.Sprintf("Secret %s is managed by CertSync %q; a SecretSync must not write a CertSync's target", current.Name, who)
	}
	if current.Type != corev1.SecretTypeOpaque {
		return fmt.Sprintf("Secret %s has type %q, not %q", current.Name, current.Type, corev1.SecretTypeOpaque)
	}
	return ""
}

// Desired is what a SecretSync's target must hold.
type Desired struct {
	// Name of the SecretSync.
	Name string
	// Source the values come from.
	Source string
	// Values by target key.
	Values map[string][]byte
	// NotAfter is when the values expire; zero when unknown.
	NotAfter time.Time
}

func (d Desired) markers() map[string]string {
	m := map[string]string{
		v1alpha1.AnnotationOwner:     Owner(d.Name),
		v1alpha1.AnnotationSHA256:    Hash(d.Values),
		v1alpha1.AnnotationSource:    d.Source,
		v1alpha1.AnnotationExpiresAt: "",
	}
	if !d.NotAfter.IsZero() {
		m[v1alpha1.AnnotationExpiresAt] = formatTime(d.NotAfter)
	}
	return m
}

// Changes says what differs between the target and d: its values (which
// consumers see, and which restart them) and its markers (label and
// annotations only).
func Changes(current *corev1.Secret, d Desired) (values, markers bool) {
	for k, v := range d.Values {
		if got, ok := current.Data[k]; !ok || !bytes.Equal(got, v) {
			values = true
		}
	}
	markers = current.Labels[v1alpha1.LabelManagedBy] != v1alpha1.ManagedByValue
	for k, v := range d.markers() {
		if got, ok := current.Annotations[k]; got != v || (v == "" && ok) {
			markers = true
		}
	}
	return values, markers
}

// Apply returns the Secret to write: current (nil to create one, of type
// Opaque) with d's values and markers set and every other key, label and
// annotation kept. synced-at moves only when a value changes, so pods that
// started since are known to hold the current values.
func Apply(current *corev1.Secret, namespace, secretName string, d Desired, now time.Time) *corev1.Secret {
	s := target.Writable(current, namespace, secretName, corev1.SecretTypeOpaque)
	valuesChanged := current == nil
	if current != nil {
		valuesChanged, _ = Changes(current, d)
	}
	for k, v := range d.markers() {
		if v == "" {
			delete(s.Annotations, k)
		} else {
			s.Annotations[k] = v
		}
	}
	if _, ok := s.Annotations[v1alpha1.AnnotationSyncedAt]; valuesChanged || !ok {
		s.Annotations[v1alpha1.AnnotationSyncedAt] = now.UTC().Format(time.RFC3339Nano)
	}
	for k, v := range d.Values {
		s.Data[k] = v
	}
	return s
}

// Held describes what a target this SecretSync owns holds for the given
// target keys: the hash of those values ("" unless all are present), the
// source and the expiry recorded with them.
func Held(secret *corev1.Secret, keys []string) (sha, source string, notAfter time.Time) {
	values := make(map[string][]byte, len(keys))
	for _, k := range keys {
		v, ok := secret.Data[k]
		if !ok {
			return "", "", time.Time{}
		}
		values[k] = v
	}
	if t, err := time.Parse(time.RFC3339, secret.Annotations[v1alpha1.AnnotationExpiresAt]); err == nil {
		notAfter = t
	}
	return Hash(values), secret.Annotations[v1alpha1.AnnotationSource], notAfter
}
