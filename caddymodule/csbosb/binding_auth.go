package csbosb

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	caddy.RegisterModule(BindingAuth{})
}

// BindingAuth is http.authentication.providers.csb_binding: it accepts
// the Basic credentials that an OSB binding (csb_osb) handed out, as the
// bound instance's owner, and names the one job the credential may
// reach in {http.auth.user.csb_job} (csb_job_route refuses every other
// job, and the csb, csb_osb and csb_console handlers refuse the
// credential). Unbinding or deprovisioning revokes the credential at
// once: every request reads it from Caddy's storage, which a cluster
// shares.
//
//	route /csb/jobs/* {
//		csb_binding_auth
//		csb_job_route
//		reverse_proxy {
//			dynamic csb
//		}
//	}
//
// Placeholders set (through caddyauth): {http.auth.user.id} (the
// instance's owner), {http.auth.user.csb_job} (the job id),
// {http.auth.user.csb_binding} (the binding id).
type BindingAuth struct {
	// Realm is the Basic realm of the challenge. Default "csb-binding".
	Realm string `json:"realm,omitempty"`

	rec    records
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (BindingAuth) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[BindingAuth]("http.authentication.providers.csb_binding")
}

// Provision opens the storage the bindings are recorded in.
func (b *BindingAuth) Provision(ctx caddy.Context) error {
	b.logger = ctx.Logger()
	if b.Realm == "" {
		b.Realm = "csb-binding"
	}
	b.rec = records{s: ctx.Storage()}
	return nil
}

// Authenticate checks a binding's Basic credential.
func (b *BindingAuth) Authenticate(w http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	user, pass, ok := r.BasicAuth()
	if !ok || !validUsername(user) {
		return b.challenge(w)
	}
	rec, err := b.rec.loadCredential(r.Context(), user)
	if errors.Is(err, errNoRecord) {
		// Compare anyway, so that an unknown username takes as long as a
		// wrong password.
		subtle.ConstantTimeCompare([]byte(hashHex(pass)), []byte(hashHex("")))
		return b.challenge(w)
	}
	if err != nil {
		return caddyauth.User{}, false, fmt.Errorf("reading binding credential: %v", err)
	}
	if subtle.ConstantTimeCompare([]byte(hashHex(pass)), []byte(rec.PasswordHash)) != 1 {
		return b.challenge(w)
	}
	return caddyauth.User{ID: rec.Owner, Metadata: map[string]string{"csb_job": rec.JobID, "csb_binding": rec.BindingID}}, true, nil
}

// validUsername reports whether user has the shape of a binding's
// username ("osb-" and 16 base64url characters), so that nothing else is
// ever looked up in storage under the credentials prefix.
func validUsername(user string) bool {
	const prefix = "osb-"
	if len(user) != len(prefix)+16 || user[:len(prefix)] != prefix {
		return false
	}
	for _, c := range user[len(prefix):] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (b *BindingAuth) challenge(w http.ResponseWriter) (caddyauth.User, bool, error) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", b.Realm))
	return caddyauth.User{}, false, nil
}

// Interface guards.
var (
	_ caddy.Provisioner       = (*BindingAuth)(nil)
	_ caddyauth.Authenticator = (*BindingAuth)(nil)
)
