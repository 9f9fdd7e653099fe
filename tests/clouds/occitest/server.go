// Package occitest is an OCCI 1.1 fixture server for tests, in the spirit
// of net/http/httptest. It is built from traffic that the rOCCI project
// recorded against real OCCI servers (testdata/NOTICE.md) and from the
// examples of GFD.185:
//
//   - discovery (/-/) replays the recorded bodies byte for byte, in
//     text/plain and, where recorded, application/json; text/occi is the
//     same categories moved into headers;
//   - with the OpenNebula profile, the recorded compute, network and
//     storage instances are there to read, as recorded;
//   - create, read, partial update (POST), replace (PUT), delete and
//     actions (?action=) keep state, and every request is checked against
//     the recorded server's own definitions: the kinds, mixins and
//     attributes its discovery declares and, where the JSON discovery
//     carries them, attribute types, patterns, ranges and mutability.
//
// It also injects faults (FailNext, Hold) and reports pending states for
// a configurable number of reads after an action, so clients can be
// tested for polling without sleeping.
package occitest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Profile selects which recorded server the fixture plays.
type Profile int

// Profiles.
const (
	// Rocci plays rOCCI-server at 141.5.99.69 (January 2013): its text/plain
	// and JSON discovery, with resource templates small, medium, large and
	// extra_large. Requests are validated against the JSON discovery's
	// attribute definitions.
	Rocci Profile = iota
	// OpenNebula plays rOCCI-server on OpenNebula (November 2012): its
	// text/plain discovery (no JSON was recorded) and the compute, network
	// and storage instances that were read from it.
	OpenNebula
)

// Options tune the fixture.
type Options struct {
	Profile Profile
	// LocationInBodyOnly answers a create without a Location header, with
	// the location only as an X-OCCI-Location line in the body.
	LocationInBodyOnly bool
	// NoPartialUpdate refuses POST on an entity (partial update) with 405,
	// so clients must replace with PUT.
	NoPartialUpdate bool
	// PendingReads is how many GETs of an entity still show its previous
	// state after an action changed it.
	PendingReads int
	// WithoutStorageActions removes the storage backup, snapshot and
	// resize actions from the text discovery, as OCCI 1.2 (GFD.224)
	// removed them: storage is then resized by updating occi.storage.size.
	WithoutStorageActions bool
}

// Logged is one request the fixture received.
type Logged struct {
	Method, Path, Query string
	ContentType, Accept string
	Body                string
	Header              http.Header
}

type fault struct {
	method, prefix string
	status, left   int
}

type hold struct {
	method, prefix string
	release        chan struct{}
}

type entity struct {
	path   string
	kind   string
	mixins []string
	names  []string
	attrs  map[string]value
	raw    string // recorded rendering, served until the entity changes
	// pending reads still showing prevState.
	pending   int
	prevState string
}

func (e *entity) set(name string, v value) {
	if _, ok := e.attrs[name]; !ok {
		e.names = append(e.names, name)
	}
	e.attrs[name] = v
	e.raw = ""
}

// Server is a running fixture.
type Server struct {
	*httptest.Server
	opts Options

	discoveryText string
	discoveryJSON string
	headHeaders   map[string][]string
	categories    map[string]category // by id
	kindByLoc     map[string]string   // collection path → kind id
	defs          map[string]map[string]attrDef

	mu       sync.Mutex
	entities map[string]*entity
	seq      int
	faults   []*fault
	holds    []*hold
	// failAfter: when >= 0, that many more requests succeed, then every
	// one fails with failStatus.
	failAfter  int
	failStatus int
	log        []Logged
}

// NewServer starts a fixture; it is closed when the test ends.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := newServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Close releases held requests and shuts the server down.
func (s *Server) Close() {
	s.mu.Lock()
	for _, h := range s.holds {
		select {
		case <-h.release:
		default:
			close(h.release)
		}
	}
	s.holds = nil
	s.mu.Unlock()
	s.Server.Close()
}

func newServer(opts Options) (*Server, error) {
	s := &Server{opts: opts, failAfter: -1, categories: map[string]category{}, kindByLoc: map[string]string{}, entities: map[string]*entity{}}
	var recorded []Interaction
	switch opts.Profile {
	case Rocci:
		ins, err := Load(CassetteDiscoveryText)
		if err != nil {
			return nil, err
		}
		in, ok := Find(ins, "get", "/-/", "text/plain")
		if !ok {
			return nil, fmt.Errorf("no text/plain discovery recorded")
		}
		s.discoveryText = in.Response.Body.String
		if head, ok := Find(ins, "head", "/", ""); ok {
			s.headHeaders = head.Response.Headers
		}
		jins, err := Load(CassetteDiscoveryJSON)
		if err != nil {
			return nil, err
		}
		jin, ok := Find(jins, "get", "/-/", "application/json")
		if !ok {
			return nil, fmt.Errorf("no json discovery recorded")
		}
		s.discoveryJSON = jin.Response.Body.String
		if s.defs, err = readJSONDiscovery(s.discoveryJSON); err != nil {
			return nil, fmt.Errorf("recorded json discovery: %w", err)
		}
	case OpenNebula:
		ins, err := Load(CassetteOpenNebula)
		if err != nil {
			return nil, err
		}
		in, ok := Find(ins, "get", "/-/", "text/plain")
		if !ok {
			return nil, fmt.Errorf("no discovery recorded")
		}
		s.discoveryText = in.Response.Body.String
		if head, ok := Find(ins, "head", "/", ""); ok {
			s.headHeaders = head.Response.Headers
		}
		recorded = ins
	default:
		return nil, fmt.Errorf("unknown profile %d", opts.Profile)
	}
	if opts.WithoutStorageActions {
		s.discoveryText = dropStorageActions(s.discoveryText)
	}
	cats, err := readDiscovery(s.discoveryText)
	if err != nil {
		return nil, fmt.Errorf("recorded discovery: %w", err)
	}
	for _, c := range cats {
		// The first declaration of an id wins (the recordings declare each
		// once; OpenNebula reuses terms under its own schemes).
		if _, dup := s.categories[c.id()]; !dup {
			s.categories[c.id()] = c
		}
		if c.class == "kind" && c.location != "" {
			s.kindByLoc[c.location] = c.id()
		}
	}
	// Recorded instances: GETs of single entities with a rendering.
	for _, in := range recorded {
		p := uriPath(in.Request.URI)
		if in.Request.Method != "get" || in.Response.Status.Code != 200 || p == "/-/" || strings.HasSuffix(p, "/") {
			continue
		}
		if err := s.loadRecorded(p, in.Response.Body.String); err != nil {
			return nil, fmt.Errorf("recorded %s: %w", p, err)
		}
	}
	return s, nil
}

func (s *Server) loadRecorded(path, body string) error {
	e := &entity{path: path, attrs: map[string]value{}, raw: body}
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		name, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch name {
		case "Category":
			c, err := readCategory(val)
			if err != nil {
				return err
			}
			if c.class == "kind" {
				e.kind = c.id()
			} else {
				e.mixins = append(e.mixins, c.id())
			}
		case "X-OCCI-Attribute":
			k, raw, _ := strings.Cut(strings.TrimSpace(val), "=")
			v, err := readValue(raw)
			if err != nil {
				return err
			}
			e.names = append(e.names, k)
			e.attrs[k] = v
		}
	}
	e.raw = body
	s.entities[path] = e
	return nil
}

func dropStorageActions(body string) string {
	var out []string
	for _, line := range strings.SplitAfter(body, "\n") {
		drop := false
		for _, term := range []string{"backup", "snapshot", "resize"} {
			line = strings.ReplaceAll(line, " http://schemas.ogf.org/occi/infrastructure/storage/action#"+term, "")
			if strings.HasPrefix(line, "Category: "+term+";") {
				drop = true
			}
		}
		if !drop {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}

// splitID splits a category identifier into scheme (with its #) and term.
func splitID(id string) (scheme, term string) {
	i := strings.LastIndexByte(id, '#')
	return id[:i+1], id[i+1:]
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
