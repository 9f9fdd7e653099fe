package cdmi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// TestFrontScopesToTheJob: the route reaches the job's container and
// everything in it, reads its domain and the capability objects; the root,
// the container's parent, other containers, object IDs, deleting the
// container and bodies that reach other objects or open the job's are
// refused. The resource's Endpoint is the CDMI root, as older versions
// stored it.
func TestFrontScopesToTheJob(t *testing.T) {
	a, err := New(Config{Endpoint: "http://cloud.test/cdmi/"})
	if err != nil {
		t.Fatal(err)
	}
	res := &contract.Resource{Endpoint: "http://cloud.test/cdmi/", URI: "http://cloud.test/cdmi/csb-J1/", Native: map[string]string{
		keyContainer: "http://cloud.test/cdmi/csb-J1/", keyData: "http://cloud.test/cdmi/csb-J1/hello.txt",
		keyDomain: "http://cloud.test/cdmi/cdmi_domains/csb-J1/", keyCap: "http://cloud.test/cdmi/cdmi_capabilities/",
	}}
	const root = "http://cloud.test/cdmi"
	obj := TypeObject
	adaptertest.RunFrontCases(t, a, res, []adaptertest.FrontCase{
		{Method: "GET", Path: "/csb-J1/", Want: root + "/csb-J1/"},
		{Method: "GET", Path: "/csb-J1", Want: root + "/csb-J1"},
		{Method: "GET", Path: "/csb-J1/?children", Want: root + "/csb-J1/?children"},
		{Method: "GET", Path: "/csb-J1/hello.txt", Want: root + "/csb-J1/hello.txt"},
		{Method: "PUT", Path: "/csb-J1/hello.txt", ContentType: obj, Body: `{"value":"hi","metadata":{"colour":"blue"}}`, Want: root + "/csb-J1/hello.txt"},
		{Method: "PUT", Path: "/csb-J1/raw.bin", ContentType: "application/octet-stream", Body: `{"copy":"/csb-J2/x"}`, Want: root + "/csb-J1/raw.bin"},
		{Method: "PUT", Path: "/csb-J1/sub/", ContentType: TypeContainer, Body: `{}`, Want: root + "/csb-J1/sub/"},
		{Method: "PUT", Path: "/csb-J1/raw.txt", Body: `plain words {"copy":"/csb-J2/hello.txt"}`, Want: root + "/csb-J1/raw.txt"},
		{Method: "PUT", Path: "/csb-J1/", ContentType: TypeContainer, Body: `{"metadata":{"a":"b"}}`, Want: root + "/csb-J1/"},
		{Method: "POST", Path: "/csb-J1/q", ContentType: TypeQueue, Body: `{"value":"m"}`, Want: root + "/csb-J1/q"},
		{Method: "DELETE", Path: "/csb-J1/hello.txt", Want: root + "/csb-J1/hello.txt"},
		{Method: "GET", Path: "/cdmi_domains/csb-J1/", Want: root + "/cdmi_domains/csb-J1/"},
		{Method: "GET", Path: "/cdmi_capabilities/dataobject/", Want: root + "/cdmi_capabilities/dataobject/"},

		{Method: "GET", Path: "/", Status: 404},
		{Method: "GET", Path: "/csb-J2/", Status: 404},
		{Method: "GET", Path: "/csb-J2/hello.txt", Status: 404},
		{Method: "PUT", Path: "/csb-J2/hello.txt", ContentType: obj, Body: `{"value":"pwned"}`, Status: 404},
		{Method: "DELETE", Path: "/csb-J2/", Status: 404},
		{Method: "GET", Path: "/csb-J10/", Status: 404},
		{Method: "GET", Path: "/csb-J1x/hello.txt", Status: 404},
		{Method: "GET", Path: "/cdmi_objectid/0000518E0018ABCD", Status: 404},
		{Method: "GET", Path: "/cdmi_domains/", Status: 404},
		{Method: "GET", Path: "/cdmi_domains/csb-J2/", Status: 404},
		{Method: "DELETE", Path: "/csb-J1/", Status: 403},
		{Method: "DELETE", Path: "/csb-J1", Status: 403},
		{Method: "PUT", Path: "/cdmi_domains/csb-J1/", ContentType: TypeDomain, Body: `{}`, Status: 403},
		{Method: "DELETE", Path: "/cdmi_domains/csb-J1/", Status: 403},
		{Method: "PUT", Path: "/cdmi_capabilities/", ContentType: TypeCapability, Body: `{}`, Status: 403},
		{Method: "MOVE", Path: "/csb-J1/hello.txt", Status: 403},
		{Method: "PUT", Path: "/csb-J1/copy.txt", ContentType: obj, Body: `{"copy":"/csb-J2/hello.txt"}`, Status: 403},
		{Method: "PUT", Path: "/csb-J1/copy.txt", ContentType: obj, Body: `{"Copy":"/csb-J2/hello.txt"}`, Status: 403},
		{Method: "PUT", Path: "/csb-J1/moved.txt", ContentType: obj, Body: `{"move":"/csb-J2/hello.txt"}`, Status: 403},
		{Method: "PUT", Path: "/csb-J1/ref", ContentType: obj, Body: `{"reference":"/csb-J2/hello.txt"}`, Status: 403},
		{Method: "PUT", Path: "/csb-J1/s", ContentType: obj, Body: `{"serialize":"/csb-J2/"}`, Status: 403},
		{Method: "PUT", Path: "/csb-J1/d/", ContentType: TypeContainer, Body: `{"deserialize":"/csb-J2/dump"}`, Status: 403},
		{Method: "PUT", Path: "/csb-J1/d/", ContentType: TypeContainer, Body: `{"deserializevalue":"e30="}`, Status: 403},
		{Method: "PUT", Path: "/csb-J1/", ContentType: TypeContainer, Body: `{"domainURI":"/cdmi_domains/csb-J2/"}`, Status: 403},
		{Method: "PUT", Path: "/csb-J1/", ContentType: TypeContainer, Body: `{"exports":{"Network/NFSv4":{"identifier":"/x"}}}`, Status: 403},
		{Method: "PUT", Path: "/csb-J1/hello.txt", ContentType: obj, Body: `{"metadata":{"cdmi_acl":[{"identifier":"EVERYONE@"}]}}`, Status: 403},
		{Method: "PUT", Path: "/csb-J1/hello.txt", Body: `{"copy":"/csb-J2/hello.txt"}`, Status: 403},
		{Method: "PUT", Path: "/csb-J1/hello.txt", ContentType: "application/json", Body: `{"move":"/csb-J2/hello.txt"}`, Status: 403},
		{Method: "PUT", Path: "/csb-J1/hello.txt", ContentType: obj, Body: `[1]`, Status: 403},
		{Method: "PUT", Path: "/csb-J1/copy.txt", ContentType: obj, Body: `{"value":"x","value":"y"}`, Status: 403},
		{Method: "PUT", Path: "/csb-J1/copy.txt", Body: `{"value":"x","copy":"/csb-J2/hello.txt",}`, Status: 403},
		{Method: "PUT", Path: "/csb-J1/hello.txt", ContentType: obj, Body: "\x1f\x8b", Header: map[string]string{"Content-Encoding": "gzip"}, Status: 403},
		{Method: "PUT", Path: "/csb-J1/raw.gz", ContentType: "application/gzip", Body: "raw", Header: map[string]string{"Content-Encoding": "gzip"}, Want: root + "/csb-J1/raw.gz"},
		{Method: "PUT", Path: "/csb-J1/hello.txt", ContentType: "multipart/mixed; boundary=x", Body: "--x\r\n", Status: 403},
	})
	if !a.BrokerAuthenticates() {
		t.Fatal("the cdmi adapter's credentials are the broker's")
	}
}

// TestFrontStreamsValues: a value without a content type that does not
// look like a CDMI object is streamed, not read whole, so its size has no
// limit; a CDMI body larger than the limit is refused.
func TestFrontStreamsValues(t *testing.T) {
	a, err := New(Config{Endpoint: "http://cloud.test/cdmi/"})
	if err != nil {
		t.Fatal(err)
	}
	res := &contract.Resource{Native: map[string]string{keyContainer: "http://cloud.test/cdmi/csb-J1/"}}
	big := func() io.Reader { return io.LimitReader(zeros{}, maxFrontBody+1) }
	r := httptest.NewRequest(http.MethodPut, "http://consumer.invalid/csb-J1/big.bin", big())
	if _, err := a.Front(context.Background(), r, res); err != nil {
		t.Fatalf("a raw value larger than the check limit: %v", err)
	}
	if n, _ := io.Copy(io.Discard, r.Body); n != maxFrontBody+1 {
		t.Fatalf("%d bytes forwarded, want %d", n, maxFrontBody+1)
	}
	r = httptest.NewRequest(http.MethodPut, "http://consumer.invalid/csb-J1/big.bin", big())
	r.Header.Set("Content-Type", TypeObject)
	var ae *contract.Error
	if _, err := a.Front(context.Background(), r, res); !errors.As(err, &ae) || ae.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a CDMI body larger than the check limit: %v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '0'
	}
	return len(p), nil
}

// TestFrontRefusesTwoContentTypes: with two Content-Type headers, the
// check judged the body by the first (text/plain: a value, sent on
// unchecked) while a server that takes the last read it as a CDMI
// object, whose copy reached another job's object.
func TestFrontRefusesTwoContentTypes(t *testing.T) {
	a, err := New(Config{Endpoint: "http://cloud.test/cdmi/"})
	if err != nil {
		t.Fatal(err)
	}
	res := &contract.Resource{Native: map[string]string{keyContainer: "http://cloud.test/cdmi/csb-J1/"}}
	r := httptest.NewRequest(http.MethodPut, "http://consumer.invalid/csb-J1/copy.txt", strings.NewReader(`{"copy":"/csb-J2/hello.txt"}`))
	r.Header["Content-Type"] = []string{"text/plain", TypeObject}
	var ae *contract.Error
	if _, err := a.Front(context.Background(), r, res); !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		t.Fatalf("two content types: %v, want a 403 refusal", err)
	}
}
