package tests

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/caddy-csb/caddy-csb/broker/digest"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// cimiBroker is a real Caddy serving the CIMI front-end at /cimi/ and the
// Consumer interface at /csb/consumer, both behind digest_auth (alice
// and bob from examples/users.htdigest), over one sandbox cloud (another
// Caddy site) reached through the CIMI adapter.
type cimiBroker struct {
	t     *testing.T
	p     *harness.Process
	base  string // http://127.0.0.1:<port>
	cloud string // the sandbox's base URL
	users map[string]*http.Client
}

var cimiPasswords = map[string]string{"alice": "wonderland", "bob": "builder"}

// cimiOptions shape the broker's Caddyfile.
type cimiOptions struct {
	buildTime string // the sandbox's build_time (default 300ms)
	cimiBlock string // lines inside csb_cimi { }
	jobs      string // extra lines of the jobs block
	extra     string // more sites
	providers string // more providers
}

func startCIMIBroker(t *testing.T, o cimiOptions) *cimiBroker {
	t.Helper()
	if o.buildTime == "" {
		o.buildTime = "300ms"
	}
	htfile, err := filepath.Abs("../examples/users.htdigest")
	if err != nil {
		t.Fatal(err)
	}
	port, cloud := harness.FreePort(t), harness.FreePort(t)
	b := &cimiBroker{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), cloud: fmt.Sprintf("http://127.0.0.1:%d", cloud), users: map[string]*http.Client{}}
	caddyfile := fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider cloud-a {
			adapter cimi http://127.0.0.1:%[2]d/cimi/
			service vm {
				kind iaas
				compute {
					architecture x86_64
					cores 8
					memory 16
				}
				storage {
					size 100
				}
				storagelink {
					mountpoint /dev/vdb
				}
			}
		}
%[6]s
		jobs {
			lease_min 1s
			reap_interval 100ms
			respond_within 5s
			poll_interval 50ms
%[4]s
		}
	}
}

http://127.0.0.1:%[1]d {
	digest_auth csb-consumer {
		algorithms MD5 SHA-256
		htdigest %[3]s
	}
	csb_cimi {
%[5]s
	}
	csb
	respond 404
}

http://127.0.0.1:%[2]d {
	csb_sandbox cloud-a {
		capacity 8 16 200
		architecture x86_64
		build_time %[7]s
	}
}
%[8]s
`, port, cloud, htfile, o.jobs, o.cimiBlock, o.providers, o.buildTime, o.extra)
	b.p = harness.Start(t, caddyfile)
	for u, pw := range cimiPasswords {
		b.users[u] = &http.Client{Timeout: 30 * time.Second, Transport: &digest.Transport{Username: u, Password: pw}}
	}
	return b
}

// cimiAnswer is one answer of the front-end.
type cimiAnswer struct {
	status int
	header http.Header
	body   []byte
	xml    bool
	json   map[string]any
	doc    *etree.Element
}

// do sends a request as user; format is "json" or "xml" (the Accept and,
// with a body, the Content-Type).
func (b *cimiBroker) do(user, format, method, url string, body []byte) *cimiAnswer {
	b.t.Helper()
	if !strings.HasPrefix(url, "http") {
		url = b.base + url
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	mt := "application/" + format
	req.Header.Set("Accept", mt)
	if body != nil {
		req.Header.Set("Content-Type", mt)
	}
	resp, err := b.users[user].Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return cimiParse(b.t, resp, data, format)
}

func cimiParse(t *testing.T, resp *http.Response, data []byte, format string) *cimiAnswer {
	t.Helper()
	a := &cimiAnswer{status: resp.StatusCode, header: resp.Header, body: data, xml: format == "xml"}
	if len(bytes.TrimSpace(data)) == 0 {
		return a
	}
	ct := resp.Header.Get("Content-Type")
	switch {
	case format == "json":
		if !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("Content-Type %q, want application/json:\n%s", ct, data)
		}
		if err := json.Unmarshal(data, &a.json); err != nil {
			t.Fatalf("answer is not JSON: %v\n%s", err, data)
		}
	default:
		if !strings.HasPrefix(ct, "application/xml") {
			t.Fatalf("Content-Type %q, want application/xml:\n%s", ct, data)
		}
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(data); err != nil || doc.Root() == nil {
			t.Fatalf("answer is not XML: %v\n%s", err, data)
		}
		if ns := doc.Root().SelectAttrValue("xmlns", ""); ns != "http://schemas.dmtf.org/cimi/1" {
			t.Fatalf("XML root has namespace %q:\n%s", ns, data)
		}
		a.doc = doc.Root()
	}
	return a
}

// str returns a top-level attribute as a string: a JSON scalar or
// {"href"}, an XML child's text or href.
func (a *cimiAnswer) str(name string) string {
	if a.xml {
		if a.doc == nil {
			return ""
		}
		el := a.doc.SelectElement(name)
		if el == nil {
			return ""
		}
		if h := el.SelectAttr("href"); h != nil {
			return h.Value
		}
		return el.Text()
	}
	switch v := a.json[name].(type) {
	case string:
		return v
	case float64:
		return fmt.Sprint(int64(v))
	case bool:
		return fmt.Sprint(v)
	case map[string]any:
		s, _ := v["href"].(string)
		return s
	}
	return ""
}

// prop returns a property.
func (a *cimiAnswer) prop(key string) string {
	if a.xml {
		for _, el := range a.doc.SelectElements("property") {
			if el.SelectAttrValue("key", "") == key {
				return el.Text()
			}
		}
		return ""
	}
	p, _ := a.json["properties"].(map[string]any)
	s, _ := p[key].(string)
	return s
}

// members returns a collection's members' ids (JSON array name, XML
// element name).
func (a *cimiAnswer) members(jsonName, xmlName string) []string {
	var ids []string
	if a.xml {
		for _, el := range a.doc.SelectElements(xmlName) {
			if id := el.SelectElement("id"); id != nil {
				ids = append(ids, id.Text())
			}
		}
		return ids
	}
	arr, _ := a.json[jsonName].([]any)
	for _, m := range arr {
		if mm, ok := m.(map[string]any); ok {
			s, _ := mm["id"].(string)
			ids = append(ids, s)
		}
	}
	return ids
}

// ops returns the operation rels of a resource.
func (a *cimiAnswer) ops() []string {
	var rels []string
	if a.xml {
		for _, el := range a.doc.SelectElements("operation") {
			rels = append(rels, el.SelectAttrValue("rel", ""))
		}
		return rels
	}
	arr, _ := a.json["operations"].([]any)
	for _, m := range arr {
		if mm, ok := m.(map[string]any); ok {
			s, _ := mm["rel"].(string)
			rels = append(rels, s)
		}
	}
	return rels
}

func (a *cimiAnswer) must(t *testing.T, what string, want ...int) {
	t.Helper()
	for _, w := range want {
		if a.status == w {
			return
		}
	}
	t.Fatalf("%s: HTTP %d, want %v\n%s", what, a.status, want, a.body)
}

// machineCreate is a MachineCreate in either binding with an inline
// machineConfig of cpu cores and memGB GB.
func cimiMachineCreate(format, name string, cpu, memGB int, props map[string]string) []byte {
	if format == "json" {
		body := map[string]any{
			"resourceURI": "http://schemas.dmtf.org/cimi/1/MachineCreate",
			"name":        name,
			"description": "made by " + name,
			"machineTemplate": map[string]any{
				"machineConfig": map[string]any{"cpu": cpu, "memory": memGB * 1048576, "cpuArch": "x86_64"},
			},
		}
		if props != nil {
			body["properties"] = props
		}
		data, _ := json.Marshal(body)
		return data
	}
	var p strings.Builder
	for k, v := range props {
		fmt.Fprintf(&p, `<property key="%s">%s</property>`, k, v)
	}
	return []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<MachineCreate xmlns="http://schemas.dmtf.org/cimi/1">
  <name>%s</name>
  <description>made by %s</description>
  %s
  <machineTemplate>
    <machineConfig><cpu>%d</cpu><memory>%d</memory><cpuArch>x86_64</cpuArch></machineConfig>
  </machineTemplate>
</MachineCreate>`, name, name, p.String(), cpu, memGB*1048576))
}

func cimiActionBody(format, action string) []byte {
	uri := "http://schemas.dmtf.org/cimi/1/action/" + action
	if format == "json" {
		return []byte(`{"resourceURI": "http://schemas.dmtf.org/cimi/1/Action", "action": "` + uri + `"}`)
	}
	return []byte(`<Action xmlns="http://schemas.dmtf.org/cimi/1"><action>` + uri + `</action></Action>`)
}

// waitState polls the machine until its state is want.
func (b *cimiBroker) waitState(user, format, href, want string) *cimiAnswer {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		a := b.do(user, format, http.MethodGet, href, nil)
		if a.status == http.StatusOK && a.str("state") == want {
			return a
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("machine %s never reached %s; last answer %d\n%s", href, want, a.status, a.body)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

// sandboxMachineState reads, at the sandbox itself, the state of the
// machine the broker made for job id (tagged properties.csb_job).
func (b *cimiBroker) sandboxMachineState(jobID string) string {
	b.t.Helper()
	resp, err := http.Get(b.cloud + "/cimi/machines")
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var col struct {
		Machines []struct {
			State      string            `json:"state"`
			Properties map[string]string `json:"properties"`
		} `json:"machines"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&col); err != nil {
		b.t.Fatal(err)
	}
	for _, m := range col.Machines {
		if m.Properties["csb_job"] == jobID {
			return m.State
		}
	}
	return ""
}

func lastSegment(href string) string { return href[strings.LastIndex(href, "/")+1:] }

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func xmlUnmarshal(data []byte, v any) error { return xml.Unmarshal(data, v) }

// sandboxGet GETs a URL at the sandbox and decodes its JSON.
func (b *cimiBroker) sandboxGet(url string, v any) {
	b.t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		b.t.Fatal(err)
	}
}
