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
// The precondition is evaluated on a read of the target's job made just
// before the engine is asked to act, and the engine is then asked to act
// only on the job at that read's revision (jobs.Manager's UpdateIf,
// ActIf, RemoveIf, ...: checked under the job's lock). A change that
// lands between the read and the engine's act (a second client's PUT in
// the same instant) is then a 412, not a lost update. Every write of a
// job changes its revision, and changes the updated time a GET shows
// too, so a job at the revision read still has the entity tag the
// precondition was evaluated on (its provider's live state aside, which
// no revision follows). A change in that instant that would leave the
// condition true all the same is a 412 too: the client reads again and
// retries, as after any 412.
//
// A create's target is a collection, whose tag covers all of the
// owner's machines or volumes; no lock of the engine covers them all, so
// a create's precondition is evaluated on the read alone. So is the
// machine's state at its provider, which is part of a Machine's tag, and
// the attachment a Volume shows (recorded on its machine's job).

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
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
	if _, err := c.precondition(func() (string, uint64, error) { return tag, 0, nil }); err != nil {
		return err
	}
	return write(c.w, c.f, http.StatusOK, shown)
}

// precondition evaluates the request's If-Match and If-None-Match, in
// the order of RFC 9110 section 13.2.2, for a target resource that
// exists (the caller has checked it: a missing one is 404, and its
// preconditions are not evaluated). current returns the target's entity
// tag now ("" when it has none) and the revision of the job it was made
// from (0 when none: a collection); it is called only when a header
// lists entity tags, since it may ask the provider. A false If-Match is
// 412; a false If-None-Match is 304 on a GET or HEAD (written here: the
// answer is then errAnswered) and 412 on any other method. The 412 is a
// CIMI error answer, as every refusal of the front-end.
//
// When the conditions hold, precondition returns the revision they were
// evaluated on, which the caller passes to the engine's operation (0
// when no condition read the target: then the engine expects none).
func (c *call) precondition(current func() (string, uint64, error)) (uint64, error) {
	im := c.r.Header.Values("If-Match")
	inm := c.r.Header.Values("If-None-Match")
	if len(im) == 0 && len(inm) == 0 {
		return 0, nil
	}
	var cur string
	var rev uint64
	var read bool
	tag := func() (string, error) {
		if !read {
			t, r, err := current()
			if err != nil {
				return "", err
			}
			cur, rev, read = t, r, true
		}
		return cur, nil
	}
	if len(im) > 0 {
		// "*" matches any current representation: the target exists.
		if star, tags := parseETags(im); !star {
			t, err := tag()
			if err != nil {
				return 0, err
			}
			if !matchETag(tags, t, true) {
				return 0, errorf(http.StatusPreconditionFailed, "If-Match %s: the resource's current entity tag is %s; read it again and retry", strings.Join(im, ", "), orNone(t))
			}
		}
	}
	if len(inm) > 0 {
		star, tags := parseETags(inm)
		matched := star
		if !star {
			t, err := tag()
			if err != nil {
				return 0, err
			}
			matched = matchETag(tags, t, false)
		}
		if matched {
			if c.r.Method == http.MethodGet || c.r.Method == http.MethodHead {
				c.w.WriteHeader(http.StatusNotModified)
				return 0, errAnswered
			}
			return 0, errorf(http.StatusPreconditionFailed, "If-None-Match %s: the resource exists with that entity tag", strings.Join(inm, ", "))
		}
	}
	if c.h.preconditionHeld != nil {
		c.h.preconditionHeld()
	}
	return rev, nil
}

// changedErr is the answer to an engine's error: 412 when the engine
// refused to act because the target's job changed after the request's
// preconditions were evaluated on it (jobs.ErrChanged), nil for any
// other error.
func changedErr(err error) error {
	if !errors.Is(err, jobs.ErrChanged) {
		return nil
	}
	return errorf(http.StatusPreconditionFailed, "the resource changed while the request's preconditions were evaluated (%v); read it again and retry", err)
}

// chain is the revision a second engine operation of one request
// expects after the first (res) wrote the job: the one res's job is at,
// when the request expects one (rev is not 0).
func chain(rev uint64, res *jobs.Result) uint64 {
	if rev == 0 || res == nil || res.Job == nil {
		return rev
	}
	return res.Job.Rev
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

func (c *call) machineTag(id string) func() (string, uint64, error) {
	return func() (string, uint64, error) {
		j, live, err := c.ownMachine(id, true)
		if err != nil {
			return "", 0, err
		}
		return etagOf(c.f, c.machineObj(j, live)), j.Rev, nil
	}
}

func (c *call) volumeTag(id string) func() (string, uint64, error) {
	return func() (string, uint64, error) {
		j, err := c.ownVolume(id)
		if err != nil {
			return "", 0, err
		}
		return etagOf(c.f, c.volumeObj(j)), j.Rev, nil
	}
}

// machineVolumeTag is the tag of machine id's MachineVolume member, or of
// its volumes collection (member ""), and the machine job's revision.
func (c *call) machineVolumeTag(id, member string) func() (string, uint64, error) {
	return func() (string, uint64, error) {
		j, _, err := c.ownMachine(id, false)
		if err != nil {
			return "", 0, err
		}
		mvs := c.machineVolumeObjs(j)
		if member == "" {
			return etagOf(c.f, c.machineVolumeCollection(j, mvs, &query{})), j.Rev, nil
		}
		for _, mv := range mvs {
			if mv["id"] == c.base+"machines/"+id+"/volumes/"+member {
				return etagOf(c.f, mv), j.Rev, nil
			}
		}
		return "", 0, errorf(http.StatusNotFound, "no MachineVolume %q", member)
	}
}

// collectionTag is the tag of one of the CloudEntryPoint's collections
// (a create's target); no one job's revision.
func (c *call) collectionTag(name string) func() (string, uint64, error) {
	return func() (string, uint64, error) {
		col, err := c.collectionOf(name, &query{})
		if err != nil {
			return "", 0, err
		}
		return etagOf(c.f, col), 0, nil
	}
}
