package tests

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestCIMIVolumes: volumeConfigs list the catalogue's storage offers; a
// VolumeCreate makes a volume at the sandbox; a MachineCreate with a
// volumeTemplate makes a machine whose provider (the sandbox, through
// the CIMI adapter) attaches the volume, shown as the machine's
// MachineVolume; a volume attached to it later is detached when the
// machine is deleted, and the machine's own volume goes with it.
func TestCIMIVolumes(t *testing.T) {
	b := startCIMIBroker(t, cimiOptions{})
	l := b.do("alice", "json", http.MethodGet, "/cimi/volumeConfigs", nil)
	if got := l.members("volumeConfigurations", "VolumeConfiguration"); !slices.Equal(got, []string{b.base + "/cimi/volumeConfigs/s100"}) {
		t.Fatalf("volumeConfigs: %v\n%s", got, l.body)
	}
	cep := b.do("alice", "xml", http.MethodGet, "/cimi/", nil)
	if cep.str("volumes") != b.base+"/cimi/volumes" || cep.str("volumeConfigs") != b.base+"/cimi/volumeConfigs" {
		t.Fatalf("CloudEntryPoint:\n%s", cep.body)
	}

	// A volume of its own.
	a := b.do("alice", "json", http.MethodPost, "/cimi/volumes", []byte(`{"name": "data", "volumeTemplate": {"volumeConfig": {"capacity": 10485760}}}`))
	a.must(t, "VolumeCreate", http.StatusCreated, http.StatusAccepted)
	vol := a.header.Get("Location")
	v := b.do("alice", "xml", http.MethodGet, vol, nil)
	if v.str("state") != "AVAILABLE" || v.str("capacity") != "10485760" || v.str("name") != "data" || v.prop("csb.provider") != "cloud-a" {
		t.Fatalf("volume:\n%s", v.body)
	}
	var vols struct {
		Volumes []struct {
			Capacity   uint64            `json:"capacity"`
			Properties map[string]string `json:"properties"`
		} `json:"volumes"`
	}
	b.sandboxGet(b.cloud+"/cimi/volumes", &vols)
	if len(vols.Volumes) != 1 || vols.Volumes[0].Properties["csb_job"] != lastSegment(vol) || vols.Volumes[0].Capacity != 10485760 {
		t.Fatalf("sandbox volumes: %+v", vols)
	}
	if got := b.do("alice", "json", http.MethodGet, "/cimi/volumes", nil).members("volumes", "Volume"); !slices.Equal(got, []string{vol}) {
		t.Fatalf("volumes: %v", got)
	}
	b.do("bob", "json", http.MethodGet, vol, nil).must(t, "bob reads alice's volume", http.StatusNotFound)

	// A machine created with a volume, attached by its provider.
	create := []byte(`<MachineCreate xmlns="http://schemas.dmtf.org/cimi/1"><name>db</name><machineTemplate>
<machineConfig><cpu>1</cpu><memory>1048576</memory></machineConfig>
<volumeTemplate><volumeConfig><capacity>5242880</capacity></volumeConfig><initialLocation>/dev/vdc</initialLocation></volumeTemplate>
</machineTemplate></MachineCreate>`)
	a = b.do("alice", "xml", http.MethodPost, "/cimi/machines", create)
	a.must(t, "MachineCreate with a volumeTemplate", http.StatusCreated, http.StatusAccepted)
	m := a.header.Get("Location")
	id := lastSegment(m)
	b.waitState("alice", "xml", m, "STARTED")
	mv := b.do("alice", "json", http.MethodGet, m+"/volumes", nil)
	mv.must(t, "machine volumes", http.StatusOK)
	arr, _ := mv.json["machineVolumes"].([]any)
	if len(arr) != 1 || !strings.Contains(string(mv.body), `"initialLocation":"/dev/vdc"`) || !strings.Contains(string(mv.body), b.base+"/cimi/volumes/"+id) {
		t.Fatalf("MachineVolumes:\n%s", mv.body)
	}
	mvol := b.do("alice", "json", http.MethodGet, "/cimi/volumes/"+id, nil)
	if mvol.str("capacity") != "5242880" || mvol.prop("csb.machine") != m {
		t.Fatalf("the machine's volume:\n%s", mvol.body)
	}
	// At the sandbox, the machine has the volume attached at /dev/vdc.
	if got := b.sandboxAttachments(id); len(got) != 1 || got["/dev/vdc"] == "" {
		t.Fatalf("the sandbox's machine volumes: %v", got)
	}

	b.do("alice", "json", http.MethodDelete, "/cimi/volumes/"+id, nil).must(t, "delete a machine's volume", http.StatusConflict)
	// Attached later (cimi_attach_test.go), detached when the machine goes.
	b.do("alice", "json", http.MethodPost, m+"/volumes", []byte(`{"volume": {"href": "`+vol+`"}, "initialLocation": "/dev/vdd"}`)).must(t, "attach later", http.StatusAccepted)
	b.do("alice", "json", http.MethodPost, "/cimi/machines", []byte(`{"machineTemplate": {"machineConfig": {"cpu": 1, "memory": 1048576}, "volumes": [{"volume": {"href": "`+vol+`"}}]}}`)).must(t, "existing volume in a template", http.StatusNotImplemented)

	b.do("alice", "json", http.MethodDelete, m, nil).must(t, "delete the machine", http.StatusOK)
	b.do("alice", "json", http.MethodGet, "/cimi/volumes/"+id, nil).must(t, "the machine's volume after delete", http.StatusNotFound)
	b.do("alice", "json", http.MethodDelete, vol, nil).must(t, "delete the volume", http.StatusOK)
	b.do("alice", "json", http.MethodGet, vol, nil).must(t, "volume after delete", http.StatusNotFound)
	vols.Volumes = nil
	b.sandboxGet(b.cloud+"/cimi/volumes", &vols)
	if len(vols.Volumes) != 0 {
		t.Fatalf("the sandbox still holds volumes: %+v", vols)
	}
}
