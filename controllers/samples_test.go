package controllers

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"certsync.io/certsync/api/v1alpha1"
)

// TestCertSyncSamplesAreValid: every shipped CertSync sample is accepted by
// the API server's schema and CEL rules (a dry run, nothing is created).
func TestCertSyncSamplesAreValid(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "config", "samples", "certsync_v1alpha1_certsync*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("expected a sample per source kind, found %v (%v)", files, err)
	}
	ns := newNamespace(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var cs v1alpha1.CertSync
			if err := yaml.UnmarshalStrict(raw, &cs); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			cs.Namespace = ns
			if err := k8s.Create(context.Background(), &cs, client.DryRunAll); err != nil {
				t.Fatalf("the API server refuses %s: %v", f, err)
			}
			if !strings.HasPrefix(string(raw), "#") {
				t.Errorf("%s: a sample starts with a comment saying what it shows", f)
			}
		})
	}
}
