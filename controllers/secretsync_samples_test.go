package controllers

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"certsync.io/certsync/api/v1alpha1"
)

// The shipped sample is a valid SecretSync.
func TestSecretSyncSample(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	raw, err := os.ReadFile(filepath.Join("..", "config", "samples", "certsync_v1alpha1_secretsync.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var ss v1alpha1.SecretSync
	g.Expect(yaml.UnmarshalStrict(raw, &ss)).To(Succeed())
	ss.Namespace = ssStart(t)
	mustCreateSecretSync(t, &ss)
	g.Expect(ss.Spec.Expiry.From.Key).To(Equal("expires_at"))

	// Every SecretSync sample is accepted by the schema and CEL rules.
	files, err := filepath.Glob(filepath.Join("..", "config", "samples", "certsync_v1alpha1_secretsync*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(files)).To(BeNumerically(">=", 2), "a sample per source kind")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(string(raw)).To(HavePrefix("#"), "%s: a sample starts with a comment saying what it shows", f)
		var s v1alpha1.SecretSync
		g.Expect(yaml.UnmarshalStrict(raw, &s)).To(Succeed(), f)
		s.Namespace, s.Name, s.GenerateName = ss.Namespace, "", "sample-" // the first one exists already
		g.Expect(k8s.Create(context.Background(), &s, client.DryRunAll)).To(Succeed(), f)
	}
}
