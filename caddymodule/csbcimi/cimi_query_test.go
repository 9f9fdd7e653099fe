package csbcimi

import (
	"bytes"
	"encoding/xml"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// TestCIMIFilter: DSP0263's $filter grammar, evaluated on a Machine.
func TestCIMIFilter(t *testing.T) {
	m := obj{"name": "web", "cpu": uint64(2), "state": "STARTED", "created": "2026-12-06T10:00:00Z",
		"properties": props{"team": "blue"}, "machineImage": ref{Href: "http://x/images/1"}}
	for _, c := range []struct {
		filter string
		want   bool
	}{
		{"name='web'", true},
		{`name="web"`, true},
		{"name!='web'", false},
		{"'web'=name", true},
		{"cpu>=2 and cpu<3", true},
		{"cpu>2", false},
		{"2<cpu", false},
		{"state='STOPPED' or cpu=2", true},
		{"(state='STOPPED' or cpu=2) and name='db'", false},
		{"property['team']='blue'", true},
		{"property['team']!='blue'", false},
		{"property['none']='x'", false},
		{"created>'2026-12-01T00:00:00Z'", true},
		{"machineImage='http://x/images/1'", true},
		{"missing='x'", false},
		{"missing!='x'", false},
	} {
		e, err := parseFilter(c.filter)
		if err != nil {
			t.Errorf("%s: %v", c.filter, err)
			continue
		}
		if got := e.eval(m); got != c.want {
			t.Errorf("%s: %v, want %v", c.filter, got, c.want)
		}
	}
	for _, bad := range []string{"", "name=", "name==", "name='x", "name 'x'", "cpu=two", "property['a' = 'b'", "property['a']=1", "name='x' and", "(name='x'", "a=b", "name!'x'"} {
		if _, err := parseFilter(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestCIMIQueryWindow: $first and $last are 1-based and inclusive; count
// is the number of members that pass $filter.
func TestCIMIQueryWindow(t *testing.T) {
	q, err := parseQuery(url.Values{"$first": {"2"}, "$last": {"3"}, "$select": {"name"}})
	if err != nil {
		t.Fatal(err)
	}
	var ms []obj
	for _, n := range []string{"a", "b", "c", "d"} {
		ms = append(ms, obj{"resourceURI": NS + "/Machine", "id": n, "name": n, "cpu": 1})
	}
	c := &call{base: "http://b/cimi/"}
	col := c.collection("Machine", "machines", ms, q, true)
	got := col["machines"].([]obj)
	if col["count"] != 4 || len(got) != 2 || got[0]["name"] != "b" || got[1]["name"] != "c" || got[0]["cpu"] != nil {
		t.Fatalf("%v", col)
	}
	for _, bad := range []url.Values{{"$first": {"0"}}, {"$last": {"x"}}, {"$first": {"3"}, "$last": {"2"}}} {
		if _, err := parseQuery(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestCIMIXMLBinding: a rendered resource is well-formed XML in the CIMI
// namespace, with references as href attributes, properties as
// <property key>, operations last; an XML MachineCreate decodes.
func TestCIMIXMLBinding(t *testing.T) {
	rec := httptest.NewRecorder()
	o := obj{"resourceURI": NS + "/Machine", "id": "http://b/m/1", "name": "a<b", "state": "STARTED",
		"volumes": ref{Href: "http://b/m/1/volumes"}, "properties": props{"k": "v"},
		"operations": []op{{Rel: "edit", Href: "http://b/m/1"}}}
	if err := write(rec, formatXML, 200, o); err != nil {
		t.Fatal(err)
	}
	body := rec.Body.String()
	for _, want := range []string{`<Machine xmlns="` + NS + `">`, `<name>a&lt;b</name>`, `<volumes href="http://b/m/1/volumes"></volumes>`, `<property key="k">v</property>`} {
		if !strings.Contains(body, want) {
			t.Errorf("lacks %s:\n%s", want, body)
		}
	}
	if strings.Index(body, "<operation") < strings.Index(body, "<state>") {
		t.Errorf("operations not last:\n%s", body)
	}
	if err := xml.Unmarshal(rec.Body.Bytes(), new(struct{})); err != nil {
		t.Fatalf("not well-formed: %v", err)
	}
	req := httptest.NewRequest("POST", "/cimi/machines", bytes.NewReader([]byte(`<MachineCreate xmlns="`+NS+`"><name>n</name><property key="a">1</property><property key="b">2</property>
<machineTemplate><machineConfig><cpu>2</cpu><memory>1048576</memory></machineConfig><machineImage href="i"/></machineTemplate></MachineCreate>`)))
	req.Header.Set("Content-Type", "application/xml")
	var mc machineCreate
	if err := readBody(httptest.NewRecorder(), req, 1<<16, "MachineCreate", &mc); err != nil {
		t.Fatal(err)
	}
	if mc.Name != "n" || mc.Properties["a"] != "1" || mc.Properties["b"] != "2" || mc.MachineTemplate.MachineConfig.CPU != 2 || mc.MachineTemplate.MachineImage.Href != "i" {
		t.Fatalf("%+v", mc)
	}
	req = httptest.NewRequest("POST", "/cimi/machines", strings.NewReader(`<Machine xmlns="`+NS+`"/>`))
	req.Header.Set("Content-Type", "application/xml")
	if err := readBody(httptest.NewRecorder(), req, 1<<16, "MachineCreate", &mc); err == nil || !strings.Contains(err.Error(), "root element") {
		t.Fatalf("wrong root: %v", err)
	}
}

// TestCIMIJobsOf: a broker job's CIMI Jobs; the latest action's Job runs
// while the provider's machine is in transition.
func TestCIMIJobsOf(t *testing.T) {
	c := &call{base: "http://b/cimi/"}
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	j := &jobs.Job{ID: "J", Owner: "alice", Status: jobs.StatusRemoved, Kind: catalog.KindIaaS, ProviderID: "p",
		Request:  csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{}}},
		Attempts: []jobs.Attempt{{ProviderID: "q", Purpose: jobs.OpCreate, Outcome: jobs.OutcomeFailed}, {ProviderID: "p", Purpose: jobs.OpCreate, Outcome: jobs.OutcomeSuccess}},
		Actions:  []jobs.ActionRecord{{Action: "stop", Started: now, Ended: now, Outcome: jobs.OutcomeSuccess}}}
	all := c.jobsOf(j, "STOPPING")
	var ids, states []string
	for _, o := range all {
		ids = append(ids, strings.TrimPrefix(o["id"].(string), c.base+"jobs/J"))
		states = append(states, o["state"].(string))
	}
	if strings.Join(ids, " ") != ".create .attempt-1 .attempt-2 .action-"+strconv.FormatInt(now.UnixNano(), 36)+" .delete" ||
		strings.Join(states, " ") != "SUCCESS FAILED SUCCESS RUNNING SUCCESS" {
		t.Fatalf("%v %v", ids, states)
	}
	if n := all[0]["nestedJobs"].([]ref); len(n) != 2 {
		t.Fatalf("nestedJobs %v", n)
	}
	if st := c.jobsOf(j, "STOPPED")[3]["state"]; st != "SUCCESS" {
		t.Fatalf("after the transition: %v", st)
	}
}
