/*
Copyright 2026 The certsync authors.

Licensed under the Apache License, Version 2.0.
*/

package install

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/test/cluster"
)

const (
	// releaseNamespace is where the chart and config/default install the
	// operator.
	releaseNamespace = "certsync-system"
	// promOperatorModule provides the ServiceMonitor and PrometheusRule
	// CRDs the monitoring value sets need.
	promOperatorModule = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
	promOperatorCRDs   = "example/prometheus-operator-crd"
)

var (
	root     string
	k8s      client.Client
	warnings = &warningRecorder{}
)

// warningRecorder collects the API server's warnings (Warning headers):
// PodSecurity violations of a pod template, deprecated APIs, unknown fields.
type warningRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningRecorder) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if root, err = cluster.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	crds, err := promCRDPaths()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env, err := cluster.NewEnvironment(crds...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandlerWithContext = warnings
	if k8s, err = client.New(cfg, client.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The namespaces the manifests go into exist, as they do when a user
	// installs (helm --create-namespace, or the Namespace in config/default
	// applied first). The release namespace enforces the restricted Pod
	// Security Standard, so the dry run of a pod template that breaks it
	// returns a warning.
	ctx := context.Background()
	for name, labels := range map[string]map[string]string{
		releaseNamespace: {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted"},
		"mail":           nil,
		"web":            nil,
		"monitoring":     nil,
	} {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
		if err := k8s.Create(ctx, ns); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// promCRDPaths returns the ServiceMonitor and PrometheusRule CRDs of the
// prometheus-operator module (downloaded through the Go module proxy once,
// then from the module cache).
func promCRDPaths() ([]string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", promOperatorModule).Output()
	if err != nil {
		return nil, fmt.Errorf("go mod download %s: %w", promOperatorModule, err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return nil, err
	}
	if mod.Error != "" || mod.Dir == "" {
		return nil, fmt.Errorf("go mod download %s: %s", promOperatorModule, mod.Error)
	}
	dir := filepath.Join(mod.Dir, promOperatorCRDs)
	return []string{
		filepath.Join(dir, "monitoring.coreos.com_servicemonitors.yaml"),
		filepath.Join(dir, "monitoring.coreos.com_prometheusrules.yaml"),
	}, nil
}

// tool returns the path of helm or kustomize, building it from Go modules
// on first use (hack/gotool.sh).
func tool(t *testing.T, name string) string {
	t.Helper()
	// Here, not in TestMain: go test records the files a test opens only
	// once the tests run.
	if err := readInputs(root); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(filepath.Join(root, "hack", "gotool.sh"), name)
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("hack/gotool.sh %s: %v", name, err)
	}
	return strings.TrimSpace(out.String())
}

// runTool runs a command in the repository root and returns its stdout.
func runTool(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	var out, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
	}
	return out.Bytes()
}
