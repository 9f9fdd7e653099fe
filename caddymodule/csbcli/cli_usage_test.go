package csbcli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/cobra"
)

// exitCodeOf is the exit code caddy's main gives err: the ExitCode of
// caddycmd's (unexported) exit error, 1 for any other error, 0 for none.
func exitCodeOf(err error) int {
	if err == nil {
		return 0
	}
	v := reflect.ValueOf(err)
	if v.Kind() == reflect.Pointer && !v.IsNil() && v.Elem().Kind() == reflect.Struct {
		if f := v.Elem().FieldByName("ExitCode"); f.IsValid() && f.CanInt() {
			return int(f.Int())
		}
	}
	return 1
}

// TestCLIArgumentErrorsAreUsageErrors: a command with the wrong number of
// arguments is a usage error, exit code 2 as documented (docs/cli.md,
// "Exit codes"), with a line on stderr that says what to give; exit code
// 1 is kept for the broker's protocol refusals, which scripts tell apart.
// Cobra's own refusals printed "Error: accepts 1 arg(s), received 0" and
// exited 1. Nothing reaches the broker, so none is needed.
func TestCLIArgumentErrorsAreUsageErrors(t *testing.T) {
	t.Setenv("CSB_PASSWORD", "pw")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rm"}, `rm takes one job id, not 0: csb rm ID (caddy csb jobs lists yours)`},
		{[]string{"job", "a", "b"}, `job takes one job id, not 2: csb job ID`},
		{[]string{"move"}, `move takes one job id, not 0: csb move ID`},
		{[]string{"jobs", "extra"}, `unknown command "extra" for "csb jobs" (see csb jobs --help)`},
		{[]string{"bogus"}, `unknown command "bogus" for "csb" (see csb --help)`},
		{[]string{"request", "iaas", "dsaas"}, `accepts at most 1 arg(s), received 2 (see csb request --help)`},
		{[]string{"catalog", "x"}, `(see csb catalog --help)`},
	} {
		var stdout, stderr bytes.Buffer
		root := &cobra.Command{Use: "csb", SilenceErrors: true, SilenceUsage: true}
		setupCLI(root, &cli{stdout: &stdout, stderr: &stderr})
		root.SetArgs(append([]string{"--broker", "https://127.0.0.1:1", "--user", "u", "--netrc", filepath.Join(t.TempDir(), "none")}, tc.args...))
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		err := root.Execute()
		if code := exitCodeOf(err); code != exitError {
			t.Errorf("%q: exit code %d (%v), want %d", tc.args, code, err, exitError)
		}
		if got := stderr.String(); !strings.HasPrefix(got, "csb: ") || !strings.Contains(got, tc.want) {
			t.Errorf("%q: stderr %q, want a line with %q", tc.args, got, tc.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%q: printed %q", tc.args, stdout.String())
		}
	}
	// The helper reads caddy's exit error, not just any error.
	if exitCodeOf(errors.New("x")) != 1 || exitCodeOf(errSilent) != 1 || exitCodeOf(nil) != 0 {
		t.Fatal("exitCodeOf misreads plain errors")
	}
}

// TestCLIConnectErrorsSayWhatToChange: an unreachable broker's error names
// what sets its address (the user who moved the example's broker with
// CSB_BROKER, or forgot to, must change one of them), and a timeout names
// the flag that sets it.
func TestCLIConnectErrorsSayWhatToChange(t *testing.T) {
	base, err := url.Parse("https://localhost:8443/csb/consumer")
	if err != nil {
		t.Fatal(err)
	}
	refused := &url.Error{Op: "Get", URL: base.String(), Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	got := connectError(base, refused).Error()
	for _, want := range []string{"cannot reach the broker at localhost:8443", "connection refused", "--broker or CSB_BROKER"} {
		if !strings.Contains(got, want) {
			t.Errorf("refused: %q lacks %q", got, want)
		}
	}
	late := &url.Error{Op: "Get", URL: base.String(), Err: context.DeadlineExceeded}
	if got := connectError(base, late).Error(); !strings.Contains(got, "did not answer in time") || !strings.Contains(got, "--timeout") {
		t.Errorf("timeout: %q", got)
	}
}
