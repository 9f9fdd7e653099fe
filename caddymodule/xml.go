package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/accept"
)

// maxXMLDepthLimit bounds max_depth: deeper trees are never needed (the
// schemas stop at depth 6) and the tree builder refuses beyond 1024.
const maxXMLDepthLimit = 1024

// XMLConfig configures how the broker reads the draft's two XML message
// packages (application/csb-publish+xml and application/csb-consumer+xml)
// on its Publish and Consumer interfaces and in its providers' answers.
// Every field is optional; the zero value is lenient mode with the
// default limits. In the Caddyfile it is the xml subdirective of the csb
// global option:
//
//	csb {
//		xml [lenient|strict] {
//			mode           lenient|strict
//			max_body_size  <size>
//			max_depth      <n>
//			max_elements   <n>
//			max_attributes <n>
//			max_text_size  <size>
//		}
//	}
//
// Sizes take units the way Caddy's request_body directive does: 1MiB,
// 512KiB, 2MB, or a plain number of bytes.
type XMLConfig struct {
	// Mode is "lenient" (the default) or "strict". Lenient mode accepts
	// the element spellings the draft's own examples use instead of the
	// schema names (<Network-support>, <link>, several <Cloud-Service> in
	// one notification, ...), once per peer logs that it did so, and
	// accepts children in any order. Strict mode answers 420 (unsupported
	// attribute or element) for those spellings and 400 (syntax error) for
	// children out of schema order. The full list is in CONFORMANCE.md.
	Mode string `json:"mode,omitempty"`

	// MaxBodySize is the largest message body read, in bytes: a larger
	// request is answered 413 Content Too Large, a larger provider answer
	// is an error. Default: 1 MiB.
	MaxBodySize int64 `json:"max_body_size,omitempty"`

	// MaxDepth is the deepest element nesting accepted in a message (the
	// root is depth 1); a deeper message is answered 400. Default: 32,
	// at most 1024.
	MaxDepth int `json:"max_depth,omitempty"`

	// MaxElements is the most elements a message may hold; a message
	// with more is answered 400. Default: 10000.
	MaxElements int `json:"max_elements,omitempty"`

	// MaxAttributes is the most attributes (namespace declarations
	// included) one element may carry; more is answered 400. Default: 32.
	MaxAttributes int `json:"max_attributes,omitempty"`

	// MaxTextSize is the most text, in bytes as sent, one element may
	// hold between two of its tags (CDATA included), and the longest
	// attribute value; a message with more is answered 400 (the draft's
	// status for invalid values) before anything is parsed further, so
	// nothing of it reaches a provider or a job record. Default: 64 KiB.
	MaxTextSize int `json:"max_text_size,omitempty"`

	mode    csbmsg.Mode
	limits  csbmsg.Limits
	aliases *aliasOnce
	logger  *zap.Logger
}

// Validate checks the configuration. It has no side effects.
func (x *XMLConfig) Validate() error {
	if x == nil {
		return nil
	}
	switch x.Mode {
	case "", "lenient", "strict":
	default:
		return fmt.Errorf("xml: mode must be lenient or strict, not %q", x.Mode)
	}
	if x.MaxBodySize < 0 {
		return fmt.Errorf("xml: max_body_size must not be negative (%d)", x.MaxBodySize)
	}
	if x.MaxDepth < 0 || x.MaxDepth > maxXMLDepthLimit {
		return fmt.Errorf("xml: max_depth must be between 1 and %d (%d)", maxXMLDepthLimit, x.MaxDepth)
	}
	if x.MaxElements < 0 {
		return fmt.Errorf("xml: max_elements must not be negative (%d)", x.MaxElements)
	}
	if x.MaxAttributes < 0 {
		return fmt.Errorf("xml: max_attributes must not be negative (%d)", x.MaxAttributes)
	}
	if x.MaxTextSize < 0 {
		return fmt.Errorf("xml: max_text_size must not be negative (%d)", x.MaxTextSize)
	}
	return nil
}

// provision applies the defaults. It is called by App.Provision, which
// replaces a nil XMLConfig by a zero one first.
func (x *XMLConfig) provision(logger *zap.Logger) {
	x.mode = csbmsg.Lenient
	if x.Mode == "strict" {
		x.mode = csbmsg.Strict
	}
	x.limits = csbmsg.Limits{
		MaxBytes:      x.MaxBodySize,
		MaxDepth:      x.MaxDepth,
		MaxElements:   x.MaxElements,
		MaxAttributes: x.MaxAttributes,
		MaxTextBytes:  x.MaxTextSize,
	}.WithDefaults()
	x.logger = logger.Named("xml")
	x.aliases = newAliasOnce(aliasPeers)
}

// options returns the codec options for a message from peer that arrived
// with the given Content-Type charset.
func (x *XMLConfig) options(peer, charset string) csbmsg.Options {
	opt := csbmsg.Options{Mode: x.mode, Limits: x.limits, Charset: charset}
	if x.mode == csbmsg.Lenient && x.aliases != nil {
		opt.OnAlias = func(alias, canonical string) {
			if !x.aliases.first(peer, alias) {
				return
			}
			if ce := x.logger.Check(zap.InfoLevel, "alias spelling accepted"); ce != nil {
				ce.Write(zap.String("peer", peer), zap.String("alias", alias), zap.String("canonical", canonical))
			}
		}
	}
	return opt
}

// readPublish reads and parses the csb-publish message in the body of r.
// It returns a caddyhttp.HandlerError for failures at the HTTP level
// (415 for a missing or wrong Content-Type or Content-Encoding or an
// unsupported charset, 413 for a body over max_body_size), to be returned
// from ServeHTTP, and a *csbmsg.Error (status 400 or 420 with a reason)
// for a message the codec refuses, to be answered with a <csbresponse>
// carrying that status and reason.
func (x *XMLConfig) readPublish(w http.ResponseWriter, r *http.Request) (*csbmsg.Publish, error) {
	body, charset, err := x.readBody(w, r, csbmsg.PublishMediaType)
	if err != nil {
		return nil, err
	}
	return csbmsg.ParsePublish(body, x.options(peerOf(r), charset))
}

// readConsumer is readPublish for the Consumer interface: errors are a
// caddyhttp.HandlerError (415, 413) or a *csbmsg.Error to be answered
// with a <CloudServiceResponse>.
func (x *XMLConfig) readConsumer(w http.ResponseWriter, r *http.Request) (*csbmsg.Consumer, error) {
	body, charset, err := x.readBody(w, r, csbmsg.ConsumerMediaType)
	if err != nil {
		return nil, err
	}
	return csbmsg.ParseConsumer(body, x.options(peerOf(r), charset))
}

// readPublishResponse reads and parses the csb-publish message in a
// provider's answer (for example <csbresponse> to a subscription). The
// body is read up to max_body_size and closed. peer names the provider
// in the alias log. Errors are plain errors or a *csbmsg.Error.
func (x *XMLConfig) readPublishResponse(resp *http.Response, peer string) (*csbmsg.Publish, error) {
	defer resp.Body.Close()
	charset, err := checkContentType(resp.Header, csbmsg.PublishMediaType)
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", peer, err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, x.limits.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("provider %s: reading response: %w", peer, err)
	}
	if int64(len(body)) > x.limits.MaxBytes {
		return nil, fmt.Errorf("provider %s: response body exceeds %d bytes", peer, x.limits.MaxBytes)
	}
	return csbmsg.ParsePublish(body, x.options(peer, charset))
}

// readBody reads the body of r as a message of mediaType, enforcing the
// Content-Type (the media type, parameters allowed, a charset the codec
// reads), the absence of a Content-Encoding and the body size cap. It
// returns the body and the charset parameter ("" when absent).
func (x *XMLConfig) readBody(w http.ResponseWriter, r *http.Request, mediaType string) ([]byte, string, error) {
	charset, err := checkContentType(r.Header, mediaType)
	if err != nil {
		return nil, "", caddyhttp.Error(http.StatusUnsupportedMediaType, err)
	}
	max := x.limits.MaxBytes
	if r.ContentLength > max {
		return nil, "", caddyhttp.Error(http.StatusRequestEntityTooLarge,
			fmt.Errorf("request body of %d bytes exceeds max_body_size (%d bytes)", r.ContentLength, max))
	}
	body, err := readAllSized(http.MaxBytesReader(w, r.Body, max), r.ContentLength)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, "", caddyhttp.Error(http.StatusRequestEntityTooLarge,
				fmt.Errorf("request body exceeds max_body_size (%d bytes)", max))
		}
		return nil, "", caddyhttp.Error(http.StatusBadRequest, fmt.Errorf("reading request body: %w", err))
	}
	return body, charset, nil
}

// readAllSized reads r to the end like io.ReadAll, into a buffer sized
// for the announced length (which the caller has checked against the
// limit) instead of growing one from 512 bytes: a notification is a few
// kilobytes, and each growth is a copy and more garbage. Only up to
// presizeCap is allocated on the sender's word; a longer body grows the
// buffer as its bytes arrive, so a client that announces a large body and
// sends nothing holds no more memory than before.
func readAllSized(r io.Reader, length int64) ([]byte, error) {
	if length <= 0 {
		return io.ReadAll(r)
	}
	// One byte more than announced, so that the final read sees EOF
	// without a growth.
	want := int(min(length, presizeCap)) + 1
	var b []byte
	if bp, _ := bodyBufs.Get().(*[]byte); bp != nil && cap(*bp) >= want {
		b = (*bp)[:0]
	} else {
		b = make([]byte, 0, want)
	}
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // longer than announced: grow as ReadAll would
		}
	}
}

// presizeCap bounds the buffer readAllSized allocates before the body's
// bytes arrive.
const presizeCap = 64 << 10

// bodyBufs keeps request-body buffers for readAllSized. A handler that is
// done with a body hands its buffer back with releaseBody; the publish
// endpoint does, once the notification is ingested: the codec copies
// every string it keeps, so nothing refers to the bytes any more.
var bodyBufs sync.Pool

// releaseBody hands a body readAllSized returned back for reuse. Nothing
// may use b afterwards.
func releaseBody(b []byte) {
	if cap(b) == 0 || cap(b) > presizeCap+1 {
		return
	}
	b = b[:0]
	bodyBufs.Put(&b)
}

// checkContentType checks that h carries Content-Type mediaType (any
// parameters) with a charset the codec reads, and no content coding. It
// returns the charset parameter.
func checkContentType(h http.Header, mediaType string) (string, error) {
	ct := h.Get("Content-Type")
	if ct == "" {
		return "", fmt.Errorf("missing Content-Type, want %s", mediaType)
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", fmt.Errorf("malformed Content-Type %q: %v", ct, err)
	}
	if mt != mediaType {
		return "", fmt.Errorf("Content-Type %s, want %s", mt, mediaType)
	}
	charset := params["charset"]
	if charset != "" {
		if _, ok := csbmsg.CharsetSupported(charset); !ok {
			return "", fmt.Errorf("unsupported charset %q (supported: UTF-8, US-ASCII, ISO-8859-1)", charset)
		}
	}
	// Every line and every list item: a coding on a second line is as
	// much a coding as one on the first.
	for _, line := range h.Values("Content-Encoding") {
		for _, ce := range strings.Split(line, ",") {
			if ce = strings.TrimSpace(ce); ce != "" && !strings.EqualFold(ce, "identity") {
				return "", fmt.Errorf("unsupported Content-Encoding %q", line)
			}
		}
	}
	return charset, nil
}

// checkAccept answers 406 when r's Accept header excludes mediaType
// (draft sections 4.1.1 and 4.2.1: the media type "MUST be reflected in
// ... 'Content-Type' and 'Accept'"). A missing Accept header accepts
// anything; so do */*, application/* and, since the csb media types are
// XML (+xml, RFC 7303), application/xml and text/xml. The most specific
// range that matches the media type gives its weight (RFC 9110 section
// 12.5.1), and a weight of 0 excludes it: "application/csb-consumer+xml;
// q=0, */*" refuses the one type the answer can have, which the */* it
// lists beside did not override.
func checkAccept(r *http.Request, mediaType string) error {
	values := r.Header.Values("Accept")
	if len(values) == 0 {
		return nil
	}
	q, level := acceptWeight(values, mediaType)
	if q > 0 {
		return nil
	}
	if level < exactRange {
		// Not refused by name: XML in general will do.
		for _, mt := range acceptedTypes(values) {
			if mt == "application/xml" || mt == "text/xml" {
				return nil
			}
		}
	}
	return caddyhttp.Error(http.StatusNotAcceptable, fmt.Errorf("Accept %q excludes %s", strings.Join(values, ", "), mediaType))
}

// Precedence of the media ranges that match a type (acceptWeight).
const (
	noRange = iota
	anyRange
	majorRange
	exactRange
)

// acceptWeight returns the weight the Accept header values give
// mediaType: that of the most specific range matching it (the type
// itself, then type/*, then */*; the highest weight among equals), and
// which of those it was (noRange, weight 0, when none matches).
func acceptWeight(values []string, mediaType string) (float64, int) {
	major, _, _ := strings.Cut(mediaType, "/")
	q, level := 0.0, noRange
	for _, rg := range accept.Ranges(values) {
		l := noRange
		switch rg.Type {
		case mediaType:
			l = exactRange
		case major + "/*":
			l = majorRange
		case "*/*":
			l = anyRange
		}
		switch {
		case l == noRange:
		case l > level:
			q, level = rg.Q, l
		case l == level:
			q = max(q, rg.Q)
		}
	}
	return q, level
}

// writeMessage writes a serialised CSB message as the body of an HTTP 200
// response (the draft carries protocol statuses inside the message, in an
// HTTP 200: sections 4.1.1 and 4.2.1).
func writeMessage(w http.ResponseWriter, mediaType string, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", mediaType+"; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

// peerOf names the peer of a request for the alias log: the
// authenticated user ({http.auth.user.id}) when there is one, otherwise
// the client IP (which honours trusted_proxies).
func peerOf(r *http.Request) string {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if user, _ := repl.GetString("http.auth.user.id"); user != "" {
			return "user " + user
		}
	}
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return "ip " + ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "ip " + host
}

// aliasPeers is how many (peer, alias) pairs the alias log remembers.
const aliasPeers = 4096

// aliasOnce remembers which (peer, alias) pairs were logged, so each is
// logged once. It holds at most its capacity of pairs and forgets the
// oldest first; a forgotten pair is logged again when it comes back.
type aliasOnce struct {
	mu   sync.Mutex
	seen map[string]struct{}
	ring []string
	next int
}

func newAliasOnce(capacity int) *aliasOnce {
	return &aliasOnce{seen: make(map[string]struct{}, capacity), ring: make([]string, 0, capacity)}
}

// first records (peer, alias) and reports whether it is new.
func (a *aliasOnce) first(peer, alias string) bool {
	key := peer + "\x00" + alias
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.seen[key]; ok {
		return false
	}
	if len(a.ring) < cap(a.ring) {
		a.ring = append(a.ring, key)
	} else {
		delete(a.seen, a.ring[a.next])
		a.ring[a.next] = key
		a.next = (a.next + 1) % len(a.ring)
	}
	a.seen[key] = struct{}{}
	return true
}

// Interface guards.
var _ caddy.Validator = (*XMLConfig)(nil)
