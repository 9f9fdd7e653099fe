package contract

import "testing"

// BenchmarkCleanRoutePath is the per-request cost the path cleaning adds
// to the job route: string work, no network.
func BenchmarkCleanRoutePath(b *testing.B) {
	for _, p := range []string{"/csb-4f1c2e/photos/cat%20one.jpg", "/machines/3/volumes/1"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := CleanRoutePath(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
