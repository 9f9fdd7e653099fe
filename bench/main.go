// Command bench runs caddy-csb's benchmarks and prints one table: every
// figure next to a baseline measured in the same run, with the machine's
// core count. Run it from the repository with
//
//	./xcaddy.sh bench            # builds Caddy with xcaddy, then runs this
//	go run ./bench               # builds ./tests/cmd/caddy with go build
//
// Caddy runs as separate processes on loopback; this process is the load
// generator (a closed loop of keep-alive connections; every phase is
// bounded in requests and in time), with net/http's client or, for the
// publish benchmark, a lean HTTP/1.1 client over raw TCP of its own. The
// placement figures come from broker/placement's own benchmark (go test
// -bench, one core).
//
// Flags:
//
//	-only proxy,digest,publish,placement,memory,cimi,jobcreate,iaas,scale   run some benchmarks only
//	-rounds 6 -requests 3000 -conc 16             rounds per comparison, requests per phase, connections
//	                                              (publish uses 256 connections, one per publishing provider)
//	-placement-time 1s                            -benchtime of the placement benchmark
//	-quick                                        small figures, for a smoke test
//	-o FILE                                       also write the table (Markdown) to FILE
//	-pprof DIR                                    write CPU profiles of the broker during the publish, digest, cimi and iaas phases,
//	                                              heap profiles at each step of the memory benchmark
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// config is what every benchmark gets.
type config struct {
	root          string // the repository
	caddy         string // the Caddy binary
	cores         int
	rounds        int
	requests      int
	conc          int
	placementTime time.Duration
	pprof         string // a directory for CPU profiles of the broker, or ""
}

// row is one line of the table.
type row struct {
	name     string
	what     string
	figure   string
	baseline string
	ratio    string
	target   string
	pass     bool
	note     string
	err      error
}

func main() {
	only := flag.String("only", "", "comma-separated benchmarks to run (proxy, digest, publish, placement, memory, cimi, jobcreate, iaas, scale); default all")
	rounds := flag.Int("rounds", 6, "rounds per comparison")
	requests := flag.Int("requests", 3000, "requests per variant and round")
	conc := flag.Int("conc", 16, "connections of the load generator")
	ptime := flag.Duration("placement-time", time.Second, "-benchtime of the placement benchmark")
	quick := flag.Bool("quick", false, "small figures, for a smoke test of the harness")
	out := flag.String("o", "", "also write the table to this file")
	pprof := flag.String("pprof", "", "write CPU profiles of the broker under load (publish.pprof; digest.pprof and digest-open.pprof, its baseline; cimi.pprof and iaas.pprof, brokered machine creates) and heap profiles of the memory benchmark (memory-0, -catalog, -jobs.pprof) to this directory")
	flag.Parse()
	if *quick {
		*rounds, *requests, *ptime = 2, 600, 200*time.Millisecond
	}
	if err := run(*only, *rounds, *requests, *conc, *ptime, *out, *pprof); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(only string, rounds, requests, conc int, ptime time.Duration, outFile, pprof string) error {
	started := time.Now()
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "csb-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	bin, err := caddyBinary(ctx, root, tmp)
	cancel()
	if err != nil {
		return err
	}
	cfg := &config{root: root, caddy: bin, cores: runtime.NumCPU(), rounds: rounds, requests: requests, conc: conc, placementTime: ptime, pprof: pprof}
	want := map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			want[s] = true
		}
	}
	sel := func(name string) bool { return len(want) == 0 || want[name] }
	load0 := loadAverage()

	var rows []row
	single := func(name string, f func(*config) (row, error)) {
		if !sel(name) {
			return
		}
		fmt.Fprintf(os.Stderr, "bench: %s...\n", name)
		r, err := f(cfg)
		if err != nil {
			r.err = err
			if r.name == "" {
				r.name = name
			}
		}
		rows = append(rows, r)
	}
	multi := func(name string, f func(*config) ([]row, error)) {
		if !sel(name) {
			return
		}
		fmt.Fprintf(os.Stderr, "bench: %s...\n", name)
		rs, err := f(cfg)
		if err != nil {
			rs = append(rs, row{name: strings.ToUpper(name[:1]) + name[1:], err: err})
		}
		rows = append(rows, rs...)
	}
	single("proxy", benchProxy)
	multi("digest", benchDigest)
	single("publish", benchPublish)
	multi("placement", benchPlacement)
	multi("memory", benchMemory)
	single("cimi", benchCIMI)
	single("jobcreate", benchJobCreate)
	single("iaas", benchIaaSCreate)
	multi("scale", benchScale)

	var b strings.Builder
	fmt.Fprintf(&b, "caddy-csb benchmarks, %s, commit %s\n\n", started.UTC().Format("2006-01-02 15:04 UTC"), commit(root))
	fmt.Fprintf(&b, "Machine: %d cores (%s), %s; load average %s at the start, %s at the end; %s, in %s.\n\n",
		cfg.cores, cpuModel(), runtime.GOOS+"/"+runtime.GOARCH, load0, loadAverage(), runtime.Version(), time.Since(started).Round(time.Second))
	fmt.Fprintf(&b, "| # | Benchmark | Figure | Baseline (same run) | Ratio | Target | Met |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|\n")
	failed := false
	for i, r := range rows {
		met := "—"
		switch {
		case r.err != nil:
			met, failed = "error", true
		case r.target != "" && r.pass:
			met = "yes"
		case r.target != "":
			met = "no"
		}
		fig := r.figure
		if r.err != nil {
			fig = "error: " + firstLine(r.err.Error())
		}
		fmt.Fprintf(&b, "| %d | %s: %s | %s | %s | %s | %s | %s |\n", i+1, r.name, r.what, fig, r.baseline, r.ratio, r.target, met)
	}
	fmt.Fprintf(&b, "\nNotes:\n")
	for i, r := range rows {
		if r.note != "" {
			fmt.Fprintf(&b, "%d. %s\n", i+1, r.note)
		}
	}
	fmt.Print(b.String())
	if outFile != "" {
		if err := os.WriteFile(outFile, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(os.Stderr, "\n%s failed:\n%v\n", r.name, r.err)
		}
	}
	if failed {
		return fmt.Errorf("some benchmarks failed")
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 120 {
		line = line[:120] + "…"
	}
	return line
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func commit(root string) string {
	cmd := exec.Command("git", "rev-parse", "--short", "HEAD")
	cmd.Dir = root
	cmd.Stderr = io.Discard
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
