package docs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"certsync.io/certsync/test/cluster"
)

// TestCRDCategoriesAreNotResourceNames: kubectl expands a category before
// it looks for a resource of that name, so a category equal to any kind's
// singular, plural, short name or kind makes `kubectl get certsync NAME`
// fail with "you must specify only one resource" (issue 11).
func TestCRDCategoriesAreNotResourceNames(t *testing.T) {
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("CRDs: %v %v", files, err)
	}
	names := map[string]string{}
	var categories []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(raw, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		n := crd.Spec.Names
		for _, name := range append([]string{n.Singular, n.Plural, strings.ToLower(n.Kind)}, n.ShortNames...) {
			names[name] = n.Kind
		}
		categories = append(categories, n.Categories...)
	}
	if len(categories) == 0 {
		t.Fatal("no categories: `kubectl get certsync-all` is documented")
	}
	for _, c := range categories {
		if kind, clash := names[c]; clash {
			t.Errorf("category %q is also a name of %s", c, kind)
		}
	}
}
