// Command mailsim plays the mail pods of a kwok cluster for the demo and
// end-to-end tests: see package certsync.io/certsync/test/mailsim.
//
//	mailsim --kubeconfig admin.kubeconfig --namespace mail --selector app=mail \
//	        --control-addr 127.0.0.1:7070
//
// With --control-addr it also answers, on loopback only:
//
//	GET  /serving            what each pod serves (JSON)
//	POST /stale?pod=NAME     body: certificate PEM followed by key PEM;
//	                         the pod serves it from its next handshake on
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/clientcmd"

	"certsync.io/certsync/test/mailsim"
)

func main() {
	var (
		kubeconfig  = flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster whose pods to simulate")
		namespace   = flag.String("namespace", "", "namespace of the pods; empty: all namespaces")
		selector    = flag.String("selector", "", "label selector of the pods, e.g. app=mail; empty: all pods")
		controlAddr = flag.String("control-addr", "", "loopback address for the control endpoints, e.g. 127.0.0.1:7070; empty: none")
		verbosity   = flag.Int("v", 0, "log verbosity")
	)
	flag.Parse()
	log := funcr.New(func(prefix, args string) {
		fmt.Fprintln(os.Stderr, time.Now().Format(time.TimeOnly), prefix, args)
	}, funcr.Options{Verbosity: *verbosity}).WithName("mailsim")

	if err := run(*kubeconfig, *namespace, *selector, *controlAddr, log); err != nil {
		log.Error(err, "mailsim failed")
		os.Exit(1)
	}
}

func run(kubeconfig, namespace, selector, controlAddr string, log logr.Logger) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	sel, err := labels.Parse(selector)
	if err != nil {
		return fmt.Errorf("--selector: %w", err)
	}
	sim, err := mailsim.New(mailsim.Options{Config: cfg, Namespace: namespace, Selector: sel, Log: log})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if controlAddr != "" {
		srv, err := startControl(ctx, controlAddr, sim)
		if err != nil {
			return err
		}
		log.Info("control endpoints listening", "addr", srv.Addr)
		defer srv.Close()
	}
	return sim.Run(ctx)
}

// startControl serves the control endpoints; only on loopback, since
// /stale changes what the simulated pods serve.
func startControl(ctx context.Context, addr string, sim *mailsim.Simulator) (*http.Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--control-addr: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, errors.New("--control-addr must be a loopback IP address, e.g. 127.0.0.1:7070")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Addr:              ln.Addr().String(),
		Handler:           controlHandler(sim),
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}
