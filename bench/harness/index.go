package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// IndexFile is the index of runs in the results directory: one row per
// full run, newest first, linking each run's report.
const IndexFile = "README.md"

const indexHead = `# Benchmark results

Every full run of the benchmark (` + "`make bench`, `go run ./bench/cmd/bench`" + `, any
selection of scenarios and systems) writes two files here: ` + "`<UTC stamp>.md`" + `,
the report (targets, every table, the machine and the exact command), and
` + "`<UTC stamp>.json`" + `, every figure (every ramp step and repetition). The
harness then adds the run's row to the table below, newest first, and keeps
the older rows. Smoke runs (` + "`make bench-smoke`" + `) write to ` + "`tmp/`" + ` (not
committed) and add no row. ` + "`go run ./bench/cmd/bench --reindex`" + ` rebuilds the
table from the .json files.

The headline figures are Switchboard's (Node's in brackets where measured);
the report has the ceilings and the rest. Runs before 2026-12-03 had one
ceiling, the one-write-per-frame gorilla loop (today's ` + "`ceiling-naive`" + `),
and no burst scenario.

`

const (
	indexTableHead = "| date (UTC) | commit | scenarios | systems | targets met | headline figures | report |"
	indexTableSep  = "|---|---|---|---|---|---|---|"
)

// stampName matches a run's files: <UTC stamp>.json.
var stampName = regexp.MustCompile(`^\d{8}T\d{6}Z\.json$`)

// indexRow is the run's row in the index; report is the .md file's name.
func (res *Results) indexRow(report string) string {
	met, measured := 0, 0
	for _, t := range res.Targets {
		if t.Met != nil {
			measured++
			if *t.Met {
				met++
			}
		}
	}
	commit := res.Machine.Commit
	if commit == "" {
		commit = "–"
	}
	cell := func(s string) string { return strings.ReplaceAll(s, "|", "/") }
	return fmt.Sprintf("| %s | %s | %s | %s | %d of %d | %s | [%s](%s) |",
		res.Started.UTC().Format("2006-01-02 15:04"), cell(commit), strings.Join(res.Scenarios, ", "), strings.Join(res.Systems, ", "),
		met, measured, cell(res.headline()), report, report)
}

// headline is a few of the run's figures: fan-out and burst frames/s per
// size, memory per idle WebSocket, unicast p99 and RPC/s.
func (res *Results) headline() string {
	var parts []string
	sizes := func(ns []int) string {
		s := make([]string, len(ns))
		for i, n := range ns {
			s[i] = num(float64(n))
		}
		return strings.Join(s, " / ")
	}
	figs := func(ns []int, get func(sys string, n int) float64) string {
		var sb, node []string
		haveNode := false
		for _, n := range ns {
			sb = append(sb, num(get(Switchboard, n)))
			v := get(Node, n)
			haveNode = haveNode || v > 0
			node = append(node, num(v))
		}
		s := strings.Join(sb, " / ")
		if haveNode {
			s += " (" + strings.Join(node, " / ") + ")"
		}
		return s
	}
	// scenario adds what's figures at the sizes Switchboard ran (ns), if any.
	scenario := func(what string, ns []int, get func(sys string, n int) float64) {
		if len(ns) > 0 {
			parts = append(parts, fmt.Sprintf("%s at %s: %s", what, sizes(ns), figs(ns, get)))
		}
	}
	var fanN, burstN []int
	for _, f := range res.Fanout {
		if f.System == Switchboard {
			fanN = append(fanN, f.N)
		}
	}
	for _, b := range res.Burst {
		if b.System == Switchboard {
			burstN = append(burstN, b.N)
		}
	}
	scenario("fan-out max frames/s", fanN, func(sys string, n int) float64 {
		if f := res.fanoutOf(sys, n); f != nil {
			return f.MaxFramesPerSec
		}
		return 0
	})
	scenario("burst frames/s", burstN, func(sys string, n int) float64 {
		if b := res.burstOf(sys, n); b != nil {
			return b.MedianFramesPerSec
		}
		return 0
	})
	var mem []string
	for _, m := range res.Memory {
		if m.System == Switchboard && m.Processes == 1 && strings.HasPrefix(m.Case, "websocket") && m.Error == "" {
			mem = append(mem, fmt.Sprintf("%.2f at %s", m.PerConnKB, num(float64(m.Conns))))
		}
	}
	if len(mem) > 0 {
		parts = append(parts, "KB per idle WebSocket: "+strings.Join(mem, ", "))
	}
	for _, u := range res.Unicast {
		if u.System == Switchboard && u.Low.RPC.N > 0 {
			parts = append(parts, fmt.Sprintf("unicast Emit p99 %.2f ms, %s RPC/s flat out", u.Low.RPC.P99, num(u.Max.PerSec)))
		}
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, "; ")
}

// addIndexRow puts row at the top of the index's table in dir, creating
// the index if there is none, and returns the index's path.
func addIndexRow(dir, row string) (string, error) {
	path := filepath.Join(dir, IndexFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return path, os.WriteFile(path, []byte(indexHead+indexTableHead+"\n"+indexTableSep+"\n"+row+"\n"), 0o644)
	}
	if err != nil {
		return path, err
	}
	lines := strings.SplitAfter(string(b), "\n")
	i := slices.IndexFunc(lines, func(l string) bool { return strings.TrimSpace(l) == indexTableSep })
	if i < 0 { // no table (edited by hand): a new one at the end
		s := strings.TrimRight(string(b), "\n") + "\n\n" + indexTableHead + "\n" + indexTableSep + "\n" + row + "\n"
		return path, os.WriteFile(path, []byte(s), 0o644)
	}
	out := slices.Concat(lines[:i+1], []string{row + "\n"}, lines[i+1:])
	return path, os.WriteFile(path, []byte(strings.Join(out, "")), 0o644)
}

// RebuildIndex rewrites dir's index from every run's .json in dir, newest
// first (rows added by hand are lost), and returns its path.
func RebuildIndex(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var rows []string
	for _, e := range slices.Backward(entries) { // ReadDir sorts by name: the stamps, oldest first
		if e.IsDir() || !stampName.MatchString(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", err
		}
		var res Results
		if err := json.Unmarshal(b, &res); err != nil {
			return "", fmt.Errorf("%s: %w", e.Name(), err)
		}
		if res.Smoke {
			continue
		}
		rows = append(rows, res.indexRow(strings.TrimSuffix(e.Name(), ".json")+".md"))
	}
	path := filepath.Join(dir, IndexFile)
	s := indexHead + indexTableHead + "\n" + indexTableSep + "\n"
	for _, r := range rows {
		s += r + "\n"
	}
	return path, os.WriteFile(path, []byte(s), 0o644)
}
