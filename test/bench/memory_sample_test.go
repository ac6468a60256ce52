package bench

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// memSample is one reading of the operator's memory, in bytes.
type memSample struct {
	RSS       float64 // VmRSS: what the kernel charges the process
	HeapInuse float64 // go_memstats_heap_inuse_bytes: heap spans in use, garbage not yet collected included
	HeapAlloc float64 // go_memstats_heap_alloc_bytes: heap objects allocated, garbage included
	HeapLive  float64 // go_gc_heap_live_bytes: heap marked live by the last GC; 0 if not exported
}

// Settling: after a burst of watch events RSS keeps moving for a while (the
// GC finishing, the scavenger returning pages), so a single reading would
// measure the burst rather than the steady state.
const (
	sampleEvery   = time.Second
	maxSamples    = 30
	settledWithin = 0.02 // two consecutive RSS readings this close (relative) count as settled
)

// settledMemory samples the operator every sampleEvery until two consecutive
// RSS readings are within settledWithin of each other, or maxSamples were
// taken, and returns the last reading.
func (p *operatorProcess) settledMemory(ctx context.Context, b *testing.B, phase string) memSample {
	b.Helper()
	var prev memSample
	for i := range maxSamples {
		s, err := p.memory(ctx)
		if err != nil {
			b.Fatalf("%s: reading the operator's memory: %v", phase, err)
		}
		if i > 0 && math.Abs(s.RSS-prev.RSS) <= settledWithin*prev.RSS {
			b.Logf("%s: RSS settled after %d samples", phase, i+1)
			return s
		}
		prev = s
		select {
		case <-ctx.Done():
			b.Fatalf("%s: %v", phase, ctx.Err())
		case <-time.After(sampleEvery):
		}
	}
	b.Logf("%s: RSS still moving more than %.0f%% after %d samples; reporting the last", phase, 100*settledWithin, maxSamples)
	return prev
}

// memory takes one reading: RSS from /proc, heap from the metrics endpoint.
func (p *operatorProcess) memory(ctx context.Context) (memSample, error) {
	if err := p.exited(); err != nil {
		return memSample{}, err
	}
	rss, err := vmRSS(p.cmd.Process.Pid)
	if err != nil {
		return memSample{}, err
	}
	text, err := p.get(ctx)
	if err != nil {
		return memSample{}, err
	}
	metrics := parseMetrics(text)
	s := memSample{RSS: rss, HeapInuse: metrics["go_memstats_heap_inuse_bytes"],
		HeapAlloc: metrics["go_memstats_heap_alloc_bytes"], HeapLive: metrics["go_gc_heap_live_bytes"]}
	if s.HeapInuse == 0 || s.HeapAlloc == 0 {
		return memSample{}, fmt.Errorf("no go_memstats_heap_inuse_bytes or go_memstats_heap_alloc_bytes at %s", p.metricsURL)
	}
	return s, nil
}

// vmRSS reads the resident set size of pid from /proc/<pid>/status.
func vmRSS(pid int) (float64, error) { return procStatusBytes(pid, "VmRSS:") }

// vmHWM reads the peak resident set size of pid from /proc/<pid>/status.
func vmHWM(pid int) (float64, error) { return procStatusBytes(pid, "VmHWM:") }

// procStatusBytes reads a "Name:   51234 kB" line of /proc/<pid>/status.
func procStatusBytes(pid int, name string) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 3 && fields[0] == name && fields[2] == "kB" {
			kb, err := strconv.ParseFloat(fields[1], 64)
			return kb * 1024, err
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", name, pid)
}

// parseMetrics returns the unlabelled samples of a Prometheus text
// exposition (all the Go runtime's memory gauges are unlabelled); a full
// parser would be a new dependency for four numbers.
func parseMetrics(text string) map[string]float64 {
	out := map[string]float64{}
	for line := range strings.Lines(text) {
		fields := strings.Fields(line)
		if len(fields) != 2 || strings.HasPrefix(fields[0], "#") || strings.ContainsRune(fields[0], '{') {
			continue
		}
		if v, err := strconv.ParseFloat(fields[1], 64); err == nil {
			out[fields[0]] = v
		}
	}
	return out
}
