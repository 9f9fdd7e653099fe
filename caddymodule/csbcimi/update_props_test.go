package csbcimi

import (
	"net/http"
	"testing"
)

// A PUT's csb. properties: the broker's own keys, which a client PUTs
// back as it read them, are left alone (csb.lease renews the lease), but
// another csb. key is refused with 400, as on a create (docs/cimi.md):
// it was dropped without a word, so a typo such as csb.leese made a 200
// that renewed nothing and kept nothing.
func TestCIMIUpdateRefusesUnknownBrokerProperty(t *testing.T) {
	b := startEngineBroker(t)
	id := b.create("alice", plainMachine)
	path := "/cimi/machines/" + id
	if a := b.do("alice", "PUT", path, `{"properties":{"csb.leese":"2h","team":"blue"}}`); a.status != http.StatusBadRequest {
		t.Fatalf("an unknown csb. key: %s", a)
	}
	if a := b.do("alice", "GET", path, ""); a.status != http.StatusOK || a.json["properties"].(map[string]any)["team"] != nil {
		t.Fatalf("the refused PUT changed the machine: %s", a)
	}
	read := b.do("alice", "GET", path, "")
	echo := `{"properties":{"team":"blue"`
	for k, v := range read.json["properties"].(map[string]any) {
		echo += `,"` + k + `":"` + v.(string) + `"`
	}
	echo += `}}`
	if a := b.do("alice", "PUT", path, echo); a.status != http.StatusOK || a.json["properties"].(map[string]any)["team"] != "blue" {
		t.Fatalf("the broker's keys echoed back: %s\n%s", echo, a)
	}
}
