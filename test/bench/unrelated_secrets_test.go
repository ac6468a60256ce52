package bench

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The cluster the operator shares: many Secrets it has nothing to do with.
const (
	unrelatedNS    = "unrelated"
	secretDataSize = 4 << 10 // bytes of random data per Secret
	// lastAppliedSize is roughly what `kubectl apply` leaves in the
	// last-applied-configuration annotation: the manifest, data included.
	lastAppliedSize = 4 << 10
	createWorkers   = 16 // enough to keep kube-apiserver busy on 2 cores
)

// unrelatedSecrets is how many unrelated Secrets the memory benchmark
// creates: CERTSYNC_BENCH_SECRETS, 20,000 by default (issue 15's goal is
// stated at 20,000).
var unrelatedSecrets = envInt("CERTSYNC_BENCH_SECRETS", 20000)

// envInt reads a positive integer from the environment, def when unset or
// not a positive integer.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// lastAppliedAnnotation is the annotation kubectl apply writes; certsync
// strips it from its cache because for a Secret it holds the data in clear.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// createUnrelatedSecrets creates n Secrets in unrelatedNS with createWorkers
// concurrent clients and returns the first error.
func createUnrelatedSecrets(ctx context.Context, c client.Client, n int) error {
	if err := c.Create(ctx, namespace(unrelatedNS)); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	indexes := make(chan int)
	errs := make(chan error, createWorkers) // each worker reports at most one
	var wg sync.WaitGroup
	for range createWorkers {
		wg.Go(func() {
			for i := range indexes {
				if err := createUnrelatedSecret(ctx, c, i); err != nil {
					errs <- err
					cancel() // the other workers stop at their next Create
					return
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case indexes <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(indexes)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// createUnrelatedSecret creates Secret number i: secretDataSize random bytes
// and, on every other one, a last-applied-configuration annotation of about
// lastAppliedSize, as if half the cluster's Secrets were applied with kubectl.
func createUnrelatedSecret(ctx context.Context, c client.Client, i int) error {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: unrelatedNS, Name: fmt.Sprintf("app-%05d", i)},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"payload": randomBytes(secretDataSize)},
	}
	if i%2 == 0 {
		applied, err := lastAppliedConfiguration(s)
		if err != nil {
			return err
		}
		s.Annotations = map[string]string{lastAppliedAnnotation: applied}
	}
	if err := c.Create(ctx, s); err != nil {
		return fmt.Errorf("creating Secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	return nil
}

// lastAppliedConfiguration renders s as kubectl apply records it: the JSON
// manifest, with a data payload sized so the whole is about lastAppliedSize
// (base64 makes 3 bytes 4 characters; the envelope is ~150 more).
func lastAppliedConfiguration(s *corev1.Secret) (string, error) {
	applied := corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name},
		Type:       s.Type,
		Data:       map[string][]byte{"payload": randomBytes((lastAppliedSize - 150) * 3 / 4)},
	}
	data, err := json.Marshal(applied)
	return string(data) + "\n", err
}

// randomBytes returns n random bytes: incompressible, like real keys.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}
