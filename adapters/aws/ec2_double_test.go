package aws

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/template"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
)

// ec2Double is an EC2 Query API double built from the API reference's
// response shapes (testdata/ec2). It keeps instances with their state
// transitions (one step per DescribeInstances), honours client tokens,
// and refuses transitions EC2 refuses (IncorrectInstanceState).
type ec2Double struct {
	t   *testing.T
	srv *httptest.Server
	tpl *template.Template

	faults adaptertest.Faults

	mu        sync.Mutex
	instances map[string]*fakeInstance
	byToken   map[string]string
	next      int
	calls     []string // Action names, in order
	lastForm  map[string][]string
	vcpuLimit int
	// lacking are instance types of DefaultInstanceTypes the double's
	// region does not offer (as t4g is missing from some regions).
	lacking map[string]bool
}

type fakeInstance struct {
	ID, Suffix, ImageID, Type, Arch, ClientToken string
	State                                        string
	Cores                                        int
	Tags                                         map[string]string
	then                                         string // state the next DescribeInstances moves to
}

// StateCode is the EC2 state code of the instance's state.
func (i *fakeInstance) StateCode() int { return stateCodes[i.State] }

var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

const (
	dblAccessKey = "AKIDEXAMPLE"
	dblSecret    = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

func newEC2Double(t *testing.T) *ec2Double {
	tpl, err := template.ParseGlob(filepath.Join("testdata", "ec2", "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	d := &ec2Double{t: t, tpl: tpl, instances: map[string]*fakeInstance{}, byToken: map[string]string{}, vcpuLimit: 1 << 20}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.srv.Close)
	t.Cleanup(func() { d.faults.Apply(adaptertest.Fault{}) }) // releases hung calls
	return d
}

func (d *ec2Double) applyFault(f adaptertest.Fault) { d.faults.Apply(f) }

// inventory counts instances that are not terminated.
func (d *ec2Double) inventory() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, in := range d.instances {
		if in.State != "terminated" && in.State != "shutting-down" {
			n++
		}
	}
	return n
}

func (d *ec2Double) instance(id string) fakeInstance {
	d.mu.Lock()
	defer d.mu.Unlock()
	return *d.instances[id]
}

func (d *ec2Double) render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := d.tpl.ExecuteTemplate(&b, name, data); err != nil {
		d.t.Error(err)
	}
	var probe struct{}
	if err := xml.Unmarshal(b.Bytes(), &probe); err != nil {
		d.t.Errorf("%s renders invalid XML: %v\n%s", name, err, b.String())
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

func (d *ec2Double) fail(w http.ResponseWriter, status int, code, msg string) {
	d.render(w, status, "error.xml", map[string]string{"Code": code, "Message": msg, "RequestID": "req-err"})
}

func (d *ec2Double) serve(w http.ResponseWriter, r *http.Request) {
	if d.faults.Intercept(w, r, func(w http.ResponseWriter, status int) {
		d.fail(w, status, map[int]string{400: "InvalidParameterValue", 500: "InternalError", 503: "Unavailable"}[status], "injected fault")
	}) {
		return
	}
	// Every call is SigV4-signed with the configured key for the ec2
	// service.
	if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+dblAccessKey+"/") || !strings.Contains(auth, "/ec2/aws4_request") {
		d.fail(w, 401, "AuthFailure", "AWS was not able to validate the provided access credentials")
		return
	}
	if err := r.ParseForm(); err != nil {
		d.fail(w, 400, "InvalidParameterValue", err.Error())
		return
	}
	form := r.Form
	if form.Get("Version") != "2016-11-15" {
		d.fail(w, 400, "InvalidParameterValue", "unsupported API version")
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	action := form.Get("Action")
	d.calls = append(d.calls, action)
	d.lastForm = form
	ids := indexed(form, "InstanceId")
	for _, id := range ids {
		if d.instances[id] == nil {
			d.fail(w, 400, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", id))
			return
		}
	}
	reqID := fmt.Sprintf("req-%d", len(d.calls))
	switch action {
	case "RunInstances":
		d.run(w, form, reqID)
	case "DescribeInstances":
		var list []*fakeInstance
		for _, id := range ids {
			list = append(list, d.instances[id])
		}
		if len(ids) == 0 {
			list = d.filtered(form)
		}
		d.render(w, 200, "describe-instances.xml", map[string]any{"RequestID": reqID, "Instances": list})
		for _, in := range list {
			if in.then != "" {
				in.State, in.then = in.then, ""
			}
		}
	case "StartInstances", "StopInstances", "TerminateInstances":
		in := d.instances[ids[0]]
		prev := in.State
		var ok bool
		switch action {
		case "StartInstances":
			ok = prev == "stopped" || prev == "running"
			if prev == "stopped" {
				in.State, in.then = "pending", "running"
			}
		case "StopInstances":
			ok = prev == "running" || prev == "stopped"
			if prev == "running" {
				in.State, in.then = "stopping", "stopped"
			}
		case "TerminateInstances":
			ok = true
			if prev != "terminated" {
				in.State, in.then = "shutting-down", "terminated"
			}
		}
		if !ok {
			d.fail(w, 400, "IncorrectInstanceState", fmt.Sprintf("The instance '%s' is not in a state from which it can be %s.", in.ID, strings.ToLower(strings.TrimSuffix(action, "Instances"))+"ed"))
			return
		}
		d.render(w, 200, "state-change.xml", map[string]any{"Action": action, "RequestID": reqID, "ID": in.ID,
			"Current": in.State, "CurrentCode": stateCodes[in.State], "Previous": prev, "PreviousCode": stateCodes[prev]})
	case "RebootInstances":
		if d.instances[ids[0]].State != "running" {
			d.fail(w, 400, "IncorrectInstanceState", "The instance is not running.")
			return
		}
		d.render(w, 200, "return.xml", map[string]any{"Action": action, "RequestID": reqID})
	case "ModifyInstanceAttribute":
		in := d.instances[form.Get("InstanceId")]
		if in == nil {
			d.fail(w, 400, "InvalidInstanceID.NotFound", "no such instance")
			return
		}
		if in.State != "stopped" {
			d.fail(w, 400, "IncorrectInstanceState", "The instance must be stopped to change its type.")
			return
		}
		in.Type = form.Get("InstanceType.Value")
		d.render(w, 200, "return.xml", map[string]any{"Action": action, "RequestID": reqID})
	case "DescribeInstanceTypes":
		// EC2 refuses the whole call when an InstanceType.N names a type
		// the region does not offer; a filter's values only select.
		var types []InstanceType
		var unknown []string
		for _, name := range indexed(form, "InstanceType") {
			t, ok := d.offered(name)
			if !ok {
				unknown = append(unknown, name)
				continue
			}
			types = append(types, t)
		}
		if len(unknown) > 0 {
			d.fail(w, 400, "InvalidInstanceType", "The following supplied instance types do not exist: ["+strings.Join(unknown, ", ")+"]")
			return
		}
		for i := 1; ; i++ {
			name := form[fmt.Sprintf("Filter.%d.Name", i)]
			if len(name) == 0 {
				break
			}
			if name[0] != "instance-type" {
				d.fail(w, 400, "InvalidParameterValue", "filter "+name[0]+" is not known to the double")
				return
			}
			for _, v := range indexed(form, fmt.Sprintf("Filter.%d.Value", i)) {
				if t, ok := d.offered(v); ok {
					types = append(types, t)
				}
			}
		}
		d.render(w, 200, "describe-instance-types.xml", map[string]any{"RequestID": reqID, "Types": types})
	default:
		d.fail(w, 400, "InvalidAction", "The action "+action+" is not valid for this web service.")
	}
}

func (d *ec2Double) run(w http.ResponseWriter, form map[string][]string, reqID string) {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if tok := get("ClientToken"); tok != "" {
		if id, ok := d.byToken[tok]; ok {
			d.render(w, 200, "run-instances.xml", map[string]any{"RequestID": reqID, "Suffix": d.instances[id].Suffix, "Instance": d.instances[id]})
			return
		}
	}
	if get("ImageId") == "" || get("MinCount") != "1" || get("MaxCount") != "1" {
		d.fail(w, 400, "MissingParameter", "ImageId, MinCount and MaxCount are required")
		return
	}
	var it *InstanceType
	for _, t := range DefaultInstanceTypes {
		if t.Name == get("InstanceType") {
			it = &t
		}
	}
	if it == nil {
		d.fail(w, 400, "InvalidParameterValue", "Invalid instance type")
		return
	}
	if it.VCPUs > d.vcpuLimit {
		d.fail(w, 400, "VcpuLimitExceeded", "You have requested more vCPU capacity than your current vCPU limit allows")
		return
	}
	d.next++
	in := &fakeInstance{
		ID: fmt.Sprintf("i-0a1b2c3d4e5f%05d", d.next), Suffix: fmt.Sprintf("0a1b2c3d%05d", d.next),
		ImageID: get("ImageId"), Type: it.Name, Arch: it.Architecture, ClientToken: get("ClientToken"),
		State: "pending", then: "running", Cores: it.VCPUs, Tags: map[string]string{},
	}
	for i := 1; ; i++ {
		k := get(fmt.Sprintf("TagSpecification.1.Tag.%d.Key", i))
		if k == "" {
			break
		}
		in.Tags[k] = get(fmt.Sprintf("TagSpecification.1.Tag.%d.Value", i))
	}
	d.instances[in.ID] = in
	if in.ClientToken != "" {
		d.byToken[in.ClientToken] = in.ID
	}
	d.render(w, 200, "run-instances.xml", map[string]any{"RequestID": reqID, "Suffix": in.Suffix, "Instance": in})
}

// offered returns the instance type name of the double's region.
func (d *ec2Double) offered(name string) (InstanceType, bool) {
	for _, t := range DefaultInstanceTypes {
		if t.Name == name && !d.lacking[name] {
			return t, true
		}
	}
	return InstanceType{}, false
}

// filtered returns the instances that pass every Filter.N of a
// DescribeInstances call (EC2 API reference: "tag:<key>",
// "instance-state-name" and "client-token"; the values of one filter are
// alternatives).
func (d *ec2Double) filtered(form map[string][]string) []*fakeInstance {
	var out []*fakeInstance
	for _, id := range slices.Sorted(maps.Keys(d.instances)) {
		in := d.instances[id]
		ok := true
		for i := 1; ; i++ {
			name := form[fmt.Sprintf("Filter.%d.Name", i)]
			if len(name) == 0 {
				break
			}
			values := indexed(form, fmt.Sprintf("Filter.%d.Value", i))
			switch {
			case strings.HasPrefix(name[0], "tag:"):
				ok = ok && slices.Contains(values, in.Tags[strings.TrimPrefix(name[0], "tag:")])
			case name[0] == "instance-state-name":
				ok = ok && slices.Contains(values, in.State)
			case name[0] == "client-token":
				ok = ok && slices.Contains(values, in.ClientToken)
			default:
				ok = false // a filter the double does not know matches nothing
			}
		}
		if ok {
			out = append(out, in)
		}
	}
	return out
}

// indexed returns the values of prefix.1, prefix.2, ...
func indexed(form map[string][]string, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v := form[fmt.Sprintf("%s.%d", prefix, i)]
		if len(v) == 0 {
			return out
		}
		out = append(out, v[0])
	}
}
