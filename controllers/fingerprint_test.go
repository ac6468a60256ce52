package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/internal/hashkey"
)

// plainHash is what secretvalues.Hash was before it was keyed: what anyone
// can compute for a guessed value.
func plainHash(values map[string][]byte, order ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, k := range order {
		h.Write([]byte(k))
		h.Write([]byte{0})
		binary.BigEndian.PutUint64(n[:], uint64(len(values[k])))
		h.Write(n[:])
		h.Write(values[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Hash oracle: the fingerprints a tenant (or anyone with the view role)
// sees of a SecretSync's values are keyed with the operator's key, so a
// guessed value cannot be checked against them; the key is kept in the
// operator's namespace and the same on every load.
func TestSecretSyncFingerprintsAreKeyed(t *testing.T) {
	g := NewWithT(t)
	ns := ssStart(t)
	mustCreate(t, ssSource(ns, "legacy", ssCreds("app", "guessable")))
	mustCreateSecretSync(t, newSecretSync(ns, "idp", ssFrom("legacy", "legacy", "")))
	ss := ssWaitCondition(t, ns, "idp", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)

	values := map[string][]byte{"CLIENT_ID": []byte("app"), "CLIENT_SECRET": []byte("guessable")}
	guess := plainHash(values, "CLIENT_ID", "CLIENT_SECRET")
	g.Expect(ss.Status.Secret.SHA256).To(Equal(ssHash("app", "guessable")))
	g.Expect(ss.Status.Secret.SHA256).NotTo(Equal(guess), "status.secret.sha256 is an unkeyed hash")
	g.Expect(ssSourceStatusOf(ss, "legacy").SHA256).NotTo(Equal(guess), "status.sources[].sha256 is an unkeyed hash")
	g.Expect(getSecret(g, ns, "oauth-client").Annotations[v1alpha1.AnnotationSHA256]).NotTo(Equal(guess))

	first := getSecret(g, operatorNamespace, hashkey.DefaultSecretName).Data[hashkey.DataKey]
	again, err := hashkey.LoadOrCreate(context.Background(), k8s, operatorNamespace, hashkey.DefaultSecretName)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again).To(Equal(first), "a second load (a restart, another replica) gets the same key")
	g.Expect(len(first)).To(BeNumerically(">=", 32))
}
