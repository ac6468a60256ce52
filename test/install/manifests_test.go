/*
Copyright 2026 The certsync authors.

Licensed under the Apache License, Version 2.0.
*/

package install

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"certsync.io/certsync/internal/operator"
)

// manifest is a rendered set of objects.
type manifest []*unstructured.Unstructured

// decode splits a multi-document YAML stream into objects, skipping empty
// documents.
func decode(t *testing.T, data []byte) manifest {
	t.Helper()
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var m manifest
	for {
		var obj map[string]any
		if err := d.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("decoding the rendered manifest: %v", err)
		}
		if len(obj) == 0 {
			continue
		}
		m = append(m, &unstructured.Unstructured{Object: obj})
	}
	if len(m) == 0 {
		t.Fatal("the rendered manifest is empty")
	}
	return m
}

// kinds returns "Kind/namespace/name" of every object, sorted.
func (m manifest) ids() []string {
	var ids []string
	for _, o := range m {
		ids = append(ids, fmt.Sprintf("%s/%s/%s", o.GetKind(), o.GetNamespace(), o.GetName()))
	}
	sort.Strings(ids)
	return ids
}

// count returns how many objects of kind the manifest holds.
func (m manifest) count(kind string) int {
	n := 0
	for _, o := range m {
		if o.GetKind() == kind {
			n++
		}
	}
	return n
}

// get returns the one object of kind, namespace and name, converted into
// into (a typed object or map), or fails.
func (m manifest) get(t *testing.T, kind, namespace, name string, into any) {
	t.Helper()
	for _, o := range m {
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into); err != nil {
				t.Fatalf("%s %s/%s: %v", kind, namespace, name, err)
			}
			return
		}
	}
	t.Fatalf("no %s %s/%s in the manifest; it holds %v", kind, namespace, name, m.ids())
}

// only returns the single object of kind.
func (m manifest) only(t *testing.T, kind string, into any) {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range m {
		if o.GetKind() == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d objects of kind %s, want 1; the manifest holds %v", len(found), kind, m.ids())
	}
	m.get(t, kind, found[0].GetNamespace(), found[0].GetName(), into)
}

// dryRunApply server-side applies every object with dryRun=All, as
// `kubectl apply --server-side --dry-run=server` does: the API server
// validates each against its schema (and the CRDs' OpenAPI and CEL rules),
// runs admission (Pod Security included) and persists nothing. Any error
// or warning fails the test.
func dryRunApply(t *testing.T, m manifest) {
	t.Helper()
	for _, p := range dryRunProblems(m) {
		t.Error(p)
	}
}

// dryRunProblems returns the errors and warnings of dry-run applying m.
func dryRunProblems(m manifest) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	warnings.take()
	var problems []string
	for _, o := range m {
		id := fmt.Sprintf("%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
		err := k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
			client.DryRunAll, client.ForceOwnership, client.FieldOwner("certsync-install-test"))
		if err != nil {
			problems = append(problems, fmt.Sprintf("dry-run apply %s: %v", id, err))
		}
		for _, w := range warnings.take() {
			problems = append(problems, fmt.Sprintf("dry-run apply %s: warning: %s", id, w))
		}
	}
	return problems
}

// rulesOf returns the rules of a Role or ClusterRole of config/rbac
// (role.yaml is what controller-gen generates from the RBAC markers).
func rulesOf(t *testing.T, file string) []rbacv1.PolicyRule {
	t.Helper()
	var role rbacv1.ClusterRole
	readYAML(t, filepath.Join(root, "config", "rbac", file), &role)
	if len(role.Rules) == 0 {
		t.Fatalf("config/rbac/%s has no rules", file)
	}
	return role.Rules
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// checkManager checks the manager Deployment against the flag contract and
// the restricted Pod Security Standard, and returns its container.
func checkManager(t *testing.T, d *appsv1.Deployment, wantReplicas int32, wantArgs ...string) corev1.Container {
	t.Helper()
	if d.Spec.Replicas == nil || *d.Spec.Replicas != wantReplicas {
		t.Errorf("Deployment %s replicas %v, want %d", d.Name, d.Spec.Replicas, wantReplicas)
	}
	spec := d.Spec.Template.Spec
	if spec.ServiceAccountName != "certsync" {
		t.Errorf("serviceAccountName %q, want certsync", spec.ServiceAccountName)
	}
	if len(spec.Containers) != 1 || spec.Containers[0].Name != "manager" {
		t.Fatalf("containers %v, want one named manager", spec.Containers)
	}
	c := spec.Containers[0]
	for _, a := range wantArgs {
		if !slices.Contains(c.Args, a) {
			t.Errorf("manager args %q lack %q", c.Args, a)
		}
	}
	// The operator's own flag parser accepts every argument: an unknown
	// flag or a bad value would crash the manager at start.
	fs := flag.NewFlagSet("certsync", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	operator.Bind(fs)
	if err := fs.Parse(c.Args); err != nil {
		t.Errorf("the operator refuses the manager's args %q: %v", c.Args, err)
	} else if fs.NArg() != 0 {
		t.Errorf("manager args %q leave positional arguments %q", c.Args, fs.Args())
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["health"] != 8081 {
		t.Errorf("container ports %v: want health 8081", ports)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" ||
		c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes: want liveness /healthz and readiness /readyz on the health port")
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("manager resources %v: want memory requests and limits", c.Resources)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("manager securityContext %v: want readOnlyRootFilesystem", sc)
	}
	return c
}

func rulesEqual(a, b []rbacv1.PolicyRule) bool {
	return reflect.DeepEqual(a, b)
}
