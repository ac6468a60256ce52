package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// apiServerProc is what it takes to start kube-apiserver again exactly as
// envtest started it: the binary and its command line (same port, certs,
// service-account keys and etcd), read from /proc.
type apiServerProc struct {
	pid  int
	path string
	args []string
}

// StopAPIServer kills kube-apiserver (SIGKILL, as a crash or a node loss
// would) and returns once it is gone. etcd and every other process keep
// running; StartAPIServer brings it back on the same etcd, address and
// certificates, so existing clients reconnect without any change.
func (l *Local) StopAPIServer() error {
	if l.apiserver != nil {
		// Restarted by us before: a child of ours.
		err := l.apiserver.stop(0)
		l.children = without(l.children, l.apiserver)
		l.apiserver = nil
		return err
	}
	p, err := findAPIServer()
	if err != nil {
		return err
	}
	l.apiProc = p
	if err := syscall.Kill(p.pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill kube-apiserver %d: %w", p.pid, err)
	}
	// envtest's own goroutine reaps it; wait until the pid is gone.
	return wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		err := syscall.Kill(p.pid, 0)
		return errors.Is(err, syscall.ESRCH), nil
	})
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, as a child
// of this process (stopped by Stop), and returns once it answers /readyz.
// kube-controller-manager and kube-scheduler are restarted then too, as in
// a real cluster, where they run with leader election and exit when they
// cannot renew their lease through an outage; left running here, the
// scheduler's cache goes wrong across the outage (pods stay Pending) and
// the controller-manager takes up to a minute to resume.
func (l *Local) StartAPIServer(ctx context.Context) error {
	if l.apiProc == nil {
		return errors.New("StartAPIServer without StopAPIServer")
	}
	c, err := startChild(l.Dir, "kube-apiserver-restarted", l.apiProc.path, l.apiProc.args, os.Environ())
	if err != nil {
		return err
	}
	l.apiserver = c
	l.children = append(l.children, c)
	cs, err := kubernetes.NewForConfig(l.Config)
	if err != nil {
		return err
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := c.exited(); err != nil {
			return false, err
		}
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	})
	if err != nil {
		return err
	}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
		if err := l.restartChild(name); err != nil {
			return err
		}
	}
	return nil
}

// restartChild stops the child of that name and starts it again with the
// same command line; the new one logs to <name>-<n>.log.
func (l *Local) restartChild(name string) error {
	for i, c := range l.children {
		if c.name != name {
			continue
		}
		if err := c.stop(30 * time.Second); err != nil {
			return err
		}
		l.restarts++
		n, err := startChild(l.Dir, fmt.Sprintf("%s-%d", name, l.restarts), c.cmd.Path, c.cmd.Args[1:], c.cmd.Env)
		if err != nil {
			return err
		}
		n.name = name
		l.children[i] = n
		return nil
	}
	return fmt.Errorf("no child %s", name)
}

// findAPIServer finds the kube-apiserver envtest started for this process:
// a direct child (the deathsig wrapper execs it) named kube-apiserver.
func findAPIServer() (*apiServerProc, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so split after ')'.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "(kube-apiserver") {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[1] != strconv.Itoa(self) {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			return nil, err
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			return nil, err
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		return &apiServerProc{pid: pid, path: exe, args: args[1:]}, nil
	}
	return nil, errors.New("no kube-apiserver child of this process")
}

func without(cs []*child, c *child) []*child {
	var out []*child
	for _, x := range cs {
		if x != c {
			out = append(out, x)
		}
	}
	return out
}
