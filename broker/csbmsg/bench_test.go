package csbmsg

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"testing"
	"time"
)

// BenchmarkCodec parses and serialises the draft's (repaired) B1
// notification and consumer examples. For each message the baseline, a
// plain encoding/xml token scan of the same bytes, runs right before the
// codec in the same run, so that the ratio of the MB/s figures holds on a
// noisy machine:
//
//	go test -run '^$' -bench Codec -count 5 -cpu 1 ./broker/csbmsg/
func BenchmarkCodec(b *testing.B) {
	for _, bf := range []struct{ name, file string }{
		{"B1", "testdata/repaired/b1-notification.xml"},
		{"ConsumerRequest", "testdata/repaired/consumer-request.xml"},
		{"ConsumerResponse", "testdata/repaired/consumer-response.xml"},
	} {
		data, err := os.ReadFile(bf.file)
		if err != nil {
			b.Fatal(err)
		}
		v, err := parseAny(bf.file, data, Options{})
		if err != nil {
			b.Fatal(err)
		}
		out, err := marshalAny(v)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bf.name+"/scan", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				d := xml.NewDecoder(bytes.NewReader(data))
				for {
					if _, err := d.Token(); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
				}
			}
		})
		b.Run(bf.name+"/parse", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := parseAny(bf.file, data, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bf.name+"/scan-out", func(b *testing.B) {
			b.SetBytes(int64(len(out)))
			b.ReportAllocs()
			for b.Loop() {
				d := xml.NewDecoder(bytes.NewReader(out))
				for {
					if _, err := d.Token(); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
				}
			}
		})
		b.Run(bf.name+"/marshal", func(b *testing.B) {
			b.SetBytes(int64(len(out)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := marshalAny(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCodecRatio interleaves the baseline scan with the codec in
// small batches and reports their speed ratio directly ("parse/scan" is
// how many times longer parsing takes than scanning the same bytes;
// "marshal/scan" compares serialising with scanning its output), so that
// load changes during the run affect both sides alike.
func BenchmarkCodecRatio(b *testing.B) {
	scan := func(data []byte) {
		d := xml.NewDecoder(bytes.NewReader(data))
		for {
			if _, err := d.Token(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				return
			}
		}
	}
	for _, bf := range []struct{ name, file string }{
		{"B1", "testdata/repaired/b1-notification.xml"},
		{"ConsumerRequest", "testdata/repaired/consumer-request.xml"},
		{"ConsumerResponse", "testdata/repaired/consumer-response.xml"},
	} {
		data, err := os.ReadFile(bf.file)
		if err != nil {
			b.Fatal(err)
		}
		v, _ := parseAny(bf.file, data, Options{})
		out, _ := marshalAny(v)
		b.Run(bf.name, func(b *testing.B) {
			const batch = 16
			var tScan, tParse, tScanOut, tMarshal time.Duration
			for b.Loop() {
				t0 := time.Now()
				for range batch {
					scan(data)
				}
				t1 := time.Now()
				for range batch {
					if _, err := parseAny(bf.file, data, Options{}); err != nil {
						b.Fatal(err)
					}
				}
				t2 := time.Now()
				for range batch {
					scan(out)
				}
				t3 := time.Now()
				for range batch {
					if _, err := marshalAny(v); err != nil {
						b.Fatal(err)
					}
				}
				t4 := time.Now()
				tScan += t1.Sub(t0)
				tParse += t2.Sub(t1)
				tScanOut += t3.Sub(t2)
				tMarshal += t4.Sub(t3)
			}
			n := float64(b.N * batch)
			mbps := func(size int, d time.Duration) float64 { return float64(size) * n / d.Seconds() / 1e6 }
			b.ReportMetric(mbps(len(data), tScan), "scan-MB/s")
			b.ReportMetric(mbps(len(data), tParse), "parse-MB/s")
			b.ReportMetric(mbps(len(out), tMarshal), "marshal-MB/s")
			b.ReportMetric(float64(tParse)/float64(tScan), "parse/scan")
			b.ReportMetric(float64(tMarshal)/float64(tScanOut), "marshal/scan")
		})
	}
}
