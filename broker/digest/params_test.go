package digest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseChallenges(t *testing.T) {
	for _, tc := range []struct {
		name  string
		field string
		want  []Challenge
		err   bool
	}{
		{
			name:  "rfc7616 challenge",
			field: `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
			want: []Challenge{{Scheme: "Digest", Params: []Param{
				{"realm", "http-auth@example.org", true},
				{"qop", "auth, auth-int", true},
				{"algorithm", "SHA-256", false},
				{"nonce", "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", true},
				{"opaque", "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", true},
			}}},
		},
		{
			// RFC 7235 section 4.1's example: two challenges in one field,
			// escapes and a comma inside quotes.
			name:  "rfc7235 two challenges",
			field: `Newauth realm="apps", type=1, title="Login to \"apps\", please", Basic realm="simple"`,
			want: []Challenge{
				{Scheme: "Newauth", Params: []Param{{"realm", "apps", true}, {"type", "1", false}, {"title", `Login to "apps", please`, true}}},
				{Scheme: "Basic", Params: []Param{{"realm", "simple", true}}},
			},
		},
		{
			name:  "bws empty elements tabs",
			field: " ,Digest\trealm = \"r\" ,, nonce=\t\"n\",  ",
			want:  []Challenge{{Scheme: "Digest", Params: []Param{{"realm", "r", true}, {"nonce", "n", true}}}},
		},
		{
			name:  "scheme only then another",
			field: `Negotiate, Basic realm="x"`,
			want:  []Challenge{{Scheme: "Negotiate"}, {Scheme: "Basic", Params: []Param{{"realm", "x", true}}}},
		},
		{
			name:  "token68",
			field: `Negotiate YIIFGwYGKwYBBQUCoIIFDzCCBQugMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHgYKKwYBBAGCNwICCg==, Digest realm="r", nonce="n"`,
			want: []Challenge{
				{Scheme: "Negotiate", Token68: "YIIFGwYGKwYBBQUCoIIFDzCCBQugMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHgYKKwYBBAGCNwICCg=="},
				{Scheme: "Digest", Params: []Param{{"realm", "r", true}, {"nonce", "n", true}}},
			},
		},
		{
			name:  "mixed case names kept, lookup is case-insensitive",
			field: `DIGEST Realm="r", NONCE="n"`,
			want:  []Challenge{{Scheme: "DIGEST", Params: []Param{{"Realm", "r", true}, {"NONCE", "n", true}}}},
		},
		{name: "empty", field: "", err: true},
		{name: "only commas", field: " , ,", err: true},
		{name: "duplicate param", field: `Digest realm="a", nonce="n", REALM="b"`, err: true},
		{name: "unterminated quote", field: `Digest realm="abc`, err: true},
		{name: "dangling escape", field: `Digest realm="abc\`, err: true},
		{name: "control char in quotes", field: "Digest realm=\"a\x01b\"", err: true},
		{name: "missing value", field: `Digest realm=, nonce="n"`, err: true},
		{name: "garbage after value", field: `Digest realm="a" nonce="n"`, err: true},
		{name: "scheme followed by junk", field: `Digest "realm"`, err: true},
		{name: "param without scheme", field: `realm="a"`, err: true},
		{name: "too long", field: "Digest realm=\"" + strings.Repeat("a", maxHeaderLen) + "\"", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseChallenges(tc.field)
			if tc.err {
				if err == nil {
					t.Fatalf("no error, got %+v", got)
				}
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error %v does not wrap ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
			for _, c := range got {
				for _, p := range c.Params {
					if v, ok := c.Get(strings.ToUpper(p.Name)); !ok || v != p.Value {
						t.Fatalf("case-insensitive Get(%q) = %q, %v", p.Name, v, ok)
					}
				}
			}
		})
	}
}

func TestParseCredentials(t *testing.T) {
	c, err := ParseCredentials(`Digest username="Mu\"fasa", realm="a,b", nc=00000001,`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Param{{"username", `Mu"fasa`, true}, {"realm", "a,b", true}, {"nc", "00000001", false}}
	if c.Scheme != "Digest" || !reflect.DeepEqual(c.Params, want) {
		t.Fatalf("got %+v", c)
	}
	if _, err := ParseCredentials(`Digest username="a", Basic x`); err == nil {
		t.Fatal("trailing second credentials accepted")
	}
	b, err := ParseCredentials("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
	if err != nil || b.Token68 != "QWxhZGRpbjpvcGVuIHNlc2FtZQ==" {
		t.Fatalf("basic: %+v %v", b, err)
	}
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "a, b", "tab\there", "ümlaut"} {
		field := string(appendQuoted([]byte("X v="), s))
		c, err := ParseCredentials(field)
		if err != nil {
			t.Fatalf("%q: %v", field, err)
		}
		if len(c.Params) != 1 || c.Params[0].Value != s {
			t.Fatalf("%q: got %+v", s, c.Params)
		}
	}
}

func TestExtValue(t *testing.T) {
	enc := string(appendExtValue(nil, rfc392User))
	if enc != "UTF-8''J%C3%A4s%C3%B8n%20Doe" {
		t.Fatalf("encoded %q", enc)
	}
	dec, err := decodeExtValue(enc)
	if err != nil || dec != rfc392User {
		t.Fatalf("decoded %q %v", dec, err)
	}
	if dec, err := decodeExtValue("utf-8'en'a%2Fb"); err != nil || dec != "a/b" {
		t.Fatalf("language tag: %q %v", dec, err)
	}
	for _, bad := range []string{"ISO-8859-1''a", "UTF-8'a", "UTF-8''%4", "UTF-8''%zz", "UTF-8''a b", "UTF-8''%ff"} {
		if _, err := decodeExtValue(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParseChallenges checks that the parser never panics, that what it
// accepts is within bounds, and that re-serialising accepted parameters
// parses back to the same values.
func FuzzParseChallenges(f *testing.F) {
	for _, s := range []string{
		`Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="abc", opaque="def"`,
		`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`,
		`Negotiate abc==, Digest realm="r"`,
		` , ,Digest realm = "x" ,,`,
		`Digest username="a\\b", nc=00000001, response="x"`,
		"Digest realm=\"\xff\xfe\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, field string) {
		chals, err := ParseChallenges(field)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		for _, c := range chals {
			if c.Scheme == "" || len(c.Params) > maxParams {
				t.Fatalf("bad challenge %+v", c)
			}
			if c.Token68 != "" && len(c.Params) > 0 {
				t.Fatalf("token68 and params in %+v", c)
			}
			seen := map[string]bool{}
			var b []byte
			b = append(b, c.Scheme...)
			for i, p := range c.Params {
				n := strings.ToLower(p.Name)
				if seen[n] {
					t.Fatalf("duplicate %q accepted", p.Name)
				}
				seen[n] = true
				if i == 0 {
					b = append(b, ' ')
				} else {
					b = append(b, ", "...)
				}
				b = append(b, p.Name...)
				b = append(b, '=')
				b = appendQuoted(b, p.Value)
			}
			if c.Token68 != "" {
				continue
			}
			back, err := ParseCredentials(string(b))
			if err != nil {
				t.Fatalf("re-serialised %q does not parse: %v", b, err)
			}
			if len(back.Params) != len(c.Params) {
				t.Fatalf("round trip lost params: %q", b)
			}
			for i := range back.Params {
				if back.Params[i].Value != c.Params[i].Value {
					t.Fatalf("round trip changed %q to %q", c.Params[i].Value, back.Params[i].Value)
				}
			}
		}
		// The credentials parser must agree not to panic either.
		_, _ = ParseCredentials(field)
		_, _ = parseCreds(field)
	})
}
