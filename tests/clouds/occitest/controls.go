package occitest

// The fixture's test controls: injected faults, held requests, and what
// the test may read or change behind the client's back.

import (
	"net/url"
	"sync"
)

// FailNext makes the next count requests with the method (any, if "")
// whose path starts with prefix fail with status.
func (s *Server) FailNext(method, prefix string, status, count int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{method: method, prefix: prefix, status: status, left: count})
}

// FailAfter lets the next n requests through and fails every later one
// with status, until Reset.
func (s *Server) FailAfter(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAfter, s.failStatus = n, status
}

// Reset clears every injected fault and releases held requests.
func (s *Server) Reset() {
	s.mu.Lock()
	s.faults = nil
	s.failAfter = -1
	holds := s.holds
	s.holds = nil
	s.mu.Unlock()
	for _, h := range holds {
		close(h.release)
	}
}

// Inventory counts the infrastructure entities the server holds (compute,
// storage, network and their links), recorded ones included.
func (s *Server) Inventory() int {
	n := 0
	for k := range stateAttr {
		n += s.Count(k)
	}
	return n
}

// Hold makes requests with the method whose path starts with prefix wait
// until release is called or the client gives up.
func (s *Server) Hold(method, prefix string) (release func()) {
	h := &hold{method: method, prefix: prefix, release: make(chan struct{})}
	s.mu.Lock()
	s.holds = append(s.holds, h)
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			for i, x := range s.holds {
				if x == h {
					s.holds = append(s.holds[:i], s.holds[i+1:]...)
					break
				}
			}
			s.mu.Unlock()
			close(h.release)
		})
	}
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Logged {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Logged(nil), s.log...)
}

// Entity returns an entity's kind and attribute values (unquoted), by
// path or absolute URL.
func (s *Server) Entity(loc string) (kind string, mixins []string, attrs map[string]string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entities[s.pathOf(loc)]
	if !ok {
		return "", nil, nil, false
	}
	attrs = map[string]string{}
	for k, v := range e.attrs {
		attrs[k] = v.s
	}
	return e.kind, append([]string(nil), e.mixins...), attrs, true
}

// Count returns how many entities of a kind exist.
func (s *Server) Count(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.entities {
		if e.kind == kind {
			n++
		}
	}
	return n
}

// SetAttribute changes an entity's attribute as the provider might on its
// own (a machine failing: occi.compute.state "error").
func (s *Server) SetAttribute(loc, name, val string, quoted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entities[s.pathOf(loc)]; ok {
		e.set(name, value{s: val, quoted: quoted})
	}
}

// Delete removes an entity behind the client's back.
func (s *Server) Delete(loc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteLocked(s.pathOf(loc))
}

func (s *Server) pathOf(loc string) string {
	if u, err := url.Parse(loc); err == nil && u.Path != "" {
		return u.Path
	}
	return loc
}
