package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/digest"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// cliUsers are the consumers of the CLI tests, with their passwords.
var cliUsers = map[string]string{"alice": "wonderland", "bob": "builder"}

// cliBroker is a real Caddy running the broker behind digest_auth over
// HTTPS (tls internal), with two sandbox clouds and a link provider.
type cliBroker struct {
	t      *testing.T
	p      *harness.Process
	url    string // https://127.0.0.1:<port>
	open   string // a site with csb and no authentication
	home   string // HOME of the CLI runs
	clouds [2]int
}

// cliStart starts the broker. Cloud b builds machines in 1.5 s and the
// broker answers after 100 ms, so that a create through it is answered
// while the job is still in flight and --wait has something to follow.
func cliStart(t *testing.T) *cliBroker {
	t.Helper()
	port, open, a, b := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	var users strings.Builder
	for _, name := range []string{"alice", "bob"} {
		// Every hash function digest_auth knows: the CLI picks the
		// strongest the broker offers first.
		for _, alg := range digest.BaseAlgorithms {
			fmt.Fprintf(&users, "\t\tuser %s %s %s\n", name, alg, digest.HA1(alg, name, "csb-consumer", cliUsers[name]))
		}
	}
	p := harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	skip_install_trust
	auto_https disable_redirects
	csb {
		provider cloud-a {
			adapter cimi http://127.0.0.1:%[3]d/cimi/
			adapter cdmi http://127.0.0.1:%[3]d/cdmi/
			price 0.02
			service vm-a {
				kind iaas
				compute {
					architecture x86_64
					cores 8
					memory 16
				}
				storage {
					size 200
				}
			}
			service objects-a {
				kind dsaas
				objects data container
			}
		}
		provider cloud-b {
			adapter cimi http://127.0.0.1:%[4]d/cimi/
			adapter cdmi http://127.0.0.1:%[4]d/cdmi/
			price 0.05
			service vm-b {
				kind iaas
				compute {
					architecture x86_64
					cores 64
					memory 256
				}
				storage {
					size 2000
				}
			}
		}
		provider apps {
			adapter link
			service crm {
				kind saas
				link crm http://127.0.0.1:%[3]d/crm/
			}
		}
		placement cheapest
		jobs {
			respond_within 100ms
			poll_interval 100ms
			lease_min 1m
			access bob {
				deny cloud-b
			}
		}
	}
}

https://127.0.0.1:%[1]d {
	tls internal
	digest_auth /csb/consumer* csb-consumer {
		algorithms SHA-512-256 SHA-256 MD5
%[5]s	}
	csb
}

http://127.0.0.1:%[2]d {
	csb
}

http://127.0.0.1:%[3]d {
	csb_sandbox cloud-a {
		capacity 8 16 200
		architecture x86_64
	}
}

http://127.0.0.1:%[4]d {
	csb_sandbox cloud-b {
		capacity 64 256 2000
		architecture x86_64
		build_time 1500ms
	}
}
`, port, open, a, b, users.String()))
	// The local CA issues the broker's certificate after start.
	p.WaitLog(`"msg":"certificate obtained successfully","identifier":"127.0.0.1"`, 30*time.Second)
	return &cliBroker{t: t, p: p, url: fmt.Sprintf("https://127.0.0.1:%d", port), open: fmt.Sprintf("http://127.0.0.1:%d", open),
		home: t.TempDir(), clouds: [2]int{a, b}}
}

// cliRun is one run of "caddy csb".
type cliRun struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r cliRun) String() string {
	return fmt.Sprintf("caddy csb %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// run runs the built Caddy binary as the CLI, as user (with the
// password in CSB_PASSWORD when password is not "-"), against the
// broker. Caddy's data directory is the broker's, so the CLI finds the
// local CA's root there by default, as it does on the broker's machine.
func (b *cliBroker) run(user, password string, args ...string) cliRun {
	b.t.Helper()
	env := []string{"HOME=" + b.home, "XDG_DATA_HOME=" + b.p.DataDir, "PATH=" + os.Getenv("PATH"), "CSB_BROKER=" + b.url}
	if user != "" {
		env = append(env, "CSB_USER="+user)
	}
	if password != "-" {
		env = append(env, "CSB_PASSWORD="+password)
	}
	return cliExec(b.t, env, args...)
}

func cliExec(t *testing.T, env []string, args ...string) cliRun {
	t.Helper()
	cmd := exec.Command(harness.Binary(t), append([]string{"csb"}, args...)...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := cliRun{args: args, stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running caddy csb: %v", err)
	}
	return r
}

// ok fails the test unless the run exited 0.
func (r cliRun) ok(t *testing.T) cliRun {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	return r
}

// cliJob is the --json output of a command about one job.
type cliJob struct {
	Status          int     `json:"status"`
	Reason          string  `json:"reason"`
	JobID           string  `json:"job_id"`
	JobStatus       string  `json:"job_status"`
	ProviderID      string  `json:"provider_id"`
	Expires         *uint64 `json:"expires"`
	CloudServiceURI string  `json:"cloud_service_uri"`
	Granted         string  `json:"granted"`
}

func (r cliRun) job(t *testing.T) cliJob {
	t.Helper()
	var j cliJob
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		t.Fatalf("not a JSON job: %v\n%s", err, r)
	}
	return j
}

// tableValue reads "NAME  value" from the table output of one job.
func (r cliRun) tableValue(t *testing.T, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `\s+(.*)$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no %s line:\n%s", name, r)
	}
	return strings.TrimSpace(m[1])
}

func cliWriteFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// cliDigestClient is client with HTTP Digest as user.
func cliDigestClient(client *http.Client, user string) *http.Client {
	return &http.Client{Timeout: client.Timeout, Transport: &digest.Transport{Username: user, Password: cliUsers[user], Base: client.Transport}}
}
