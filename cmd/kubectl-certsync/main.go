// Command kubectl-certsync is the on-call's view of certsync, as a kubectl
// plugin (`kubectl certsync ...`): the estate sorted by urgency, why an
// object is not Ready and what to do, what the next certificate change
// would restart, and verify or renew now. Only verify and renew write: one
// annotation on the CertSync or SecretSync.
//
//	go install certsync.io/certsync/cmd/kubectl-certsync@latest
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/api/v1alpha1"
)

const usage = `kubectl certsync: the on-call's view of certsync.

Commands:
  status [-A] [-n NS] [-o table|json|yaml]   every CertSync and SecretSync, most urgent first
  why NAME [-n NS]                           conditions, sources, last events, and what to do
  plan NAME [-n NS] [-o table|json|yaml]     what the next certificate change would restart, and in which batches
  verify NAME [-n NS] [--timeout 2m]         verify now and wait for the result: every pod (CertSync), the token request (SecretSync)
  renew NAME [-n NS] [--timeout 2m]          read every source now, HTTPS ones too; re-issue cert-manager Certificates like cmctl

status, why and plan only read; verify and renew set an annotation the operator
serves (certsync.io/verify-requested-at, certsync.io/renew-requested-at) and wait
until status.lastHandledRequests says it was served.

Flags:
`

// options are the flags every command takes.
type options struct {
	kubeconfig, context, namespace, output string
	allNamespaces                          bool
	timeout                                time.Duration
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: tests call it too, though they also run
// the built binary.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	fs := pflag.NewFlagSet("kubectl-certsync", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&o.context, "context", "", "kubeconfig context to use")
	fs.StringVarP(&o.namespace, "namespace", "n", "", "namespace (default: the context's)")
	fs.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "status: every namespace")
	fs.StringVarP(&o.output, "output", "o", "table", "table, json or yaml")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "verify, renew: how long to wait for the operator")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return 0
		}
		return 2
	}
	switch o.output {
	case "table", "json", "yaml":
	default:
		fmt.Fprintf(stderr, "error: -o %q: want table, json or yaml\n", o.output)
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return 2
	}
	cmd, rest := rest[0], rest[1:]
	needName := cmd == "why" || cmd == "plan" || cmd == "verify" || cmd == "renew"
	switch {
	case cmd != "status" && !needName:
		fmt.Fprintf(stderr, "error: unknown command %q\n", cmd)
		fs.Usage()
		return 2
	case needName && len(rest) != 1:
		fmt.Fprintf(stderr, "error: %s takes one NAME\n", cmd)
		return 2
	case !needName && len(rest) != 0:
		fmt.Fprintf(stderr, "error: status takes no arguments\n")
		return 2
	}
	c, ns, err := connect(o)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout+time.Minute)
	defer cancel()
	now := time.Now()
	switch cmd {
	case "status":
		if o.allNamespaces {
			ns = ""
		}
		err = status(ctx, c, ns, o.output, now, stdout)
	case "why":
		err = why(ctx, c, ns, rest[0], now, stdout)
	case "plan":
		err = plan(ctx, c, ns, rest[0], o.output, stdout)
	case "verify":
		err = verifyCmd(ctx, c, ns, rest[0], o.timeout, stdout)
	case "renew":
		err = renewCmd(ctx, c, ns, rest[0], o.timeout, stdout)
	}
	if errors.Is(err, errNotVerified) {
		return 3
	}
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	return 0
}

// connect builds a client from the kubeconfig the way kubectl does:
// --kubeconfig, else $KUBECONFIG, else ~/.kube/config; --context and -n
// override the current context and its namespace.
func connect(o options) (client.Client, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.context}
	overrides.Context.Namespace = o.namespace
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.UserAgent = "kubectl-certsync"
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("namespace from kubeconfig: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, "", err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("connecting: %w", err)
	}
	return c, ns, nil
}
