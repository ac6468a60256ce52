package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Addresses the control plane hands out. DESIGN.md forbids 10/8, 172.16/12
// and 192.168/16 even as defaults, so everything lives in 127.0.0.0/8.
const (
	// ServiceCIDR replaces envtest's default 10.0.0.0/24. kube-apiserver
	// accepts a loopback range (it only checks the size, at most 20 host
	// bits), so Services get 127.2.x.y addresses, e.g. "kubernetes" 127.2.0.1.
	ServiceCIDR = "127.2.0.0/16"
	// PodCIDR is where kwok allocates pod IPs from.
	PodCIDR = "127.1.0.0/16"
	// NodeIP is the fake node's InternalIP.
	NodeIP = "127.0.0.1"
)

// NewEnvironment returns an unstarted envtest Environment running the
// control plane built by hack/controlplane.sh, with certsync's CRDs from
// config/crd/bases plus extraCRDPaths installed on Start.
func NewEnvironment(extraCRDPaths ...string) (*envtest.Environment, error) {
	bin, err := BinDir("envtest")
	if err != nil {
		return nil, err
	}
	return newEnvironment(bin, extraCRDPaths)
}

func newEnvironment(bin string, extraCRDPaths []string) (*envtest.Environment, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	etcd, apiserver, err := wrappedBinaries(bin)
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: bin,
		CRDDirectoryPaths:     append([]string{filepath.Join(root, "config", "crd", "bases")}, extraCRDPaths...),
		ErrorIfCRDPathMissing: true,
	}
	// envtest's 20s default is too short for kube-apiserver on 2 busy cores;
	// the KUBEBUILDER_* variables still win when set.
	if os.Getenv("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT") == "" {
		env.ControlPlaneStartTimeout = 3 * time.Minute
	}
	if os.Getenv("KUBEBUILDER_CONTROLPLANE_STOP_TIMEOUT") == "" {
		env.ControlPlaneStopTimeout = time.Minute
	}
	env.ControlPlane.Etcd = &envtest.Etcd{Path: etcd}
	api := env.ControlPlane.GetAPIServer()
	api.Path = apiserver
	api.Configure().
		Set("service-cluster-ip-range", ServiceCIDR).
		// Unset, kube-apiserver advertises the host's primary (non-loopback)
		// address in the "kubernetes" Service's endpoints.
		Set("advertise-address", "127.0.0.1").
		// Endpoints may not hold loopback addresses, so the reconciler would
		// fail forever writing 127.0.0.1; nothing in-cluster dials the
		// apiserver through its Service here (clients use the kubeconfig).
		Set("endpoint-reconciler-type", "none")
	return env, nil
}

// wrappedBinaries returns paths that run etcd and kube-apiserver under the
// parent-death signal: envtest starts them itself, with only Setpgid, so a
// test binary killed by `go test -timeout` or ^C would otherwise leak them.
// Without setpriv (or off Linux) the plain binaries are returned.
func wrappedBinaries(bin string) (etcd, apiserver string, err error) {
	etcd, apiserver = filepath.Join(bin, "etcd"), filepath.Join(bin, "kube-apiserver")
	prefix := deathsigWrapper()
	if len(prefix) == 0 {
		return etcd, apiserver, nil
	}
	if _, err := exec.LookPath(prefix[0]); err != nil {
		return etcd, apiserver, nil
	}
	// The scripts outlive any one test process (NewEnvironment's caller owns
	// the Environment and no Stop of ours runs), so they live in the user
	// cache keyed by bin dir rather than in a temp dir nobody removes.
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256([]byte(bin))
	dir := filepath.Join(cache, "certsync", "deathsig", hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	if etcd, err = writeWrapper(dir, etcd, prefix); err != nil {
		return "", "", err
	}
	if apiserver, err = writeWrapper(dir, apiserver, prefix); err != nil {
		return "", "", err
	}
	return etcd, apiserver, nil
}

// writeWrapper writes a script named like target that execs it under prefix;
// the same name matters because envtest runs `<path> --help` to probe flags.
func writeWrapper(dir, target string, prefix []string) (string, error) {
	words := append(append([]string{}, prefix...), target)
	for i, w := range words {
		words[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	script := fmt.Sprintf("#!/bin/sh\nexec %s \"$@\"\n", strings.Join(words, " "))
	path := filepath.Join(dir, filepath.Base(target))
	if old, err := os.ReadFile(path); err == nil && string(old) == script {
		return path, nil
	}
	// Renamed into place so concurrent test packages never run a half-written script.
	tmp, err := os.CreateTemp(dir, ".wrapper-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(script); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(tmp.Name(), path)
}
