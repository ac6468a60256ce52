package operator

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/internal/egress"
	"certsync.io/certsync/internal/hashkey"
	"certsync.io/certsync/internal/secretvalues"
)

// serviceAccountNamespaceFile is where a pod finds its own namespace.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// EgressPolicy turns the --egress-* flags into the policy for the URLs
// tenants choose; an invalid --egress-deny-cidrs is an error, not ignored.
func EgressPolicy(f *Flags) (*egress.Policy, error) {
	deny, err := egress.ParsePrefixes(f.EgressDenyCIDRs)
	if err != nil {
		return nil, fmt.Errorf("invalid --egress-deny-cidrs: %w", err)
	}
	return &egress.Policy{AllowHosts: egress.ParseHosts(f.EgressAllowHosts), DenyPrefixes: deny, AllowLoopback: f.EgressAllowLoopback}, nil
}

// operatorNamespace is --operator-namespace, else $POD_NAMESPACE, else the
// service account's namespace; "" out of a cluster with none of them.
func operatorNamespace(flag string) string {
	if flag != "" {
		return flag
	}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile(serviceAccountNamespaceFile); err == nil {
		return strings.TrimSpace(string(b))
	}
	return ""
}

// loadFingerprintKey reads (or creates) the HMAC key of the fingerprints of
// secret values before any controller computes one. It uses a client of its
// own, uncached and not confined to --watch-namespaces: the operator's
// namespace need not be a watched one.
func loadFingerprintKey(log logr.Logger, cfg *rest.Config, nsFlag, name string) error {
	ns := operatorNamespace(nsFlag)
	if ns == "" {
		// Out of a cluster (development, the e2e rig) with no namespace
		// given: fingerprints are still keyed, but with a key of this
		// process only, so a restart changes them (one rewrite of each
		// SecretSync target and one restart of its consumers).
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		secretvalues.SetHashKey(key)
		log.Info("the operator's namespace is unknown (set --operator-namespace or POD_NAMESPACE): fingerprints of secret values use a key of this process only")
		return nil
	}
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key, err := hashkey.LoadOrCreate(ctx, c, ns, name)
	if err != nil {
		return err
	}
	secretvalues.SetHashKey(key)
	return nil
}
