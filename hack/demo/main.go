// Command demo replays the incident certsync exists for on an embedded local
// cluster: a legacy PKI renews a mail certificate; certsync carries it to the
// Secret the mail pods mount, restarts the workloads once, and proves by a
// TLS/STARTTLS handshake with every pod that each one serves it. It then
// shows a stale pod caught and healed, garbage from the PKI refused, and
// warnings a month before a certificate or an OAuth2 client secret expires.
// It exits 0 on success and removes everything it started.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"certsync.io/certsync/test/cluster"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	d := &demo{out: os.Stdout, start: time.Now()}
	if err := d.run(ctx); err != nil {
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
	d.local = local
	defer func() {
		d.title("Cleaning up")
		for i := len(d.stops) - 1; i >= 0; i-- {
			d.stops[i]()
		}
		if err := local.Stop(); err != nil {
			d.say("stopping the cluster: %v", err)
		}
	}()
	if err := d.startOperator(ctx); err != nil {
		return err
	}
	if err := d.startMailPods(ctx); err != nil {
		return err
	}
	for _, act := range []func(context.Context) error{
		d.actMailService,
		d.actRenewal,
		d.actStalePod,
		d.actGarbage,
		d.actExpiry,
	} {
		if err := act(ctx); err != nil {
			d.explainFailure()
			return err
		}
	}
	return nil
}

// explainFailure shows what the operator saw when an act did not happen:
// the CertSync's status and the operator log's last lines (which carry no
// key material), before the cleanup removes the log.
func (d *demo) explainFailure() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d.title("What the operator saw")
	if err := d.showStatus(ctx); err != nil {
		d.say("reading the status: %v", err)
	}
	b, err := os.ReadFile(d.operatorLog)
	if err != nil {
		d.say("reading the operator log: %v", err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	d.say("last lines of the operator log (%s):", d.operatorLog)
	for _, l := range lines[max(0, len(lines)-40):] {
		fmt.Fprintln(d.out, "    "+l)
	}
}
