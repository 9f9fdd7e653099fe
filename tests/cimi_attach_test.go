package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
)

// sandboxAttachments returns, at the sandbox itself, the volume hrefs
// attached to the machine the broker made for job id, by initialLocation.
func (b *cimiBroker) sandboxAttachments(jobID string) map[string]string {
	b.t.Helper()
	var machines struct {
		Machines []struct {
			Volumes    struct{ Href string } `json:"volumes"`
			Properties map[string]string     `json:"properties"`
		} `json:"machines"`
	}
	b.sandboxGet(b.cloud+"/cimi/machines", &machines)
	out := map[string]string{}
	for _, sm := range machines.Machines {
		if sm.Properties["csb_job"] != jobID {
			continue
		}
		var col struct {
			MachineVolumes []struct {
				InitialLocation string `json:"initialLocation"`
				Volume          struct{ Href string }
			} `json:"machineVolumes"`
		}
		b.sandboxGet(sm.Volumes.Href, &col)
		for _, mv := range col.MachineVolumes {
			out[mv.InitialLocation] = mv.Volume.Href
		}
		return out
	}
	b.t.Fatalf("the sandbox has no machine of job %s", jobID)
	return nil
}

// machineVolumeBody is a MachineVolume naming volume at location.
func machineVolumeBody(format, volume, location string) []byte {
	if format == "json" {
		return []byte(fmt.Sprintf(`{"resourceURI": "http://schemas.dmtf.org/cimi/1/MachineVolume", "initialLocation": %q, "volume": {"href": %q}}`, location, volume))
	}
	return []byte(fmt.Sprintf(`<MachineVolume xmlns="http://schemas.dmtf.org/cimi/1"><initialLocation>%s</initialLocation><volume href="%s"/></MachineVolume>`, location, volume))
}

// TestCIMIAttachVolume: in both bindings, a volume of the caller's own is
// attached to the caller's running machine by a MachineVolume POSTed to
// the machine's volumes (202, the attach's Job in CIMI-Job-URI, the
// MachineVolume in Location), made at the sandbox through the CIMI
// adapter, listed on the machine and shown on the volume; an attached
// volume is neither deleted nor attached twice; another consumer's volume
// or machine is 404 both ways; DELETE of the MachineVolume detaches it
// (202, its Job) at the sandbox; deleting a machine detaches the volumes
// attached later, which outlive it.
func TestCIMIAttachVolume(t *testing.T) {
	b := startCIMIBroker(t, cimiOptions{})
	for _, format := range []string{"json", "xml"} {
		t.Run(format, func(t *testing.T) {
			b.t = t
			mk := func(user, name string) string {
				a := b.do(user, format, http.MethodPost, "/cimi/machines", cimiMachineCreate(format, name, 1, 1, nil))
				a.must(t, "create "+name, http.StatusCreated, http.StatusAccepted)
				b.waitState(user, format, a.header.Get("Location"), "STARTED")
				return a.header.Get("Location")
			}
			vol := func(user string) string {
				a := b.do(user, "json", http.MethodPost, "/cimi/volumes", []byte(`{"volumeTemplate": {"volumeConfig": {"capacity": 10485760}}}`))
				a.must(t, user+"'s volume", http.StatusCreated)
				return a.header.Get("Location")
			}
			m, m2, bobM := mk("alice", "m-"+format), mk("alice", "m2-"+format), mk("bob", "bob-"+format)
			v, bobV := vol("alice"), vol("bob")

			// Another consumer's volume, another consumer's machine.
			b.do("alice", format, http.MethodPost, m+"/volumes", machineVolumeBody(format, bobV, "/dev/vdd")).must(t, "alice attaches bob's volume", http.StatusNotFound)
			b.do("bob", format, http.MethodPost, m+"/volumes", machineVolumeBody(format, bobV, "/dev/vdd")).must(t, "bob attaches to alice's machine", http.StatusNotFound)
			b.do("bob", format, http.MethodPost, bobM+"/volumes", machineVolumeBody(format, v, "/dev/vdd")).must(t, "bob attaches alice's volume", http.StatusNotFound)
			b.do("alice", format, http.MethodPost, m+"/volumes", machineVolumeBody(format, "http://elsewhere.example/storage/x", "/dev/vdd")).must(t, "a volume of another service", http.StatusBadRequest)
			b.do("alice", format, http.MethodPost, m+"/volumes", machineVolumeBody(format, m, "/dev/vdd")).must(t, "a machine as the volume", http.StatusBadRequest)

			a := b.do("alice", format, http.MethodPost, m+"/volumes", machineVolumeBody(format, v, "/dev/vdd"))
			a.must(t, "attach", http.StatusAccepted)
			jobURI, mv := a.header.Get("CIMI-Job-URI"), a.header.Get("Location")
			if jobURI == "" || a.str("id") != jobURI || a.str("action") != "add" || a.str("state") != "SUCCESS" || a.str("targetResource") != m || !strings.HasPrefix(mv, m+"/volumes/") {
				t.Fatalf("attach answer: Job %q Location %q\n%s", jobURI, mv, a.body)
			}
			if j := b.do("alice", format, http.MethodGet, jobURI, nil); j.status != http.StatusOK || j.str("state") != "SUCCESS" {
				t.Fatalf("the attach's Job: %d\n%s", j.status, j.body)
			}
			b.do("bob", format, http.MethodGet, jobURI, nil).must(t, "bob reads alice's attach Job", http.StatusNotFound)
			if got := b.sandboxAttachments(lastSegment(m)); len(got) != 1 || got["/dev/vdd"] == "" {
				t.Fatalf("the sandbox's attachments: %v", got)
			}
			got := b.do("alice", format, http.MethodGet, mv, nil)
			if got.status != http.StatusOK || got.str("volume") != v || got.str("initialLocation") != "/dev/vdd" {
				t.Fatalf("the MachineVolume: %d\n%s", got.status, got.body)
			}
			if l := b.do("alice", format, http.MethodGet, m+"/volumes", nil).members("machineVolumes", "MachineVolume"); len(l) != 1 || l[0] != mv {
				t.Fatalf("the machine's volumes: %v", l)
			}
			if vv := b.do("alice", format, http.MethodGet, v, nil); vv.prop("csb.attached_to") != mv {
				t.Fatalf("the volume:\n%s", vv.body)
			}
			b.do("bob", format, http.MethodGet, mv, nil).must(t, "bob reads alice's MachineVolume", http.StatusNotFound)
			b.do("bob", format, http.MethodDelete, mv, nil).must(t, "bob detaches alice's volume", http.StatusNotFound)
			// Refused by the broker itself, before the provider is asked.
			if r := b.do("alice", format, http.MethodDelete, v, nil); r.status != http.StatusConflict || !strings.Contains(string(r.body), "detach it first") {
				t.Fatalf("delete an attached volume: %d\n%s", r.status, r.body)
			}
			b.do("alice", format, http.MethodPost, m2+"/volumes", machineVolumeBody(format, v, "/dev/vde")).must(t, "attach an attached volume", http.StatusConflict)

			// Detach.
			d := b.do("alice", format, http.MethodDelete, mv, nil)
			d.must(t, "detach", http.StatusAccepted)
			if d.header.Get("CIMI-Job-URI") == "" || d.str("action") != "delete" || d.str("state") != "SUCCESS" {
				t.Fatalf("detach answer:\n%s", d.body)
			}
			if got := b.sandboxAttachments(lastSegment(m)); len(got) != 0 {
				t.Fatalf("the sandbox still attaches %v", got)
			}
			b.do("alice", format, http.MethodGet, mv, nil).must(t, "a detached MachineVolume", http.StatusNotFound)
			b.do("alice", format, http.MethodDelete, mv, nil).must(t, "detach twice", http.StatusNotFound)

			// Attached to m2, which is deleted: the volume stays, free.
			b.do("alice", format, http.MethodPost, m2+"/volumes", machineVolumeBody(format, v, "/dev/vde")).must(t, "attach to m2", http.StatusAccepted)
			b.do("alice", format, http.MethodDelete, m2, nil).must(t, "delete m2", http.StatusOK)
			if vv := b.do("alice", format, http.MethodGet, v, nil); vv.status != http.StatusOK || vv.prop("csb.attached_to") != "" {
				t.Fatalf("the volume after its machine's delete: %d\n%s", vv.status, vv.body)
			}
			b.do("alice", format, http.MethodDelete, v, nil).must(t, "delete the detached volume", http.StatusOK)
			for _, h := range []string{m, bobM} {
				owner := "alice"
				if h == bobM {
					owner = "bob"
				}
				b.do(owner, "json", http.MethodDelete, h, nil).must(t, "delete "+h, http.StatusOK)
			}
			b.do("bob", "json", http.MethodDelete, bobV, nil).must(t, "delete bob's volume", http.StatusOK)
		})
	}
}

// TestCIMIAttachVolumeUnsupported: a machine placed on a provider whose
// adapter cannot attach a volume to an existing machine (OCCI here, as
// OpenStack and AWS) answers 501 with the provider's name, and nothing is
// attached.
func TestCIMIAttachVolumeUnsupported(t *testing.T) {
	fx := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
	b := startCIMIBroker(t, cimiOptions{providers: fmt.Sprintf(`		provider occi {
			adapter occi %s/
			auth basic provider-user provider-pass
			service vm-occi {
				kind iaas
				compute {
					architecture x86_64
					cores 8
					memory 16
				}
			}
		}`, fx.URL)})
	a := b.do("alice", "json", http.MethodPost, "/cimi/machines", cimiMachineCreate("json", "occi", 1, 1, map[string]string{"csb.provider": "occi"}))
	a.must(t, "create at occi", http.StatusCreated, http.StatusAccepted)
	m := a.header.Get("Location")
	b.waitState("alice", "json", m, "STARTED")
	v := b.do("alice", "json", http.MethodPost, "/cimi/volumes", []byte(`{"volumeTemplate": {"volumeConfig": {"capacity": 10485760}}}`))
	v.must(t, "volume", http.StatusCreated)
	for _, format := range []string{"json", "xml"} {
		r := b.do("alice", format, http.MethodPost, m+"/volumes", machineVolumeBody(format, v.header.Get("Location"), "/dev/vdd"))
		r.must(t, "attach at occi ("+format+")", http.StatusNotImplemented)
		if !strings.Contains(string(r.body), "provider occi cannot attach a volume") {
			t.Fatalf("501 without the reason:\n%s", r.body)
		}
	}
	if l := b.do("alice", "json", http.MethodGet, m+"/volumes", nil).members("machineVolumes", "MachineVolume"); len(l) != 0 {
		t.Fatalf("attached anyway: %v", l)
	}
}
