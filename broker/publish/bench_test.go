package publish

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// b1Template splits the draft's 4-service notification around its
// seqnumber, its id and its first service's core count, so every
// iteration ingests a new, in-sequence notification that changes the
// catalogue.
type b1Template struct{ parts [][]byte }

func newB1Template(tb testing.TB) b1Template {
	data := draftB1(tb)
	s := string(data)
	s = bytes.NewBuffer(nil).String() + s
	repl := []struct{ old, marker string }{
		{`seqnumber="1"`, "\x00SEQ\x00"},
		{`id="QQ6J3c"`, "\x00ID\x00"},
		{`<cores >4</cores>`, "\x00CORES\x00"},
	}
	for _, r := range repl {
		if !bytes.Contains([]byte(s), []byte(r.old)) {
			tb.Fatalf("template: %q not found", r.old)
		}
		s = replaceOnce(s, r.old, r.marker)
	}
	var t b1Template
	for _, p := range bytes.Split([]byte(s), []byte("\x00")) {
		t.parts = append(t.parts, p)
	}
	return t
}

func replaceOnce(s, old, new string) string {
	i := bytes.Index([]byte(s), []byte(old))
	return s[:i] + new + s[i+len(old):]
}

// build writes the notification with id and seq into buf.
func (t b1Template) build(buf []byte, id string, seq uint64) []byte {
	buf = buf[:0]
	for _, p := range t.parts {
		switch string(p) {
		case "SEQ":
			buf = append(buf, `seqnumber="`...)
			buf = strconv.AppendUint(buf, seq, 10)
			buf = append(buf, '"')
		case "ID":
			buf = append(buf, `id="`...)
			buf = append(buf, id...)
			buf = append(buf, '"')
		case "CORES":
			buf = append(buf, "<cores>"...)
			buf = strconv.AppendUint(buf, seq%64+1, 10)
			buf = append(buf, "</cores>"...)
		default:
			buf = append(buf, p...)
		}
	}
	return buf
}

// BenchmarkIngest measures notifications ingested per second: the
// draft's 4-service notification parsed and validated by the codec,
// authorised, sequenced and applied to the catalogue (one service
// changes each time). Its baselines, in the same run: Baseline/token_scan
// (encoding/xml reading every token of the same bytes) and
// Baseline/parse (the codec alone). Run with -cpu 1,2; each parallel
// goroutine is its own push provider, so notifications stay in sequence.
// Target: >= 5,000 notifications/s per core.
func BenchmarkIngest(b *testing.B) {
	tpl := newB1Template(b)
	sample := tpl.build(nil, "QQ6J3c", 1)
	b.Run("Baseline/token_scan", func(b *testing.B) {
		b.SetBytes(int64(len(sample)))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				d := xml.NewDecoder(bytes.NewReader(sample))
				for {
					if _, err := d.Token(); err == io.EOF {
						break
					} else if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		reportRate(b)
	})
	b.Run("Baseline/parse", func(b *testing.B) {
		b.SetBytes(int64(len(sample)))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := csbmsg.ParsePublish(sample, csbmsg.Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		reportRate(b)
	})
	b.Run("Ingest", func(b *testing.B) {
		cat, err := catalog.New(catalog.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer cat.Close(context.Background())
		ing := NewIngester(IngestOptions{Catalog: cat})
		b.SetBytes(int64(len(sample)))
		b.ReportAllocs()
		b.RunParallel(ingestInSequence(b, ing, tpl, 256))
		reportRate(b)
	})
}

// ingestInSequence configures ing with n push providers, p0000 with push
// id push0000 and so on, and returns a RunParallel body in which each
// goroutine takes the next provider and ingests tpl's notifications for
// it, in sequence, each one applied.
func ingestInSequence(b *testing.B, ing *Ingester, tpl b1Template, n int) func(*testing.PB) {
	pols := make(map[string]Policy, n)
	for g := range n {
		pols[fmt.Sprintf("p%04d", g)] = Policy{Publishers: []string{AnyPublisher}, PushIDs: []string{fmt.Sprintf("push%04d", g)}}
	}
	_ = ing.Configure(true, pols)
	var next atomic.Int32
	return func(pb *testing.PB) {
		g := int(next.Add(1) - 1)
		if g >= n {
			b.Error("too many goroutines")
			return
		}
		// The template describes provider a1b2c3d4; each goroutine
		// publishes as its own provider.
		id := fmt.Sprintf("push%04d", g)
		ptpl := withProvider(tpl, fmt.Sprintf("p%04d", g))
		var buf []byte
		var seq uint64
		for pb.Next() {
			seq++
			buf = ptpl.build(buf, id, seq)
			r := ing.IngestBody(buf, "bench", csbmsg.Options{})
			if r.Outcome != OutcomeApplied {
				b.Errorf("seq %d: %s %d %s", seq, r.Outcome, r.Response.Status, r.Response.Reason)
				return
			}
		}
	}
}

// withProvider returns the template with its provider id replaced.
func withProvider(t b1Template, pid string) b1Template {
	out := b1Template{}
	for _, p := range t.parts {
		out.parts = append(out.parts, bytes.Replace(p, []byte("a1b2c3d4"), []byte(pid), 1))
	}
	return out
}

// reportRate reports the benchmark's rate, and the rate per core: the
// rate over GOMAXPROCS (-cpu), the cores the benchmark may use.
func reportRate(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "msgs/s")
		b.ReportMetric(float64(b.N)/s/float64(runtime.GOMAXPROCS(0)), "msgs/s/core")
	}
}

// BenchmarkIngestInterleaved alternates, in one goroutine, an
// encoding/xml token scan, a codec parse and a full ingest of the same
// notification, so the three see the same machine load; it reports each
// one's rate and the ratios. On a shared, noisy machine these ratios are
// steadier than comparing separate benchmarks.
func BenchmarkIngestInterleaved(b *testing.B) {
	tpl := newB1Template(b)
	cat, err := catalog.New(catalog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer cat.Close(context.Background())
	ing := NewIngester(IngestOptions{Catalog: cat})
	_ = ing.Configure(true, map[string]Policy{"a1b2c3d4": {Publishers: []string{AnyPublisher}, PushIDs: []string{"QQ6J3c"}}})
	var scanD, parseD, ingestD time.Duration
	var buf []byte
	for i := range b.N {
		buf = tpl.build(buf, "QQ6J3c", uint64(i+1))
		t0 := time.Now()
		d := xml.NewDecoder(bytes.NewReader(buf))
		for {
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		if _, err := csbmsg.ParsePublish(buf, csbmsg.Options{}); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if r := ing.IngestBody(buf, "bench", csbmsg.Options{}); r.Outcome != OutcomeApplied {
			b.Fatalf("%s %s", r.Outcome, r.Response.Reason)
		}
		t3 := time.Now()
		scanD += t1.Sub(t0)
		parseD += t2.Sub(t1)
		ingestD += t3.Sub(t2)
	}
	n := float64(b.N)
	b.ReportMetric(n/ingestD.Seconds(), "ingest/s")
	b.ReportMetric(n/parseD.Seconds(), "parse/s")
	b.ReportMetric(n/scanD.Seconds(), "tokenscan/s")
	b.ReportMetric(float64(ingestD)/float64(scanD), "ingest/tokenscan")
	b.ReportMetric(float64(ingestD)/float64(parseD), "ingest/parse")
}
