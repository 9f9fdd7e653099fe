package cdmi_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// store is a small CDMI 1.1.1 server for tests: containers and data
// objects that PUT creates or changes, read whole or, as CDMI 1.1.1
// reads them with a field selection (GET <object>?<fieldname>;...), only
// the fields named. It can lose the answer to a request it carried out
// (or never carry it out): the connection is then closed without a byte
// of the answer.
type store struct {
	*httptest.Server

	mu      sync.Mutex
	objects map[string]*stored
	reads   []string // the request URI of every GET
	// whole, when set, makes the store answer every read with the whole
	// object, as a server that ignores field selection does.
	whole bool
	// fault, when set, decides for each request whether it is carried
	// out and how it is answered.
	fault func(r *http.Request) fault
}

// fault is what becomes of a request: carried out or not, then answered
// with status, or (status 0) with the connection closed.
type fault struct {
	carried bool
	status  int
}

type stored struct {
	objectType string
	id         string
	mimetype   string
	metadata   map[string]any
	value      string
	base64     bool // the value is stored with valuetransferencoding base64
}

func newStore(t *testing.T) *store {
	t.Helper()
	s := &store{objects: map[string]*stored{"/cdmi/": {objectType: "application/cdmi-container", id: "root"}}}
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

func (s *store) put(path string, o *stored) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.id == "" {
		o.id = "id-" + strconv.Itoa(len(s.objects))
	}
	s.objects[path] = o
}

func (s *store) object(path string) (stored, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[path]
	if !ok {
		return stored{}, false
	}
	return *o, true
}

func (s *store) gets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reads...)
}

func (s *store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	fn := s.fault
	s.mu.Unlock()
	f := fault{carried: true, status: -1}
	if fn != nil {
		f = fn(r)
	}
	var status int
	var body any
	if f.carried {
		status, body = s.serve(r)
	}
	switch f.status {
	case -1:
	case 0:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		conn.Close()
		return
	default:
		w.WriteHeader(f.status)
		return
	}
	w.Header().Set("X-CDMI-Specification-Version", "1.1.1")
	if body == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/cdmi-object")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (s *store) serve(r *http.Request) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := r.URL.Path
	switch r.Method {
	case http.MethodGet:
		s.reads = append(s.reads, r.URL.RequestURI())
		o, ok := s.objects[p]
		if !ok {
			return http.StatusNotFound, map[string]string{"error": "no " + p}
		}
		return http.StatusOK, s.render(p, o, r.URL.RawQuery)
	case http.MethodPut:
		var in struct {
			Mimetype string         `json:"mimetype"`
			Metadata map[string]any `json:"metadata"`
			Value    *string        `json:"value"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			return http.StatusBadRequest, map[string]string{"error": err.Error()}
		}
		o, ok := s.objects[p]
		if !ok {
			o = &stored{objectType: r.Header.Get("Content-Type"), id: "id-" + strconv.Itoa(len(s.objects)), metadata: map[string]any{}}
			s.objects[p] = o
		}
		if in.Mimetype != "" {
			o.mimetype = in.Mimetype
		}
		if in.Metadata != nil {
			o.metadata = in.Metadata
		}
		if in.Value != nil {
			o.value = *in.Value
		}
		if !ok {
			return http.StatusCreated, s.render(p, o, "objectType;objectID;metadata")
		}
		return http.StatusNoContent, nil
	case http.MethodDelete:
		delete(s.objects, p)
		return http.StatusNoContent, nil
	}
	return http.StatusMethodNotAllowed, nil
}

func (s *store) render(p string, o *stored, query string) map[string]any {
	meta := map[string]any{}
	for k, v := range o.metadata {
		meta[k] = v
	}
	full := map[string]any{"objectType": o.objectType, "objectID": o.id, "objectName": p[strings.LastIndex(strings.TrimSuffix(p, "/"), "/")+1:],
		"parentURI": p[:strings.LastIndex(strings.TrimSuffix(p, "/"), "/")+1], "completionStatus": "Complete", "metadata": meta}
	if o.objectType == "application/cdmi-object" {
		meta["cdmi_size"] = strconv.Itoa(len(o.value))
		full["mimetype"] = o.mimetype
		full["valuetransferencoding"] = "utf-8"
		full["value"] = o.value
		if o.base64 {
			full["valuetransferencoding"] = "base64"
			full["value"] = base64.StdEncoding.EncodeToString([]byte(o.value))
		}
	} else {
		var kids []string
		for k := range s.objects {
			if k != p && strings.HasPrefix(k, p) && !strings.Contains(strings.TrimSuffix(k[len(p):], "/"), "/") {
				kids = append(kids, k[len(p):])
			}
		}
		full["children"] = kids
	}
	if query == "" || s.whole {
		return full
	}
	out := map[string]any{}
	for _, f := range strings.Split(query, ";") {
		name, _, _ := strings.Cut(f, ":")
		if v, ok := full[name]; ok {
			out[name] = v
		}
	}
	return out
}
