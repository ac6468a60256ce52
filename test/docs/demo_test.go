package docs

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"certsync.io/certsync/test/cluster"
)

// TestDemoRunsEveryAct: `make demo`, the first of the README's two
// commands, walks through every act on its own local cluster. It is run
// here as the Makefile runs it, so a change that breaks the story (a new
// default that holds back its renewal, say) fails the suite, not a user.
func TestDemoRunsEveryAct(t *testing.T) {
	if os.Getenv("CERTSYNC_SKIP_CLUSTER") == "1" {
		t.Skip("CERTSYNC_SKIP_CLUSTER=1")
	}
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "demo")
	build := exec.Command("go", "build", "-o", bin, "./hack/demo")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the demo: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	text := out.String()
	if err != nil {
		lines := strings.Split(text, "\n")
		t.Fatalf("the demo failed: %v\n%s", err, strings.Join(lines[max(0, len(lines)-80):], "\n"))
	}
	for _, want := range []string{"== Act 1:", "== Act 2:", "== Act 3:", "== Act 4:", "== Act 5:", "demo finished in"} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo's output lacks %q", want)
		}
	}
	if strings.Contains(text, "PRIVATE KEY") {
		t.Error("the demo prints key material")
	}
}
