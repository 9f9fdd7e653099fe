package csbmsg

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestCollapse(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "",
		"a":                       "a",
		"a b":                     "a b",
		" a":                      "a",
		"a ":                      "a",
		"a  b":                    "a b",
		"\ta\r\n b\n":             "a b",
		"   ":                     "",
		"Container  Capabilities": "Container Capabilities",
	} {
		if got := collapse(in); got != want {
			t.Errorf("collapse(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseUint(t *testing.T) {
	for in, want := range map[string]bool{
		"0": true, "007": true, "18446744073709551615": true,
		"18446744073709551616": false, "": false, "+1": false, "-0": false, "1.0": false,
		"1e3": false, "......": false, "0x10": false, "１": false,
		strings.Repeat("0", 64) + "1": false,
	} {
		if _, ok := parseUint(in); ok != want {
			t.Errorf("parseUint(%q) ok = %v, want %v", in, ok, want)
		}
	}
}

func TestStatusFormat(t *testing.T) {
	for _, s := range []Status{1, 42, 200, 420, 999} {
		txt, ok := formatStatus(s)
		back, ok2 := parseStatus(txt)
		if !ok || !ok2 || back != s || len(txt) != 3 {
			t.Errorf("status %d -> %q -> %d", s, txt, back)
		}
	}
	for _, s := range []Status{0, -1, 1000} {
		if _, ok := formatStatus(s); ok {
			t.Errorf("formatStatus(%d) accepted", s)
		}
	}
}

// Curated NMTOKEN and anyURI verdicts, checked against xmllint below.
var (
	tokenCases = map[string]bool{
		"a": true, "1.0": true, "-": true, ":": true, "a:b:c": true, "é": true, "ำ": true, "·": true,
		"a b": false, "": false, "a/b": false, "a,b": false, "‿": false, "×": false, "、": false, "\U00010000": false,
	}
	uriCases = map[string]bool{
		"": true, "a b": true, "%41": true, "http://[::1]/": true, "a:": true, "//": true,
		"http://a:b@c:80/p?q#f": true, "é": true, "mailto:x@y": true, "urn:a:b": true, "?": true, "#": true,
		"a|b": true, "{x}": true, "a\\b": true, "@": true, "...": true, "/cdmi/data/": true,
		"http://x/%E5%8D%97%E4%BA%AC&um=9": true,
		"%":                                false, "%zz": false, "a#b#c": false, "http://[::1/": false, "::": false, ":a": false, "1a:b": false,
		"http://a:notaport/": false, "[": false, "a[b]": false, "http://a@b@c/": false, "http://h:99999999999/": false,
		"http://x/%E5%8D%97% -E4": false, "http://h:/": false, "http://[::1]:": false, "http://h:8080": true,
	}
)

func TestNMTOKEN(t *testing.T) {
	for in, want := range tokenCases {
		if got := isNMTOKEN(in); got != want {
			t.Errorf("isNMTOKEN(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestAnyURI(t *testing.T) {
	for in, want := range uriCases {
		if got := isAnyURI(collapse(in)); got != want {
			t.Errorf("isAnyURI(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestValueCheckersAgainstXmllint: what the codec accepts as an NMTOKEN
// or an anyURI, xmllint accepts too, so that everything the serialisers
// write validates. The codec may be stricter (it applies RFC 3986 to IP
// literals and ports); those differences are logged.
func TestValueCheckersAgainstXmllint(t *testing.T) {
	bin := xmllint(t)
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("aZ09-._~:/?#[]@!$&'()*+,;=% <>\"{}|\\^`é·‿南\u0300")
	var tokens, uris []string
	for s := range tokenCases {
		tokens = append(tokens, s)
	}
	for s := range uriCases {
		uris = append(uris, s)
	}
	for range 1500 {
		n := 1 + rng.IntN(10)
		r := make([]rune, n)
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		tokens = append(tokens, string(r))
		if rng.IntN(3) == 0 {
			uris = append(uris, "http://"+string(r))
		} else {
			uris = append(uris, string(r))
		}
	}

	var b strings.Builder
	b.WriteString(`<csbpublish xmlns="urn:ietf:params:xml:ns:csb-publish" version="1.0"><csbnotification id="n" seqnumber="1"><Cloud-Service-Provider><Cloud-Service-Provider-id>p</Cloud-Service-Provider-id><Cloud-Service-Provider-status>active</Cloud-Service-Provider-status></Cloud-Service-Provider>`)
	type probe struct {
		kind, value string
		ours        bool
	}
	lines := map[int]probe{}
	line := 1
	for _, s := range tokens {
		line++
		b.WriteString("\n<Cloud-Service><Cloud-Service-id>" + string(escape(nil, s, false)) + "</Cloud-Service-id><Cloud-Service-status>active</Cloud-Service-status></Cloud-Service>")
		lines[line] = probe{"NMTOKEN", s, isNMTOKEN(collapse(s))}
	}
	for _, s := range uris {
		line++
		b.WriteString("\n<Cloud-Service><Cloud-Service-id>u</Cloud-Service-id><Cloud-Service-status>active</Cloud-Service-status><Cloud-Service-URI>" + string(escape(nil, s, false)) + "</Cloud-Service-URI></Cloud-Service>")
		lines[line] = probe{"anyURI", s, isAnyURI(collapse(s))}
	}
	b.WriteString("\n</csbnotification></csbpublish>\n")
	f := filepath.Join(t.TempDir(), "probe.xml")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(bin, "--nonet", "--noout", "--schema", "testdata/schema/csb-publish.xsd", f).CombinedOutput()
	invalid := map[int]bool{}
	for _, m := range regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(f)+`:(\d+):`).FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.Atoi(m[1])
		invalid[n] = true
	}
	if len(invalid) == 0 {
		t.Fatalf("xmllint found nothing invalid; output:\n%.2000s", out)
	}
	stricter := 0
	for n, p := range lines {
		theirs := !invalid[n]
		switch {
		case p.ours && !theirs:
			t.Errorf("%s %q: the codec accepts it, xmllint does not", p.kind, p.value)
		case !p.ours && theirs:
			stricter++
			t.Logf("%s %q: xmllint accepts it, the codec does not", p.kind, p.value)
		}
	}
	t.Logf("%d probes, the codec is stricter on %d", len(lines), stricter)
}

func TestCleanText(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "",
		"plain text\t\r\n":       "plain text\t\r\n",
		"caf\u00e9 \U0001F600":   "caf\u00e9 \U0001F600",
		"a\x00b\x1bc":            "a\ufffdb\ufffdc",
		"\xfcber\xff":            "\ufffdber\ufffd",
		"\xef\xbf\xbe\uffff":     "\ufffd\ufffd",
		"\xed\xa0\x80 half":      "\ufffd\ufffd\ufffd half",
		"\x7f is allowed in XML": "\x7f is allowed in XML",
	} {
		got := CleanText(in)
		if got != want || !isXMLString(got) {
			t.Errorf("CleanText(%q) = %q, want %q", in, got, want)
		}
	}
}
