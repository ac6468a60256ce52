// Command benchcompare compares benchmark figures (bench/<name>.json, flat
// objects of numbers, smaller is better) with the committed baseline and
// exits non-zero when one is more than the allowed margin worse.
//
// The margin of a figure is 20 % plus the noise measured for it from
// repeated runs on the same machine (bench/noise.json: relative spread per
// "<name>.<figure>"), so that a figure that swings by itself does not fail
// the gate, and one that is stable is held to 20 %.
//
// Usage: benchcompare -baseline bench -current DIR [-noise bench/noise.json] NAME...
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
)

// DefaultTolerance is how much worse than the baseline a figure may be
// beyond its measured noise.
const DefaultTolerance = 0.20

// absFloor keeps figures near zero (a per-Secret delta of a few bytes)
// from failing on a relative change that means nothing: below it, the
// difference must exceed it in absolute terms.
var absFloor = map[string]float64{
	"rss_live_B/secret":  200,
	"rss_start_B/secret": 200,
}

// Verdict is the comparison of one figure.
type Verdict struct {
	Key               string
	Baseline, Current float64
	Allowed           float64 // largest current value that passes
	Worse             bool
}

// Compare returns a verdict per figure present in both baseline and
// current, sorted by key; figures only in one of them are ignored (a new
// figure has no baseline yet). noise holds relative spreads by key.
func Compare(name string, baseline, current, noise map[string]float64, tolerance float64) []Verdict {
	var out []Verdict
	for k, base := range baseline {
		cur, ok := current[k]
		if !ok {
			continue
		}
		key := name + "." + k
		margin := tolerance + noise[key]
		allowed := base + math.Abs(base)*margin
		if floor, ok := absFloor[k]; ok {
			allowed = max(allowed, base+floor)
		}
		out = append(out, Verdict{Key: key, Baseline: base, Current: cur, Allowed: allowed, Worse: cur > allowed})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func readFigures(path string) (map[string]float64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]float64
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func main() {
	baseDir := flag.String("baseline", "bench", "directory of the committed results")
	curDir := flag.String("current", "", "directory of this run's results")
	noisePath := flag.String("noise", "bench/noise.json", "relative noise per figure, from repeated runs")
	tolerance := flag.Float64("tolerance", DefaultTolerance, "allowed relative worsening beyond the noise")
	flag.Parse()
	if *curDir == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: benchcompare -current DIR [-baseline bench] [-noise bench/noise.json] NAME...")
		os.Exit(2)
	}
	noise, err := readFigures(*noisePath)
	if err != nil && !os.IsNotExist(err) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	failed := false
	for _, name := range flag.Args() {
		base, err := readFigures(filepath.Join(*baseDir, name+".json"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(2)
		}
		cur, err := readFigures(filepath.Join(*curDir, name+".json"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "current:", err)
			os.Exit(2)
		}
		fmt.Printf("%-32s %12s %12s %12s\n", name, "baseline", "current", "allowed")
		for _, v := range Compare(name, base, cur, noise, *tolerance) {
			mark := ""
			if v.Worse {
				mark, failed = "  WORSE", true
			}
			fmt.Printf("%-32s %12.2f %12.2f %12.2f%s\n", v.Key, v.Baseline, v.Current, v.Allowed, mark)
		}
	}
	if failed {
		fmt.Println("FAIL: a figure is more than the allowed margin worse than the committed baseline")
		os.Exit(1)
	}
	fmt.Println("ok: no figure worse than its margin")
}
