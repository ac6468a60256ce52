package bench

import (
	"fmt"
	"os"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// tables holds the human-readable result of each benchmark run. They are
// printed after all benchmarks: printed during a run they would land inside
// the "BenchmarkX-N <results>" line (go test writes its name first on
// -count > 1) and break benchstat; logged, the testing package would cut
// them to ten lines.
var tables []string

func TestMain(m *testing.M) {
	// The in-process caches log through controller-runtime; without a logger
	// it prints a stack trace after 30s, and their logs are not measured.
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	for _, t := range tables {
		fmt.Print("\n" + t)
	}
	os.Exit(code)
}
