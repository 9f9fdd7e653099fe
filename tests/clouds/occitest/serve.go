package occitest

// Serving: routing, discovery (/-/), collections, and the renderings of
// entities in text/plain, text/occi and text/uri-list.

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.log = append(s.log, Logged{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, ContentType: r.Header.Get("Content-Type"), Accept: r.Header.Get("Accept"), Body: string(body), Header: r.Header.Clone()})
	var held *hold
	for _, h := range s.holds {
		if (h.method == "" || h.method == r.Method) && strings.HasPrefix(r.URL.Path, h.prefix) {
			held = h
			break
		}
	}
	if s.failAfter == 0 {
		status := s.failStatus
		s.mu.Unlock()
		http.Error(w, fmt.Sprintf("injected failure %d", status), status)
		return
	}
	if s.failAfter > 0 {
		s.failAfter--
	}
	for _, f := range s.faults {
		if f.left > 0 && (f.method == "" || f.method == r.Method) && strings.HasPrefix(r.URL.Path, f.prefix) {
			f.left--
			s.mu.Unlock()
			http.Error(w, fmt.Sprintf("injected failure %d", f.status), f.status)
			return
		}
	}
	s.mu.Unlock()
	if held != nil {
		select {
		case <-held.release:
		case <-r.Context().Done():
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.URL.Path == "/" && r.Method == http.MethodHead:
		for k, vs := range s.headHeaders {
			if k == "Accept" || k == "Server" {
				w.Header()[k] = vs
			}
		}
		w.WriteHeader(http.StatusOK)
	case r.URL.Path == "/-/" || r.URL.Path == "/.well-known/org/ogf/occi/-/":
		s.discovery(w, r)
	case s.kindByLoc[r.URL.Path] != "":
		s.collection(w, r, body, s.kindByLoc[r.URL.Path])
	case s.entities[r.URL.Path] != nil:
		s.instance(w, r, body, s.entities[r.URL.Path])
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

func wants(r *http.Request, mt string) bool {
	return strings.Contains(r.Header.Get("Accept"), mt)
}

// preferred returns the first of the media types the Accept header names.
func preferred(r *http.Request, mts ...string) string {
	acc := r.Header.Get("Accept")
	best, at := "", len(acc)+1
	for _, mt := range mts {
		if i := strings.Index(acc, mt); i >= 0 && i < at {
			best, at = mt, i
		}
	}
	if best == "" && (acc == "" || strings.Contains(acc, "*/*")) {
		return mts[0]
	}
	return best
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		// Mixin management through the query interface is not served.
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch preferred(r, "text/plain", "text/occi", "application/json") {
	case "text/plain":
		w.Header().Set("Content-Type", "text/plain;charset=utf-8")
		io.WriteString(w, s.discoveryText)
	case "text/occi":
		for _, line := range strings.Split(s.discoveryText, "\n") {
			if name, val, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
				w.Header().Add(name, strings.TrimSpace(val))
			}
		}
		w.Header().Set("Content-Type", "text/occi")
		w.WriteHeader(http.StatusOK)
	case "application/json":
		if s.discoveryJSON == "" {
			http.Error(w, "not acceptable", http.StatusNotAcceptable)
			return
		}
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		io.WriteString(w, s.discoveryJSON)
	default:
		http.Error(w, "not acceptable", http.StatusNotAcceptable)
	}
}

func (s *Server) base(r *http.Request) string { return "http://" + r.Host }

func (s *Server) collection(w http.ResponseWriter, r *http.Request, body []byte, kind string) {
	switch r.Method {
	case http.MethodGet:
		var paths []string
		for p, e := range s.entities {
			if e.kind == kind {
				paths = append(paths, p)
			}
		}
		sort.Strings(paths)
		if wants(r, "text/uri-list") {
			w.Header().Set("Content-Type", "text/uri-list;charset=utf-8")
			for _, p := range paths {
				fmt.Fprintln(w, s.base(r)+p)
			}
			return
		}
		w.Header().Set("Content-Type", "text/plain;charset=utf-8")
		for _, p := range paths {
			fmt.Fprintf(w, "X-OCCI-Location: %s%s\n", s.base(r), p)
		}
	case http.MethodPost:
		if r.URL.Query().Has("action") {
			http.Error(w, "actions on collections are not implemented", http.StatusNotImplemented)
			return
		}
		s.create(w, r, body, kind)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// render answers a GET of an entity: the recorded bytes for a recorded
// entity that has not changed, else a rendering in the recorded server's
// style (no spaces after semicolons, links inline with self= and their
// attributes separated by spaces).
func (s *Server) render(w http.ResponseWriter, r *http.Request, e *entity) {
	lines := s.lines(r, e)
	if preferred(r, "text/plain", "text/occi") == "text/occi" {
		for _, l := range lines {
			name, val, _ := strings.Cut(l, ": ")
			w.Header().Add(name, val)
		}
		w.Header().Set("Content-Type", "text/occi")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "OK\n")
		return
	}
	w.Header().Set("Content-Type", "text/plain;charset=utf-8")
	if e.raw != "" && e.pending == 0 {
		io.WriteString(w, e.raw)
		return
	}
	for _, l := range lines {
		io.WriteString(w, l+"\n")
	}
}

func (s *Server) lines(r *http.Request, e *entity) []string {
	shown := map[string]value{}
	for k, v := range e.attrs {
		shown[k] = v
	}
	if e.pending > 0 {
		e.pending--
		shown[stateAttr[e.kind]] = value{s: e.prevState, quoted: true}
	}
	var out []string
	scheme, term := splitID(e.kind)
	out = append(out, fmt.Sprintf(`Category: %s;scheme="%s";class="kind"`, term, scheme))
	for _, m := range e.mixins {
		scheme, term := splitID(m)
		out = append(out, fmt.Sprintf(`Category: %s;scheme="%s";class="mixin"`, term, scheme))
	}
	for _, n := range e.names {
		out = append(out, fmt.Sprintf("X-OCCI-Attribute: %s=%s", n, shown[n].render()))
	}
	var links []string
	for p, x := range s.entities {
		if src, ok := x.attrs["occi.core.source"]; ok && src.s == e.path {
			links = append(links, p)
		}
	}
	sort.Strings(links)
	for _, p := range links {
		x := s.entities[p]
		tgt := s.entities[x.attrs["occi.core.target"].s]
		rel := ""
		if tgt != nil {
			rel = tgt.kind
		}
		var attrs []string
		for _, n := range x.names {
			if n == "occi.core.source" || n == "occi.core.target" {
				continue
			}
			attrs = append(attrs, n+"="+x.attrs[n].render())
		}
		out = append(out, fmt.Sprintf(`Link: <%s>;rel="%s";self="%s";category="%s";%s`, x.attrs["occi.core.target"].s, rel, p, x.kind, strings.Join(attrs, " ")))
	}
	return out
}
