package cdmi

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-csb/caddy-csb/adapters/internal/front"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// Front prepares a consumer request for the job's CDMI objects (see
// contract.Fronter). The route stands for the CDMI root, in which only
// the job's objects exist, at their paths below the root: its container
// ("/csb-<job>/") and everything in it, which the owner may read, write
// and delete (except the container itself, which the broker removes), its
// domain, which the owner may read, and the provider's capability objects
// (read-only; every object's capabilitiesURI names one). The scope comes
// from the object URIs the resource holds, never from Resource.Endpoint,
// so jobs stored with the CDMI root as their endpoint are scoped too.
//
// The root, the parent of the job's container, other containers and
// domains, and access by object ID answer 404. Request bodies that reach
// other objects (copy, move, reference, serialize, deserialize,
// deserializevalue), change an object's domain or exports, or set ACLs or
// owners (cdmi_acl, cdmi_owner) are refused with 403, as are multipart
// bodies and methods other than GET, HEAD, PUT, POST and DELETE.
//
// The provider's credentials are the broker's (BrokerAuthenticates).
func (a *Adapter) Front(ctx context.Context, r *http.Request, res *contract.Resource) (*url.URL, error) {
	return front.Scoped(a.cfg.Endpoint, r, func(base *contract.FrontBase, p string) error {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete:
		default:
			return contract.Refused("method %s is not allowed through the broker", r.Method)
		}
		readOnly := func(what string) error {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				return contract.Refused("%s is read-only through the broker", what)
			}
			return nil
		}
		container, hasContainer := base.RoutePath(res.Native[keyContainer])
		domain, hasDomain := base.RoutePath(res.Native[keyDomain])
		switch {
		case hasContainer && contract.Within(p, container):
			if r.Method == http.MethodDelete && strings.TrimSuffix(p, "/") == strings.TrimSuffix(container, "/") {
				return contract.Refused("the job's container is deleted by removing the job through the broker")
			}
			if r.Method == http.MethodPut || r.Method == http.MethodPost {
				return checkBody(r)
			}
			return nil
		case hasDomain && contract.Within(p, domain):
			return readOnly("the job's domain")
		case contract.Within(p, "/cdmi_capabilities/"):
			return readOnly("a capability object")
		}
		return contract.NotInJob(p)
	})
}

// deniedFields are the fields of a CDMI request body that name other
// objects (copy, move, reference, serialize, deserialize: CDMI 1.1.1
// sections 8.2, 9.2 and 11.2), carry a serialized tree that can name
// anything, or move the object out of the job's domain or open it to
// others.
var deniedFields = []string{"copy", "move", "reference", "serialize", "deserialize", "deserializevalue", "domainURI", "exports"}

// deniedMetadata are the metadata items that grant access to others.
var deniedMetadata = []string{"cdmi_acl", "cdmi_owner"}

// maxFrontBody bounds a CDMI request body the route reads to check.
const maxFrontBody = 16 << 20

// checkBody refuses a PUT or POST whose CDMI body reaches beyond the job.
// A body of another content type is an object's value, sent on as is.
func checkBody(r *http.Request) error {
	if len(r.Header.Values("Content-Type")) > 1 {
		// Servers disagree on which of two content types a request has:
		// the check must judge the body as the server will.
		return contract.Refused("a request with more than one Content-Type is not allowed through the broker")
	}
	ct := r.Header.Get("Content-Type")
	mt := ""
	if ct != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return contract.Refused("content type %q not understood", ct)
		}
	}
	if strings.HasPrefix(mt, "multipart/") {
		return contract.Refused("multipart CDMI requests are not allowed through the broker")
	}
	if mt != "" && mt != "application/json" && !strings.HasPrefix(mt, "application/cdmi-") {
		return nil
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	if contract.Encoded(r) {
		return contract.Refused("a content-encoded CDMI body is not allowed through the broker")
	}
	if mt == "" {
		// No content type: a value, unless it looks like a CDMI object.
		br := bufio.NewReader(r.Body)
		head, _ := br.Peek(512)
		r.Body = struct {
			io.Reader
			io.Closer
		}{br, r.Body}
		if t := bytes.TrimLeft(head, " \t\r\n"); len(t) > 0 && t[0] != '{' {
			return nil
		}
	}
	body, over, err := contract.ReadBody(r, maxFrontBody)
	if err != nil {
		return err
	}
	if over {
		return &contract.Error{Kind: contract.KindClient, Op: "front", Status: http.StatusRequestEntityTooLarge, Err: fmt.Errorf("a CDMI body larger than %d bytes cannot be checked", maxFrontBody)}
	}
	var fields map[string]json.RawMessage
	if _, err := contract.ObjectKeys(body); err == nil && json.Unmarshal(body, &fields) == nil {
		for k := range fields {
			for _, d := range deniedFields {
				if strings.EqualFold(k, d) {
					return contract.Refused("field %s reaches beyond the job and is not allowed through the broker", k)
				}
			}
		}
		for k, raw := range fields {
			var meta map[string]json.RawMessage
			if !strings.EqualFold(k, "metadata") || json.Unmarshal(raw, &meta) != nil {
				continue
			}
			for k := range meta {
				for _, d := range deniedMetadata {
					if strings.EqualFold(k, d) {
						return contract.Refused("metadata %s is not allowed through the broker", k)
					}
				}
			}
		}
	} else if mt != "" || strings.HasPrefix(strings.TrimSpace(string(body)), "{") {
		return contract.Refused("the %s body is not a JSON object with distinct members", cmp.Or(mt, "request"))
	}
	contract.ResetBody(r, body)
	return nil
}

// Interface guards.
var (
	_ contract.Fronter             = (*Adapter)(nil)
	_ contract.BrokerAuthenticated = (*Adapter)(nil)
)
