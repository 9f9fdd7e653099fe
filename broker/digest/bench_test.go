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
