package tests

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// i17DefectsSilentPeer accepts connections and never answers on them,
// as a provider that hangs does.
type i17DefectsSilentPeer struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func i17DefectsNewSilentPeer(t *testing.T) *i17DefectsSilentPeer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &i17DefectsSilentPeer{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

func (p *i17DefectsSilentPeer) URL() string {
	return "http://" + p.l.Addr().String() + "/csb/subscribe"
}

// TestI17DefectsUngrantedSubscriptionIsNamed: a provider that never
// answers the broker's create still has a subscription record in GET
// /csb/subscriptions that names it and its URL, with the id of the create
// sent, inactive, with its failures; ?provider= finds it; the XML view
// names it too and shows no draft <subscription>, since none was
// granted.
func TestI17DefectsUngrantedSubscriptionIsNamed(t *testing.T) {
	silent := i17DefectsNewSilentPeer(t)
	port := harness.FreePort(t)
	p := harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider silent {
			subscribe %s {
				expires 10m
			}
		}
		subscriptions {
			timeout 300ms
			retry 100ms 200ms
		}
	}
}

http://127.0.0.1:%d {
	csb
}
`, silent.URL(), port))
	type rec struct {
		ProviderID string `json:"provider_id"`
		URL        string `json:"url"`
		ID         string `json:"id"`
		Active     bool   `json:"active"`
		Status     string `json:"status"`
		LastError  string `json:"last_error"`
		Failures   int    `json:"failures"`
	}
	var subs []rec
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, _, data := adminDo(t, p.AdminAddr, http.MethodGet, "/csb/subscriptions?provider=silent", "application/json", "", nil)
		subs = nil
		if status != 200 || json.Unmarshal(data, &subs) != nil {
			t.Fatalf("subscriptions: %d %s", status, data)
		}
		if len(subs) == 1 && subs[0].Failures >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed attempt recorded: %s", data)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s := subs[0]
	if s.ProviderID != "silent" || s.URL != silent.URL() || s.ID == "" || s.Active || s.Status != "retrying" || !strings.Contains(s.LastError, "create") {
		t.Fatalf("record of the provider that never answers: %+v", s)
	}
	status, _, data := adminDo(t, p.AdminAddr, http.MethodGet, "/csb/subscriptions?provider=silent", "application/xml", "", nil)
	if status != 200 || !strings.Contains(string(data), `provider="silent"`) || !strings.Contains(string(data), `url="`+silent.URL()+`"`) ||
		strings.Contains(string(data), "<subscription") {
		t.Fatalf("as XML: %d\n%s", status, data)
	}
}
