package occi

import (
	"bytes"
	"context"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-csb/caddy-csb/adapters/internal/front"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// Front prepares a consumer request for the job's OCCI entities (see
// contract.Fronter). The route stands for the adapter's endpoint, in which
// only the entities the job created exist, at their locations relative to
// the endpoint ("/compute/4f1c…"): its compute, storage and network (not a
// configured shared network) and the networkinterface and storagelink
// between them. The scope comes from the locations the resource holds,
// rebased onto the endpoint as every call of the adapter's is (a server
// that names itself by another host is reached at the endpoint).
//
// Through the route the owner may read those entities and trigger the
// actions of frontedActions on its compute, network and storage
// (POST <entity>?action=<term>, the body or headers carrying that action's
// category and at most its "method" attribute). The query interface
// (/-/), collections, filtering queries, updates (POST or PUT of
// attributes, mixins or links, which could reach other entities), deletes
// and actions that create or resize (backup, snapshot, resize, save) are
// refused: they go through the broker or reach beyond the job.
//
// The provider's credentials are the broker's (BrokerAuthenticates).
func (a *Adapter) Front(ctx context.Context, r *http.Request, res *contract.Resource) (*url.URL, error) {
	return front.Scoped(a.base.String(), r, func(base *contract.FrontBase, p string) error {
		kind := ""
		for _, key := range []string{nativeCompute, nativeStorage, nativeNetwork, nativeNetworkInterface, nativeStorageLink} {
			if key == nativeNetwork && res.Native[nativeNetworkShared] != "" {
				continue // the provider's network, not the job's
			}
			if loc, ok := base.RoutePath(a.located(res.Native[key])); ok && p == loc {
				kind = key
				break
			}
		}
		if kind == "" {
			return contract.NotInJob(p)
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			if r.URL.RawQuery != "" {
				return contract.Refused("a query on an entity is not allowed through the broker")
			}
			return nil
		case http.MethodPost:
			return checkAction(r, kind)
		}
		return contract.Refused("%s on the job's entities goes through the broker", r.Method)
	})
}

// frontedActions are the actions a job's owner may trigger through the
// route, by the Native key of the entity: power and state changes of the
// job's own entities.
var frontedActions = map[string]struct {
	scheme string
	terms  map[string]bool
}{
	nativeCompute: {SchemeComputeAction, map[string]bool{"start": true, "stop": true, "restart": true, "suspend": true}},
	nativeNetwork: {SchemeNetworkAction, map[string]bool{"up": true, "down": true}},
	nativeStorage: {SchemeStorageAction, map[string]bool{"online": true, "offline": true}},
}

// checkAction allows POST <entity>?action=<term> for the actions of
// frontedActions, with the action's category and at most its method
// attribute: no other category, no link, no location.
func checkAction(r *http.Request, kind string) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return contract.Refused("query %q not understood", r.URL.RawQuery)
	}
	term := q.Get("action")
	allowed, ok := frontedActions[kind]
	if len(q) != 1 || len(q["action"]) != 1 || !ok || !allowed.terms[term] {
		return contract.Refused("POST on the job's %s: only the actions of the broker's list go through the route, not %q", kind, term)
	}
	for name := range r.Header {
		// CGI-style servers (Rack, WSGI) read X_OCCI_Attribute as
		// X-OCCI-Attribute; the check below reads only the latter.
		if strings.Contains(name, "_") {
			return contract.Refused("header %s is not allowed through the broker", name)
		}
	}
	msg, err := ParseHeaders(r.Header)
	if err != nil {
		return contract.Refused("the action's OCCI headers do not parse: %v", err)
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		// A content-encoded body is read by the server after decoding
		// (Apache's mod_deflate input filter, for one): what the check
		// below parses would not be what the server reads.
		if contract.Encoded(r) {
			return contract.Refused("a content-encoded action body is not allowed through the broker")
		}
		if body, err = front.ReadAction(r, "action"); err != nil {
			return err
		}
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if len(r.Header.Values("Content-Type")) > 1 {
			// Servers disagree on which of two content types a request
			// has: the body must be checked in the rendering the server
			// reads (text/plain, or the JSON rendering of OCCI 1.2).
			return contract.Refused("an action with more than one Content-Type is not allowed through the broker")
		}
		if err := oneLinePerLine(body); err != nil {
			return err
		}
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != MediaTextPlain {
			return contract.Refused("an action body is %s", MediaTextPlain)
		}
		inBody, err := ParsePlain(body)
		if err != nil {
			return contract.Refused("the action body does not parse: %v", err)
		}
		msg.Categories = append(msg.Categories, inBody.Categories...)
		msg.Links = append(msg.Links, inBody.Links...)
		msg.Locations = append(msg.Locations, inBody.Locations...)
		msg.Attributes.SetAll(inBody.Attributes)
	}
	if len(msg.Links) > 0 || len(msg.Locations) > 0 {
		return contract.Refused("an action through the broker carries no link or location")
	}
	for _, c := range msg.Categories {
		if c.Scheme != allowed.scheme || c.Term != term || (c.Class != "" && c.Class != ClassAction) {
			return contract.Refused("category %s%s does not belong to action %s", c.Scheme, c.Term, term)
		}
	}
	for _, n := range msg.Attributes.Names() {
		if !strings.EqualFold(n, "method") {
			return contract.Refused("attribute %s of an action is not allowed through the broker", n)
		}
	}
	if body != nil {
		contract.ResetBody(r, body)
	}
	return nil
}

// oneLinePerLine refuses an action body whose lines (ended by \n or
// \r\n, as ParsePlain reads them) hold another line break or control
// character: a lone CR, NEL or U+2028 inside a quoted value is part of
// one line to the check, but ends the line for a server that splits on
// it, which then reads what follows (a Link to another job's storage)
// as a line of its own.
func oneLinePerLine(body []byte) error {
	for _, line := range bytes.Split(body, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if i := bytes.IndexFunc(line, func(r rune) bool { return r != '\t' && breaksLine(r) }); i >= 0 {
			return contract.Refused("the action body holds the control character %U", []rune(string(line[i:]))[0])
		}
	}
	return nil
}

// Interface guards.
var (
	_ contract.Fronter             = (*Adapter)(nil)
	_ contract.BrokerAuthenticated = (*Adapter)(nil)
)
