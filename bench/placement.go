package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// placementResult is one line of broker/placement's BenchmarkDecision.
type placementResult struct {
	decisionsPerS float64
	p99us         float64
	matched       float64
}

var decisionLine = regexp.MustCompile(`^BenchmarkDecision/(indexed|nomemo|fullscan)/services=(\d+)(?:-\d+)?\s+\d+\s+(.*)$`)

// benchPlacement runs broker/placement's BenchmarkDecision (parse + match
// + choose a <CloudServiceRequest>, no provider I/O, 50 providers, the
// cheapest policy) on one core (-cpu 1), at 1k, 10k and 100k catalogue
// services, with the full-scan baseline of the same file in the same run.
func benchPlacement(cfg *config) ([]row, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "./broker/placement", "-run", "^$", "-bench", "^BenchmarkDecision$",
		"-benchtime", cfg.placementTime.String(), "-cpu", "1", "-count", "1")
	cmd.Dir = cfg.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test -bench BenchmarkDecision: %v\n%s", err, out)
	}
	res := map[string]map[int]placementResult{"indexed": {}, "nomemo": {}, "fullscan": {}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := decisionLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		var pr placementResult
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "decisions/s":
				pr.decisionsPerS = v
			case "p99-µs":
				pr.p99us = v
			case "matched":
				pr.matched = v
			}
		}
		res[m[1]][n] = pr
	}
	var rows []row
	sizes := []int{1_000, 10_000, 100_000}
	for _, n := range sizes {
		ix, nm, fs := res["indexed"][n], res["nomemo"][n], res["fullscan"][n]
		if ix.decisionsPerS == 0 || nm.decisionsPerS == 0 || fs.decisionsPerS == 0 {
			return nil, fmt.Errorf("BenchmarkDecision printed no result for %d services:\n%s", n, out)
		}
		r := row{name: "Placement", what: fmt.Sprintf("decisions/s at %s services, one core", humanCount(n)),
			figure:   fmt.Sprintf("%.0f/s, p99 %.0f µs", ix.decisionsPerS, ix.p99us),
			baseline: fmt.Sprintf("full scan: %.0f/s, p99 %.0f µs", fs.decisionsPerS, fs.p99us),
			ratio:    fmt.Sprintf("%.1f×", ix.decisionsPerS/fs.decisionsPerS),
			note: fmt.Sprintf("%.0f%% of the requests match; with the find memo off (every request a shape not seen at this catalogue version): %.0f/s, p99 %.0f µs",
				ix.matched*100, nm.decisionsPerS, nm.p99us)}
		if n == 10_000 {
			r.target, r.pass = "≥ 100,000/s per core", ix.decisionsPerS >= 100_000
		}
		if n == 100_000 {
			// Cost per decision from 1k to 100k services: 100× the
			// services should cost far less than 100× the time.
			growth := res["indexed"][1_000].decisionsPerS / ix.decisionsPerS
			r.target = "≤ 1.5× the time per decision at 1k"
			r.pass = growth <= 1.5
			r.note += fmt.Sprintf("; 100× the services cost %.2f× the time per decision (memo off: %.2f×, full scan: %.0f×)",
				growth, res["nomemo"][1_000].decisionsPerS/nm.decisionsPerS, res["fullscan"][1_000].decisionsPerS/fs.decisionsPerS)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func humanCount(n int) string {
	if n%1000 == 0 {
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}
