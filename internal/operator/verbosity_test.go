package operator

import (
	"flag"
	"testing"

	"go.uber.org/zap/zapcore"
)

func TestCapVerbosity(t *testing.T) {
	for _, tc := range []struct {
		flag    string
		level   int // logr V-level
		enabled bool
	}{
		{"info", 0, true},
		{"info", 1, false},
		{"debug", 1, true},
		{"debug", 2, false},
		{"5", 5, true},
		{"7", 7, true},
		// client-go's request and response bodies (Secrets with keys).
		{"10", 7, true},
		{"10", 8, false},
		{"10", 9, false},
		{"10", 10, false},
		{"error", 0, false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		f := Bind(fs)
		if err := fs.Parse([]string{"--zap-log-level=" + tc.flag}); err != nil {
			t.Fatal(err)
		}
		got := CapVerbosity(f.Zap.Level).Enabled(zapcore.Level(-tc.level))
		if got != tc.enabled {
			t.Errorf("--zap-log-level=%s: V(%d) enabled = %v, want %v", tc.flag, tc.level, got, tc.enabled)
		}
	}
	if CapVerbosity(nil) != nil {
		t.Error("nil (zap's default) must stay nil")
	}
}
