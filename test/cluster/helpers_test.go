package cluster

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func skipWithoutCluster(t *testing.T) {
	t.Helper()
	if os.Getenv("CERTSYNC_SKIP_CLUSTER") == "1" {
		t.Skip("CERTSYNC_SKIP_CLUSTER=1")
	}
}

// logWriter sends StartLocal's progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// dumpLogsOnFailure prints the end of every child log when the test failed,
// before Stop deletes them.
func dumpLogsOnFailure(t *testing.T, l *Local) {
	if !t.Failed() {
		return
	}
	logs, _ := filepath.Glob(filepath.Join(l.Dir, "*.log"))
	for _, f := range logs {
		t.Logf("=== end of %s:\n%s", f, tail(f, 40))
	}
}

func inPrefix(prefix, ip string) bool {
	addr, err := netip.ParseAddr(ip)
	return err == nil && netip.MustParsePrefix(prefix).Contains(addr)
}

// childrenOf lists the live processes whose parent is ppid (zombies
// excluded: they are dead, merely not reaped yet).
func childrenOf(ppid int) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[0] != "Z" && f[1] == strconv.Itoa(ppid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

func processGroupGone(pgid int) bool {
	return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}
