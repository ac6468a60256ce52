package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"certsync.io/certsync/api/v1alpha1"
	"certsync.io/certsync/controllers"
)

// startOperator runs the certsync manager in this process, exactly as
// main.go wires it, logging to a file so the terminal shows the story.
func (d *demo) startOperator(ctx context.Context) error {
	d.title("Starting the certsync operator")
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	utilruntime.Must(cmapi.AddToScheme(scheme))

	d.operatorLog = filepath.Join(d.local.Dir, "certsync-operator.log")
	f, err := os.Create(d.operatorLog)
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(f)))

	opts := controllers.ManagerOptions(scheme)
	if d.metricsAddr, err = freeLoopbackAddr(); err != nil {
		return err
	}
	opts.Metrics = metricsserver.Options{BindAddress: d.metricsAddr}
	opts.HealthProbeBindAddress = "0"
	mgr, err := ctrl.NewManager(d.local.Config, opts)
	if err != nil {
		return err
	}
	if err := controllers.SetupWithManager(mgr, controllers.Options{}); err != nil {
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
