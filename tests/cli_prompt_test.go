package tests

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// cliPromptScript runs a command on a pseudo-terminal (Python's pty
// module), answers its password prompt with $CLI_TEST_PW once the
// terminal's echo is off, and prints what the terminal showed.
const cliPromptScript = `
import os, pty, sys, termios, time
pw = os.environ.pop("CLI_TEST_PW")
pid, fd = pty.fork()
if pid == 0:
    os.execvpe(sys.argv[1], sys.argv[1:], os.environ)
seen = b""
while b"Password for" not in seen:
    chunk = os.read(fd, 1024)
    if not chunk:
        break
    seen += chunk
# Type only once the program has turned echo off, as a person would
# (typing ahead would be echoed by the terminal itself).
deadline = time.monotonic() + 20
while termios.tcgetattr(fd)[3] & termios.ECHO and time.monotonic() < deadline:
    time.sleep(0.01)
os.write(fd, pw.encode() + b"\n")
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(seen)
sys.exit(os.waitstatus_to_exitcode(status))
`

// TestCLIPasswordPrompt: with no CSB_PASSWORD and no netrc entry, the CLI
// asks for the password on the terminal, without echoing it.
func TestCLIPasswordPrompt(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 not found (Debian package python3): the test drives a pseudo-terminal with it")
	}
	b := cliStart(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", "-c", cliPromptScript, harness.Binary(t), "csb", "catalog")
	cmd.Env = []string{"HOME=" + b.home, "XDG_DATA_HOME=" + b.p.DataDir, "PATH=" + os.Getenv("PATH"),
		"CSB_BROKER=" + b.url, "CSB_USER=alice", "CLI_TEST_PW=" + cliUsers["alice"]}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Password for alice at 127.0.0.1: ") || !strings.Contains(string(out), "cloud-a") ||
		strings.Contains(string(out), cliUsers["alice"]) {
		t.Fatalf("prompted run: %v\n%s", err, out)
	}
}
