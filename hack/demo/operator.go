package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"certsync.io/certsync/internal/operator"
)

// startOperator runs the certsync manager in this process, exactly as
// main.go builds it (internal/operator), logging to a file so the terminal
// shows the story. Metrics are plain HTTP on loopback so the demo can curl
// them.
func (d *demo) startOperator(ctx context.Context) error {
	d.title("Starting the certsync operator")
	scheme := operator.Scheme()

	d.operatorLog = filepath.Join(d.local.Dir, "certsync-operator.log")
	f, err := os.Create(d.operatorLog)
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(f)))

	if d.metricsAddr, err = freeLoopbackAddr(); err != nil {
		return err
	}
	fs := flag.NewFlagSet("certsync", flag.ContinueOnError)
	flags := operator.Bind(fs)
	if err := fs.Parse([]string{"--metrics-bind-address=" + d.metricsAddr, "--metrics-secure=false", "--health-probe-bind-address=0"}); err != nil {
		return err
	}
	mgr, err := operator.NewManager(d.local.Config, flags, ctrl.Log.WithName("operator"))
	if err != nil {
		return err
	}
	// The operator stops before the cluster does: kube-apiserver waits for
	// open watches to drain when it shuts down.
	opCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	d.stops = append(d.stops, func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		if err := mgr.Start(opCtx); err != nil {
			d.say("operator stopped: %v", err)
		}
	}()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return fmt.Errorf("operator caches did not sync")
	}
	if d.c, err = client.New(d.local.Config, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	d.say("operator running (log: %s)", d.operatorLog)
	return nil
}

// freeLoopbackAddr picks a free port on 127.0.0.1 for the metrics endpoint,
// so the demo can scrape it like Prometheus would.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
