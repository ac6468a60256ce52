//go:build linux

package probe

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// benchEndpoints is how many loopback servers BenchmarkProbeAll1000 probes
// per operation: a fleet of mail pods with one endpoint each.
const benchEndpoints = 1000

// BenchmarkProbeAll1000 probes 1,000 loopback endpoints (TLS, SMTP and IMAP
// mixed), each on its own 127.3.x.y address as pods have their own IPs. Linux
// routes all of 127/8 to lo, so no interface setup is needed. The in-process
// servers share the CPU with the probe: cpu-ms/op counts both sides.
func BenchmarkProbeAll1000(b *testing.B) {
	// Each endpoint holds a listener, and each probe in flight two sockets.
	raiseFDLimit(b, benchEndpoints+2*64+256)
	cert := newCert(b, certOpts{})
	protos := []Protocol{TLS, SMTP, IMAP}
	targets := make([]Target, benchEndpoints)
	for i := range targets {
		ip := fmt.Sprintf("127.3.%d.%d", i/250, i%250+1)
		targets[i] = listen(b, ip, &mailServer{proto: protos[i%len(protos)], cert: &cert})
	}
	want := Fingerprint(cert.leaf)

	for _, conc := range []int{32, 64} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			p := &Prober{Concurrency: conc, Timeout: 10 * time.Second}
			ops := 0
			cpu0 := cpuTime(b)
			start := time.Now()
			for b.Loop() {
				for _, r := range p.ProbeAll(context.Background(), targets, "mail.example.test") {
					if Classify(r, want) != Verified {
						b.Fatalf("%s %s:%d: %v", r.Target.Endpoint.Protocol, r.Target.IP, r.Target.Endpoint.Port, r.Err)
					}
				}
				ops++
			}
			elapsed := time.Since(start)
			cpu := cpuTime(b) - cpu0
			b.ReportMetric(float64(ops*benchEndpoints)/elapsed.Seconds(), "endpoints/s")
			b.ReportMetric(float64(cpu.Milliseconds())/float64(ops), "cpu-ms/op")
		})
	}
}

// raiseFDLimit lifts the soft open-file limit to the hard one when the soft
// one is below need (Go does this at start-up already, but not every
// runtime configuration does), and skips when even the hard limit is too low.
func raiseFDLimit(b *testing.B, need uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if lim.Cur >= need {
		return
	}
	if lim.Max < need {
		b.Skipf("open-file limit %d < %d needed", lim.Max, need)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
}

// cpuTime is the user+system CPU this process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
