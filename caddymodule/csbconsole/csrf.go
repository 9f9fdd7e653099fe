package csbconsole

// Cross-site request forgery protection of the console's POST forms.
//
// Two independent checks, both required:
//
//  1. A token in every form: issued-at (8 bytes, Unix seconds) followed by
//     HMAC-SHA256(key, "csb_console csrf\x00" + user + "\x00" + issued-at),
//     base64url. It is bound to the authenticated user, so a token taken
//     from one user's page is worthless for another, and it expires after
//     tokenMaxAge. The key is 32 random bytes kept in Caddy's storage
//     (csrfKeyName), created once under a storage lock: every instance of
//     a cluster sharing the storage accepts the others' tokens, and
//     tokens survive restarts and reloads. Stateless: nothing is stored
//     per session or per form.
//  2. The browser's word on where the request comes from: a POST whose
//     Sec-Fetch-Site is anything but same-origin, or whose Origin is not
//     the console's own (scheme and host of the request), is refused.
//     Browsers send both on every cross-site form post, so this stops
//     forgeries even from a site that somehow holds a token; requests
//     without either header (old browsers, scripts) rely on the token.
//
// A refused request gets 403 and changes nothing.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
)

const (
	// csrfKeyName is where the token key is kept in Caddy's storage.
	csrfKeyName = "csb/console/csrf.key"
	// csrfField is the form field that carries the token.
	csrfField = "csrf_token"
	// tokenMaxAge is how long a form's token is accepted.
	tokenMaxAge = 12 * time.Hour
	// tokenSkew is how far in the future an issue time may be (clocks of
	// a cluster's instances differ a little).
	tokenSkew = 5 * time.Minute
)

// csrfKeeper issues and checks tokens with the key from storage, read
// (or created) on first use.
type csrfKeeper struct {
	storage certmagic.Storage // nil: a key of this process only

	mu  sync.Mutex
	key []byte
}

func newCSRFKeeper(ctx caddy.Context) *csrfKeeper {
	k := &csrfKeeper{}
	func() {
		defer func() {
			if recover() != nil { // a context without storage (unit tests)
				k.storage = nil
			}
		}()
		k.storage = ctx.Storage()
	}()
	return k
}

// secret returns the key, loading it from storage or creating it there.
func (k *csrfKeeper) secret(ctx context.Context) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key != nil {
		return k.key, nil
	}
	if k.storage == nil {
		key := make([]byte, 32)
		rand.Read(key)
		k.key = key
		return key, nil
	}
	load := func() ([]byte, error) {
		key, err := k.storage.Load(ctx, csrfKeyName)
		if err == nil && len(key) != 32 {
			return nil, fmt.Errorf("the CSRF key in storage (%s) is %d bytes, want 32: delete it to make a new one", csrfKeyName, len(key))
		}
		return key, err
	}
	key, err := load()
	if errors.Is(err, fs.ErrNotExist) {
		// Create it once for the whole cluster: the lock makes a second
		// instance wait, then read the first one's key.
		if err := k.storage.Lock(ctx, csrfKeyName); err != nil {
			return nil, fmt.Errorf("locking the CSRF key: %v", err)
		}
		defer k.storage.Unlock(context.WithoutCancel(ctx), csrfKeyName)
		key, err = load()
		if errors.Is(err, fs.ErrNotExist) {
			key = make([]byte, 32)
			rand.Read(key)
			err = k.storage.Store(ctx, csrfKeyName, key)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("the CSRF key: %v", err)
	}
	k.key = key
	return key, nil
}

func tokenMAC(key []byte, user string, issued uint64) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("csb_console csrf\x00"))
	m.Write([]byte(user))
	m.Write([]byte{0})
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], issued)
	m.Write(b[:])
	return m.Sum(nil)
}

// token returns a fresh token for user.
func (k *csrfKeeper) token(ctx context.Context, user string, now time.Time) (string, error) {
	key, err := k.secret(ctx)
	if err != nil {
		return "", err
	}
	issued := uint64(now.Unix())
	buf := binary.BigEndian.AppendUint64(nil, issued)
	buf = append(buf, tokenMAC(key, user, issued)...)
	return base64.RawURLEncoding.EncodeToString(buf), nil
}

// verify reports why tok is not a valid token of user at now (nil: it is).
func (k *csrfKeeper) verify(ctx context.Context, user, tok string, now time.Time) error {
	if tok == "" {
		return errors.New("the form has no CSRF token")
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) != 8+sha256.Size {
		return errors.New("the form's CSRF token is malformed")
	}
	key, err := k.secret(ctx)
	if err != nil {
		return err
	}
	issued := binary.BigEndian.Uint64(raw[:8])
	if !hmac.Equal(raw[8:], tokenMAC(key, user, issued)) {
		return errors.New("the form's CSRF token is not valid for this user")
	}
	at := time.Unix(int64(issued), 0)
	if now.Sub(at) > tokenMaxAge || at.Sub(now) > tokenSkew {
		return errors.New("the form's CSRF token has expired: reload the page")
	}
	return nil
}

// sameOrigin reports why r does not come from the console's own pages as
// far as the browser says (nil: it does, or the browser says nothing).
func sameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return fmt.Errorf("a %s request (Sec-Fetch-Site) may not change anything", site)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != scheme || u.Host != r.Host {
		return fmt.Errorf("origin %q is not this console's (%s://%s)", origin, scheme, r.Host)
	}
	return nil
}
