package csbmsg

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"testing"
)

// Benchmarks parse and serialise the draft's (repaired) B1 notification
// and the (repaired) consumer examples. Each has a baseline: a plain
// encoding/xml token scan of the same bytes, in the same run; compare
// MB/s as a ratio.

var benchFiles = []struct{ name, file string }{
	{"B1", "testdata/repaired/b1-notification.xml"},
	{"ConsumerRequest", "testdata/repaired/consumer-request.xml"},
	{"ConsumerResponse", "testdata/repaired/consumer-response.xml"},
}

func benchData(b *testing.B, file string) []byte {
	data, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func BenchmarkTokenScan(b *testing.B) {
	for _, bf := range benchFiles {
		data := benchData(b, bf.file)
		b.Run(bf.name, func(b *testing.B) {
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
	}
}

func BenchmarkParse(b *testing.B) {
	for _, bf := range benchFiles {
		data := benchData(b, bf.file)
		b.Run(bf.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := parseAny(bf.file, data, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMarshal(b *testing.B) {
	for _, bf := range benchFiles {
		v, err := parseAny(bf.file, benchData(b, bf.file), Options{})
		if err != nil {
			b.Fatal(err)
		}
		out, _ := marshalAny(v)
		b.Run(bf.name, func(b *testing.B) {
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
