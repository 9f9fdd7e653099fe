package digestauth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/caddy-csb/caddy-csb/broker/digest"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "digest-hash",
		Usage: "--user <name> --realm <realm> [--algorithm <MD5|SHA-256|SHA-512-256|all>] [--format <caddyfile|htdigest>] [--plaintext <password>]",
		Short: "Prints HA1 values for HTTP Digest authentication",
		Long: `
Computes the HA1 values of HTTP Digest authentication (RFC 7616), the hex
digest of "user:realm:password", which digest_auth stores instead of the
password. One line is printed per hash function.

--user, --realm
    The user name and the realm, exactly as in the configuration: the realm
    is part of every HA1, so changing it invalidates them.

--algorithm
    MD5, SHA-256, SHA-512-256, or all (default). The -sess algorithms use
    their base function's HA1.

--format
    caddyfile (default) prints digest_auth lines:
        user <name> <hash-function> <HA1>
    htdigest prints Apache htdigest lines, user:realm:HA1 for MD5, and the
    caddy-csb four-field form user:realm:<hash-function>:HA1 otherwise.

--plaintext
    The password. If omitted, it is read from stdin, or prompted for (twice,
    not echoed) when stdin is a terminal. Prefer that: a command-line
    argument is visible to other users of the machine.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().StringP("user", "u", "", "User name")
			cmd.Flags().StringP("realm", "r", "", "Realm")
			cmd.Flags().StringP("algorithm", "a", "all", "Hash function: MD5, SHA-256, SHA-512-256 or all")
			cmd.Flags().StringP("format", "f", "caddyfile", "Output format: caddyfile or htdigest")
			cmd.Flags().StringP("plaintext", "p", "", "The password (default: read from stdin or prompt)")
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdDigestHash)
		},
	})
}

func cmdDigestHash(fs caddycmd.Flags) (int, error) {
	password := []byte(fs.String("plaintext"))
	if len(password) == 0 {
		var err error
		if password, err = readPassword(os.Stdin); err != nil {
			return caddy.ExitCodeFailedStartup, err
		}
	}
	if err := writeDigestHash(os.Stdout, fs.String("user"), fs.String("realm"), fs.String("algorithm"), fs.String("format"), password); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	return caddy.ExitCodeSuccess, nil
}

// readPassword prompts twice on a terminal, or reads one line from a
// pipe, the way "caddy hash-password" does.
func readPassword(in *os.File) ([]byte, error) {
	fd := int(in.Fd())
	if term.IsTerminal(fd) {
		state, _ := term.GetState(fd)
		c := make(chan os.Signal, 1)
		signal.Notify(c, os.Interrupt)
		go func() {
			if _, ok := <-c; ok {
				_ = term.Restore(fd, state)
				os.Exit(caddy.ExitCodeFailedStartup)
			}
		}()
		defer func() { signal.Stop(c); close(c) }()
		fmt.Fprint(os.Stderr, "Enter password: ")
		pw, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return nil, err
		}
		fmt.Fprint(os.Stderr, "Confirm password: ")
		confirm, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(pw, confirm) {
			return nil, errors.New("passwords do not match")
		}
		return pw, nil
	}
	line, err := bufio.NewReader(in).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if trimmed, ok := bytes.CutSuffix(line, []byte("\n")); ok {
		line = bytes.TrimSuffix(trimmed, []byte("\r"))
	}
	return line, nil
}

// writeDigestHash writes the HA1 lines for user, realm and password.
func writeDigestHash(w io.Writer, user, realm, algorithm, format string, password []byte) error {
	switch {
	case user == "":
		return errors.New("--user is required")
	case realm == "":
		return errors.New("--realm is required")
	case len(password) == 0:
		return errors.New("a password is required")
	case strings.ContainsAny(user, ":\r\n") && format == "htdigest":
		return errors.New("an htdigest user name cannot contain ':' or a line break")
	case strings.ContainsAny(realm, ":\r\n") && format == "htdigest":
		return errors.New("an htdigest realm cannot contain ':' or a line break")
	}
	var algs []digest.Algorithm
	if strings.EqualFold(algorithm, "all") {
		algs = digest.BaseAlgorithms
	} else {
		alg, err := digest.ParseAlgorithm(algorithm)
		if err != nil {
			return err
		}
		algs = []digest.Algorithm{alg.Base()}
	}
	for _, alg := range algs {
		ha1 := digest.HA1(alg, user, realm, string(password))
		var line string
		switch format {
		case "caddyfile":
			name, err := caddyfileQuote(user)
			if err != nil {
				return err
			}
			line = "user " + name + " " + alg.String() + " " + ha1
		case "htdigest":
			line = digest.FormatHTDigest(user, realm, alg, ha1)
		default:
			return fmt.Errorf("unknown format %q (want caddyfile or htdigest)", format)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// caddyfileQuote writes s as one Caddyfile token: bare when it can be,
// else in backquotes (where everything is literal), else in double quotes
// (where only \" is an escape, so s must not contain a backslash).
func caddyfileQuote(s string) (string, error) {
	switch {
	case s != "" && !strings.ContainsAny(s, " \t\r\n\"'`{}#\\"):
		return s, nil
	case strings.ContainsAny(s, "\r\n"):
	case !strings.Contains(s, "`"):
		return "`" + s + "`", nil
	case !strings.Contains(s, `\`):
		return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`, nil
	}
	return "", fmt.Errorf("user name %q cannot be written as a Caddyfile token", s)
}
