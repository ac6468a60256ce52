package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

const mib = 1 << 20

// BenchmarkOperatorMemory measures the certsync operator's memory with no
// unrelated Secrets in the cluster and with unrelatedSecrets of them, and,
// for comparison, what a naive cache of full Secrets would hold instead.
//
// It measures once whatever b.N is; run it with -benchtime 1x (and -count
// for several runs, each on a fresh cluster).
func BenchmarkOperatorMemory(b *testing.B) {
	if os.Getenv("CERTSYNC_SKIP_CLUSTER") == "1" {
		b.Skip("CERTSYNC_SKIP_CLUSTER=1")
	}
	if runtime.GOOS != "linux" {
		b.Skip("reads the operator's resident set size from /proc")
	}
	ctx, cancel := context.WithTimeout(b.Context(), 30*time.Minute)
	defer cancel()
	start := time.Now()
	progress := func(format string, args ...any) {
		b.Logf("[%4ds] %s", int(time.Since(start).Seconds()), fmt.Sprintf(format, args...))
	}

	bin := buildOperator(b)
	bc := startCluster(b)
	op := startOperator(ctx, b, bin, bc.kubeconfig)
	progress("operator running (pid %d, log %s)", op.cmd.Process.Pid, op.logPath)

	var r memoryResults
	mail := &mailCertSync{c: bc.client}
	if err := mail.create(ctx); err != nil {
		b.Fatalf("creating the CertSync: %v", err)
	}
	if err := mail.waitSynced(ctx, 2*time.Minute); err != nil {
		b.Fatal(err)
	}
	progress("CertSync synced")
	r.none = op.settledMemory(ctx, b, "0 unrelated Secrets")

	if err := createUnrelatedSecrets(ctx, bc.client, unrelatedSecrets); err != nil {
		b.Fatalf("creating unrelated Secrets: %v", err)
	}
	progress("%d unrelated Secrets created", unrelatedSecrets)
	// The operator's Secret watch is one stream, in resourceVersion order,
	// and nothing else wakes this CertSync (a steady state requeues after
	// hours), so once the renewal reaches the target the operator has also
	// processed every Secret created before it.
	if err := mail.renew(ctx); err != nil {
		b.Fatal(err)
	}
	if err := mail.waitSynced(ctx, 5*time.Minute); err != nil {
		b.Fatal(err)
	}
	progress("renewal synced: the operator has seen all %d", unrelatedSecrets)
	r.full = op.settledMemory(ctx, b, fmt.Sprintf("%d unrelated Secrets", unrelatedSecrets))

	// At start: an operator started on a cluster that already holds the
	// Secrets (an informer would list them all at once, the costlier case).
	op.stop(10 * time.Second)
	op = startOperator(ctx, b, bin, bc.kubeconfig)
	if err := mail.renew(ctx); err != nil {
		b.Fatal(err)
	}
	if err := mail.waitSynced(ctx, 5*time.Minute); err != nil {
		b.Fatal(err)
	}
	progress("restarted operator synced a renewal")
	r.start = op.settledMemory(ctx, b, fmt.Sprintf("started with %d unrelated Secrets", unrelatedSecrets))
	writeResult(b, "memory", r.json())

	if os.Getenv("CERTSYNC_BENCH_ESTIMATES") == "0" {
		r.report(b)
		tables = append(tables, r.table())
		return
	}
	var err error
	// Metadata first: whatever of one cache outlives it would inflate the
	// next one's baseline, and the smaller one matters less there.
	if r.metadata, err = metadataSecretCache(ctx, bc); err != nil {
		b.Fatalf("in-process metadata cache: %v", err)
	}
	if r.naive, err = naiveSecretCache(ctx, bc); err != nil {
		b.Fatalf("in-process full Secret cache: %v", err)
	}
	progress("in-process cache estimates done")

	r.report(b)
	tables = append(tables, r.table()) // printed by TestMain

}

// memoryResults are the readings of one benchmark run.
type memoryResults struct {
	none, full      memSample // the operator, without and with the unrelated Secrets arriving live
	start           memSample // the operator restarted with the Secrets present
	naive, metadata cacheCost // in-process estimates
}

func (r memoryResults) report(b *testing.B) {
	b.ReportMetric(0, "ns/op") // one long setup, not a timed operation
	b.ReportMetric(r.none.RSS/mib, "rss_none_MiB")
	b.ReportMetric(r.full.RSS/mib, "rss_live_MiB")
	b.ReportMetric(r.start.RSS/mib, "rss_start_MiB")
	b.ReportMetric(r.none.HeapInuse/mib, "heap_none_MiB")
	b.ReportMetric(r.full.HeapInuse/mib, "heap_live_MiB")
	b.ReportMetric(r.start.HeapInuse/mib, "heap_start_MiB")
	b.ReportMetric(perSecret(r.none.HeapInuse, r.full.HeapInuse), "heap_delta_B/secret")
	b.ReportMetric(perSecret(r.none.RSS, r.full.RSS), "rss_delta_B/secret")
	if r.naive.objects > 0 {
		b.ReportMetric(r.naive.heapInuse/mib, "naive_full_cache_heap_MiB")
		b.ReportMetric(r.metadata.heapInuse/mib, "metadata_cache_heap_MiB")
	}
}

func perSecret(none, full float64) float64 { return (full - none) / float64(unrelatedSecrets) }

// json is what bench-compare compares: smaller is better for every figure.
func (r memoryResults) json() map[string]float64 {
	return map[string]float64{
		"secrets":            float64(unrelatedSecrets),
		"rss_idle_MiB":       r.none.RSS / mib,
		"rss_live_MiB":       r.full.RSS / mib,
		"rss_start_MiB":      r.start.RSS / mib,
		"rss_live_ratio":     r.full.RSS / r.none.RSS,
		"rss_start_ratio":    r.start.RSS / r.none.RSS,
		"heap_idle_MiB":      r.none.HeapInuse / mib,
		"heap_live_MiB":      r.full.HeapInuse / mib,
		"heap_start_MiB":     r.start.HeapInuse / mib,
		"rss_live_B/secret":  perSecret(r.none.RSS, r.full.RSS),
		"rss_start_B/secret": perSecret(r.none.RSS, r.start.RSS),
	}
}

// table renders the results for the closing note.
func (r memoryResults) table() string {
	var sb strings.Builder
	row := func(what string, none, full float64) {
		fmt.Fprintf(&sb, "  %-30s %9.1f MiB %9.1f MiB %+9.0f B\n", what, none/mib, full/mib, perSecret(none, full))
	}
	fmt.Fprintf(&sb, "certsync operator (child process); unrelated Secrets hold %d KiB of data, every other one a ~%d KiB last-applied-configuration\n",
		secretDataSize>>10, lastAppliedSize>>10)
	fmt.Fprintf(&sb, "  %-30s %13s %13s %11s\n", "", "0 Secrets", fmt.Sprintf("%d Secrets", unrelatedSecrets), "per Secret")
	row("VmRSS (Secrets arrive live)", r.none.RSS, r.full.RSS)
	row("VmRSS (started with them)", r.none.RSS, r.start.RSS)
	row("heap in use (started)", r.none.HeapInuse, r.start.HeapInuse)
	row("heap in use (go_memstats)", r.none.HeapInuse, r.full.HeapInuse)
	row("heap allocated (go_memstats)", r.none.HeapAlloc, r.full.HeapAlloc)
	if r.none.HeapLive > 0 && r.full.HeapLive > 0 {
		row("heap live at last GC (go_gc)", r.none.HeapLive, r.full.HeapLive)
	}
	if r.naive.objects == 0 {
		return sb.String()
	}
	sb.WriteString("Estimate of the alternative, in the benchmark process: HeapInuse growth of one synced informer, after runtime.GC\n")
	cost := func(what string, c cacheCost) {
		fmt.Fprintf(&sb, "  %-30s %9.1f MiB for %d Secrets %9.0f B per Secret\n",
			what, c.heapInuse/mib, c.objects, c.heapInuse/float64(c.objects))
	}
	cost("naive cache of full Secrets", r.naive)
	cost("certsync's metadata informer", r.metadata)
	return sb.String()
}
