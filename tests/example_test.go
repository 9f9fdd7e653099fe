package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// The quickstart's default addresses, as Caddyfile.example and
// README.md write them. The test moves each to a free port
// through the environment variable that Caddyfile.example reads.
const (
	defaultBroker = "localhost:8443" // CSB_BROKER
	defaultCloudA = "localhost:9101" // CSB_CLOUD_A
	defaultCloudB = "localhost:9102" // CSB_CLOUD_B
	defaultAdmin  = "localhost:2019" // CSB_ADMIN
)

// TestQuickstart runs Caddyfile.example as it is, with only its address
// variables (CSB_ADMIN, CSB_BROKER, CSB_CLOUD_A, CSB_CLOUD_B) set to free
// ports, waits until both sandbox clouds are in the broker's catalogue,
// then runs every ```sh block of README.md and docs/ (quickstartDocs) in
// order, in one bash session with the real curl, and checks each output
// against the "```<lang> answer" block written under it. The doc's own
// variables carry the test's addresses: CSB (the broker's URL), CA (the
// root of Caddy's local CA in the test's storage) and ADMIN (the admin
// endpoint); in the answers the default addresses are replaced by the
// test's.
//
// An answer block is abridged: "…" stands for text left out, and every
// other piece must appear in the output in the order written. The test
// also checks that the doc still covers every consumer operation, so it
// fails if a documented command stops working or is dropped.
func TestQuickstart(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "python3", "sed", "tee"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: the quickstart's commands need it (Debian packages bash, curl, python3, sed, coreutils)", tool)
		}
	}
	caddyfile, err := os.ReadFile(filepath.Join("..", "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	var steps []quickstartStep
	var setup []string
	for _, name := range quickstartDocs(t) {
		doc, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			t.Fatal(err)
		}
		st, sk, err := parseQuickstart(name, string(doc))
		if err != nil {
			t.Fatal(err)
		}
		steps, setup = append(steps, st...), append(setup, sk...)
	}
	checkQuickstartCoverage(t, steps, setup)

	broker := fmt.Sprintf("localhost:%d", harness.FreePort(t))
	cloudA := fmt.Sprintf("localhost:%d", harness.FreePort(t))
	cloudB := fmt.Sprintf("localhost:%d", harness.FreePort(t))
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	p := harness.Start(t, string(caddyfile), harness.Options{
		AdminEnv: "CSB_ADMIN",
		Env:      []string{"CSB_BROKER=" + broker, "CSB_CLOUD_A=" + cloudA, "CSB_CLOUD_B=" + cloudB},
		WorkDir:  root, // as ./xcaddy.sh run: examples/users.htdigest is relative to it
	})
	waitCatalogue(t, p, 60*time.Second)

	addresses := strings.NewReplacer(defaultBroker, broker, defaultCloudA, cloudA, defaultCloudB, cloudB, defaultAdmin, p.AdminAddr)
	work := t.TempDir()
	if err := os.CopyFS(filepath.Join(work, "examples"), os.DirFS(filepath.Join("..", "examples"))); err != nil {
		t.Fatal(err)
	}
	// The docs run the CLI as ./caddy, where ./xcaddy.sh build puts it.
	if err := os.Symlink(harness.Binary(t), filepath.Join(work, "caddy")); err != nil {
		t.Fatal(err)
	}
	sh := startShell(t, work, []string{
		"CSB=https://" + broker,
		"CA=" + filepath.Join(p.DataDir, "caddy", "pki", "authorities", "local", "root.crt"),
		"ADMIN=" + p.AdminAddr,
		// The shell runs as the user who runs Caddy, with the same data
		// directory, so "caddy csb" finds Caddy's local CA root there
		// without --ca, as docs/cli.md says it does.
		"XDG_DATA_HOME=" + p.DataDir,
	})
	for i, st := range steps {
		out, status, err := sh.run(st.script, 90*time.Second)
		if err != nil {
			t.Fatalf("step %d (%s line %d): %v\n%s\noutput so far:\n%s", i+1, st.file, st.line, err, st.script, out)
		}
		if status != 0 {
			t.Errorf("step %d (%s line %d) exited with status %d:\n%s\noutput:\n%s", i+1, st.file, st.line, status, st.script, out)
			continue
		}
		if st.answer == nil {
			if strings.TrimSpace(out) != "" {
				t.Errorf("step %d (%s line %d) has no answer block but printed:\n%s", i+1, st.file, st.line, out)
			}
			continue
		}
		want := addresses.Replace(*st.answer)
		if missing, ok := matchAbridged(out, want); !ok {
			t.Errorf("step %d (%s line %d):\n%s\nthe output lacks %q (in the order of the answer block):\n%s", i+1, st.file, st.line, st.script, missing, out)
		}
	}
}

// TestExampleAdapts: "caddy adapt" accepts Caddyfile.example without a
// warning (a warning would say the file is not formatted).
func TestExampleAdapts(t *testing.T) {
	cmd := exec.Command(harness.Binary(t), "adapt", "--config", filepath.Join("..", "Caddyfile.example"), "--adapter", "caddyfile")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("caddy adapt: %v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "WARN") {
		t.Errorf("caddy adapt warned:\n%s", stderr.String())
	}
	var cfg struct {
		Apps struct {
			CSB struct {
				Providers []struct {
					ID        string `json:"id"`
					Subscribe *struct {
						URL string `json:"url"`
					} `json:"subscribe"`
					Publishers []string `json:"publishers"`
				} `json:"providers"`
			} `json:"csb"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range cfg.Apps.CSB.Providers {
		if p.Subscribe == nil || len(p.Publishers) == 0 {
			t.Errorf("provider %s: no subscription or no publishers", p.ID)
			continue
		}
		got = append(got, p.ID+" "+p.Subscribe.URL)
	}
	want := []string{"cloud-a http://" + defaultCloudA + "/csb/subscribe", "cloud-b http://" + defaultCloudB + "/csb/subscribe"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("providers %v, want %v", got, want)
	}
}

// waitCatalogue waits until both clouds of Caddyfile.example are in the
// catalogue of the broker p runs.
func waitCatalogue(t *testing.T, p *harness.Process, timeout time.Duration) {
	t.Helper()
	if err := waitExampleCatalogue(p.AdminAddr, timeout, nil); err != nil {
		t.Fatalf("%v\n%s", err, p.Log())
	}
}

// waitExampleCatalogue polls the admin API at admin until both clouds'
// IaaS and DSaaS services are placeable. It gives up after timeout, or
// when stopped is closed (the process ended).
func waitExampleCatalogue(admin string, timeout time.Duration, stopped <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 5 * time.Second}
	var last string
	for {
		select {
		case <-stopped:
			return fmt.Errorf("the broker exited before the clouds were in the catalogue: %s", last)
		default:
		}
		resp, err := client.Get("http://" + admin + "/csb/catalog")
		if err == nil {
			var v struct {
				Placeable map[string]int `json:"placeable"`
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(data)
			if json.Unmarshal(data, &v) == nil && v.Placeable["IaaS"] == 2 && v.Placeable["DSaaS"] == 2 {
				return nil
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the clouds were not in the catalogue after %v: %s", timeout, last)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition, with a deadline
	}
}

// quickstartDocs are the documents whose ```sh blocks TestQuickstart
// runs, in this order, in one shell: the walk-through first (its answers
// count what alice holds and which cloud has room, so it starts from empty
// clouds), then the operations that read what it made, README's short
// tour, and the pages of the front-ends and features, each of which
// removes what it makes before the next one starts. Any other document
// under docs/ with a shell block (```sh, or ```console, ```bash and the
// like, which no test runs) fails the test, so that every shell block of
// README and docs/ is run.
func quickstartDocs(t *testing.T) []string {
	t.Helper()
	docs := []string{
		"docs/quickstart.md", "docs/operations.md", "README.md",
		"docs/cli.md", "docs/cimi.md", "docs/osb.md", "docs/events.md", "docs/costs.md", "docs/console.md", "docs/security.md",
	}
	err := filepath.WalkDir(filepath.Join("..", "docs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".md") {
			return err
		}
		rel, err := filepath.Rel("..", path)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if slices.Contains(docs, name) {
			return nil // parseQuickstart refuses its other shell blocks
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if line, lang := unrunShellBlock(string(data), true); line > 0 {
			t.Errorf("%s line %d: a ```%s block that no test runs: write it as ```sh with an answer block and add the page to quickstartDocs", name, line, lang)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// shellFenceRE matches the opening fence of a block in a shell's
// language, as Markdown renderers name it: ```sh is the one
// TestQuickstart runs; the others show a session with its prompts and
// output mixed, which nothing can check.
var shellFenceRE = regexp.MustCompile("^ {0,3}```\\s*(sh|bash|zsh|shell|console|shell-session|shellsession)(\\s|$)")

// unrunShellBlock returns the line (from 1) and language of the first
// fence in doc that opens a shell block no test runs: any but ```sh, or
// ```sh too when withSh is set (a page TestQuickstart does not run). It
// returns 0 when there is none. A block ends at a fence of at least as
// many backticks with no info string, as in CommonMark, so a fence shown
// inside a longer one is text. HTML comments count too: a commented-out
// block shows on no page but would still be edited as one.
func unrunShellBlock(doc string, withSh bool) (line int, lang string) {
	open := 0 // backticks of the open block's fence; 0 outside a block
	for i, l := range strings.Split(doc, "\n") {
		m := fenceTicksRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if open > 0 {
			if len(m[1]) >= open && strings.TrimSpace(m[2]) == "" {
				open = 0
			}
			continue
		}
		open = len(m[1])
		if m := shellFenceRE.FindStringSubmatch(l); m != nil && (m[1] != "sh" || withSh) {
			return i + 1, m[1]
		}
	}
	return 0, ""
}

// fenceTicksRE matches a backtick fence: its backticks and its info string.
var fenceTicksRE = regexp.MustCompile("^ {0,3}(```+)([^`]*)$")

// quickstartStep is one ```sh block of the quickstart and the answer block
// written under it, if any.
type quickstartStep struct {
	file   string
	line   int // of the opening fence
	script string
	answer *string
}

var (
	fenceRE    = regexp.MustCompile("^ {0,3}```(.*)$")
	curlLineRE = regexp.MustCompile(`(?m)^\s*(\$ )?curl\s`)
)

// parseQuickstart returns the runnable ```sh blocks with their answers,
// and the text of the "```sh skip" blocks. HTML comments are ignored.
func parseQuickstart(file, doc string) (steps []quickstartStep, skipped []string, err error) {
	// Blank out comments, keeping line numbers.
	doc = regexp.MustCompile(`(?s)<!--.*?-->`).ReplaceAllStringFunc(doc, func(c string) string {
		return strings.Repeat("\n", strings.Count(c, "\n"))
	})
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		m := fenceRE.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		info := strings.Fields(m[1])
		start := i + 1
		end := start
		for end < len(lines) && !fenceRE.MatchString(lines[end]) {
			end++
		}
		if end == len(lines) {
			return nil, nil, fmt.Errorf("%s line %d: unclosed code block", file, i+1)
		}
		body := strings.Join(lines[start:end], "\n")
		i = end
		switch {
		case len(info) == 1 && info[0] == "sh":
			steps = append(steps, quickstartStep{file: file, line: start, script: body})
		case len(info) == 2 && info[0] == "sh" && info[1] == "skip":
			skipped = append(skipped, body)
		case len(info) == 2 && info[1] == "answer":
			if len(steps) == 0 || steps[len(steps)-1].answer != nil {
				return nil, nil, fmt.Errorf("%s line %d: an answer block that follows no ```sh block", file, start)
			}
			steps[len(steps)-1].answer = &body
		case len(info) > 0 && info[0] == "sh":
			return nil, nil, fmt.Errorf("%s line %d: unknown block %q (want sh or sh skip)", file, start, m[1])
		case shellFenceRE.MatchString(lines[start-1]):
			// A shell session with its output inline is never run.
			return nil, nil, fmt.Errorf("%s line %d: a ```%s block is never run; write its commands as ```sh and its output as an answer block", file, start, info[0])
		case curlLineRE.MatchString(body):
			// Every curl command the docs show must be run by the test.
			return nil, nil, fmt.Errorf("%s line %d: a curl command in a ```%s block is never run; put it in a ```sh block with an answer", file, start, m[1])
		}
	}
	return steps, skipped, nil
}

// checkQuickstartCoverage fails the test if the doc stops showing one of
// the consumer operations the quickstart promises, if a curl command is not
// run, or if a command names an address instead of the doc's variables.
func checkQuickstartCoverage(t *testing.T, steps []quickstartStep, skipped []string) {
	t.Helper()
	setup := strings.Join(skipped, "\n")
	for _, v := range []string{"CSB=https://" + defaultBroker, "CA=", "ADMIN=" + defaultAdmin} {
		if !strings.Contains(setup, v) {
			t.Errorf("the quickstart's set-up block no longer sets %s (the test substitutes CSB, CA and ADMIN)", v)
		}
	}
	if strings.Contains(setup, "curl") {
		t.Error("a curl command in a ```sh skip block is never tested")
	}
	var scripts, answers strings.Builder
	for _, st := range steps {
		for _, a := range []string{defaultBroker, defaultCloudA, defaultCloudB, defaultAdmin} {
			if strings.Contains(st.script, a) {
				t.Errorf("%s line %d: the command names %s; use $CSB or $ADMIN", st.file, st.line, a)
			}
		}
		if strings.Contains(st.script, "curl") && st.answer == nil {
			t.Errorf("%s line %d: a curl command without an answer block", st.file, st.line)
		}
		// A job id the create did not give stops the command instead of
		// sending it to /csb/consumer/ (the listing).
		if m := regexp.MustCompile(`consumer/\$\{?[A-Z]+\b[^:]`).FindString(st.script); m != "" {
			t.Errorf("%s line %d: %q: write ${VAR:?no job id}, so that an empty job id stops the command", st.file, st.line, m)
		}
		scripts.WriteString(st.script + "\n")
		if st.answer != nil {
			answers.WriteString(*st.answer + "\n")
		}
	}
	for what, re := range map[string]string{
		"the catalogue":            `/csb/catalog`,
		"an IaaS create":           `--data-binary @examples/iaas-small\.xml`,
		"a create for the big one": `--data-binary @examples/iaas-large\.xml`,
		"a DSaaS create":           `--data-binary @examples/dsaas\.xml`,
		"GET":                      `-u alice:\S+ "\$CSB/csb/consumer/\$\{SMALL:\?no job id\}"`,
		"HEAD":                     `\s-I\s`,
		"PUT":                      `-X PUT`,
		"COPY":                     `-X COPY`,
		"MOVE":                     `-X MOVE`,
		"DELETE":                   `-X DELETE`,
		"OPTIONS":                  `-X OPTIONS`,
		"an unknown job":           `/csb/consumer/no-such-job`,
		"another user":             `-u bob:`,
		"no credentials":           `curl -sS --cacert "\$CA" -i "`,
		"a wrong content type":     `Content-Type: application/xml`,
		"a malformed body":         `@examples/malformed\.xml`,
		"an impossible request":    `@examples/iaas-huge\.xml`,
	} {
		if !regexp.MustCompile(re).MatchString(scripts.String()) {
			t.Errorf("the docs no longer show %s", what)
		}
	}
	for _, status := range []string{`status="200"`, `status="400"`, `status="408"`, `status="410"`, `415 Unsupported Media Type`, `401 Unauthorized`, `HTTP/2 204`} {
		if !strings.Contains(answers.String(), status) {
			t.Errorf("the docs no longer show an answer with %s", status)
		}
	}
}

// matchAbridged reports whether out contains every piece of want in
// order, where "…" in want marks text left out. Each line of want is
// split at "…" and each piece is trimmed of surrounding white space. It
// returns the first piece not found.
func matchAbridged(out, want string) (missing string, ok bool) {
	pos := 0
	for _, line := range strings.Split(want, "\n") {
		for _, piece := range strings.Split(line, "…") {
			piece = strings.TrimSpace(piece)
			if piece == "" {
				continue
			}
			i := strings.Index(out[pos:], piece)
			if i < 0 {
				return piece, false
			}
			pos += i + len(piece)
		}
	}
	return "", true
}

func TestMatchAbridged(t *testing.T) {
	out := "HTTP/1.1 200 OK\nCsb-Job-Id: abc\nCsb-Status: 200\n<expires>3599</expires>\n"
	for _, tc := range []struct {
		want string
		ok   bool
	}{
		{"HTTP/1.1 200 OK\n…\nCsb-Status: 200", true},
		{"Csb-Job-Id: …\n<expires>…</expires>", true},
		{"  <expires>3…</expires>  ", true},
		{"Csb-Status: 200\nCsb-Job-Id: abc", false}, // out of order
		{"HTTP/1.1 401", false},
		{"<expires>7…</expires>", false},
	} {
		if _, ok := matchAbridged(out, tc.want); ok != tc.ok {
			t.Errorf("matchAbridged(%q) = %v, want %v", tc.want, ok, tc.ok)
		}
	}
}

func TestParseQuickstart(t *testing.T) {
	doc := "# x\n<!--\n```sh\nnot a step\n```\n-->\n```sh skip\nCSB=x\n```\n```sh\necho hi\n```\n\ntext\n\n```text answer\nhi\n```\n```sh\ntrue\n```\n```xml\n<not-an-answer/>\n```\n"
	steps, skipped, err := parseQuickstart("doc.md", doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || skipped[0] != "CSB=x" {
		t.Errorf("skipped %q", skipped)
	}
	if len(steps) != 2 || steps[0].script != "echo hi" || steps[0].answer == nil || *steps[0].answer != "hi" || steps[1].answer != nil || steps[0].line != 10 {
		t.Errorf("steps %+v", steps)
	}
	for _, bad := range []string{"```sh\nx\n", "```text answer\nx\n```\n", "```sh\na\n```\n```text answer\nb\n```\n```text answer\nc\n```\n", "```sh run\nx\n```\n", "```console\n$ echo hi\nhi\n```\n", "```bash\necho hi\n```\n", "  ```shell\necho hi\n  ```\n"} {
		if _, _, err := parseQuickstart("doc.md", bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestUnrunShellBlock(t *testing.T) {
	for _, tc := range []struct {
		doc    string
		withSh bool
		line   int
		lang   string
	}{
		{"text\n```caddyfile\ncsb\n```\n```text\n./xcaddy.sh run\n```\n", true, 0, ""},
		{"```sh\necho hi\n```\n", false, 0, ""},
		{"```sh\necho hi\n```\n", true, 1, "sh"},
		{"```sh skip\necho hi\n```\n", true, 1, "sh"},
		{"```shell\necho hi\n```\n", false, 1, "shell"},
		{"a\n\n```console\n$ echo hi\nhi\n```\n", false, 3, "console"},
		{"- item\n\n  ```bash\n  echo hi\n  ```\n", false, 3, "bash"},
		// A fence inside a block is text, not a block of its own.
		{"````markdown\n```console\n$ x\n```\n````\n", false, 0, ""},
		{"```text\n$ echo hi\n```\n```zsh\necho\n```\n", false, 4, "zsh"},
		{"```shellcheck-report\nx\n```\n", true, 0, ""},
	} {
		if line, lang := unrunShellBlock(tc.doc, tc.withSh); line != tc.line || lang != tc.lang {
			t.Errorf("unrunShellBlock(%q, %v) = %d, %q; want %d, %q", tc.doc, tc.withSh, line, lang, tc.line, tc.lang)
		}
	}
}

// shell is a bash session that runs the quickstart's steps one after
// another, so that variables a step sets (SMALL=$(...)) reach the next.
type shell struct {
	in    io.WriteCloser
	lines chan string
	n     int
}

const stepEnd = "__quickstart_step_end__"

func startShell(t *testing.T, dir string, env []string) *shell {
	t.Helper()
	cmd := exec.Command("bash", "--noprofile", "--norc")
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w // one stream, in the order written
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	sh := &shell{in: in, lines: make(chan string, 1024)}
	go func() {
		defer close(sh.lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			sh.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		r.Close()
	})
	return sh
}

// run runs script (with stdin from /dev/null) and returns what it printed
// on stdout and stderr and its exit status.
func (sh *shell) run(script string, timeout time.Duration) (string, int, error) {
	sh.n++
	marker := fmt.Sprintf("%s%d", stepEnd, sh.n)
	if _, err := fmt.Fprintf(sh.in, "{\n%s\n} </dev/null\nprintf '\\n%s %%d\\n' \"$?\"\n", script, marker); err != nil {
		return "", 0, err
	}
	var out strings.Builder
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-sh.lines:
			if !ok {
				return out.String(), 0, fmt.Errorf("bash exited")
			}
			if rest, found := strings.CutPrefix(line, marker+" "); found {
				var status int
				fmt.Sscanf(rest, "%d", &status)
				// Drop the newline printed before the marker.
				return strings.TrimSuffix(out.String(), "\n"), status, nil
			}
			out.WriteString(line + "\n")
		case <-timer.C:
			return out.String(), 0, fmt.Errorf("no end after %v", timeout)
		}
	}
}
