package docs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"certsync.io/certsync/test/cluster"
)

// TestREADMEShowsThePluginTranscript: the README's `kubectl certsync`
// section shows, verbatim, the transcript the e2e test recorded from the
// built plugin against the local cluster (test/e2e/testdata), which that
// test checks every run's output against. So the sample output can change
// only with the program's.
func TestREADMEShowsThePluginTranscript(t *testing.T) {
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(root, "test", "e2e", "testdata", "plugin-transcript.txt"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const heading = "## The on-call's tool: `kubectl certsync`"
	_, section, ok := strings.Cut(string(readme), heading+"\n")
	if !ok {
		t.Fatalf("README has no section %q", heading)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	_, block, ok := strings.Cut(section, "\n```console\n")
	if !ok {
		t.Fatalf("section %q has no ```console block", heading)
	}
	block, _, ok = strings.Cut(block, "\n```\n")
	if !ok {
		t.Fatal("unterminated ```console block")
	}
	if block+"\n" != string(want) {
		t.Errorf("README's console block in %q differs from test/e2e/testdata/plugin-transcript.txt; copy the file into it.\n--- README:\n%s\n--- transcript:\n%s", heading, block, want)
	}
}
