package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Controllers kube-controller-manager runs: what Deployments, StatefulSets,
// DaemonSets, owner-reference cleanup and PodDisruptionBudgets need, and
// nothing that would want a real kubelet, cloud or service-account keys.
var Controllers = []string{
	"deployment-controller",
	"replicaset-controller",
	"statefulset-controller",
	"daemonset-controller",
	"garbage-collector-controller",
	"disruption-controller",
}

// Local is a whole local cluster: envtest's etcd and kube-apiserver plus
// kube-controller-manager, kube-scheduler and kwok (the kubelet of NodeName)
// as child processes.
type Local struct {
	Env        *envtest.Environment
	Config     *rest.Config // admin (system:masters)
	Kubeconfig string       // admin kubeconfig file, for kubectl and the children
	Dir        string       // temp dir holding <name>.log of each child
	NodeName   string       // the one fake Node, Ready and schedulable

	// AuditLog is the API server's audit log (JSON lines), when
	// Options.AuditPolicy asked for one.
	AuditLog string

	log       io.Writer
	podCIDR   string
	children  []*child
	apiProc   *apiServerProc // how to start kube-apiserver again
	apiserver *child         // kube-apiserver once restarted by StartAPIServer
	restarts  int            // children restarted, for their log names
	stopOnce  sync.Once
	stopErr   error
}

// Options configure StartLocal.
type Options struct {
	Log           io.Writer // progress lines; nil discards them
	ExtraCRDPaths []string  // CRDs to install besides config/crd/bases
	// PodCIDR is where kwok allocates pod IPs; default PodCIDR. Test
	// packages that run at once give each cluster its own range, so their
	// simulated pods never compete for an address and port.
	PodCIDR string
	// AuditPolicy, when set, is an audit.k8s.io/v1 Policy (YAML) the API
	// server logs requests by, to Local.AuditLog: what the fault suite counts
	// evictions and restarts by, and checks permissions against.
	AuditPolicy string
}

// StartLocal starts a local cluster and returns once its Node is Ready and
// schedulable. On error everything already started is stopped again.
func StartLocal(ctx context.Context, opts Options) (l *Local, err error) {
	l = &Local{log: opts.Log, NodeName: "kwok-node-0", podCIDR: opts.PodCIDR}
	if l.podCIDR == "" {
		l.podCIDR = PodCIDR
	}
	if l.log == nil {
		l.log = io.Discard
	}
	start := time.Now()
	bin, err := BinDir("cluster")
	if err != nil {
		return nil, err
	}
	if l.Dir, err = os.MkdirTemp("", "certsync-cluster-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.Stop())
			l = nil
		}
	}()

	if l.Env, err = newEnvironment(bin, opts.ExtraCRDPaths); err != nil {
		return l, err
	}
	if opts.AuditPolicy != "" {
		policy := filepath.Join(l.Dir, "audit-policy.yaml")
		if err = os.WriteFile(policy, []byte(opts.AuditPolicy), 0o600); err != nil {
			return l, err
		}
		l.AuditLog = filepath.Join(l.Dir, "audit.log")
		// Blocking mode: an event is written before its response is sent,
		// so what a test observed is already in the log.
		l.Env.ControlPlane.GetAPIServer().Configure().
			Set("audit-policy-file", policy).
			Set("audit-log-path", l.AuditLog).
			Set("audit-log-mode", "blocking").
			Set("audit-log-format", "json")
	}
	if _, err = l.Env.Start(); err != nil {
		return l, fmt.Errorf("start etcd and kube-apiserver: %w", err)
	}
	l.logf("etcd and kube-apiserver up at %s after %s", l.Env.Config.Host, since(start))
	if err = l.writeAdminKubeconfig(); err != nil {
		return l, err
	}
	if err = l.startChildren(bin); err != nil {
		return l, err
	}
	if err = l.startNode(ctx); err != nil {
		return l, err
	}
	l.logf("cluster ready after %s (logs in %s)", since(start), l.Dir)
	return l, nil
}

// writeAdminKubeconfig provisions a system:masters client certificate; the
// children need cluster-wide rights and envtest only hands out rest.Configs.
func (l *Local) writeAdminKubeconfig() error {
	user, err := l.Env.AddUser(envtest.User{Name: "certsync-admin", Groups: []string{"system:masters"}},
		&rest.Config{QPS: 1000, Burst: 2000}) // client-side throttling only slows tests down
	if err != nil {
		return fmt.Errorf("add admin user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	l.Config = user.Config()
	l.Kubeconfig = filepath.Join(l.Dir, "kubeconfig")
	return os.WriteFile(l.Kubeconfig, kubeconfig, 0o600)
}

func (l *Local) startChildren(bin string) error {
	kc := l.Kubeconfig
	// secure-port=0: the children serve nothing (no healthz or metrics
	// listeners to collide with parallel runs). Leader election off: a
	// single replica would only wait on its own lease.
	common := []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--leader-elect=false",
		"--secure-port=0",
		"--bind-address=127.0.0.1",
	}
	// KWOK_WORKDIR keeps a developer's ~/.kwok/kwok.yaml from being loaded
	// on top of our stages.
	env := append(os.Environ(), "KWOK_WORKDIR="+filepath.Join(l.Dir, "kwok"))
	specs := []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", slices.Concat(common,
			[]string{"--controllers=" + strings.Join(Controllers, ",")})},
		{"kube-scheduler", common},
		{"kwok", []string{
			"--kubeconfig=" + kc,
			// --config takes Stage objects: kwok's "fast" node/pod stages
			// that hack/controlplane.sh joined into one multi-document file.
			"--config=" + filepath.Join(bin, "kwok-stages.yaml"),
			"--manage-all-nodes=true",
			"--cidr=" + l.podCIDR,
			"--node-ip=" + NodeIP,
		}},
	}
	for _, s := range specs {
		c, err := startChild(l.Dir, s.name, filepath.Join(bin, s.name), s.args, env)
		if err != nil {
			return err
		}
		l.children = append(l.children, c)
		l.logf("started %s (pid %d)", s.name, c.cmd.Process.Pid)
	}
	return nil
}

// exited returns an error if a child has died, so waits fail fast with its
// log instead of timing out.
func (l *Local) exited() error {
	for _, c := range l.children {
		if err := c.exited(); err != nil {
			return err
		}
	}
	return nil
}

// Stop kills the children (whole process groups), stops etcd and
// kube-apiserver and removes Dir. It is safe to call more than once.
func (l *Local) Stop() error {
	l.stopOnce.Do(func() {
		var errs []error
		for i := len(l.children) - 1; i >= 0; i-- {
			errs = append(errs, l.children[i].stop(30*time.Second))
		}
		if l.Env != nil {
			errs = append(errs, l.Env.Stop())
		}
		if l.Dir != "" {
			errs = append(errs, os.RemoveAll(l.Dir))
		}
		l.stopErr = errors.Join(errs...)
		l.logf("cluster stopped")
	})
	return l.stopErr
}

func (l *Local) logf(format string, args ...any) {
	fmt.Fprintf(l.log, "[cluster] "+format+"\n", args...)
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }
