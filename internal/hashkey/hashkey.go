// Package hashkey keeps the operator's fingerprint key: the HMAC key of the
// fingerprints certsync publishes of secret values (SecretSync status and
// the certsync.io/restarted-for pod-template annotation), so that they
// identify values without offering an offline guessing oracle.
//
// The key lives in a Secret of the operator's own namespace, created with a
// random key on first start and read on every later one: it must survive
// restarts and be shared by replicas, since a new key changes every
// fingerprint (one rewrite of each target and one restart of its
// consumers). Tenants cannot read it: it is not in their namespace.
package hashkey

import (
	"context"
	"crypto/rand"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultSecretName is the Secret holding the key, in the operator's
// namespace.
const DefaultSecretName = "certsync-fingerprint-key"

// DataKey is the key of the Secret's data holding the HMAC key.
const DataKey = "key"

// keyBytes is the length of a generated key (HMAC-SHA256's block is 64;
// 32 random bytes are well beyond guessing).
const keyBytes = 32

// minKeyBytes refuses a key too short to be a secret, e.g. an empty value
// left by hand.
const minKeyBytes = 16

// LoadOrCreate returns the key stored in Secret ns/name, creating the
// Secret with a random key if it does not exist. Two replicas starting at
// once both end with the key of whichever created it first.
func LoadOrCreate(ctx context.Context, c client.Client, ns, name string) ([]byte, error) {
	key := types.NamespacedName{Namespace: ns, Name: name}
	for attempt := 0; attempt < 2; attempt++ {
		var s corev1.Secret
		err := c.Get(ctx, key, &s)
		switch {
		case err == nil:
			k := s.Data[DataKey]
			if len(k) < minKeyBytes {
				return nil, fmt.Errorf("fingerprint key Secret %s has no %q of at least %d bytes; delete it to have a new key generated", key, DataKey, minKeyBytes)
			}
			return k, nil
		case !apierrors.IsNotFound(err):
			return nil, fmt.Errorf("reading fingerprint key Secret %s: %w", key, err)
		}
		k := make([]byte, keyBytes)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		s = corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app.kubernetes.io/name": "certsync"}},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{DataKey: k},
		}
		switch err := c.Create(ctx, &s); {
		case err == nil:
			return k, nil
		case apierrors.IsAlreadyExists(err):
			continue // another replica was first: use its key
		default:
			return nil, fmt.Errorf("creating fingerprint key Secret %s: %w", key, err)
		}
	}
	return nil, fmt.Errorf("fingerprint key Secret %s: created and deleted concurrently", key)
}
