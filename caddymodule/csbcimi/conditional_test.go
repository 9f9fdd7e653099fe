package csbcimi

import (
	"net/http"
	"strings"
	"testing"
)

// Conditional requests (RFC 9110 section 13): the front-end served no
// ETag and ignored If-Match and If-None-Match on PUT, DELETE and actions,
// so a client's lost-update protection did nothing: a PUT with the tag
// of a machine another client had changed since was carried out, where
// RFC 9110 13.1.1 requires 412. Every resource now carries a strong ETag
// (per binding), which If-Match and If-None-Match are evaluated against;
// the 412 is a CIMI error answer.
func TestCIMIConditionalRequests(t *testing.T) {
	b := startEngineBrokerWith(t, engineOptions{buildTime: "0"})
	id := b.create("alice", plainMachine)
	path := "/cimi/machines/" + id
	get := func() string {
		t.Helper()
		a := b.do("alice", "GET", path, "")
		tag := a.header.Get("ETag")
		if a.status != http.StatusOK || !strings.HasPrefix(tag, `"`) || !strings.HasSuffix(tag, `"`) {
			t.Fatalf("GET: want 200 with a strong ETag: %s %v", a, a.header)
		}
		return tag
	}
	refused := func(what string, a *engineAnswer) {
		t.Helper()
		if a.status != http.StatusPreconditionFailed || a.json["resourceURI"] != NS+"/Error" || a.json["status"] != float64(http.StatusPreconditionFailed) {
			t.Fatalf("%s: want a 412 CIMI error: %s", what, a)
		}
	}
	tag := get()
	if again := get(); again != tag {
		t.Fatalf("two GETs of an unchanged machine: ETags %s and %s", tag, again)
	}
	if a := b.do("alice", "GET", path, "", "Accept", "application/xml"); a.header.Get("ETag") == tag || a.header.Get("ETag") == "" {
		t.Fatalf("the XML representation's ETag %q, the JSON one's %s: want another", a.header.Get("ETag"), tag)
	}
	if a := b.do("alice", "GET", path, "", "If-None-Match", `"x", `+tag); a.status != http.StatusNotModified || len(a.body) != 0 || a.header.Get("ETag") != tag {
		t.Fatalf("GET If-None-Match with its tag: want 304 with the ETag: %s %v", a, a.header)
	}
	if a := b.do("alice", "GET", path+"?$select=name", "", "If-None-Match", `"x"`); a.status != http.StatusOK || a.header.Get("ETag") != tag {
		t.Fatalf("a projected GET: want 200 with the machine's ETag: %s %v", a, a.header)
	}

	// A PUT with a tag list that does not hold the current tag: 412, and
	// nothing changes.
	refused("PUT If-Match another tag", b.do("alice", "PUT", path, `{"name":"lost"}`, "If-Match", `"0123"`))
	refused("PUT If-Match the weak tag", b.do("alice", "PUT", path, `{"name":"lost"}`, "If-Match", "W/"+tag))
	refused("PUT If-None-Match *", b.do("alice", "PUT", path, `{"name":"lost"}`, "If-None-Match", "*"))
	if a := b.do("alice", "GET", path, ""); a.json["name"] != "m" {
		t.Fatalf("a refused PUT changed the machine: %s", a)
	}
	// With the current tag it is carried out; the tag it was made with is
	// then stale: the lost update of a second client is refused.
	if a := b.do("alice", "PUT", path, `{"name":"first"}`, "If-Match", `"0123", `+tag); a.status != http.StatusOK || a.json["name"] != "first" {
		t.Fatalf("PUT If-Match the current tag: %s", a)
	}
	if a := b.do("alice", "PUT", path, `{"name":"first"}`); a.header.Get("ETag") != "" {
		t.Fatalf("a PUT's answer carries an ETag (RFC 9110 9.3.4: the PUT merged, so it must not): %v", a.header)
	}
	refused("PUT with the tag read before another PUT", b.do("alice", "PUT", path, `{"name":"second"}`, "If-Match", tag))
	if a := b.do("alice", "GET", path, ""); a.json["name"] != "first" {
		t.Fatalf("the lost update was made: %s", a)
	}

	// Actions and DELETE likewise; "*" matches the existing machine.
	refused("action with a stale tag", b.do("alice", "POST", path+"/stop", `{"action":"`+ActionNS+`stop"}`, "If-Match", tag))
	if a := b.do("alice", "POST", path+"/stop", `{"action":"`+ActionNS+`stop"}`, "If-Match", "*"); a.status != http.StatusAccepted {
		t.Fatalf("action If-Match *: %s", a)
	}
	refused("DELETE with a stale tag", b.do("alice", "DELETE", path, "", "If-Match", tag))
	refused("DELETE If-None-Match *", b.do("alice", "DELETE", path, "", "If-None-Match", "*"))
	if a := b.do("alice", "DELETE", path, "", "If-Match", get()); a.status != http.StatusOK {
		t.Fatalf("DELETE If-Match the current tag: %s", a)
	}
	// A machine that is gone is 404, whatever the precondition.
	if a := b.do("alice", "DELETE", path, "", "If-Match", "*"); a.status != http.StatusNotFound {
		t.Fatalf("DELETE of a deleted machine If-Match *: %s", a)
	}

	// A volume's DELETE, and a create (its target, the collection, has a
	// tag: a list without it fails).
	v := b.do("alice", "POST", "/cimi/volumes", `{"volumeTemplate":{"volumeConfig":{"capacity":1048576}}}`)
	if v.status != http.StatusCreated {
		t.Fatalf("volume: %s", v)
	}
	vol := "/cimi/volumes/" + v.header.Get("Location")[strings.LastIndex(v.header.Get("Location"), "/")+1:]
	refused("volume DELETE with another tag", b.do("alice", "DELETE", vol, "", "If-Match", `"0123"`))
	refused("create If-Match another tag", b.do("alice", "POST", "/cimi/machines", plainMachine, "If-Match", `"0123"`))
	vt := b.do("alice", "GET", vol, "").header.Get("ETag")
	if a := b.do("alice", "DELETE", vol, "", "If-Match", vt); a.status != http.StatusOK {
		t.Fatalf("volume DELETE If-Match its tag: %s", a)
	}
}

func TestCIMIParseETags(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		star bool
		want string
	}{
		{[]string{"*"}, true, ""},
		{[]string{` * `}, true, ""},
		{[]string{`"a", W/"b"`, `"c,d"`}, false, `"a" W/"b" "c,d"`},
		{[]string{`"a" ,, junk, "b`}, false, `"a"`},
		{[]string{`*, "a"`}, false, `"a"`},
	} {
		star, tags := parseETags(tc.in)
		var got []string
		for _, e := range tags {
			got = append(got, map[bool]string{true: "W/"}[e.weak]+e.opaque)
		}
		if star != tc.star || strings.Join(got, " ") != tc.want {
			t.Errorf("parseETags(%q) = %v %q, want %v %q", tc.in, star, got, tc.star, tc.want)
		}
	}
}
