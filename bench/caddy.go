package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// caddyProc is a Caddy process the benchmarks load from this process, on
// loopback, with its own temporary directory (Caddyfile, storage).
type caddyProc struct {
	name  string
	dir   string
	admin string // host:port of its admin endpoint
	cmd   *exec.Cmd
	log   *syncBuffer
	done  chan struct{}
	err   error
}

// siteCaddyfile returns the Caddyfile of a benchmark process: the admin
// endpoint the harness gives it, error-level logs, the global options
// global (at their depth, each line ending in a newline; "" for none),
// and one site, http://127.0.0.1:port, whose directives are site (at
// their depth, likewise).
func siteCaddyfile(global string, port int, site string) string {
	return fmt.Sprintf("{\n\tadmin {$BENCH_ADMIN}\n\tlog {\n\t\tlevel ERROR\n\t}\n%s}\nhttp://127.0.0.1:%d {\n%s}\n", global, port, site)
}

// csbApp returns the global option block of the csb app whose lines (at
// their depth) are body.
func csbApp(body string) string { return "\tcsb {\n" + body + "\t}\n" }

// startSite starts a Caddy (startCaddy) on siteCaddyfile(global, port,
// site), port a free one, and returns it with port.
func startSite(cfg *config, name, global, site string) (*caddyProc, int, error) {
	port, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	p, err := startCaddy(cfg.caddy, name, siteCaddyfile(global, port, site))
	if err != nil {
		return nil, 0, err
	}
	return p, port, nil
}

// startCaddy runs bin with caddyfile, which must say admin {$BENCH_ADMIN}
// in its global options. It returns once the admin endpoint answers
// (within a minute).
func startCaddy(bin, name, caddyfile string) (*caddyProc, error) {
	return startCaddyData(bin, name, caddyfile, "")
}

// startCaddyData is startCaddy with its data directory (XDG_DATA_HOME,
// the file storage under it) at data, which stop leaves in place, unless
// data is "".
func startCaddyData(bin, name, caddyfile, data string) (*caddyProc, error) {
	dir, err := os.MkdirTemp("", "csb-bench-"+name+"-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if data == "" {
		data = filepath.Join(dir, "data")
	}
	p := &caddyProc{name: name, dir: dir, admin: fmt.Sprintf("127.0.0.1:%d", port), log: new(syncBuffer), done: make(chan struct{})}
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(caddyfile), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--config", file, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Env = []string{
		"HOME=" + dir,
		"XDG_DATA_HOME=" + data,
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"BENCH_ADMIN=" + p.admin,
		"PATH=" + os.Getenv("PATH"),
	}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p.cmd = cmd
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	deadline := time.Now().Add(time.Minute)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-p.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("caddy %s exited: %v\n%s", name, p.err, p.log.String())
		default:
		}
		resp, err := client.Get("http://" + p.admin + "/config/")
		if err == nil {
			resp.Body.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("caddy %s not ready after a minute: %v\n%s", name, err, p.log.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// stop stops the process (SIGINT, SIGKILL after 20 s) and removes its
// directory.
func (p *caddyProc) stop() {
	if p == nil || p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	os.RemoveAll(p.dir)
}

// cpuSeconds returns the user + system CPU time the process has used.
func (p *caddyProc) cpuSeconds() (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is parenthesised and may hold spaces.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0, errors.New("short /proc stat line")
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	const userHZ = 100 // USER_HZ, 100 on Linux
	return (utime + stime) / userHZ, nil
}

// rss returns the process's resident set size in bytes.
func (p *caddyProc) rss() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// gc runs a garbage collection in the process (the admin endpoint's heap
// profile with gc=1).
func (p *caddyProc) gc() error {
	for i := 0; i < 2; i++ {
		resp, err := http.Get("http://" + p.admin + "/debug/pprof/heap?gc=1")
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return nil
}

// metric returns the sum of the series of a metric on the process's
// /metrics whose labels include labels ("k=v").
func (p *caddyProc) metric(name string, labels ...string) (float64, error) {
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, err
	}
	mf := mfs[name]
	if mf == nil {
		return 0, nil
	}
	sum := 0.0
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			match = match && have[k] == v
		}
		if match {
			sum += metricValue(m)
		}
	}
	return sum, nil
}

// metricValue is the value of a gauge, counter or untyped series (0 for
// any other type).
func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// caddyBinary returns CSB_CADDY_BIN (./xcaddy.sh bench sets it to the
// xcaddy build), or builds ./tests/cmd/caddy into dir with go build.
func caddyBinary(ctx context.Context, root, dir string) (string, error) {
	if bin := os.Getenv("CSB_CADDY_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("CSB_CADDY_BIN: %v", err)
		}
		return bin, nil
	}
	bin := filepath.Join(dir, "caddy")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./tests/cmd/caddy")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./tests/cmd/caddy: %v\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the repository")
		}
		dir = parent
	}
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
