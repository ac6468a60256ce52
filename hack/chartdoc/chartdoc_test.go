/*
Copyright 2026 The certsync authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestChartREADMEUpToDate fails when charts/certsync/README.md's values
// table no longer matches values.yaml (make chart-docs regenerates it).
func TestChartREADMEUpToDate(t *testing.T) {
	chart := filepath.Join("..", "..", "charts", "certsync")
	if err := run(filepath.Join(chart, "values.yaml"), filepath.Join(chart, "README.md"), true); err != nil {
		t.Fatal(err)
	}
}

func TestRows(t *testing.T) {
	for _, tc := range []struct {
		name, values string
		want         []Row
		wantErr      string
	}{{
		name: "leaves, nested maps, documented maps and the file's own header",
		values: `# A header that documents the file, not the first key.

# -- How many.
# Second line.
replicaCount: 2
image:
  # -- Repository.
  repository: ghcr.io/x/y
  # -- Tag | empty for appVersion.
  tag: ""
# -- Resources.
resources:
  limits: {memory: 1Gi}
# -- Namespaces.
watchNamespaces: []
# -- On.
enabled: true
`,
		want: []Row{
			{"replicaCount", "int", "2", "How many. Second line."},
			{"image.repository", "string", `"ghcr.io/x/y"`, "Repository."},
			{"image.tag", "string", `""`, "Tag | empty for appVersion."},
			{"resources", "object", `{"limits":{"memory":"1Gi"}}`, "Resources."},
			{"watchNamespaces", "list", "[]", "Namespaces."},
			{"enabled", "bool", "true", "On."},
		},
	}, {
		name:    "an undocumented leaf is an error",
		values:  "a:\n  # -- ok\n  b: 1\n  c: 2\n",
		wantErr: "a.c has no",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Rows([]byte(tc.values))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("rows:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestSplice(t *testing.T) {
	got, err := Splice([]byte("a\n"+startMarker+"\nold\n"+endMarker+"\nb\n"), []byte("new\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "a\n" + startMarker + "\nnew\n" + endMarker + "\nb\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := Splice([]byte("no markers"), nil); err == nil {
		t.Error("no error without markers")
	}
}
