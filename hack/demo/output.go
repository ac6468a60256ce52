package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"certsync.io/certsync/internal/certs/certstest"
	"certsync.io/certsync/test/cluster"
	"certsync.io/certsync/test/mailsim"
)

// demo holds what the acts share and prints with timestamps, so the reader
// sees how long each step took.
type demo struct {
	out   io.Writer
	start time.Time
	local *cluster.Local
	c     client.Client
	// operatorLog is where the in-process operator logs (not the terminal).
	operatorLog string
	// stops stop what the demo started in this process, in reverse order.
	stops []func()
	sim   *mailsim.Simulator

	metricsAddr  string
	ca           *certstest.CA
	old, renewed *certstest.Pair
}

func (d *demo) stamp() string {
	return fmt.Sprintf("[%s +%6.2fs]", time.Now().Format("15:04:05.000"), time.Since(d.start).Seconds())
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, "%s %s\n", d.stamp(), fmt.Sprintf(format, args...))
}

func (d *demo) title(s string) {
	fmt.Fprintf(d.out, "\n%s == %s ==\n", d.stamp(), s)
}

// table prints rows aligned, indented under the current step.
func (d *demo) table(header []string, rows [][]string) {
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "    "+strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, "    "+strings.Join(r, "\t"))
	}
	_ = tw.Flush()
}

// logWriter turns the cluster's progress lines into demo lines.
type logWriter struct{ d *demo }

func (w logWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.d.say("  %s", line)
	}
	return len(p), nil
}
