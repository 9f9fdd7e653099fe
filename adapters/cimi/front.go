package cimi

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-csb/caddy-csb/adapters/internal/front"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// Front prepares a consumer request for the job's CIMI resources (see
// contract.Fronter). The route stands for the directory of the provider's
// CloudEntryPoint, in which only the job's resources exist: its machine
// (and what lies below it: its volumes collection, its attachments), its
// volume, its network and the CIMI Job of its creation, each at its path
// relative to that directory ("/machines/3"). The scope comes from the
// hrefs the resource holds, never from Resource.Endpoint, so jobs stored
// with the provider's root as their endpoint are scoped too.
//
// Through the route the owner may read those resources (with the query
// parameters of frontedQuery) and run the power actions of frontedActions
// on its machine and network. The entry point, the collections, $expand
// (which follows references to other resources), edits, deletes, attaching
// volumes and actions that create resources (capture, snapshot) are
// refused: they go through the broker or reach beyond the job.
//
// The provider's credentials are the broker's (BrokerAuthenticates).
func (a *Adapter) Front(ctx context.Context, r *http.Request, res *contract.Resource) (*url.URL, error) {
	return front.Scoped(a.cfg.Endpoint, r, func(base *contract.FrontBase, p string) error {
		within := "" // the Native key of the job's resource p is, or lies below
		for _, key := range []string{keyMachine, keyVolume, keyNetwork, keyMachineVolume, keyJob} {
			if root, ok := base.RoutePath(res.Native[key]); ok && strings.TrimSuffix(p, "/") == strings.TrimSuffix(root, "/") {
				within = key
				break
			}
		}
		for _, key := range []string{keyMachine, keyVolume, keyNetwork} {
			if root, ok := base.RoutePath(res.Native[key]); ok && within == "" && contract.Within(p, root) {
				within = key
			}
		}
		if within == "" {
			return contract.NotInJob(p)
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			// A pair Go's parser drops (a ";", a bad escape) may be read by
			// the provider's.
			return contract.Refused("query %q not understood", r.URL.RawQuery)
		}
		for k := range q {
			if !frontedQuery[k] {
				return contract.Refused("query parameter %s is not allowed through the broker", k)
			}
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			return nil
		case http.MethodPost:
			if within != keyMachine && within != keyNetwork {
				return contract.Refused("POST %s is not allowed through the broker", p)
			}
			if r.URL.RawQuery != "" {
				return contract.Refused("an action takes no query")
			}
			return checkAction(r, within)
		}
		return contract.Refused("%s on the job's resources goes through the broker", r.Method)
	})
}

// frontedQuery are the CIMI query parameters a job's owner may send: they
// select attributes or filter the members of the job's own collections.
// $expand is not among them: it inlines referenced resources.
var frontedQuery = map[string]bool{"$select": true, "$filter": true, "$first": true, "$last": true}

// frontedActions are the actions a job's owner may run through the
// route, by the kind of resource.
var frontedActions = map[string]map[string]bool{
	keyMachine: {"start": true, "stop": true, "restart": true, "pause": true, "suspend": true},
	keyNetwork: {"start": true, "stop": true},
}

// checkAction allows a POST whose body is a CIMI Action of frontedActions
// for the kind of resource, with nothing else in it.
func checkAction(r *http.Request, key string) error {
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != MediaType {
		return contract.Refused("an action is a %s body", MediaType)
	}
	if r.Body == nil || r.Body == http.NoBody {
		return contract.Refused("an action without a body")
	}
	if contract.Encoded(r) {
		return contract.Refused("a content-encoded action body is not allowed through the broker")
	}
	body, err := front.ReadAction(r, "action")
	if err != nil {
		return err
	}
	var act map[string]json.RawMessage
	if _, err := contract.ObjectKeys(body); err != nil || json.Unmarshal(body, &act) != nil {
		return contract.Refused("the action body is not a JSON object with distinct members")
	}
	var name, ruri string
	for k, v := range act {
		switch k {
		case "action":
			if json.Unmarshal(v, &name) != nil {
				return contract.Refused("action must be a string")
			}
		case "resourceURI":
			if json.Unmarshal(v, &ruri) != nil || ruri != NS+"/Action" {
				return contract.Refused("resourceURI must be %s/Action", NS)
			}
		default:
			return contract.Refused("attribute %s of an action is not allowed through the broker", k)
		}
	}
	short, ok := strings.CutPrefix(name, ActionNS)
	if !ok || !frontedActions[key][short] {
		return contract.Refused("action %q goes through the broker", name)
	}
	contract.ResetBody(r, body)
	return nil
}

// Interface guards.
var (
	_ contract.Fronter             = (*Adapter)(nil)
	_ contract.BrokerAuthenticated = (*Adapter)(nil)
)
