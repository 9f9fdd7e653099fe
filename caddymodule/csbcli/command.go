// Package csbcli is "caddy csb", a command-line client of the broker's
// Consumer interface: it builds the draft's XML requests from flags (with
// broker/csbmsg), sends them with HTTP Digest (broker/digest's client),
// follows jobs to a final state, and prints what comes back as an
// aligned table or as JSON. It needs no admin access: the job list, the
// placement explain and the catalogue come from the Consumer
// interface's own extensions (caddymodule/consumer_list.go).
//
// Exit codes: 0 success; 1 the broker answered a protocol status other
// than 200 (its reason is on stderr), or a job followed with --wait ended
// other than success; 2 anything else (a usage error, the broker
// unreachable, authentication refused, an HTTP-level refusal).
package csbcli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Exit codes.
const (
	exitOK     = 0
	exitStatus = 1 // a protocol status other than 200, or a job that did not succeed
	exitError  = 2
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "csb",
		Usage: "<request|explain|jobs|job|renew|rm|copy|move|catalog> [--broker <url>] [--user <name>] [--ca <file>] [--json]",
		Short: "Uses a Cloud Service Broker as a consumer: request, list, renew and remove jobs",
		Long: `
A client of caddy-csb's Consumer interface (the IETF draft's
csb-consumer XML, written for you).

  caddy csb request iaas --cores 2 --memory 4 --storage 20 [--arch x86_64] [--lease 2h] [--provider X] [--wait]
  caddy csb request dsaas [--container NAME] [--object FILE] [--wait]
  caddy csb request saas|paas --rel R [--href URI]
  caddy csb request --file request.xml
  caddy csb explain ...          the same flags as request: where would it go?
  caddy csb jobs                 your jobs
  caddy csb job ID [--wait]      one job; --wait follows it to a final state
  caddy csb renew ID [--lease 1h]
  caddy csb rm ID
  caddy csb copy ID | move ID    [--provider X] [--lease 1h] [--wait]
  caddy csb catalog              what you may ask for

Connection:
  --broker URL   the broker (default $CSB_BROKER, else https://localhost:8443);
                 a URL without a path gets /csb/consumer
  --user NAME    the user (default $CSB_USER, else the netrc login)
  password       $CSB_PASSWORD, else the netrc file (--netrc, $NETRC or
                 ~/.netrc; machine = the broker's host name), else a prompt
                 when stdin is a terminal. Never a flag: other users of the
                 machine can read command lines.
  --ca FILE      trust this CA; by default the system's roots and Caddy's
                 local CA root (<caddy data dir>/pki/authorities/local/root.crt)
                 when that file exists
  HTTP Digest with SHA-512-256, SHA-256 or MD5 (and -sess), whichever the
  broker offers first among the strongest; Basic only over HTTPS.

Output: an aligned table; --json for scripts; --xml for the broker's own
XML answer. Exit code 0 on success, 1 when the broker's protocol status is
not 200 (the reason is printed on stderr) or a followed job did not
succeed, 2 on any other error.
`,
		CobraFunc: setup,
	})
}

// cli holds the global flags and the streams.
type cli struct {
	conn   connection
	json   bool
	xml    bool
	stdin  *os.File
	stdout io.Writer
	stderr io.Writer
	// pollMin and pollMax bound the backoff of --wait between polls.
	pollMin, pollMax time.Duration
}

func setup(cmd *cobra.Command) {
	setupCLI(cmd, &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, pollMin: 250 * time.Millisecond, pollMax: 5 * time.Second})
}

// setupCLI adds the subcommands and flags of c to cmd.
func setupCLI(cmd *cobra.Command, c *cli) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&c.conn.Broker, "broker", os.Getenv("CSB_BROKER"), "URL of the broker (default $CSB_BROKER, else https://localhost:8443)")
	pf.StringVar(&c.conn.User, "user", "", "user name (default $CSB_USER, else the netrc login)")
	pf.StringVar(&c.conn.CA, "ca", "", "PEM file of the CA to trust (default: the system's and Caddy's local CA)")
	pf.StringVar(&c.conn.Netrc, "netrc", "", "netrc file with the password (default $NETRC, else ~/.netrc)")
	pf.DurationVar(&c.conn.Timeout, "timeout", time.Minute, "time limit of each HTTP request")
	pf.BoolVar(&c.json, "json", false, "print JSON")
	pf.BoolVar(&c.xml, "xml", false, "print the broker's XML answer as it is (control characters as character references)")
	cmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		if strings.Contains(err.Error(), "unknown shorthand flag") {
			// Ids of an older broker may begin with '-'; "--" ends the flags.
			return c.exit(cmd, c.fail(fmt.Errorf("%v (an id that begins with '-' goes after \"--\": %s -- ID; see %s --help)", err, cmd.CommandPath(), cmd.CommandPath())))
		}
		return c.exit(cmd, c.fail(fmt.Errorf("%v (see %s --help)", err, cmd.CommandPath())))
	})
	cmd.Args = c.usageArgs(cobra.NoArgs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }

	request := c.modelCommand("request", "Asks for a service; prints the job", c.request, true)
	explain := c.modelCommand("explain", "Shows where a request would be placed, and why, without creating anything", c.explain, false)

	jobsCmd := &cobra.Command{
		Use:   "jobs",
		Short: "Lists your jobs, newest first",
		Args:  c.usageArgs(cobra.NoArgs),
		RunE:  func(cmd *cobra.Command, _ []string) error { return c.exit(cmd, c.jobs(cmd.Context())) },
	}

	var jobOpts, renewOpts jobOptions
	job := c.jobCommand("job", "Shows one job", http.MethodGet, &jobOpts)
	job.Flags().BoolVar(&jobOpts.wait, "wait", false, "follow the job until it has finished provisioning")
	renew := c.jobCommand("renew", "Renews a job's lease", http.MethodPut, &renewOpts)
	renew.Flags().DurationVar(&renewOpts.lease, "lease", 0, "lease to ask for (default: the broker's)")
	rm := c.jobCommand("rm", "Removes a job and its resources", http.MethodDelete, &jobOptions{})
	rm.Aliases = []string{"remove"}

	cmd.AddCommand(request, explain, jobsCmd, job, renew, rm)
	for _, verb := range []struct{ name, method, short string }{
		{"copy", "COPY", "Duplicates a job on another provider (a new job)"},
		{"move", "MOVE", "Moves a job to another provider (same job id)"},
	} {
		var o jobOptions
		sub := c.jobCommand(verb.name, verb.short, verb.method, &o)
		sub.Flags().DurationVar(&o.lease, "lease", 0, "lease to ask for (default: the broker's)")
		sub.Flags().StringSliceVar(&o.provider, "provider", nil, "consider only these providers (comma-separated)")
		sub.Flags().BoolVar(&o.wait, "wait", false, "follow the job until it has finished provisioning")
		cmd.AddCommand(sub)
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "catalog",
		Short: "Lists the services you may ask for",
		Args:  c.usageArgs(cobra.NoArgs),
		RunE:  func(cmd *cobra.Command, _ []string) error { return c.exit(cmd, c.catalog(cmd.Context())) },
	})
	for _, sub := range cmd.Commands() {
		sub.SetFlagErrorFunc(cmd.FlagErrorFunc())
	}
}

// modelCommand is a verb that sends a request of a service model
// (request, explain): run gets the model named, if any, and the flags.
func (c *cli) modelCommand(use, short string, run func(context.Context, string, *requestFlags) int, create bool) *cobra.Command {
	var f requestFlags
	sub := &cobra.Command{
		Use:   use + " [iaas|dsaas|saas|paas] [flags]",
		Short: short,
		Args:  c.usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.exit(cmd, run(cmd.Context(), first(args), &f))
		},
	}
	f.register(sub, create)
	return sub
}

// jobCommand is a verb on one job, "<use> ID": jobVerb with method and
// the options o, which the verb's flags set.
func (c *cli) jobCommand(use, short, method string, o *jobOptions) *cobra.Command {
	return &cobra.Command{
		Use:   use + " ID",
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return c.exit(cmd, c.fail(fmt.Errorf("%s takes one job id, not %d: %s ID (caddy csb jobs lists yours)", use, len(args), cmd.CommandPath())))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.exit(cmd, c.jobVerb(cmd.Context(), method, args[0], *o))
		},
	}
}

// usageArgs checks a command's arguments with check and turns a refusal
// into a usage error: the reason and where the help is on stderr, and
// exit code 2, as for a bad flag. Cobra's own refusal would print
// "Error: ..." and exit 1, the code that says the broker refused.
func (c *cli) usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return c.exit(cmd, c.fail(fmt.Errorf("%v (see %s --help)", err, cmd.CommandPath())))
		}
		return nil
	}
}

func first(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return ""
}

// errSilent makes caddy exit 1 without printing anything more.
var errSilent = errors.New("")

// exit turns an exit code into what cobra and caddy's main make of it.
func (c *cli) exit(cmd *cobra.Command, code int) error {
	if code == exitOK {
		return nil
	}
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if code == exitStatus {
		return errSilent
	}
	// An exit code above 1 goes through caddy's own exit error.
	return caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) { return code, nil })(cmd, nil)
}

func (c *cli) fail(err error) int {
	fmt.Fprintf(c.stderr, "csb: %s\n", clean(err.Error()))
	return exitError
}

// protocolFailure reports a protocol status other than 200.
func (c *cli) protocolFailure(status csbmsg.Status, reason string) int {
	fmt.Fprintf(c.stderr, "csb: %s: %s\n", status, clean(reason))
	return exitStatus
}

func (c *cli) connect() (*client, error) {
	return newClient(&c.conn, c.stdin, c.stderr)
}

// signalContext ends when the user presses Ctrl-C.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, os.Interrupt)
}

func (c *cli) request(ctx context.Context, model string, f *requestFlags) int {
	body, err := f.build(model)
	if err != nil {
		return c.fail(err)
	}
	return c.jobCall(ctx, call{method: http.MethodPost, body: body, header: map[string]string{"Idempotency-Key": f.idemKey}},
		jobOptions{wait: f.wait, lease: f.lease, provider: f.provider})
}

// jobOptions are the flags of the verbs on one job.
type jobOptions struct {
	wait     bool
	lease    time.Duration
	provider []string
}

func (c *cli) jobVerb(ctx context.Context, method, id string, o jobOptions) int {
	if id == "" {
		return c.fail(errors.New("give a job id"))
	}
	return c.jobCall(ctx, call{method: method, path: "/" + url.PathEscape(id)}, o)
}

// jobCall sends a call the broker answers about a job, with the
// Csb-Lease and Csb-Provider headers of o, and shows the job.
func (c *cli) jobCall(ctx context.Context, req call, o jobOptions) int {
	leaseHdr, err := leaseSeconds(o.lease)
	if err != nil {
		return c.fail(err)
	}
	cl, err := c.connect()
	if err != nil {
		return c.fail(err)
	}
	ctx, cancel := signalContext(ctx)
	defer cancel()
	if req.header == nil {
		req.header = map[string]string{}
	}
	req.header["Csb-Lease"], req.header["Csb-Provider"] = leaseHdr, strings.Join(o.provider, ",")
	req.response = true
	a, err := cl.do(ctx, req)
	return c.showJob(ctx, cl, a, err, o.wait)
}

// showJob prints an answer about a job, after following it with --wait.
func (c *cli) showJob(ctx context.Context, cl *client, a *answer, err error, wait bool) int {
	if err != nil {
		return c.fail(err)
	}
	if wait && a.Resp.Status == csbmsg.StatusOK && a.Resp.JobInfo != nil && inFlight(a.Resp.JobInfo.JobStatus) {
		if a, err = c.follow(ctx, cl, a); err != nil {
			return c.fail(err)
		}
	}
	r := a.Resp
	// A refusal is its reason, on stderr; scripts still get the answer.
	if r.Status == csbmsg.StatusOK || c.json || c.xml {
		if err := c.print(a); err != nil {
			return c.fail(err)
		}
	}
	if r.Status != csbmsg.StatusOK {
		return c.protocolFailure(r.Status, r.Reason)
	}
	if wait && r.JobInfo != nil && r.JobInfo.JobStatus != "success" {
		fmt.Fprintf(c.stderr, "csb: job %s is %s: %s\n", clean(r.JobInfo.JobID), clean(r.JobInfo.JobStatus), clean(r.Reason))
		return exitStatus
	}
	return exitOK
}

func (c *cli) print(a *answer) error {
	switch {
	case c.xml:
		_, err := c.stdout.Write(xmlForTerminal(a.Body))
		return err
	case c.json:
		return printJSON(c.stdout, viewOf(a))
	}
	return printJob(c.stdout, viewOf(a))
}

func inFlight(status string) bool { return status == "pending" || status == "provisioning" }

// follow polls a job until it leaves pending and provisioning: GET with
// ?wait=30s (at most half of --timeout), which a broker with long-poll
// holds until the job changes,
// and a backoff between polls (250 ms, growing to pollMax) that a broker
// answering at once (without long-poll) paces. A broker that refuses the
// parameter (HTTP 400) is polled without it. A progress line on stderr
// shows the state and the time spent.
func (c *cli) follow(ctx context.Context, cl *client, a *answer) (*answer, error) {
	id := a.Resp.JobInfo.JobID
	state := a.Resp.JobInfo.JobStatus
	start := time.Now()
	tty := false
	if f, ok := c.stderr.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	progress := func(final bool) {
		line := fmt.Sprintf("job %s: %s (%s)", clean(id), clean(state), time.Since(start).Round(100*time.Millisecond))
		switch {
		case tty:
			fmt.Fprintf(c.stderr, "\r\033[K%s", line)
			if final {
				fmt.Fprintln(c.stderr)
			}
		default:
			fmt.Fprintln(c.stderr, line)
		}
	}
	progress(false)
	backoff, longPoll := c.pollMin, true
	// The long-poll must end well within --timeout: at most half of it
	// (whole seconds when that is a second or more). Rounding a shorter
	// one up to a second made every poll of a --timeout 1s run out of
	// time while the broker held it.
	hold := 30 * time.Second
	if t := c.conn.Timeout; t > 0 && t < 2*hold {
		hold = (t / 2).Truncate(time.Second)
		if hold < time.Second {
			hold = (t / 2).Truncate(time.Millisecond)
		}
		longPoll = hold > 0
	}
	for {
		began := time.Now()
		q := url.Values{}
		if longPoll {
			q.Set("wait", hold.String())
		}
		next, err := cl.do(ctx, call{method: http.MethodGet, path: "/" + url.PathEscape(id), query: q, response: true})
		if err != nil && next != nil && next.HTTP == http.StatusBadRequest && longPoll {
			longPoll = false
			continue
		}
		if err != nil {
			if tty {
				fmt.Fprintln(c.stderr)
			}
			return nil, err
		}
		a = next
		if a.Resp.Status != csbmsg.StatusOK || a.Resp.JobInfo == nil {
			progress(true)
			return a, nil
		}
		changed := a.Resp.JobInfo.JobStatus != state
		state = a.Resp.JobInfo.JobStatus
		if !inFlight(state) {
			if changed || tty {
				progress(true)
			}
			return a, nil
		}
		if changed || tty {
			progress(false)
		}
		if d := backoff - time.Since(began); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("stopped following job %s (still %s): %v", id, state, ctx.Err())
			case <-t.C:
			}
		}
		backoff = min(backoff*3/2, c.pollMax)
	}
}

func (c *cli) jobs(ctx context.Context) int {
	cl, err := c.connect()
	if err != nil {
		return c.fail(err)
	}
	accept := "application/json"
	if c.xml {
		accept = csbmsg.ConsumerMediaType
	}
	a, err := cl.do(ctx, call{method: http.MethodGet, accept: accept})
	if err != nil {
		return c.fail(err)
	}
	if c.xml {
		if _, err := csbmsg.ParseJobList(a.Body, csbmsg.Options{}); err != nil {
			return c.fail(fmt.Errorf("the broker's job list: %v", err))
		}
		c.stdout.Write(xmlForTerminal(a.Body))
		return exitOK
	}
	var list csbmsg.JobListing
	if err := json.Unmarshal(a.Body, &list); err != nil {
		return c.fail(fmt.Errorf("the broker's job list is not the JSON expected (does it support GET on the Consumer collection?): %v", err))
	}
	if list.Jobs == nil {
		list.Jobs = []csbmsg.ListedJob{}
	}
	if c.json {
		err = printJSON(c.stdout, list)
	} else {
		err = printJobs(c.stdout, list.Jobs)
	}
	if err != nil {
		return c.fail(err)
	}
	return exitOK
}

func (c *cli) explain(ctx context.Context, model string, f *requestFlags) int {
	if c.xml {
		return c.fail(errors.New("the broker answers this as JSON: use --json (--xml applies to request, job, renew, rm, copy, move and jobs)"))
	}
	body, err := f.build(model)
	if err != nil {
		return c.fail(err)
	}
	cl, err := c.connect()
	if err != nil {
		return c.fail(err)
	}
	a, err := cl.do(ctx, call{method: http.MethodPost, query: url.Values{"explain": {""}}, body: body, accept: "application/json",
		header: map[string]string{"Csb-Provider": strings.Join(f.provider, ",")}})
	if err != nil {
		return c.fail(err)
	}
	var e explanation
	if err := json.Unmarshal(a.Body, &e); err != nil || e.Status == 0 {
		return c.fail(fmt.Errorf("the broker's answer is not an explanation (does it support POST ?explain on the Consumer collection?): %s", brokerText(a.Body)))
	}
	if c.json {
		err = printJSON(c.stdout, e)
	} else {
		err = printExplanation(c.stdout, e)
	}
	if err != nil {
		return c.fail(err)
	}
	if e.Status != csbmsg.StatusOK {
		return c.protocolFailure(e.Status, e.Reason)
	}
	if !c.json {
		fmt.Fprintln(c.stdout, clean(e.Reason))
	}
	return exitOK
}

func (c *cli) catalog(ctx context.Context) int {
	if c.xml {
		return c.fail(errors.New("the broker answers this as JSON: use --json (--xml applies to request, job, renew, rm, copy, move and jobs)"))
	}
	cl, err := c.connect()
	if err != nil {
		return c.fail(err)
	}
	a, err := cl.do(ctx, call{method: http.MethodGet, query: url.Values{"catalog": {""}}, accept: "application/json"})
	if err != nil {
		return c.fail(err)
	}
	var cat catalogue
	if err := json.Unmarshal(a.Body, &cat); err != nil {
		return c.fail(fmt.Errorf("the broker's catalogue is not the JSON expected (does it support GET ?catalog on the Consumer collection?): %v", err))
	}
	if c.json {
		var v any
		_ = json.Unmarshal(a.Body, &v)
		err = printJSON(c.stdout, v)
	} else {
		err = printCatalogue(c.stdout, cat)
	}
	if err != nil {
		return c.fail(err)
	}
	return exitOK
}
