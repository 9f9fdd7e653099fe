package csbcli

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// netrcEntry is one machine (or the default) of a netrc file.
type netrcEntry struct {
	machine  string // "" for default
	login    string
	password string
}

// parseNetrc reads the netrc format of curl and ftp: tokens separated by
// any white space (a keyword's value may be on the next line), "machine
// NAME" (or "default") followed by "login", "password" and "account"
// pairs; "macdef NAME" skips a macro up to a blank line. A token may be
// double-quoted with backslash escapes, as curl allows.
// Written here because the format is twenty lines of tokens and no
// maintained Go module for it resolves on the module proxy this project
// pins (go-partial.tsv).
func parseNetrc(r io.Reader) ([]netrcEntry, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	var out []netrcEntry
	var cur *netrcEntry
	lines := bufio.NewScanner(strings.NewReader(string(data)))
	inMacro := false
	// pending is the keyword whose value is the next token, which may be
	// on a later line: tokens are separated by any white space.
	pending := ""
	for lines.Scan() {
		line := lines.Text()
		if inMacro {
			if strings.TrimSpace(line) == "" {
				inMacro = false
			}
			continue
		}
		toks, err := netrcTokens(line)
		if err != nil {
			return nil, err
		}
		for i := 0; i < len(toks); i++ {
			tok := toks[i]
			if pending != "" {
				switch pending {
				case "machine":
					out = append(out, netrcEntry{machine: tok})
					cur = &out[len(out)-1]
				case "login":
					if cur != nil {
						cur.login = tok
					}
				case "password":
					if cur != nil {
						cur.password = tok
					}
				case "macdef":
					// The macro's body starts on the next line.
					inMacro = true
					i = len(toks)
				}
				pending = ""
				continue
			}
			switch tok {
			case "machine", "login", "password", "account", "macdef":
				pending = tok
			case "default":
				out = append(out, netrcEntry{})
				cur = &out[len(out)-1]
			default:
				if strings.HasPrefix(tok, "#") {
					i = len(toks) // a comment to the end of the line
				}
			}
		}
		if pending == "macdef" {
			// "macdef" without a name still starts a macro.
			inMacro, pending = true, ""
		}
	}
	return out, lines.Err()
}

func netrcTokens(line string) ([]string, error) {
	var toks []string
	for i := 0; i < len(line); {
		switch c := line[i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '"':
			var b strings.Builder
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) {
					i++
				}
				b.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil, errors.New("netrc: unterminated quoted token")
			}
			i++
			toks = append(toks, b.String())
		default:
			j := i
			for j < len(line) && line[j] != ' ' && line[j] != '\t' && line[j] != '\r' {
				j++
			}
			toks = append(toks, line[i:j])
			i = j
		}
	}
	return toks, nil
}

// netrcLookup returns the login and password for host from the netrc
// file at path: the first entry of that machine whose login is user (any
// login when user is ""), else the default entry. A missing file is no
// entry; an unreadable one is an error.
func netrcLookup(path, host, user string) (login, password string, found bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", "", false, nil
		}
		return "", "", false, err
	}
	defer f.Close()
	entries, err := parseNetrc(f)
	if err != nil {
		return "", "", false, err
	}
	for _, pass := range []bool{true, false} {
		for _, e := range entries {
			if pass && !strings.EqualFold(e.machine, host) || !pass && e.machine != "" {
				continue
			}
			if user != "" && e.login != "" && e.login != user {
				continue
			}
			return e.login, e.password, true, nil
		}
	}
	return "", "", false, nil
}

// netrcPath is the netrc file to read: $NETRC, else ~/.netrc.
func netrcPath() string {
	if p := os.Getenv("NETRC"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".netrc")
}
