package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"certsync.io/certsync/test/cluster"
)

// writeResult writes figures as <name>.json in CERTSYNC_BENCH_OUT
// (hack/bench-compare.sh points it at a scratch directory), by default in
// the repository's bench/ directory, where the committed baseline lives.
func writeResult(b *testing.B, name string, figures map[string]float64) {
	b.Helper()
	dir := os.Getenv("CERTSYNC_BENCH_OUT")
	if dir == "" {
		root, err := cluster.RepoRoot()
		if err != nil {
			b.Fatal(err)
		}
		dir = filepath.Join(root, "bench")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	data, err := json.MarshalIndent(figures, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, name+".json")
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote %s", path)
}
