package csbcimi

import (
	"net/http"
	"testing"
)

// A machineTemplate by reference may carry attributes beside its href.
// They were dropped: userData (which the broker refuses inline, 501,
// rather than make a machine without it) made a 201 machine without its
// user data, and a volumeTemplate a machine without its volume. They now
// override the referenced template's, and are checked as an inline
// template's are.
func TestCIMITemplateByReferenceKeepsInlineAttributes(t *testing.T) {
	b := startEngineBroker(t)
	tpl := "machineTemplates/c8-m16-x86_64"
	if a := b.do("alice", "POST", "/cimi/machines", `{"machineTemplate":{"href":"`+tpl+`","userData":"I2Nsb3VkLWNvbmZpZw=="}}`); a.status != http.StatusNotImplemented {
		t.Fatalf("userData beside a template href: %s", a)
	}
	if a := b.do("alice", "POST", "/cimi/machines", `{"machineTemplate":{"href":"`+tpl+`","initialState":"STOPPED"}}`); a.status != http.StatusBadRequest {
		t.Fatalf("initialState STOPPED beside a template href: %s", a)
	}
	id := b.create("alice", `{"machineTemplate":{"href":"`+tpl+`","machineConfig":{"cpu":2,"memory":2097152},
		"volumeTemplates":[{"volumeConfig":{"capacity":1048576},"initialLocation":"/dev/vdc"}]}}`)
	m := b.do("alice", "GET", "/cimi/machines/"+id, "")
	if m.status != http.StatusOK || m.json["cpu"] != float64(2) {
		t.Fatalf("the inline machineConfig did not override the template's: %s", m)
	}
	mv := b.do("alice", "GET", "/cimi/machines/"+id+"/volumes/1", "")
	if mv.status != http.StatusOK || mv.json["initialLocation"] != "/dev/vdc" {
		t.Fatalf("the volumeTemplate beside the href was dropped: %s", mv)
	}
}
