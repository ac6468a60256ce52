package main

import "testing"

func TestCompare(t *testing.T) {
	base := map[string]float64{"rss_live_MiB": 100, "rss_live_B/secret": 50, "heap_idle_MiB": 10}
	noise := map[string]float64{"memory.heap_idle_MiB": 0.10}
	for _, tc := range []struct {
		name  string
		cur   map[string]float64
		worse map[string]bool
	}{
		{"equal", map[string]float64{"rss_live_MiB": 100, "rss_live_B/secret": 50, "heap_idle_MiB": 10}, map[string]bool{}},
		{"better", map[string]float64{"rss_live_MiB": 60}, map[string]bool{}},
		{"19% worse passes", map[string]float64{"rss_live_MiB": 119}, map[string]bool{}},
		{"21% worse fails", map[string]float64{"rss_live_MiB": 121}, map[string]bool{"memory.rss_live_MiB": true}},
		{"noise widens the margin", map[string]float64{"heap_idle_MiB": 12.9}, map[string]bool{}},
		{"beyond noise fails", map[string]float64{"heap_idle_MiB": 13.1}, map[string]bool{"memory.heap_idle_MiB": true}},
		{"near zero: absolute floor", map[string]float64{"rss_live_B/secret": 240}, map[string]bool{}},
		{"near zero: beyond the floor", map[string]float64{"rss_live_B/secret": 260}, map[string]bool{"memory.rss_live_B/secret": true}},
		{"figure without baseline ignored", map[string]float64{"new": 1e9}, map[string]bool{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := Compare("memory", base, tc.cur, noise, DefaultTolerance)
			if len(vs) != len(tc.cur)-boolInt(tc.cur["new"] != 0) {
				t.Fatalf("got %d verdicts for %d shared figures", len(vs), len(tc.cur))
			}
			for _, v := range vs {
				if v.Worse != tc.worse[v.Key] {
					t.Errorf("%s: current %.1f allowed %.1f: worse=%v, want %v", v.Key, v.Current, v.Allowed, v.Worse, tc.worse[v.Key])
				}
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
