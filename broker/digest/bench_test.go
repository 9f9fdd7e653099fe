package digest

import (
	"testing"
)

// BenchmarkAuthenticate measures the server's verification path for one
// request: parse the Authorization header, check the nonce's MAC, compute
// and compare the response, record the count, build Authentication-Info.
// Headers are prepared in batches outside the timer (each needs its own
// count).
func BenchmarkAuthenticate(b *testing.B) {
	for _, alg := range []Algorithm{MD5, SHA256, SHA512_256, SHA256Sess} {
		b.Run(alg.String(), func(b *testing.B) {
			f := newFixture(b, nil)
			c := f.base(b, alg)
			const batch = 1024
			headers := make([]string, 0, batch)
			nc := uint32(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if len(headers) == 0 {
					b.StopTimer()
					for j := 0; j < batch; j++ {
						nc++
						c.nc = nc
						headers = append(headers, c.header())
					}
					b.StartTimer()
				}
				h := headers[0]
				headers = headers[1:]
				res := f.srv.Authenticate(Request{Method: "POST", URI: c.uri, Authorization: h})
				if !res.OK {
					b.Fatal(res.Err)
				}
			}
		})
	}
}

// BenchmarkAuthenticateUnknownUser is the same path for an unknown user:
// its cost should match BenchmarkAuthenticate's.
func BenchmarkAuthenticateUnknownUser(b *testing.B) {
	f := newFixture(b, nil)
	c := f.base(b, SHA256)
	c.user = "mallory"
	h := c.header()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := f.srv.Authenticate(Request{Method: "POST", URI: c.uri, Authorization: h}); res.OK {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkAuthenticateWrongPassword: a known user with a wrong response.
func BenchmarkAuthenticateWrongPassword(b *testing.B) {
	f := newFixture(b, nil)
	c := f.base(b, SHA256)
	c.pass = "wrong"
	h := c.header()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := f.srv.Authenticate(Request{Method: "POST", URI: c.uri, Authorization: h}); res.OK {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkChallenges measures a 401's challenges (three algorithms).
func BenchmarkChallenges(b *testing.B) {
	f := newFixture(b, func(c *ServerConfig) { c.Algorithms = []Algorithm{SHA512_256, SHA256, MD5} })
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = f.srv.Challenges(false)
	}
}

func BenchmarkParseCredentials(b *testing.B) {
	h := `Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, ` +
		`nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", ` +
		`qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := parseCreds(h); err != nil {
			b.Fatal(err)
		}
	}
}

// maxAuthenticateAllocs is what one successful verification may allocate:
// the Authentication-Info string it returns. Parsing, the nonce's MAC,
// the response, the replay window and rspauth all work in place.
const maxAuthenticateAllocs = 1

// TestAuthenticateAllocs fails when the verification path allocates more
// than maxAuthenticateAllocs per accepted request (the headers, each with
// its own count, are prepared beforehand), for every algorithm, for the
// userhash form, and with the throttle tracking failures.
func TestAuthenticateAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	const runs = 200
	for _, tc := range []struct {
		name     string
		alg      Algorithm
		userhash bool
		throttle bool
	}{
		{"MD5", MD5, false, false},
		{"SHA-256", SHA256, false, false},
		{"SHA-512-256", SHA512_256, false, false},
		{"SHA-256-sess", SHA256Sess, false, false},
		{"SHA-256 userhash", SHA256, true, false},
		{"SHA-256 throttle tracking", SHA256, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var th *Throttle
			if tc.throttle {
				var err error
				if th, err = NewThrottle(ThrottleConfig{}); err != nil {
					t.Fatal(err)
				}
			}
			f := newFixture(t, func(c *ServerConfig) { c.Userhash = tc.userhash; c.Throttle = th })
			c := f.base(t, tc.alg)
			if tc.throttle {
				// A failure elsewhere, so the throttle's tables are consulted.
				bad := f.base(t, tc.alg)
				bad.pass = "wrong"
				if res := f.auth(bad); res.OK {
					t.Fatal("a wrong password was accepted")
				}
			}
			c.userhash = tc.userhash
			headers := make([]string, runs+1) // AllocsPerRun runs once more to warm up
			for i := range headers {
				c.nc = uint32(i + 1)
				headers[i] = c.header()
			}
			next := 0
			allocs := testing.AllocsPerRun(runs, func() {
				res := f.srv.Authenticate(Request{Method: "POST", URI: c.uri, Authorization: headers[next], Client: "192.0.2.1"})
				next++
				if !res.OK {
					t.Fatalf("request %d refused: %v", next, res.Err)
				}
			})
			if allocs > maxAuthenticateAllocs {
				t.Errorf("Authenticate allocates %.1f times per request, want at most %d", allocs, maxAuthenticateAllocs)
			}
		})
	}
}
