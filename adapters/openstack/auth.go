package openstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gcos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/caddy-csb/caddy-csb/adapters/internal/lazy"
	"github.com/caddy-csb/caddy-csb/adapters/internal/nativeerr"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// session holds the authenticated gophercloud clients of one adapter. It
// authenticates lazily, on the first call that needs a token, keeps the
// token (gophercloud caches it in the ProviderClient) and authenticates
// again when the provider answers 401.
type session struct {
	cfg   *Config
	clock clock.Clock

	mu         sync.Mutex
	httpClient *http.Client
	pc         *gophercloud.ProviderClient
	compute    *gophercloud.ServiceClient
	object     *gophercloud.ServiceClient
	storageURL string // TempAuth's X-Storage-Url

	// tok caches the current token's expiry, so the proxy path can
	// refresh a token about to expire without parsing the auth result on
	// every request.
	tok atomic.Pointer[tokenInfo]
}

// tokenInfo is a token and when it expires (zero: unknown).
type tokenInfo struct {
	token   string
	expires time.Time
}

// maxRetries bounds the retries of idempotent calls.
const maxRetries = 2

// retryBackoff is the wait before retry n (1-based); a variable so tests
// can shorten it.
var retryBackoff = func(n uint) time.Duration { return time.Duration(n) * 200 * time.Millisecond }

// setHTTPClient replaces the HTTP client and drops the authenticated
// clients, so the next call authenticates through the new client.
func (s *session) setHTTPClient(c *http.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.httpClient = c
	s.pc, s.compute, s.object = nil, nil, nil
}

// retry is the ProviderClient's RetryFunc: it retries idempotent calls on
// transport errors and 502/503/504, rewinding a seekable body.
func retry(ctx context.Context, method, _ string, opts *gophercloud.RequestOpts, err error, n uint) error {
	status := 0
	var uerr gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &uerr) {
		status = uerr.Actual
	}
	if n > maxRetries || !nativeerr.Retryable(method, status, err) {
		return err
	}
	if opts.RawBody != nil {
		s, ok := opts.RawBody.(io.Seeker)
		if !ok {
			return err
		}
		if _, serr := s.Seek(0, io.SeekStart); serr != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
		return err
	case <-time.After(retryBackoff(n)):
		if note, ok := ctx.Value(retriedKey{}).(*atomic.Bool); ok {
			note.Store(true)
		}
		return nil
	}
}

// retriedKey is the context key of noteRetries' note.
type retriedKey struct{}

// noteRetries returns ctx with a note that retry sets when it retries a
// call made with that context. A set note tells the caller that an
// earlier try may have been carried out though its answer was lost (a
// cut connection, a 502 to 504 from a proxy): a PUT's 202 "already
// there" may answer the caller's own earlier try.
func noteRetries(ctx context.Context) (context.Context, *atomic.Bool) {
	note := new(atomic.Bool)
	return context.WithValue(ctx, retriedKey{}, note), note
}

// provider returns the authenticated ProviderClient, authenticating first
// if needed.
func (s *session) provider(ctx context.Context) (*gophercloud.ProviderClient, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pc != nil {
		return s.pc, nil
	}
	hc := s.httpClient
	if hc == nil {
		hc = http.DefaultClient
	}
	var pc *gophercloud.ProviderClient
	var err error
	if s.cfg.Keystone() {
		pc, err = gcos.NewClient(s.cfg.AuthURL)
		if err != nil {
			return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "keystone auth", Err: err}
		}
		pc.HTTPClient = *hc
		pc.RetryFunc = retry
		pc.UserAgent.Prepend("caddy-csb")
		ao := s.cfg.authOptions()
		if err := gcos.AuthenticateV3(ctx, pc, ao, gophercloud.EndpointOpts{}); err != nil {
			return nil, authError("keystone auth", err)
		}
	} else {
		pc = &gophercloud.ProviderClient{HTTPClient: *hc, RetryFunc: retry}
		pc.UseTokenLock()
		pc.UserAgent.Prepend("caddy-csb")
		pc.IdentityEndpoint = s.cfg.TempAuthURL
		storageURL, err := s.tempAuth(ctx, pc)
		if err != nil {
			return nil, err
		}
		s.storageURL = storageURL
		// TempAuth tokens expire too (a day by default): authenticate
		// again on 401 through a throw-away copy, as gophercloud does for
		// Keystone.
		tac := *pc
		tac.SetThrowaway(true)
		tac.ReauthFunc = nil
		tac.SetToken("")
		pc.ReauthFunc = func(ctx context.Context) error {
			if _, err := s.tempAuth(ctx, &tac); err != nil {
				return err
			}
			pc.CopyTokenFrom(&tac)
			return nil
		}
	}
	s.pc = pc
	return pc, nil
}

// tempAuth authenticates against Swift's TempAuth v1.0 (a GET with
// X-Auth-User and X-Auth-Key), sets pc's token and records its expiry
// (X-Auth-Token-Expires, in seconds).
func (s *session) tempAuth(ctx context.Context, pc *gophercloud.ProviderClient) (string, error) {
	resp, err := pc.Request(ctx, http.MethodGet, s.cfg.TempAuthURL, &gophercloud.RequestOpts{
		MoreHeaders: map[string]string{"X-Auth-User": s.cfg.TempAuthUser, "X-Auth-Key": s.cfg.TempAuthKey},
		OmitHeaders: []string{"X-Auth-Token"},
		OkCodes:     []int{http.StatusOK, http.StatusNoContent},
	})
	if err != nil {
		return "", authError("tempauth", err)
	}
	token, storageURL := resp.Header.Get("X-Auth-Token"), resp.Header.Get("X-Storage-Url")
	if token == "" || storageURL == "" {
		return "", &contract.Error{Kind: contract.KindServer, Op: "tempauth", Err: errors.New("no X-Auth-Token or X-Storage-Url in the answer")}
	}
	pc.SetToken(token)
	ti := &tokenInfo{token: token}
	if secs, err := strconv.Atoi(resp.Header.Get("X-Auth-Token-Expires")); err == nil && secs > 0 {
		ti.expires = s.clock.Now().Add(time.Duration(secs) * time.Second)
	}
	s.tok.Store(ti)
	return storageURL, nil
}

// authError classifies an authentication failure; the error text never
// holds a credential (gophercloud's errors carry URLs and bodies of
// answers, not requests).
func authError(op string, err error) error {
	status := statusOf(err)
	if status == http.StatusUnauthorized {
		return &contract.Error{Kind: contract.KindClient, Op: op, Status: status, Err: errors.New("the provider refused the configured credentials")}
	}
	return nativeerr.New(op, status, err)
}

// authOptions builds gophercloud's Keystone v3 options.
func (c *Config) authOptions() *gophercloud.AuthOptions {
	ao := &gophercloud.AuthOptions{
		IdentityEndpoint: c.AuthURL,
		UserID:           c.UserID,
		Username:         c.Username,
		DomainID:         c.UserDomainID,
		DomainName:       c.UserDomainName,
		AllowReauth:      true,
	}
	if c.ApplicationCredential() {
		ao.ApplicationCredentialID = c.ApplicationCredentialID
		ao.ApplicationCredentialName = c.ApplicationCredentialName
		ao.ApplicationCredentialSecret = c.ApplicationCredentialSecret
		return ao
	}
	ao.Password = c.Password
	if c.ProjectID != "" || c.ProjectName != "" {
		ao.Scope = &gophercloud.AuthScope{
			ProjectID:   c.ProjectID,
			ProjectName: c.ProjectName,
			DomainID:    c.ProjectDomainID,
			DomainName:  c.ProjectDomainName,
		}
		if c.ProjectID != "" {
			ao.Scope.DomainID, ao.Scope.DomainName = "", ""
		}
	}
	return ao
}

func (c *Config) availability() gophercloud.Availability {
	switch c.Interface {
	case "internal":
		return gophercloud.AvailabilityInternal
	case "admin":
		return gophercloud.AvailabilityAdmin
	}
	return gophercloud.AvailabilityPublic
}

// computeClient returns the Nova client, discovering its endpoint in the
// catalogue by region and interface unless compute_url overrides it.
func (s *session) computeClient(ctx context.Context) (*gophercloud.ServiceClient, error) {
	return lazy.Get(&s.mu, &s.compute, func() (*gophercloud.ProviderClient, error) { return s.provider(ctx) }, func(pc *gophercloud.ProviderClient) (*gophercloud.ServiceClient, error) {
		if !s.cfg.Keystone() {
			return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "compute", Err: errors.New("TempAuth reaches only Swift; configure Keystone for Nova")}
		}
		if s.cfg.ComputeURL != "" {
			return &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: gophercloud.NormalizeURL(s.cfg.ComputeURL), Type: "compute"}, nil
		}
		sc, err := gcos.NewComputeV2(pc, gophercloud.EndpointOpts{Region: s.cfg.Region, Availability: s.cfg.availability()})
		if err != nil {
			return nil, catalogError("compute", s.cfg, err)
		}
		return sc, nil
	})
}

// objectClient returns the Swift client for the account: the storage URL
// from object_store_url, TempAuth, or the catalogue.
func (s *session) objectClient(ctx context.Context) (*gophercloud.ServiceClient, error) {
	return lazy.Get(&s.mu, &s.object, func() (*gophercloud.ProviderClient, error) { return s.provider(ctx) }, func(pc *gophercloud.ProviderClient) (*gophercloud.ServiceClient, error) {
		switch {
		case s.cfg.ObjectStoreURL != "":
			return &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: gophercloud.NormalizeURL(s.cfg.ObjectStoreURL), Type: "object-store"}, nil
		case !s.cfg.Keystone():
			return &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: gophercloud.NormalizeURL(s.storageURL), Type: "object-store"}, nil
		}
		sc, err := gcos.NewObjectStorageV1(pc, gophercloud.EndpointOpts{Region: s.cfg.Region, Availability: s.cfg.availability()})
		if err != nil {
			return nil, catalogError("object-store", s.cfg, err)
		}
		return sc, nil
	})
}

// token returns the current token and its expiry (zero if unknown),
// authenticating first if needed.
func (s *session) token(ctx context.Context) (string, time.Time, error) {
	pc, err := s.provider(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	tok := pc.Token()
	if ti := s.tok.Load(); ti != nil && ti.token == tok {
		return tok, ti.expires, nil
	}
	ti := &tokenInfo{token: tok}
	if r, ok := pc.GetAuthResult().(tokens.CreateResult); ok {
		if t, err := r.ExtractToken(); err == nil {
			ti.expires = t.ExpiresAt
		}
	}
	s.tok.Store(ti)
	return tok, ti.expires, nil
}

// reauth obtains a new token after the provider refused tok.
func (s *session) reauth(ctx context.Context, tok string) error {
	pc, err := s.provider(ctx)
	if err != nil {
		return err
	}
	if err := pc.Reauthenticate(ctx, tok); err != nil {
		return authError("reauthenticate", err)
	}
	return nil
}

func catalogError(service string, cfg *Config, err error) error {
	var nf *gophercloud.ErrEndpointNotFound
	if errors.As(err, &nf) {
		return &contract.Error{Kind: contract.KindUnsupported, Op: service,
			Err: fmt.Errorf("no %s endpoint in the service catalogue for region %q and interface %q", service, cfg.Region, cfg.availability())}
	}
	return nativeerr.New(service, statusOf(err), err)
}

// statusOf returns the HTTP status carried by a gophercloud error, or 0.
func statusOf(err error) int {
	var uerr gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &uerr) {
		return uerr.Actual
	}
	var re gophercloud.ErrUnableToReauthenticate
	if errors.As(err, &re) {
		return statusOf(re.ErrReauth)
	}
	return 0
}
