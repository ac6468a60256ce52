// Command demo replays the incident certsync exists for on an embedded local
// cluster: a legacy PKI renews a mail certificate, and certsync carries it
// to the Secret the mail pods use, saying at each step what it saw and did.
// It exits 0 on success and removes everything it started.
package main

import (
	"context"
	"os"
	"time"

	"certsync.io/certsync/test/cluster"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	d := &demo{out: os.Stdout, start: time.Now()}
	err := d.run(ctx)
	if err != nil {
		d.say("FAILED: %v", err)
		os.Exit(1)
	}
	d.say("demo finished in %s", time.Since(d.start).Round(time.Millisecond))
}

func (d *demo) run(ctx context.Context) error {
	d.title("Starting a local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)")
	local, err := cluster.StartLocal(ctx, cluster.Options{Log: logWriter{d}})
	if err != nil {
		return err
	}
	defer func() {
		d.title("Cleaning up")
		if d.stopOperator != nil {
			d.stopOperator()
		}
		if err := local.Stop(); err != nil {
			d.say("stopping the cluster: %v", err)
		}
	}()
	d.local = local
	if err := d.startOperator(ctx); err != nil {
		return err
	}
	for _, act := range []func(context.Context) error{
		d.actRenewal,
		d.actGarbage,
	} {
		if err := act(ctx); err != nil {
			return err
		}
	}
	return nil
}
