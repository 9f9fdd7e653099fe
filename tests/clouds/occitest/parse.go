package occitest

// An OCCI text-rendering reader of the fixture's own, written from
// GFD.185 section 3.5 independently of the adapter's, so that the adapter
// is not only checked against its own reading of the rendering. It is
// strict where the specification is: categories need a quoted scheme and
// class, attribute names are dotted lower-case tokens, string values are
// quoted, and anything else is a number or a boolean.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

type category struct {
	term, scheme, class, title, location string
	rel                                  []string
	attrs                                []string
	actions                              []string
}

func (c category) id() string { return c.scheme + c.term }

type value struct {
	s      string
	quoted bool
}

func (v value) render() string {
	if !v.quoted {
		return v.s
	}
	return strconv.Quote(v.s)
}

type request struct {
	categories []category
	attrNames  []string
	attrs      map[string]value
}

var (
	attrNameRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]*(\.[a-zA-Z][a-zA-Z0-9_-]*)*$`)
	numberRE   = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)
)

// parseRequest reads a request's rendering from its body (text/plain) or
// headers (text/occi).
func parseRequest(r *http.Request, body []byte) (*request, error) {
	req := &request{attrs: map[string]value{}}
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "text/occi"), len(strings.TrimSpace(string(body))) == 0:
		for _, v := range r.Header.Values("Category") {
			for _, part := range split(v, ',') {
				if err := req.line("Category", part); err != nil {
					return nil, err
				}
			}
		}
		for _, v := range r.Header.Values("X-OCCI-Attribute") {
			for _, part := range split(v, ',') {
				if err := req.line("X-OCCI-Attribute", part); err != nil {
					return nil, err
				}
			}
		}
	case strings.HasPrefix(ct, "text/plain"):
		sc := bufio.NewScanner(strings.NewReader(string(body)))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			name, val, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("text/plain line %q is not name: value", line)
			}
			if err := req.line(name, val); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("unsupported content type %q", ct)
	}
	return req, nil
}

func (req *request) line(name, val string) error {
	val = strings.TrimSpace(val)
	switch strings.ToLower(name) {
	case "category":
		c, err := readCategory(val)
		if err != nil {
			return err
		}
		if !strings.HasSuffix(c.scheme, "#") {
			return fmt.Errorf("category %s: scheme %q does not end with #", c.term, c.scheme)
		}
		req.categories = append(req.categories, c)
	case "x-occi-attribute":
		k, raw, ok := strings.Cut(val, "=")
		if !ok || !attrNameRE.MatchString(k) {
			return fmt.Errorf("attribute %q: bad name", val)
		}
		v, err := readValue(raw)
		if err != nil {
			return fmt.Errorf("attribute %s: %w", k, err)
		}
		if _, dup := req.attrs[k]; dup {
			return fmt.Errorf("attribute %s given twice", k)
		}
		req.attrNames = append(req.attrNames, k)
		req.attrs[k] = v
	case "link", "x-occi-location":
		// Not used by the requests the fixture serves.
	default:
		return fmt.Errorf("unexpected rendering line %q", name)
	}
	return nil
}

func readValue(raw string) (value, error) {
	if strings.HasPrefix(raw, `"`) {
		s, err := strconv.Unquote(raw)
		if err != nil {
			// OCCI escapes only \" and \\; be as lenient as the grammar.
			if !strings.HasSuffix(raw, `"`) || len(raw) < 2 {
				return value{}, fmt.Errorf("unterminated string %s", raw)
			}
			s = strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(raw[1 : len(raw)-1])
		}
		return value{s: s, quoted: true}, nil
	}
	if raw == "true" || raw == "false" || numberRE.MatchString(raw) {
		return value{s: raw}, nil
	}
	return value{}, fmt.Errorf("value %q is neither a quoted string, a number nor a boolean", raw)
}

// readCategory reads `term; scheme="..."; class="..."[; k="v"]...`.
func readCategory(s string) (category, error) {
	parts := split(s, ';')
	c := category{term: strings.TrimSpace(parts[0])}
	if c.term == "" {
		return c, fmt.Errorf("category %q without term", s)
	}
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		if !ok || !strings.HasPrefix(v, `"`) || !strings.HasSuffix(v, `"`) || len(v) < 2 {
			return c, fmt.Errorf("category %s: parameter %q is not key=\"value\"", c.term, p)
		}
		v = v[1 : len(v)-1]
		switch k {
		case "scheme":
			c.scheme = v
		case "class":
			c.class = v
		case "title":
			c.title = v
		case "location":
			c.location = v
		case "rel":
			c.rel = strings.Fields(v)
		case "attributes":
			for _, f := range strings.Fields(v) {
				if i := strings.IndexByte(f, '{'); i >= 0 {
					f = f[:i]
				}
				c.attrs = append(c.attrs, f)
			}
		case "actions":
			c.actions = strings.Fields(v)
		}
	}
	if c.scheme == "" || c.class == "" {
		return c, fmt.Errorf("category %s: scheme and class are required", c.term)
	}
	return c, nil
}

// split splits at sep outside double quotes.
func split(s string, sep byte) []string {
	var out []string
	in, esc, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case esc:
			esc = false
		case c == '\\' && in:
			esc = true
		case c == '"':
			in = !in
		case c == sep && !in:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// readDiscovery reads a recorded text/plain discovery body.
func readDiscovery(body string) ([]category, error) {
	var out []category
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, val, ok := strings.Cut(line, ":")
		if !ok || name != "Category" {
			return nil, fmt.Errorf("discovery line %q", line)
		}
		c, err := readCategory(val)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// attrDef is what the recorded JSON discovery says of an attribute.
type attrDef struct {
	Type     string   `json:"Type"`
	Mutable  *bool    `json:"Mutable"`
	Required bool     `json:"Required"`
	Pattern  string   `json:"Pattern"`
	Minimum  *float64 `json:"Minimum"`
	Maximum  *float64 `json:"Maximum"`
	Default  any      `json:"Default"`
}

// readJSONDiscovery reads rOCCI's JSON discovery: category id → attribute
// name → definition.
func readJSONDiscovery(body string) (map[string]map[string]attrDef, error) {
	var doc map[string][]struct {
		Scheme     string         `json:"scheme"`
		Term       string         `json:"term"`
		Attributes map[string]any `json:"attributes"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		return nil, err
	}
	out := map[string]map[string]attrDef{}
	for _, cs := range doc {
		for _, c := range cs {
			defs := map[string]attrDef{}
			walk("", c.Attributes, defs)
			out[c.Scheme+c.Term] = defs
		}
	}
	return out, nil
}

func walk(prefix string, m map[string]any, out map[string]attrDef) {
	for k, v := range m {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		obj, ok := v.(map[string]any)
		if !ok {
			continue
		}
		if _, isDef := obj["Type"]; isDef {
			b, _ := json.Marshal(obj)
			var d attrDef
			_ = json.Unmarshal(b, &d)
			out[name] = d
			continue
		}
		walk(name, obj, out)
	}
}
