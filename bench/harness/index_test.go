package harness

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testRun(started string, fanout float64) *Results {
	t, _ := time.Parse(time.RFC3339, started)
	res := &Results{
		Started:   t,
		Scenarios: []string{Fanout},
		Systems:   []string{Switchboard},
		Machine:   Machine{Commit: "abc1234"},
		Fanout:    []FanoutResult{{System: Switchboard, N: 1000, MaxFramesPerSec: fanout}},
		Targets:   []Target{{Met: ok(true)}, {Met: ok(false)}, {Met: nil}},
	}
	return res
}

// Each run adds its row at the top of the index's table and keeps the rows
// (and the prose) already there; a missing index is created.
func TestIndexNewestFirst(t *testing.T) {
	dir := t.TempDir()
	first, second := testRun("2026-11-23T13:41:16Z", 517000), testRun("2026-12-03T15:00:00Z", 1200000)
	if _, err := addIndexRow(dir, first.indexRow("20261123T134116Z.md")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, IndexFile)
	b, _ := os.ReadFile(p)
	edited := strings.Replace(string(b), "# Benchmark results\n", "# Benchmark results\n\nA line written by hand.\n", 1)
	if err := os.WriteFile(p, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := addIndexRow(dir, second.indexRow("20261203T150000Z.md")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	newer, older := strings.Index(s, "[20261203T150000Z.md](20261203T150000Z.md)"), strings.Index(s, "[20261123T134116Z.md](20261123T134116Z.md)")
	if newer < 0 || older < 0 || newer > older {
		t.Fatalf("want the newer run's row above the older one:\n%s", s)
	}
	if !strings.Contains(s, "A line written by hand.") || strings.Count(s, indexTableSep) != 1 {
		t.Fatalf("the index lost its prose or grew a second table:\n%s", s)
	}
	for _, want := range []string{"| 2026-12-03 15:00 | abc1234 | fanout | switchboard | 1 of 2 | fan-out max frames/s at 1,000: 1,200,000 |", "| 2026-11-23 13:41 |"} {
		if !strings.Contains(s, want) {
			t.Errorf("index lacks %q:\n%s", want, s)
		}
	}
}

// RebuildIndex lists every full run's .json, newest first, and skips smoke
// runs and other files.
func TestRebuildIndex(t *testing.T) {
	dir := t.TempDir()
	smoke := testRun("2026-12-01T10:00:00Z", 1)
	smoke.Smoke = true
	for name, res := range map[string]*Results{
		"20261123T134116Z.json": testRun("2026-11-23T13:41:16Z", 517000),
		"20261203T150000Z.json": testRun("2026-12-03T15:00:00Z", 1200000),
		"20261201T100000Z.json": smoke,
	} {
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.json"), []byte("not a run"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := RebuildIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	s := string(b)
	if strings.Count(s, "](2026") != 2 || strings.Contains(s, "20261201T100000Z") {
		t.Fatalf("want the two full runs only:\n%s", s)
	}
	if strings.Index(s, "20261203T150000Z.md") > strings.Index(s, "20261123T134116Z.md") {
		t.Fatalf("want newest first:\n%s", s)
	}
}

// The burst's medians are over the complete repetitions only.
func TestBurstMedians(t *testing.T) {
	b := BurstResult{Reps: []BurstRep{
		{Complete: true, FramesPerSec: 300, DurationMs: 10},
		{Complete: false, FramesPerSec: 1, DurationMs: 9000},
		{Complete: true, FramesPerSec: 100, DurationMs: 30},
		{Complete: true, FramesPerSec: 200, DurationMs: 20},
	}}
	b.summarize()
	if b.MedianFramesPerSec != 200 || b.MedianDurationMs != 20 {
		t.Fatalf("medians %v frames/s, %v ms; want 200, 20", b.MedianFramesPerSec, b.MedianDurationMs)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Fatalf("median of 4 values = %v, want 2.5", got)
	}
}
