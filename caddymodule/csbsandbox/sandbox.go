package csbsandbox

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddypki"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/httpclient"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
	"github.com/caddy-csb/caddy-csb/tests/clouds/sandbox"
)

func init() {
	caddy.RegisterModule(Sandbox{})
}

// sandboxPool keeps each sandbox cloud's state (machines, objects,
// subscriptions, sequence numbers) across config reloads, keyed by the
// sandbox id.
var sandboxPool = caddy.NewUsagePool()

type sandboxState struct{ cloud *sandbox.Cloud }

// Destruct implements caddy.Destructor. The state holds no goroutine:
// each handler instance runs and stops its own notifier.
func (s *sandboxState) Destruct() error { return nil }

// SandboxFaults are the sandbox's fault-injection knobs; they apply to its
// native APIs (CIMI and CDMI), not to its subscription endpoint.
type SandboxFaults struct {
	// Latency delays every native request. Default 0.
	Latency caddy.Duration `json:"latency,omitempty"`
	// ErrorRate is the fraction (0..1) of native requests answered with
	// ErrorRateStatus, drawn from a generator seeded with Seed. Default 0.
	ErrorRate float64 `json:"error_rate,omitempty"`
	// ErrorRateStatus is the HTTP status (400-599) of the errors
	// ErrorRate injects. Default 500.
	ErrorRateStatus int `json:"error_rate_status,omitempty"`
	// FailAfter, when positive, answers every native request after the
	// first FailAfter with FailAfterStatus (counted from the last reload),
	// whatever ErrorRate draws.
	FailAfter int `json:"fail_after,omitempty"`
	// FailAfterStatus is the HTTP status (400-599) of the errors FailAfter
	// injects. Default 500.
	FailAfterStatus int `json:"fail_after_status,omitempty"`
	// Hang makes native requests block until the client gives up.
	Hang bool `json:"hang,omitempty"`
	// Seed seeds the error-rate generator. Default 0.
	Seed uint64 `json:"seed,omitempty"`
}

// SandboxBrokerAuth are the credentials a sandbox sends notifications
// with. Placeholders such as {env.CLOUD_A_PASSWORD} are expanded when the
// configuration is loaded. They are sent only to the broker's host.
type SandboxBrokerAuth struct {
	// Scheme is "digest" (RFC 7616; the strongest algorithm the broker
	// offers is used) or "basic" (refused over plain HTTP to a host that
	// is not loopback).
	Scheme string `json:"scheme"`
	// Username and Password are the credentials.
	Username string `json:"username"`
	Password string `json:"password,omitempty"`
}

// Sandbox is the http.handlers.csb_sandbox handler: an in-memory cloud
// provider (see package tests/clouds/sandbox) for local use and tests. It
// serves a CIMI API for IaaS, a CDMI API for DSaaS and a csb-publish
// subscription endpoint, enforces its capacity, advertises its price, and
// notifies the broker at Broker, trusting BrokerCA and signing in with
// BrokerAuth. Requests to other paths go to the next handler.
//
// Its state survives config reloads (keyed by ID); its notifier stops when
// the config that started it is unloaded.
type Sandbox struct {
	// ID is the sandbox's Cloud-Service-Provider-id, and the key of its
	// state. Default "sandbox".
	ID string `json:"id,omitempty"`
	// CIMIPath is where the CIMI API (its CloudEntryPoint) is served.
	// Default /cimi.
	CIMIPath string `json:"cimi_path,omitempty"`
	// CDMIPath is where the CDMI root container is served. Default /cdmi.
	CDMIPath string `json:"cdmi_path,omitempty"`
	// SubscribePath is the csb-publish subscription endpoint. Default
	// /csb/subscribe.
	SubscribePath string `json:"subscribe_path,omitempty"`
	// Cores, MemoryGB and StorageGB are the cloud's capacity. Defaults 16,
	// 64 and 500.
	Cores     uint64 `json:"cores,omitempty"`
	MemoryGB  uint64 `json:"memory_gb,omitempty"`
	StorageGB uint64 `json:"storage_gb,omitempty"`
	// Price is the advertised price per job, published in the notification
	// label as "price:<value>". Default 0.
	Price float64 `json:"price,omitempty"`
	// Architecture is the CPU architecture of every machine. Default
	// x86_64.
	Architecture string `json:"architecture,omitempty"`
	// BuildTime is how long a machine stays CREATING (and each action's
	// transition lasts). Default 0 (immediate).
	BuildTime caddy.Duration `json:"build_time,omitempty"`
	// URL is this sandbox's public base URL (scheme and host), used for the
	// Cloud-Service-URI values it publishes. Optional.
	URL string `json:"url,omitempty"`
	// Broker is the broker's Publish endpoint, where notifications go. The
	// draft's <subscription> carries no callback address, so it is
	// configured here. Optional: without it the sandbox accepts
	// subscriptions but does not notify.
	Broker string `json:"broker,omitempty"`
	// BrokerCA is the trust for the broker's TLS certificate: "internal"
	// trusts Caddy's local CA (the broker uses tls internal), a file name
	// trusts the PEM certificates in it. Default: the system roots.
	BrokerCA string `json:"broker_ca,omitempty"`
	// BrokerAuth is how the sandbox authenticates to the broker when it
	// sends notifications: the broker's publish endpoint is normally
	// behind digest_auth or basic_auth, and the user must be one of the
	// provider's publishers there. Default: no credentials.
	BrokerAuth *SandboxBrokerAuth `json:"broker_auth,omitempty"`
	// PushID, if set, makes the sandbox notify the broker without any
	// subscription, under this id, every PushFrequency (default 60 s).
	PushID        string         `json:"push_id,omitempty"`
	PushFrequency caddy.Duration `json:"push_frequency,omitempty"`
	// MinFrequency and MaxExpires bound what subscriptions may ask for.
	// Defaults 5 s and 24 h.
	MinFrequency caddy.Duration `json:"min_frequency,omitempty"`
	MaxExpires   caddy.Duration `json:"max_expires,omitempty"`
	// MaxSubscriptions caps the subscriptions held. Default 16.
	MaxSubscriptions int `json:"max_subscriptions,omitempty"`
	// Faults are the fault-injection knobs.
	Faults *SandboxFaults `json:"faults,omitempty"`

	cloud              *sandbox.Cloud
	cimi, cdmi, subscr http.Handler
	client             *http.Client // notifications to the broker
	cancel             context.CancelFunc
	done               chan struct{}
	logger             *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Sandbox) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[Sandbox]("http.handlers.csb_sandbox")
}

// Provision loads or creates the sandbox's state, applies the
// configuration and starts its notifier.
func (s *Sandbox) Provision(ctx caddy.Context) error {
	s.logger = ctx.Logger()
	if s.ID == "" {
		s.ID = "sandbox"
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&s.CIMIPath, "/cimi")
	def(&s.CDMIPath, "/cdmi")
	def(&s.SubscribePath, "/csb/subscribe")
	// Caddy validates a module only after provisioning it, but Provision
	// reconfigures the cloud a running sandbox with this id shares (the
	// usage pool): a reload that Validate then refuses would leave the
	// running sandbox with the refused configuration. So the checks come
	// first.
	if err := s.Validate(); err != nil {
		return err
	}
	repl := caddy.NewReplacer()
	base := strings.TrimSuffix(repl.ReplaceAll(s.URL, ""), "/")
	cfg := sandbox.Config{
		ProviderID:   s.ID,
		Capacity:     sandbox.Capacity{Cores: s.Cores, MemoryGB: s.MemoryGB, StorageGB: s.StorageGB},
		Price:        s.Price,
		Architecture: s.Architecture,
		BuildTime:    time.Duration(s.BuildTime),
	}
	if base != "" {
		cfg.URI, cfg.CIMIURL, cfg.CDMIURL = base, base+s.CIMIPath+"/", base+s.CDMIPath+"/"
	}
	if cfg.Capacity == (sandbox.Capacity{}) {
		cfg.Capacity = sandbox.Capacity{Cores: 16, MemoryGB: 64, StorageGB: 500}
	}
	brokerURL := repl.ReplaceAll(s.Broker, "")
	client, err := s.brokerClient(ctx, brokerURL)
	if err != nil {
		return err
	}
	s.client = client
	val, loaded, err := sandboxPool.LoadOrNew("csb_sandbox:"+s.ID, func() (caddy.Destructor, error) {
		return &sandboxState{cloud: sandbox.New(cfg)}, nil
	})
	if err != nil {
		return err
	}
	s.cloud = val.(*sandboxState).cloud
	if loaded {
		s.cloud.Reconfigure(cfg)
	}
	var f sandbox.Faults
	if s.Faults != nil {
		f = sandbox.Faults{Latency: time.Duration(s.Faults.Latency),
			ErrorRate: s.Faults.ErrorRate, ErrorRateStatus: s.Faults.ErrorRateStatus,
			FailAfter: s.Faults.FailAfter, FailAfterStatus: s.Faults.FailAfterStatus,
			Hang: s.Faults.Hang, Seed: s.Faults.Seed}
	}
	s.cloud.SetFaults(f)
	s.cloud.SetPublishConfig(sandbox.PublishConfig{
		BrokerURL:        brokerURL,
		Client:           client,
		MinFrequency:     time.Duration(s.MinFrequency),
		MaxExpires:       time.Duration(s.MaxExpires),
		MaxSubscriptions: s.MaxSubscriptions,
		PushID:           s.PushID,
		PushFrequency:    time.Duration(s.PushFrequency),
		Logger:           s.logger.Named("publish"),
	})
	s.cimi = s.cloud.CIMI(s.CIMIPath)
	s.cdmi = s.cloud.CDMI(s.CDMIPath)
	s.subscr = s.cloud.SubscriptionHandler()

	nctx, cancel := context.WithCancel(ctx)
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		s.cloud.RunPublisher(nctx, nil)
	}()
	return nil
}

// brokerClient builds the HTTP client notifications are sent with: the
// trust for the broker's certificate (broker_ca) and the credentials
// (broker_auth), with broker/httpclient, like the broker's own clients
// toward providers.
func (s *Sandbox) brokerClient(ctx caddy.Context, brokerURL string) (*http.Client, error) {
	cfg := httpclient.Config{Timeouts: httpclient.Timeouts{Overall: 30 * time.Second}}
	switch s.BrokerCA {
	case "":
	case "internal":
		appIface, err := ctx.App("pki")
		if err != nil {
			return nil, fmt.Errorf("csb_sandbox %q: broker_ca internal: %v", s.ID, err)
		}
		ca, ok := appIface.(*caddypki.PKI).CAs[caddypki.DefaultCAID]
		if !ok || ca.RootCertificate() == nil {
			return nil, fmt.Errorf("csb_sandbox %q: broker_ca internal: no local CA", s.ID)
		}
		pool := x509.NewCertPool()
		pool.AddCert(ca.RootCertificate())
		cfg.TLS.RootCAs = pool
	default:
		cfg.TLS.CAFile = s.BrokerCA
	}
	if a := s.BrokerAuth; a != nil {
		repl := caddy.NewReplacer()
		cfg.Auth = httpclient.Auth{
			Scheme:   a.Scheme,
			Username: repl.ReplaceKnown(a.Username, ""),
			Password: repl.ReplaceKnown(a.Password, ""),
		}
		// Credentials go to the broker only, never to a host a redirect
		// points at.
		if u, err := url.Parse(brokerURL); err == nil && u.Host != "" {
			cfg.Hosts = []string{u.Host}
		}
	}
	client, err := httpclient.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("csb_sandbox %q: broker client: %v", s.ID, err)
	}
	return client, nil
}

// Validate checks the configuration.
func (s *Sandbox) Validate() error {
	for _, p := range []string{s.CIMIPath, s.CDMIPath, s.SubscribePath} {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("csb_sandbox %q: path %q must begin with /", s.ID, p)
		}
	}
	if s.CIMIPath == s.CDMIPath || strings.HasPrefix(s.SubscribePath, s.CIMIPath+"/") || strings.HasPrefix(s.SubscribePath, s.CDMIPath+"/") {
		return fmt.Errorf("csb_sandbox %q: cimi_path, cdmi_path and subscribe_path must not overlap", s.ID)
	}
	if a := s.BrokerAuth; a != nil {
		if a.Scheme != httpclient.SchemeDigest && a.Scheme != httpclient.SchemeBasic {
			return fmt.Errorf("csb_sandbox %q: broker_auth scheme %q: want digest or basic", s.ID, a.Scheme)
		}
		if a.Username == "" {
			return fmt.Errorf("csb_sandbox %q: broker_auth needs a user name", s.ID)
		}
		if s.Broker == "" {
			return fmt.Errorf("csb_sandbox %q: broker_auth without broker: there is nobody to notify", s.ID)
		}
	}
	if s.Faults != nil && (s.Faults.ErrorRate < 0 || s.Faults.ErrorRate > 1) {
		return fmt.Errorf("csb_sandbox %q: error_rate %v must be between 0 and 1", s.ID, s.Faults.ErrorRate)
	}
	if f := s.Faults; f != nil {
		for _, st := range []struct {
			name   string
			status int
		}{{"error_rate_status", f.ErrorRateStatus}, {"fail_after_status", f.FailAfterStatus}} {
			if st.status != 0 && (st.status < 400 || st.status > 599) {
				return fmt.Errorf("csb_sandbox %q: %s %d must be 400-599", s.ID, st.name, st.status)
			}
		}
	}
	return nil
}

// Cleanup stops the notifier, closes its idle connections and releases
// the state.
func (s *Sandbox) Cleanup() error {
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	if s.cloud != nil {
		_, err := sandboxPool.Delete("csb_sandbox:" + s.ID)
		return err
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	p := r.URL.Path
	switch {
	case p == s.SubscribePath:
		s.subscr.ServeHTTP(w, r)
	case p == s.CIMIPath || strings.HasPrefix(p, s.CIMIPath+"/"):
		s.cimi.ServeHTTP(w, r)
	case p == s.CDMIPath || strings.HasPrefix(p, s.CDMIPath+"/"):
		s.cdmi.ServeHTTP(w, r)
	default:
		return next.ServeHTTP(w, r)
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Sandbox)(nil)
	_ caddy.Validator             = (*Sandbox)(nil)
	_ caddy.CleanerUpper          = (*Sandbox)(nil)
	_ caddyhttp.MiddlewareHandler = (*Sandbox)(nil)
	_ caddyfile.Unmarshaler       = (*Sandbox)(nil)
	_ caddy.Destructor            = (*sandboxState)(nil)
)
