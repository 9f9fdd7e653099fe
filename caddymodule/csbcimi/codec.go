package csbcimi

// CIMI's two bindings (DSP0263 sections 5 and 6): content negotiation,
// request bodies in JSON or XML, and the generic writer that renders a
// resource (an obj) in either.

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/accept"
)

// Protocol constants.
const (
	// NS is the CIMI namespace: resourceURIs, action URIs and the XML
	// namespace are built on it.
	NS = "http://schemas.dmtf.org/cimi/1"
	// ActionNS prefixes the standard action URIs.
	ActionNS = NS + "/action/"
	// VersionHeader carries the CIMI version of every answer.
	VersionHeader = "CIMI-Specification-Version"
	// JobHeader names the CIMI Job an operation made.
	JobHeader = "CIMI-Job-URI"
	// Version is the CIMI version served.
	Version = "2.0.0"
)

// format is a binding.
type format int

const (
	formatJSON format = iota
	formatXML
)

func (f format) mediaType() string {
	if f == formatXML {
		return "application/xml"
	}
	return "application/json"
}

// cimiError is an answer with an HTTP error status and a message, written
// as a CIMI error body in the request's binding.
type cimiError struct {
	status int
	msg    string
}

func (e *cimiError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &cimiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// negotiate picks the binding of the answer from Accept: JSON unless XML
// is preferred; 406 when neither is acceptable. Each format's quality is
// that of the most specific range that matches it (RFC 9110 section
// 12.5.1), so "application/json;q=0, */*" rules JSON out.
//
// The XML binding is answered as application/xml. text/xml, which an
// XML client may list instead, stands for it, but not where a range
// refuses application/xml (q=0): "application/xml;q=0, text/xml" got
// application/xml, the one type it ruled out, and is now a 406 (this
// service sends no text/xml).
func negotiate(r *http.Request) (format, error) {
	values := r.Header.Values("Accept")
	if strings.TrimSpace(strings.Join(values, "")) == "" {
		return formatJSON, nil
	}
	ranges := accept.Ranges(values)
	jsonQ, _ := quality(ranges, "application/json")
	xmlQ, named := quality(ranges, "application/xml")
	if textQ, _ := quality(ranges, "text/xml"); xmlQ > 0 || !named {
		xmlQ = max(xmlQ, textQ)
	}
	if jsonQ <= 0 && xmlQ <= 0 {
		return 0, errorf(http.StatusNotAcceptable, "Accept %q: this CIMI service answers application/json or application/xml", strings.Join(values, ", "))
	}
	if xmlQ > jsonQ {
		return formatXML, nil
	}
	return formatJSON, nil
}

// quality is the weight ranges give the media type mt: that of the most
// specific range matching it (mt itself, then its type/*, then */*), the
// highest of equally specific ones; 0 when none matches. matched reports
// whether one does.
// The weights are qvalues (0 to 1; accept.Ranges clamps the others).
func quality(ranges []accept.Range, mt string) (q float64, matched bool) {
	major, _, _ := strings.Cut(mt, "/")
	best := -1
	for _, rg := range ranges {
		spec := -1
		switch rg.Type {
		case mt:
			spec = 2
		case major + "/*":
			spec = 1
		case "*/*":
			spec = 0
		}
		switch {
		case spec < 0 || spec < best:
		case spec > best:
			q, best = rg.Q, spec
		default:
			q = max(q, rg.Q)
		}
	}
	return q, best >= 0
}

// readBody reads a request body of at most limit bytes in the binding
// its Content-Type names (JSON when none is given) and decodes it into v,
// whose XML root element must be root. Bad bodies are 400, unknown media
// types 415, oversized bodies 413.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, root string, v any) error {
	f := formatJSON
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err != nil:
			return errorf(http.StatusUnsupportedMediaType, "Content-Type %q: %v", ct, err)
		case mt == "application/json":
		case mt == "application/xml" || mt == "text/xml":
			f = formatXML
		default:
			return errorf(http.StatusUnsupportedMediaType, "Content-Type %q: send application/json or application/xml", ct)
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errorf(http.StatusRequestEntityTooLarge, "the request body exceeds %d bytes", limit)
		}
		return errorf(http.StatusBadRequest, "reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return errorf(http.StatusBadRequest, "the request needs a %s body", root)
	}
	if f == formatJSON {
		dec := json.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(v); err != nil {
			return errorf(http.StatusBadRequest, "the body is not a valid %s in JSON: %v", root, err)
		}
		if dec.More() {
			return errorf(http.StatusBadRequest, "the body is not a valid %s in JSON: data after the object", root)
		}
		return nil
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	var start xml.StartElement
	for {
		tok, err := dec.Token()
		if err != nil {
			return errorf(http.StatusBadRequest, "the body is not a valid %s in XML: %v", root, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			start = se
			break
		}
	}
	if start.Name.Local != root || start.Name.Space != NS && start.Name.Space != "" {
		return errorf(http.StatusBadRequest, "the XML root element is {%s}%s: want {%s}%s", start.Name.Space, start.Name.Local, NS, root)
	}
	if err := dec.DecodeElement(v, &start); err != nil {
		return errorf(http.StatusBadRequest, "the body is not a valid %s in XML: %v", root, err)
	}
	return nil
}

// obj is a resource as it is rendered: attribute name to value (string,
// bool, integers, ref, props, []op, obj, []obj, []string).
type obj map[string]any

// ref is a reference attribute: {"href": ...}, <x href="..."/>.
type ref struct {
	Href string `json:"href" xml:"href,attr"`
}

// op is one entry of a resource's operations.
type op struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

// props are a resource's properties: a JSON object, <property key="k">v</property> in XML.
type props map[string]string

// UnmarshalXML reads one <property key="k">v</property>.
func (p *props) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var e struct {
		Key   string `xml:"key,attr"`
		Value string `xml:",chardata"`
	}
	if err := d.DecodeElement(&e, &start); err != nil {
		return err
	}
	if *p == nil {
		*p = props{}
	}
	(*p)[e.Key] = e.Value
	return nil
}

// typeName is the CIMI type of a rendered resource (the last segment of
// its resourceURI), its XML element name.
func (o obj) typeName() string {
	s, _ := o["resourceURI"].(string)
	return strings.TrimPrefix(s, NS+"/")
}

// write renders o with the given status in the binding f.
func write(w http.ResponseWriter, f format, status int, o obj) error {
	var buf bytes.Buffer
	if f == formatJSON {
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(o); err != nil {
			return err
		}
	} else {
		buf.WriteString(xml.Header)
		e := xml.NewEncoder(&buf)
		if err := encodeXML(e, o.typeName(), o, true); err != nil {
			return err
		}
		if err := e.Flush(); err != nil {
			return err
		}
		buf.WriteByte('\n')
	}
	w.Header().Set("Content-Type", f.mediaType())
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// xmlOrder ranks the common attributes first, as DSP0263's XML schemas
// list them; the others follow by name, operations last. The keys are a
// rendered resource's attribute names: its properties are "properties"
// (written as <property> elements).
var xmlOrder = map[string]int{"id": 0, "name": 1, "description": 2, "created": 3, "updated": 4, "properties": 5}

func encodeXML(e *xml.Encoder, name string, o obj, root bool) error {
	start := xml.StartElement{Name: xml.Name{Local: name}}
	if root {
		start.Attr = []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: NS}}
	}
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	keys := make([]string, 0, len(o))
	for k := range o {
		if k != "resourceURI" {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(a, b int) bool {
		ra, oka := xmlOrder[keys[a]]
		rb, okb := xmlOrder[keys[b]]
		switch {
		case keys[a] == "operations" || keys[b] == "operations":
			return keys[b] == "operations" && keys[a] != "operations"
		case oka && okb:
			return ra < rb
		case oka != okb:
			return oka
		}
		return keys[a] < keys[b]
	})
	for _, k := range keys {
		if err := encodeXMLValue(e, k, o[k]); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

func singular(k string) string {
	if strings.HasSuffix(k, "s") {
		return k[:len(k)-1]
	}
	return k
}

func encodeXMLValue(e *xml.Encoder, k string, v any) error {
	switch v := v.(type) {
	case nil:
		return nil
	case ref:
		return hrefElem(e, k, v.Href)
	case *ref:
		if v == nil {
			return nil
		}
		return hrefElem(e, k, v.Href)
	case props:
		keys := make([]string, 0, len(v))
		for pk := range v {
			keys = append(keys, pk)
		}
		sort.Strings(keys)
		for _, pk := range keys {
			start := xml.StartElement{Name: xml.Name{Local: "property"}, Attr: []xml.Attr{{Name: xml.Name{Local: "key"}, Value: pk}}}
			if err := e.EncodeElement(v[pk], start); err != nil {
				return err
			}
		}
		return nil
	case []ref:
		// A list of references (a Job's nestedJobs): one element each,
		// named in the singular (<nestedJob href="..."/>).
		for _, r := range v {
			if err := hrefElem(e, singular(k), r.Href); err != nil {
				return err
			}
		}
		return nil
	case []op:
		for _, o := range v {
			start := xml.StartElement{Name: xml.Name{Local: "operation"}, Attr: []xml.Attr{
				{Name: xml.Name{Local: "rel"}, Value: o.Rel}, {Name: xml.Name{Local: "href"}, Value: o.Href}}}
			if err := e.EncodeToken(start); err != nil {
				return err
			}
			if err := e.EncodeToken(start.End()); err != nil {
				return err
			}
		}
		return nil
	case obj:
		return encodeXML(e, k, v, false)
	case []obj:
		for _, m := range v {
			name := m.typeName()
			if name == "" {
				name = singular(k)
			}
			if err := encodeXML(e, name, m, false); err != nil {
				return err
			}
		}
		return nil
	case []string:
		for _, s := range v {
			if err := e.EncodeElement(s, xml.StartElement{Name: xml.Name{Local: singular(k)}}); err != nil {
				return err
			}
		}
		return nil
	}
	return e.EncodeElement(fmt.Sprint(v), xml.StartElement{Name: xml.Name{Local: k}})
}

// hrefElem writes a reference attribute: <k href="..."/>.
func hrefElem(e *xml.Encoder, k, href string) error {
	start := xml.StartElement{Name: xml.Name{Local: k}, Attr: []xml.Attr{{Name: xml.Name{Local: "href"}, Value: href}}}
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}
