package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// writeJSON writes v as <name>.json where writeResult writes figures.
func writeJSON(b *testing.B, name string, v any) {
	b.Helper()
	dir := os.Getenv("CERTSYNC_BENCH_OUT")
	if dir == "" {
		root, err := cluster.RepoRoot()
		if err != nil {
			b.Fatal(err)
		}
		dir = filepath.Join(root, "bench")
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, name+".json")
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote %s", path)
}

// cpuSeconds is the user+system CPU time of pid, from /proc/<pid>/stat
// (fields 14 and 15, in clock ticks of 1/100 s, USER_HZ on Linux).
func cpuSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	return (utime + stime) / 100, nil
}
