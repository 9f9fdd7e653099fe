package csbcimi

import (
	"net/http"
	"sort"
	"strings"
	"testing"
)

// $select applies to every single resource read, keeping resourceURI and
// id (DSP0263 4.1.6.3): a MachineVolume was written whole whatever its
// $select, and its query was not even read (a bad $first passed).
func TestCIMISelectOnEachResource(t *testing.T) {
	b := startEngineBroker(t)
	id := b.create("alice", `{"name":"m","machineTemplate":{"machineConfig":{"cpu":1,"memory":1048576},
		"volumeTemplates":[{"volumeConfig":{"capacity":1048576},"initialLocation":"/dev/vdc"}]}}`)
	for _, c := range []struct{ path, sel string }{
		{"/cimi/", "baseURI"},
		{"/cimi/machines/" + id, "name"},
		{"/cimi/volumes/" + id, "capacity"},
		{"/cimi/machineConfigs/c8-m16-x86_64", "cpu"},
		{"/cimi/jobs/" + id + ".create", "state"},
		{"/cimi/machines/" + id + "/volumes/1", "initialLocation"},
	} {
		a := b.do("alice", "GET", c.path+"?$select="+c.sel, "")
		var keys []string
		for k := range a.json {
			keys = append(keys, k)
		}
		want := []string{"id", "resourceURI", c.sel}
		sort.Strings(keys)
		sort.Strings(want)
		if a.status != http.StatusOK || strings.Join(keys, " ") != strings.Join(want, " ") {
			t.Errorf("%s $select=%s: %v, want %v (%s)", c.path, c.sel, keys, want, a)
		}
	}
	// Without $select, a Machine and a Volume carry DSP0263's common
	// attributes (5.1); description is shown when one was given.
	for _, path := range []string{"/cimi/machines/" + id, "/cimi/volumes/" + id} {
		a := b.do("alice", "GET", path, "")
		for _, k := range []string{"resourceURI", "id", "name", "created", "updated", "properties"} {
			if a.json[k] == nil {
				t.Errorf("%s lacks %s: %s", path, k, a)
			}
		}
	}
	if a := b.do("alice", "GET", "/cimi/machines/"+id+"/volumes/1?$first=x", ""); a.status != http.StatusBadRequest {
		t.Errorf("a MachineVolume read with a bad $first: %s", a)
	}
}
