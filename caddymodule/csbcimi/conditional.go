package csbcimi

// Conditional requests (RFC 9110 section 13): every resource a GET
// answers carries a strong ETag, and every method evaluates If-Match and
// If-None-Match against the target's current one, so that a CIMI client
// can protect an update, a delete or an action from a change it has not
// seen (the lost update of RFC 9110 section 13.1.1).
//
// The ETag is a hash of the resource's data as the front-end renders it
// (and of the binding, since a JSON and an XML representation are two
// representations): it changes whenever anything a GET shows changes,
// the provider's live state of a machine included, which no revision of
// the broker's record follows (a machine that stops at its provider
// changes no record). A tag made from the job's revision alone would let
// a 304 hide that state change, and so could not be a strong validator.
// Computing it costs one encoding of the resource, which a GET makes
// anyway; a PUT, DELETE or action computes it only when the request
// lists entity tags (it may then ask the provider for the machine's
// state, as a GET does).
//
// Last-Modified is not served, for the same reason: the live state
// changes at no time the broker knows. If-Unmodified-Since and
// If-Modified-Since are then ignored, as RFC 9110 sections 13.1.3 and
// 13.1.4 direct for a resource with no modification date; If-Match is
// the precondition to use.
//
// The precondition is evaluated on a read made just before the engine
// is asked to act: the engine takes no expected revision, so a change
// that lands between that read and the engine's own (a second client's
// PUT in the same instant) is not caught. It narrows the window of a
// lost update to that instant; it does not close it.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
)

// etagOf is the strong entity tag of resource o rendered in binding f.
func etagOf(f format, o obj) string {
	data, err := json.Marshal(o)
	if err != nil {
		return ""
	}
	h := sha256.New()
	h.Write([]byte{byte('j' + f)}) // the binding: JSON and XML differ
	h.Write(data)
	return `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
}

// serve answers a GET (or HEAD) of an existing resource: 200 with shown
// (full as the query projects it) and the ETag of full, the whole
// resource, which is what a PUT, DELETE or action compares If-Match with;
// or 304 or 412 as the request's preconditions say.
func (c *call) serve(full, shown obj) error {
	tag := etagOf(c.f, full)
	if tag != "" {
		c.w.Header().Set("ETag", tag)
	}
	// The representation, so its tag, depends on Accept.
	c.w.Header().Add("Vary", "Accept")
	if err := c.precondition(func() (string, error) { return tag, nil }); err != nil {
		return err
	}
	return write(c.w, c.f, http.StatusOK, shown)
}

// precondition evaluates the request's If-Match and If-None-Match, in
// the order of RFC 9110 section 13.2.2, for a target resource that
// exists (the caller has checked it: a missing one is 404, and its
// preconditions are not evaluated). current returns the target's entity
// tag now ("" when it has none); it is called only when a header lists
// entity tags, since it may ask the provider. A false If-Match is 412; a
// false If-None-Match is 304 on a GET or HEAD (written here: the answer
// is then errAnswered) and 412 on any other method. The 412 is a CIMI
// error answer, as every refusal of the front-end.
func (c *call) precondition(current func() (string, error)) error {
	im := c.r.Header.Values("If-Match")
	inm := c.r.Header.Values("If-None-Match")
	if len(im) == 0 && len(inm) == 0 {
		return nil
	}
	var cur string
	var read bool
	tag := func() (string, error) {
		if !read {
			t, err := current()
			if err != nil {
				return "", err
			}
			cur, read = t, true
		}
		return cur, nil
	}
	if len(im) > 0 {
		// "*" matches any current representation: the target exists.
		if star, tags := parseETags(im); !star {
			t, err := tag()
			if err != nil {
				return err
			}
			if !matchETag(tags, t, true) {
				return errorf(http.StatusPreconditionFailed, "If-Match %s: the resource's current entity tag is %s; read it again and retry", strings.Join(im, ", "), orNone(t))
			}
		}
	}
	if len(inm) > 0 {
		star, tags := parseETags(inm)
		matched := star
		if !star {
			t, err := tag()
			if err != nil {
				return err
			}
			matched = matchETag(tags, t, false)
		}
		if matched {
			if c.r.Method == http.MethodGet || c.r.Method == http.MethodHead {
				c.w.WriteHeader(http.StatusNotModified)
				return errAnswered
			}
			return errorf(http.StatusPreconditionFailed, "If-None-Match %s: the resource exists with that entity tag", strings.Join(inm, ", "))
		}
	}
	return nil
}

func orNone(tag string) string {
	if tag == "" {
		return "none"
	}
	return tag
}

// eTag is one entity-tag of a precondition header.
type eTag struct {
	weak   bool
	opaque string // with its quotes
}

// parseETags reads the values of an If-Match or If-None-Match header:
// "*", or a list of entity-tags (RFC 9110 section 8.8.3: [W/] and a
// quoted string, which may hold commas). What does not parse is left
// out: it matches nothing.
func parseETags(values []string) (star bool, tags []eTag) {
	s := strings.Join(values, ",")
	if strings.TrimSpace(s) == "*" {
		return true, nil
	}
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return false, tags
		}
		weak := strings.HasPrefix(s, "W/")
		if weak {
			s = s[2:]
		}
		if !strings.HasPrefix(s, `"`) {
			// Not an entity-tag (a bare word, a "*" in a list): skip
			// to the next element.
			i := strings.IndexByte(s, ',')
			if i < 0 {
				return false, tags
			}
			s = s[i+1:]
			continue
		}
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return false, tags
		}
		tags = append(tags, eTag{weak: weak, opaque: s[:end+2]})
		s = s[end+2:]
	}
}

// matchETag reports whether one of tags matches cur (a strong tag, or ""
// for none): by strong comparison (If-Match: a weak tag matches nothing)
// or weak comparison (If-None-Match: the opaque tags alone).
func matchETag(tags []eTag, cur string, strong bool) bool {
	if cur == "" {
		return false
	}
	for _, t := range tags {
		if t.opaque == cur && (!strong || !t.weak) {
			return true
		}
	}
	return false
}

// The current entity tags of the targets of PUT, DELETE and POST, each as
// a GET of the target answers it (without a query).

func (c *call) machineTag(id string) func() (string, error) {
	return func() (string, error) {
		j, live, err := c.ownMachine(id, true)
		if err != nil {
			return "", err
		}
		return etagOf(c.f, c.machineObj(j, live)), nil
	}
}

func (c *call) volumeTag(id string) func() (string, error) {
	return func() (string, error) {
		j, err := c.ownVolume(id)
		if err != nil {
			return "", err
		}
		return etagOf(c.f, c.volumeObj(j)), nil
	}
}

// machineVolumeTag is the tag of machine id's MachineVolume member, or of
// its volumes collection (member "").
func (c *call) machineVolumeTag(id, member string) func() (string, error) {
	return func() (string, error) {
		j, _, err := c.ownMachine(id, false)
		if err != nil {
			return "", err
		}
		mvs := c.machineVolumeObjs(j)
		if member == "" {
			return etagOf(c.f, c.machineVolumeCollection(j, mvs, &query{})), nil
		}
		for _, mv := range mvs {
			if mv["id"] == c.base+"machines/"+id+"/volumes/"+member {
				return etagOf(c.f, mv), nil
			}
		}
		return "", errorf(http.StatusNotFound, "no MachineVolume %q", member)
	}
}

// collectionTag is the tag of one of the CloudEntryPoint's collections
// (a create's target).
func (c *call) collectionTag(name string) func() (string, error) {
	return func() (string, error) {
		col, err := c.collectionOf(name, &query{})
		if err != nil {
			return "", err
		}
		return etagOf(c.f, col), nil
	}
}
