package digest

import "testing"

// The examples of RFC 7616 section 3.9.
//
// Section 3.9.1 (SHA-256 and MD5): user "Mufasa", password "Circle of
// Life" (lower-case "of"; RFC 2617's example had "Circle Of Life"), realm
// "http-auth@example.org", GET /dir/index.html, qop=auth, nc=00000001.
// The responses below are the ones the RFC prints.
//
// Section 3.9.2 (SHA-512-256, charset and userhash): the RFC's printed
// username hash (488869477bf2...) and response (ae66e67d6b42...) are
// wrong: they were computed with an early draft implementation of
// SHA-512/256 that differs from FIPS 180-4. RFC erratum 4897
// (https://www.rfc-editor.org/errata/eid4897, reported by Chaim Geretz)
// gives the values computed with the standard SHA-512/256:
//
//	username = 793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b
//	response = 3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5
//
// These are used here. They were cross-checked three ways: Go's
// crypto/sha512.Sum512_256 (FIPS 180-4) computes them from the example's
// inputs (this test); TestSHA512_256KnownAnswer pins the hash function to
// the FIPS 180-4 "abc" answer, so the match is not an artefact of a wrong
// hash; and independent implementations in other languages (a JavaScript
// SIP stack, Rust and Scala HTTP clients, a C++ server) assert the same
// two values against the erratum.
const (
	rfcRealm  = "http-auth@example.org"
	rfcNonce  = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
	rfcCnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
	rfcOpaque = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
	rfcURI    = "/dir/index.html"

	rfc392Realm    = "api@example.org"
	rfc392Nonce    = "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK"
	rfc392Cnonce   = "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v"
	rfc392Opaque   = "HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS"
	rfc392User     = "J\u00e4s\u00f8n Doe"
	rfc392Password = "Secret, or not?"

	erratum4897Userhash = "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
	erratum4897Response = "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"
	rfc392PrintedUser   = "488869477bf257147b804c45308cd62ac4e25eb717b12b298c79e62dcea254ec"
	rfc392PrintedResp   = "ae66e67d6b427bd3f120414a82e4acff38e8ecd9101d6c861229025f607a79dd"
)

func TestRFC7616Section391(t *testing.T) {
	for _, tc := range []struct {
		alg      Algorithm
		response string
	}{
		{MD5, "8ca523f5e9506fed4657c9700eebdbec"},
		{SHA256, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	} {
		t.Run(tc.alg.String(), func(t *testing.T) {
			in := Input{
				Algorithm: tc.alg,
				HA1:       HA1(tc.alg, "Mufasa", rfcRealm, "Circle of Life"),
				Nonce:     rfcNonce, Cnonce: rfcCnonce, NC: "00000001", QOP: QOPAuth,
				Method: "GET", URI: rfcURI,
			}
			if got := in.Response(); got != tc.response {
				t.Errorf("response = %s, want %s", got, tc.response)
			}
		})
	}
	// The byte-exact RFC UTF-8 octets of "Jäsøn Doe" (section 3.9.2).
	if got := []byte(rfc392User); string(got) != "J\xc3\xa4s\xc3\xb8n Doe" {
		t.Fatalf("user octets %x", got)
	}
}

func TestRFC7616Section392Erratum4897(t *testing.T) {
	if got := UserHash(SHA512_256, rfc392User, rfc392Realm); got != erratum4897Userhash {
		t.Errorf("userhash = %s, want %s (erratum 4897)", got, erratum4897Userhash)
	}
	in := Input{
		Algorithm: SHA512_256,
		HA1:       HA1(SHA512_256, rfc392User, rfc392Realm, rfc392Password),
		Nonce:     rfc392Nonce, Cnonce: rfc392Cnonce, NC: "00000001", QOP: QOPAuth,
		Method: "GET", URI: "/doe.json",
	}
	got := in.Response()
	if got != erratum4897Response {
		t.Errorf("response = %s, want %s (erratum 4897)", got, erratum4897Response)
	}
	if got == rfc392PrintedResp {
		t.Errorf("matched the RFC's printed (wrong) response")
	}
}

// TestSHA512_256KnownAnswer pins SHA-512/256 to FIPS 180-4's example
// ("abc"), so the erratum values above are checked against the standard
// function and not against whatever the hash happens to be.
func TestSHA512_256KnownAnswer(t *testing.T) {
	const want = "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
	if got := HashBody(SHA512_256, []byte("abc")); got != want {
		t.Fatalf("SHA-512/256(abc) = %s, want %s", got, want)
	}
}

// TestServerVerifiesRFCExamples feeds the RFC's own Authorization headers
// to a Server whose clock and nonce check are bypassed, proving the server
// side computes the same values.
func TestServerVerifiesRFCExamples(t *testing.T) {
	for _, tc := range []struct {
		name, realm, user, password, uri, auth string
		alg                                    Algorithm
		userhash                               bool
	}{
		{
			name: "3.9.1 MD5", realm: rfcRealm, user: "Mufasa", password: "Circle of Life", uri: rfcURI, alg: MD5,
			auth: `Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=MD5, ` +
				`nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", ` +
				`qop=auth, response="8ca523f5e9506fed4657c9700eebdbec", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
		},
		{
			name: "3.9.1 SHA-256", realm: rfcRealm, user: "Mufasa", password: "Circle of Life", uri: rfcURI, alg: SHA256,
			auth: `Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, ` +
				`nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", ` +
				`qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
		},
		{
			name: "3.9.2 SHA-512-256 userhash (erratum 4897)", realm: rfc392Realm, user: rfc392User, password: rfc392Password,
			uri: "/doe.json", alg: SHA512_256, userhash: true,
			auth: `Digest username="` + erratum4897Userhash + `", realm="api@example.org", uri="/doe.json", algorithm=SHA-512-256, ` +
				`nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", nc=00000001, cnonce="NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v", ` +
				`qop=auth, response="` + erratum4897Response + `", opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", userhash=true`,
		},
		{
			// The same credentials without userhash: the non-ASCII name
			// goes in username* (RFC 7616 section 3.9.2's alternative);
			// the response does not depend on how the name is sent.
			name: "3.9.2 SHA-512-256 username*", realm: rfc392Realm, user: rfc392User, password: rfc392Password,
			uri: "/doe.json", alg: SHA512_256,
			auth: `Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe, realm="api@example.org", uri="/doe.json", algorithm=SHA-512-256, ` +
				`nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", nc=00000001, cnonce="NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v", ` +
				`qop=auth, response="` + erratum4897Response + `"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseCreds(tc.auth)
			if err != nil {
				t.Fatal(err)
			}
			users := NewUsers(tc.realm)
			if err := users.Add(tc.user, tc.alg, HA1(tc.alg, tc.user, tc.realm, tc.password)); err != nil {
				t.Fatal(err)
			}
			name := c.username
			if tc.userhash {
				var ok bool
				if name, ok = users.LookupHash(c.username, tc.alg); !ok {
					t.Fatalf("userhash %s not resolved", c.username)
				}
			} else if c.usernameStar != "" {
				if name, err = decodeExtValue(c.usernameStar); err != nil {
					t.Fatal(err)
				}
			}
			if name != tc.user {
				t.Fatalf("user %q, want %q", name, tc.user)
			}
			ha1, _ := users.Lookup(name, tc.alg)
			in := Input{Algorithm: tc.alg, HA1: ha1, Nonce: c.nonce, Cnonce: c.cnonce, NC: c.nc, QOP: c.qop, Method: "GET", URI: c.uri}
			if got := in.Response(); got != c.response {
				t.Errorf("response %s, header says %s", got, c.response)
			}
		})
	}
}
