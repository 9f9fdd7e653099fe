package sandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// cdmiDo sends one CDMI request to h and returns the status and the
// decoded JSON answer (nil when there is none).
func cdmiDo(t *testing.T, h http.Handler, method, target, ct string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequest(method, target, rd)
	req.Header.Set(cdmiVersionHdr, cdmiVersion)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Accept", ct)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Body.Len() == 0 {
		return rec.Code, nil
	}
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: answer %q: %v", method, target, rec.Body.String(), err)
	}
	return rec.Code, out
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestCDMIFieldSelection: the sandbox answered every read with the whole
// object, value and children included, whatever fields the read named
// (GET <object>?<fieldname>;...), so a client that reads a large data
// object without its value (the cdmi adapter's Status) still got the
// value. It now answers with the fields named only, reads value:<range>
// as a byte range (base64-encoded, as CDMI transports a range),
// children:<range> as a range of the children, and metadata:<prefix> as
// the items with that prefix. A 5 MiB object (over the 4 MiB an adapter
// reads) is read by its fields in a small answer.
func TestCDMIFieldSelection(t *testing.T) {
	c := New(Config{})
	h := c.CDMI("/cdmi")
	if st, _ := cdmiDo(t, h, http.MethodPut, "/cdmi/c/", ctCDMIContainer, map[string]any{"metadata": map[string]any{"team": "blue"}}); st != http.StatusCreated {
		t.Fatalf("container: %d", st)
	}
	big := strings.Repeat("0123456789", 512<<10) // 5 MiB
	if st, out := cdmiDo(t, h, http.MethodPut, "/cdmi/c/big", ctCDMIObject, map[string]any{"value": big, "metadata": map[string]any{"colour": "red", "size": "big"}}); st != http.StatusCreated {
		t.Fatalf("big object: %d %v", st, out)
	}
	for i := range 5 {
		if st, _ := cdmiDo(t, h, http.MethodPut, "/cdmi/c/o"+strconv.Itoa(i), ctCDMIObject, map[string]any{"value": "x"}); st != http.StatusCreated {
			t.Fatalf("object %d: %d", i, st)
		}
	}
	bin := []byte{0, 1, 2, 0xff, 0xfe, 'a'}
	if st, _ := cdmiDo(t, h, http.MethodPut, "/cdmi/c/bin", ctCDMIObject, map[string]any{"value": base64.StdEncoding.EncodeToString(bin), "valuetransferencoding": "base64"}); st != http.StatusCreated {
		t.Fatalf("binary object: %d", st)
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, c := range []struct {
		target, ct string
		want       map[string]any
	}{
		{"/cdmi/c/big?objectID;metadata;mimetype", ctCDMIObject, nil},
		{"/cdmi/c/big?value:10-14;valuerange;valuetransferencoding", ctCDMIObject,
			map[string]any{"value": b64("01234"), "valuerange": "10-14", "valuetransferencoding": "base64"}},
		{"/cdmi/c/big?valuerange;value:5242878-9999999", ctCDMIObject, map[string]any{"value": b64("89"), "valuerange": "5242878-5242879"}},
		{"/cdmi/c/big?value:6000000-6000001;valuerange", ctCDMIObject, map[string]any{"value": "", "valuerange": ""}},
		{"/cdmi/c/bin?valuetransferencoding;value", ctCDMIObject, map[string]any{"value": base64.StdEncoding.EncodeToString(bin), "valuetransferencoding": "base64"}},
		{"/cdmi/c/bin?value:3-4", ctCDMIObject, map[string]any{"value": base64.StdEncoding.EncodeToString(bin[3:5])}},
		{"/cdmi/c/big?metadata:col", ctCDMIObject, map[string]any{"metadata": map[string]any{"colour": "red"}}},
		{"/cdmi/c/?children:1-2;childrenrange", ctCDMIContainer, map[string]any{"children": []any{"bin", "o0"}, "childrenrange": "1-2"}},
		{"/cdmi/c/?childrenrange;children:5-99", ctCDMIContainer, map[string]any{"children": []any{"o3", "o4"}, "childrenrange": "5-6"}},
		{"/cdmi/c/?childrenrange", ctCDMIContainer, map[string]any{"childrenrange": "0-6"}},
		{"/cdmi/c/?children:7-9", ctCDMIContainer, map[string]any{"children": []any{}}},
		{"/cdmi/c/?metadata;objectName", ctCDMIContainer, nil},
	} {
		st, out := cdmiDo(t, h, http.MethodGet, c.target, c.ct, nil)
		if st != http.StatusOK {
			t.Errorf("GET %s: %d %v", c.target, st, out)
			continue
		}
		if c.want != nil {
			if !reflect.DeepEqual(out, c.want) {
				t.Errorf("GET %s: %v, want %v", c.target, out, c.want)
			}
			continue
		}
		// The fields named, and no other.
		_, query, _ := strings.Cut(c.target, "?")
		want := strings.Split(query, ";")
		sort.Strings(want)
		if got := keys(out); !reflect.DeepEqual(got, want) {
			t.Errorf("GET %s: fields %v, want %v", c.target, got, want)
		}
	}
	// The big object's fields, read without its value, fit a small
	// answer; its metadata keeps the system items.
	_, out := cdmiDo(t, h, http.MethodGet, "/cdmi/c/big?objectID;metadata;mimetype", ctCDMIObject, nil)
	if m, _ := out["metadata"].(map[string]any); m["cdmi_size"] != strconv.Itoa(len(big)) || m["colour"] != "red" {
		t.Errorf("metadata %v", out["metadata"])
	}
	// The whole object is still read without a selection.
	if _, out := cdmiDo(t, h, http.MethodGet, "/cdmi/c/o1", ctCDMIObject, nil); out["value"] != "x" || out["objectID"] == nil || out["valuetransferencoding"] != "utf-8" {
		t.Errorf("whole object %v", out)
	}
	for _, bad := range []string{"/cdmi/c/big?value:5-1", "/cdmi/c/big?value:x-2", "/cdmi/c/big?value:3", "/cdmi/c/?children:-1-2"} {
		if st, _ := cdmiDo(t, h, http.MethodGet, bad, "", nil); st != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", bad, st)
		}
	}
}
