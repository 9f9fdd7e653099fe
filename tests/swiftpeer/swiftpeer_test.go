package swiftpeer

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestRoundTrip stores and reads back an object with metadata through the
// native API, and checks the accounts are separate.
func TestRoundTrip(t *testing.T) {
	sw := Shared(t)
	ctx := context.Background()
	token, storage, err := sw.Auth(ctx, User, Key)
	if err != nil {
		t.Fatal(err)
	}
	if storage != sw.StorageURL {
		t.Fatalf("storage url %q, want %q", storage, sw.StorageURL)
	}
	do := func(method, url, body string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		req.Header.Set("X-Auth-Token", token)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if r := do("PUT", storage+"/c1", "", nil); r.StatusCode != 201 {
		t.Fatalf("put container: %s", r.Status)
	}
	if r := do("PUT", storage+"/c1/o1", "hello swift", map[string]string{"X-Object-Meta-Color": "blue", "Content-Type": "text/plain"}); r.StatusCode != 201 {
		t.Fatalf("put object: %s", r.Status)
	}
	r := do("GET", storage+"/c1/o1", "", nil)
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 || string(b) != "hello swift" || r.Header.Get("X-Object-Meta-Color") != "blue" {
		t.Fatalf("get object: %s %q %v", r.Status, b, r.Header)
	}
	// The second user's token does not open the first user's account.
	token2, _, err := sw.Auth(ctx, User2, Key2)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", storage+"/c1/o1", nil)
	req.Header.Set("X-Auth-Token", token2)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign token: %s, want 403", resp.Status)
	}
	for _, u := range []string{storage + "/c1/o1", storage + "/c1"} {
		if r := do("DELETE", u, "", nil); r.StatusCode != 204 {
			t.Fatalf("delete %s: %s", u, r.Status)
		}
	}
}

// TestCLI checks that python3-swiftclient works against the instance.
func TestCLI(t *testing.T) {
	sw := Shared(t)
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/f.txt", []byte("from the cli"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := sw.CLI(ctx, "upload", "--object-name", "f.txt", "cli", dir+"/f.txt"); err != nil {
		t.Fatal(err)
	}
	out, err := sw.CLI(ctx, "download", "cli", "f.txt", "-o", "-")
	if err != nil {
		t.Fatal(err)
	}
	if out != "from the cli" {
		t.Fatalf("download: %q", out)
	}
	if _, err := sw.CLI(ctx, "delete", "cli"); err != nil {
		t.Fatal(err)
	}
}

// Swift's servers bind with SO_REUSEPORT, so two test processes' Swifts
// must never choose the same port: the port lock excludes a second holder
// (flock locks belong to an open file, so a second one in this process
// waits like another process would), and the ports come from below the
// ephemeral range that other tests' port-0 listeners use.
func TestPortChoice(t *testing.T) {
	unlock, err := lockPorts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if second, err := lockPorts(ctx); err == nil {
		second()
		t.Fatal("a second lockPorts got the lock while the first held it")
	}
	unlock()
	again, err := lockPorts(context.Background())
	if err != nil {
		t.Fatalf("lockPorts after the release: %v", err)
	}
	again()

	ports, err := freePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := portBand()
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Errorf("port %d chosen twice: %v", p, ports)
		}
		seen[p] = true
		if hi > lo && (p < lo || p >= hi) {
			t.Errorf("port %d outside [%d, %d), below the ephemeral range: %v", p, lo, hi, ports)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Errorf("port %d is not free: %v", p, err)
			continue
		}
		l.Close()
	}
	if hi <= lo {
		t.Logf("no port band below the ephemeral range here; ports %v came from port 0", ports)
	}
}
