// Package webhook signs, verifies and delivers the broker's webhooks:
// HTTP POSTs of job and provider events to URLs that consumers (one per
// job) and operators (per broker) register.
//
// # Signatures
//
// Deliveries follow the Standard Webhooks scheme
// (https://www.standardwebhooks.com), so receivers may use any of its
// libraries or Verify below. Each delivery carries three headers:
//
//	webhook-id:        the delivery id (the same on every retry of it)
//	webhook-timestamp: the Unix time of this attempt, in seconds
//	webhook-signature: v1,<base64 of HMAC-SHA256(key, id "." timestamp "." body)>
//
// The key is the subscriber's secret, written "whsec_" followed by the
// base64 of 24 to 64 random bytes (NewSecret makes one); the HMAC key is
// the decoded bytes. The signature covers the id, the timestamp and the
// body, so neither can be changed without the receiver noticing.
//
// # Replays
//
// A receiver refuses a delivery whose timestamp is further than a
// tolerance from its own clock (DefaultTolerance, 5 minutes) and one
// whose id it has already accepted within that window (Verifier keeps
// them), so a captured delivery cannot be played again. It answers such
// a repeat (ErrReplay, which Verifier returns only for a valid signature)
// with a 2xx and does not handle it again: the broker sends a delivery
// again, same id, when it did not get the answer to it (a timeout, a
// restart), and a refusal would have it retried until given up.
//
// # Delivery
//
// Dispatcher (dispatcher.go) keeps deliveries in a store.Store before it
// sends them, so a restart loses none; it sends one subscriber's
// deliveries of one job in order (the next waits until the previous one
// succeeded or was given up), retries failures with exponential backoff
// and records every outcome for the admin API. A delivery is named by
// its subscriber, its group (the job) and its order (the job event's
// seq), its id included: storing it again (Recover, for a job event whose
// deliveries a crash may have lost) keeps the one stored, so none is
// sent twice.
//
// This package does not import Caddy.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Header names of a delivery.
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock.
const DefaultTolerance = 5 * time.Minute

const secretPrefix = "whsec_"

// Verification failures; test with errors.Is.
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrTimestamp      = errors.New("webhook: timestamp outside the tolerance")
	ErrSignature      = errors.New("webhook: no matching signature")
	ErrReplay         = errors.New("webhook: delivery id already seen")
	ErrSecret         = errors.New("webhook: secret must be whsec_ followed by the base64 of 24 to 64 bytes")
)

// NewSecret returns a new random secret (32 bytes).
func NewSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// ParseSecret returns the HMAC key of a secret.
func ParseSecret(secret string) ([]byte, error) {
	raw, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, ErrSecret
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) < 24 || len(key) > 64 {
		return nil, ErrSecret
	}
	return key, nil
}

// Sign returns the webhook-signature value of a delivery.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := ParseSecret(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, strconv.FormatInt(ts.Unix(), 10), body)), nil
}

func mac(key []byte, id, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// SetHeaders sets the three signature headers of a delivery on h.
func SetHeaders(h http.Header, secret, id string, ts time.Time, body []byte) error {
	sig, err := Sign(secret, id, ts, body)
	if err != nil {
		return err
	}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return nil
}

// Verify checks a delivery's signature headers against body with the
// subscriber's secret: the timestamp must lie within tolerance of now
// (DefaultTolerance when zero) and one of the space-separated v1
// signatures must match (compared in constant time). It does not detect
// replays within the window; Verifier does.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := ParseSecret(secret)
	if err != nil {
		return err
	}
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not a Unix time", ErrTimestamp, ts)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s off", ErrTimestamp, d.Round(time.Second))
	}
	want := mac(key, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		v, b64, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrSignature
}

// Verifier verifies deliveries for one secret and refuses replays: a
// delivery id it accepted within the tolerance window is refused with
// ErrReplay. The zero value is not usable; set Secret. Safe for
// concurrent use.
type Verifier struct {
	// Secret is the subscriber's secret.
	Secret string
	// Tolerance bounds the timestamp's distance from Now. Default
	// DefaultTolerance.
	Tolerance time.Duration
	// Now is the receiver's clock. Default time.Now.
	Now func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time // id → when accepted
}

// Verify verifies one delivery and remembers its id.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	if err := Verify(v.Secret, h, body, now, tol); err != nil {
		return err
	}
	id := h.Get(HeaderID)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil {
		v.seen = map[string]time.Time{}
	}
	for k, t := range v.seen {
		if now.Sub(t) > 2*tol {
			delete(v.seen, k)
		}
	}
	if _, ok := v.seen[id]; ok {
		return ErrReplay
	}
	v.seen[id] = now
	return nil
}

// Forget drops a delivery id Verify accepted, for a receiver that could
// not process the delivery and answers it with an error: the broker's
// retry carries the same id and must not be refused as a replay.
func (v *Verifier) Forget(id string) {
	v.mu.Lock()
	delete(v.seen, id)
	v.mu.Unlock()
}
