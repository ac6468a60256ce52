package cluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

const helperEnv = "CERTSYNC_CLUSTER_ORPHAN_HELPER"

// TestNoOrphansWhenTestProcessDies SIGKILLs a test process holding a running
// cluster, as `go test -timeout` or a CI runner would, and checks that every
// control-plane process it started dies with it.
func TestNoOrphansWhenTestProcessDies(t *testing.T) {
	skipWithoutCluster(t)
	if testing.Short() {
		t.Skip("starts a second cluster")
	}
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	helper := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestOrphanHelper$")
	helper.Env = append(os.Environ(), helperEnv+"=1")
	helper.Stderr = os.Stderr
	stdin, err := helper.StdinPipe()
	g.Expect(err).NotTo(HaveOccurred())
	defer stdin.Close()
	stdout, err := helper.StdoutPipe()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(helper.Start()).To(Succeed())

	// The helper reports its processes and temp dirs once the cluster is up.
	var pids []int
	var dirs []string
	sc := bufio.NewScanner(stdout)
	for pids == nil && sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "PIDS "); ok {
			for _, f := range strings.Fields(rest) {
				pid, _ := strconv.Atoi(f)
				pids = append(pids, pid)
			}
		}
		if rest, ok := strings.CutPrefix(sc.Text(), "DIRS "); ok {
			dirs = strings.Fields(rest)
		}
	}
	go io.Copy(io.Discard, stdout) //nolint:errcheck // keep the helper from blocking on a full pipe
	t.Cleanup(func() {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL) // only if the test failed
		}
		for _, d := range dirs {
			_ = os.RemoveAll(d) // nobody ran Stop, so nobody removed them
		}
	})
	g.Expect(pids).To(HaveLen(5), "etcd, kube-apiserver, controller-manager, scheduler, kwok")

	g.Expect(helper.Process.Kill()).To(Succeed())
	_ = helper.Wait()
	g.Eventually(func() []int {
		var left []int
		for _, pid := range pids {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		return left
	}).WithTimeout(time.Minute).WithPolling(poll).Should(BeEmpty())
}

// TestOrphanHelper runs only inside TestNoOrphansWhenTestProcessDies's
// child: it starts a cluster and blocks until killed (or until its parent
// closes stdin, so a failing parent never strands it).
func TestOrphanHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process of TestNoOrphansWhenTestProcessDies")
	}
	l, err := StartLocal(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	api := l.Env.ControlPlane.GetAPIServer()
	fmt.Printf("DIRS %s %s %s\n", l.Dir, l.Env.ControlPlane.Etcd.DataDir, api.CertDir)
	fmt.Printf("PIDS %s\n", strings.Trim(fmt.Sprint(childrenOf(os.Getpid())), "[]"))
	_, _ = io.Copy(io.Discard, os.Stdin)
}
