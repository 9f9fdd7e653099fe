package caddymodule

// The admin API's content negotiation and response writing (JSON or the
// draft's XML).

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/accept"
)

type adminFormat int

const (
	formatJSON adminFormat = iota
	formatXML
)

// negotiate picks JSON or XML for an answer whose XML form uses the draft
// media type draftType.
func negotiate(r *http.Request, draftType string) (adminFormat, error) {
	switch f := r.URL.Query().Get("format"); f {
	case "json":
		return formatJSON, nil
	case "xml":
		return formatXML, nil
	case "":
	default:
		return 0, adminError(http.StatusBadRequest, "format %q: want json or xml", f)
	}
	values := r.Header.Values("Accept")
	if len(values) == 0 {
		return formatJSON, nil
	}
	best, bestQ, bestSpecific := formatJSON, -1.0, false
	for _, rg := range accept.Ranges(values) {
		if rg.Q <= 0 {
			continue
		}
		var f adminFormat
		specific := true
		switch rg.Type {
		case "application/json":
			f = formatJSON
		case draftType, "application/xml", "text/xml":
			f = formatXML
		case "*/*", "application/*":
			f, specific = formatJSON, false
		default:
			continue
		}
		if rg.Q > bestQ || rg.Q == bestQ && specific && !bestSpecific {
			best, bestQ, bestSpecific = f, rg.Q, specific
		}
	}
	if bestQ < 0 {
		return 0, adminError(http.StatusNotAcceptable, "the answer is application/json or %s (or application/xml)", draftType)
	}
	return best, nil
}

// writeJSON writes an admin answer as indented JSON whose keys are all
// snake_case (see snakeKeys).
func writeJSON(w http.ResponseWriter, v any) error {
	data, err := json.Marshal(v)
	if err == nil {
		data, err = snakeKeys(data)
	}
	if err != nil {
		return adminError(http.StatusInternalServerError, "writing the answer as JSON: %v", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(data)
	return err
}

func writeXML(w http.ResponseWriter, mediaType string, doc *etree.Document) error {
	doc.Indent(2)
	w.Header().Set("Content-Type", mediaType+"; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, err := doc.WriteTo(w)
	return err
}

// newAdminDoc returns an XML document whose root is the admin element
// name, with the draft namespace ns as the default namespace.
func newAdminDoc(name, ns string) (*etree.Document, *etree.Element) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement("admin:" + name)
	root.CreateAttr("xmlns", ns)
	root.CreateAttr("xmlns:admin", AdminNamespace)
	return doc, root
}

// draftElements parses a document the codec wrote and returns the
// children of its element named parent (for example the children of
// <csbnotification>).
func draftElements(data []byte, parent string) ([]*etree.Element, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, err
	}
	doc.Unindent() // the answer is indented as a whole
	root := doc.Root()
	if root == nil {
		return nil, errors.New("empty document")
	}
	el := root.FindElement(parent)
	if el == nil {
		return nil, fmt.Errorf("no <%s>", parent)
	}
	out := el.ChildElements()
	for _, c := range out {
		el.RemoveChild(c)
	}
	return out, nil
}

func setTime(el *etree.Element, name string, t time.Time) {
	if !t.IsZero() {
		el.CreateAttr(name, t.UTC().Format(time.RFC3339Nano))
	}
}

// listParam reads a filter that takes a list of values (nil when
// absent). A filter given without a value (?owner=, ?state=,) is answered
// 400: it is a script's variable left empty, and taken for no filter at
// all it would answer for everyone (every user's jobs, or their costs
// under the empty name).
func listParam(q url.Values, name string) ([]string, error) {
	var out []string
	for _, v := range q[name] {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	if q.Has(name) && len(out) == 0 {
		return nil, adminError(http.StatusBadRequest, "%s: no value (leave the parameter out for no filter)", name)
	}
	return out, nil
}

// oneParam reads a filter that takes one value ("" when absent). Given
// several (the parameter repeated, or values separated by commas as the
// list filters take them), it answers 400: the query would otherwise
// match the value "a,b", which is nobody, or only the first one, and the
// operator would take the empty or partial listing for the answer.
func oneParam(q url.Values, name string) (string, error) {
	vs, err := listParam(q, name)
	if err != nil {
		return "", err
	}
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	}
	return "", adminError(http.StatusBadRequest, "%s takes one value, not %d (%s)", name, len(vs), strings.Join(vs, ", "))
}

// kindParam reads the kind query parameter: a service model, any case;
// "" when absent.
func kindParam(q url.Values) (catalog.Kind, error) {
	s, err := oneParam(q, "kind")
	if s == "" || err != nil {
		return "", err
	}
	for _, k := range serviceKinds {
		if strings.EqualFold(s, string(k)) {
			return k, nil
		}
	}
	return "", adminError(http.StatusBadRequest, "kind %q: want iaas, paas, saas or dsaas", s)
}

// negotiateJSON checks that an answer that is JSON only (GET
// /csb/webhooks) is acceptable: ?format=json or none, and an Accept that
// admits application/json (406 otherwise, as the other routes answer).
func negotiateJSON(r *http.Request) error {
	switch f := r.URL.Query().Get("format"); f {
	case "json":
		return nil
	case "":
	default:
		return adminError(http.StatusBadRequest, "format %q: this answer is JSON only", f)
	}
	values := r.Header.Values("Accept")
	if len(values) == 0 {
		return nil
	}
	for _, rg := range accept.Ranges(values) {
		switch rg.Type {
		case "application/json", "*/*", "application/*":
			if rg.Q > 0 {
				return nil
			}
		}
	}
	return adminError(http.StatusNotAcceptable, "the answer is application/json")
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) error {
	w.Header().Set("Allow", allow)
	return adminError(http.StatusMethodNotAllowed, "method %s not allowed (%s)", r.Method, allow)
}

// request is adminRequest for an answer that needs the running csb app:
// the app and its engine (see running).
func (api *AdminAPI) request(w http.ResponseWriter, r *http.Request, method, draftType string) (adminFormat, *App, *engine, error) {
	format, err := adminRequest(w, r, method, draftType)
	if err != nil {
		return 0, nil, nil, err
	}
	a, e, err := api.running()
	return format, a, e, err
}

// engineRequest is request for an answer that needs the engine only.
func (api *AdminAPI) engineRequest(w http.ResponseWriter, r *http.Request, method, draftType string) (adminFormat, *engine, error) {
	format, _, e, err := api.request(w, r, method, draftType)
	return format, e, err
}

// adminRequest checks what every admin endpoint checks first: the method
// (405 with Allow otherwise) and the answer's format, JSON or XML in the
// draft's names under draftType (406 otherwise).
func adminRequest(w http.ResponseWriter, r *http.Request, method, draftType string) (adminFormat, error) {
	if r.Method != method {
		return 0, methodNotAllowed(w, r, method)
	}
	return negotiate(r, draftType)
}
