package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"certsync.io/certsync/test/cluster"
)

// operatorProcess is the real certsync binary running as a child process,
// so that its memory is measured apart from the benchmark's own (clients,
// fixtures, the in-process cache estimates).
type operatorProcess struct {
	cmd        *exec.Cmd
	metricsURL string
	pprofURL   string // net/http/pprof of the operator, on loopback
	logPath    string
	done       chan struct{} // closed once the process has exited and been reaped
	waitErr    error         // its exit status, valid after done
}

// buildOperator builds main.go exactly as shipped; `go test` puts the Go
// toolchain that runs it first on PATH.
//
// CERTSYNC_BENCH_OPERATOR names a prebuilt binary instead, to measure
// another revision (a before/after comparison) on the same rig.
func buildOperator(b *testing.B) string {
	b.Helper()
	if bin := os.Getenv("CERTSYNC_BENCH_OPERATOR"); bin != "" {
		// Copied so that the log lands in this run's temporary directory.
		dst := filepath.Join(b.TempDir(), "certsync")
		data, err := os.ReadFile(bin)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o755); err != nil {
			b.Fatal(err)
		}
		return dst
	}
	root, err := cluster.RepoRoot()
	if err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(b.TempDir(), "certsync")
	cmd := exec.Command("go", "build", "-o", bin, "certsync.io/certsync")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build certsync.io/certsync: %v\n%s", err, out)
	}
	return bin
}

// startOperator runs bin against the cluster and returns once its metrics
// endpoint answers. It is stopped when the benchmark ends.
func startOperator(ctx context.Context, b *testing.B, bin, kubeconfig string, extraArgs ...string) *operatorProcess {
	b.Helper()
	port, err := freePort()
	if err != nil {
		b.Fatal(err)
	}
	pprofPort, err := freePort()
	if err != nil {
		b.Fatal(err)
	}
	p := &operatorProcess{
		metricsURL: "http://" + net.JoinHostPort("127.0.0.1", port) + "/metrics",
		pprofURL:   "http://" + net.JoinHostPort("127.0.0.1", pprofPort) + "/debug/pprof/",
		logPath:    filepath.Join(filepath.Dir(bin), "certsync.log"),
		done:       make(chan struct{}),
	}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		b.Fatal(err)
	}
	args := []string{"--metrics-bind-address=127.0.0.1:" + port, "--metrics-secure=false", "--health-probe-bind-address=0"}
	if os.Getenv("CERTSYNC_BENCH_OPERATOR") == "" {
		// Built from this tree, which has the flag (a prebuilt older
		// revision may not): profile a slow point while it runs.
		args = append(args, "--pprof-bind-address=127.0.0.1:"+pprofPort)
	} else {
		p.pprofURL = ""
	}
	// CERTSYNC_BENCH_OPERATOR_ARGS adds flags (space-separated), e.g.
	// "--max-concurrent-reconciles=16" to see whether a point is bounded
	// by the operator's workers or by the API server.
	args = append(args, strings.Fields(os.Getenv("CERTSYNC_BENCH_OPERATOR_ARGS"))...)
	args = append(args, extraArgs...)
	p.cmd = exec.Command(bin, args...)
	// The operator's flag set has no --kubeconfig: controller-runtime
	// reads KUBECONFIG.
	p.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		b.Fatalf("starting the operator: %v", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	b.Cleanup(func() {
		if b.Failed() {
			b.Logf("end of the operator's log %s:\n%s", p.logPath, tail(p.logPath, 40))
		}
		p.stop(10 * time.Second)
	})
	if err := p.waitServing(ctx, 2*time.Minute); err != nil {
		b.Fatal(err)
	}
	return p
}

// freePort asks the kernel for an unused loopback port. Another process
// could take it before the operator binds it; on a test machine that is
// rare enough not to be worth passing a listener down.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

// waitServing polls the metrics endpoint; the manager opens it on Start.
func (p *operatorProcess) waitServing(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if err := p.exited(); err != nil {
			return err
		}
		if _, err := p.get(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("operator metrics at %s not serving after %s", p.metricsURL, timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// get fetches the metrics endpoint.
func (p *operatorProcess) get(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.metricsURL, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", p.metricsURL, resp.Status)
	}
	return string(body), nil
}

// exited reports, without blocking, why the operator is no longer running.
func (p *operatorProcess) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("operator exited (%v); end of %s:\n%s", p.waitErr, p.logPath, tail(p.logPath, 20))
	default:
		return nil
	}
}

// stop sends SIGTERM to the operator's process group, escalating to SIGKILL
// after grace, and returns once it is reaped.
func (p *operatorProcess) stop(grace time.Duration) {
	pgid := p.cmd.Process.Pid // Setpgid: the group is named after the leader
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
}

// tail returns the last n lines of a log file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
