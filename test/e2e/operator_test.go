package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var operatorRuns atomic.Int32

// operatorProcess is a running certsync binary.
type operatorProcess struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startOperator runs the certsync binary against the local cluster until the
// test ends (or stop is called). Its log is printed if the test fails.
//
// It runs as the operator's ServiceAccount, authorised only by config/rbac,
// and logs at the most verbose level (which the hygiene check then scans).
func startOperator(t testing.TB, extraArgs ...string) *operatorProcess {
	t.Helper()
	return startOperatorAs(t, operatorKubeconfig, extraArgs...)
}

// startOperatorAs is startOperator with another kubeconfig (the same
// identity through a proxy, say).
func startOperatorAs(t testing.TB, kubeconfig string, extraArgs ...string) *operatorProcess {
	t.Helper()
	n := operatorRuns.Add(1)
	logPath := filepath.Join(workDir, fmt.Sprintf("certsync-%d.log", n))
	p, err := startOperatorProcess(logPath, kubeconfig, extraArgs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			n := 60
			if v, err := strconv.Atoi(os.Getenv("CERTSYNC_E2E_LOG_LINES")); err == nil && v > 0 {
				n = v // more context when debugging a failure
			}
			t.Logf("operator log (last %d lines):\n%s", n, tail(logPath, n))
		}
	})
	return p
}

// startOperatorProcess runs the certsync binary, logging to logPath.
func startOperatorProcess(logPath, kubeconfig string, extraArgs ...string) (*operatorProcess, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// Level 10 enables every V-level: the most verbose log there is.
	// The fault suite's HTTPS sources listen on 127.0.0.1 (denied by
	// default); the fingerprint key lives in the operator's namespace, as
	// in a pod (a caller may name another with a later
	// --operator-namespace).
	args := append([]string{"--metrics-bind-address=0", "--health-probe-bind-address=0", "--zap-log-level=10", "--zap-time-encoding=rfc3339nano",
		"--egress-allow-loopback", "--operator-namespace=" + operatorNamespace}, extraArgs...)
	cmd := exec.Command(operator, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = f, f
	// The operator must never outlive the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &operatorProcess{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// stop terminates the operator and waits for it to exit.
func (p *operatorProcess) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill stops the operator abruptly, as a crash or node loss would.
func (p *operatorProcess) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
