package catalog

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// fullIaaS returns an IaaS service with every support element filled, the
// largest description a notification carries.
func fullIaaS(i int) csbmsg.Service {
	alloc := csbmsg.AllocationDynamic
	cs := csbmsg.ComputeActive
	ns := csbmsg.NetworkActive
	ss := csbmsg.StorageOnline
	return csbmsg.Service{
		ID: fmt.Sprintf("svc-%06d", i), Status: csbmsg.ServiceActive, URI: fmt.Sprintf("https://cloud.example/svc/%d", i),
		IaaS: &csbmsg.IaaS{
			Compute: &csbmsg.Compute{Architecture: str("x86_64"), Cores: u64(uint64(i%64 + 1)), Hostname: str(fmt.Sprintf("host-%d", i)),
				Speed: u64(3), Memory: u64(uint64(i%256 + 1)), Status: &cs},
			Network: &csbmsg.Network{VLAN: str("100"), VLANLabel: str("public"), Address: str("10.0.0.0/24"),
				Gateway: str("10.0.0.1"), Allocation: &alloc, Status: &ns},
			Storage:          &csbmsg.Storage{Size: u64(uint64(100 + i%1000)), Status: &ss},
			NetworkInterface: &csbmsg.NetworkInterface{Interface: str("eth0"), Allocation: &alloc, Status: &ns},
			StorageLink:      &csbmsg.StorageLink{DeviceID: str("vda"), Mountpoint: str("/data"), Status: &ns},
		},
	}
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkCatalogMemory10k reports the heap a catalogue holding 10,000
// fully described IaaS services (100 providers × 100) takes, with its
// placement index built and every provider view cached, next to the
// baseline of the same parsed services held in a plain slice.
// Target: < 30 MiB per 10,000 services.
func BenchmarkCatalogMemory10k(b *testing.B) {
	const providers, perProvider = 100, 100
	var catalogBytes, baseBytes float64
	for range b.N {
		before := heapInUse()
		base := make([]csbmsg.Service, 0, providers*perProvider)
		for i := range providers * perProvider {
			base = append(base, fullIaaS(i))
		}
		mid := heapInUse()

		c, err := New(Options{Clock: clock.NewFake(t0)})
		if err != nil {
			b.Fatal(err)
		}
		for p := range providers {
			n := notif(fmt.Sprintf("sub-%d", p), 1, fmt.Sprintf("provider-%03d", p))
			n.Services = base[p*perProvider : (p+1)*perProvider : (p+1)*perProvider]
			c.ApplyNotification(n, true)
		}
		if got := len(c.Placeable(KindIaaS)); got != providers*perProvider {
			b.Fatalf("placeable %d", got)
		}
		for p := range providers {
			c.Services(fmt.Sprintf("provider-%03d", p))
		}
		c.cache.Wait()
		after := heapInUse()
		baseBytes += float64(mid - before)
		catalogBytes += float64(after - before)
		runtime.KeepAlive(base)
		_ = c.Close(context.Background())
	}
	mib := catalogBytes / float64(b.N) / (1 << 20)
	b.ReportMetric(mib, "MiB/10k-services")
	b.ReportMetric(baseBytes/float64(b.N)/(1<<20), "baseline-MiB")
	b.ReportMetric(catalogBytes/baseBytes, "ratio-to-parsed")
}
