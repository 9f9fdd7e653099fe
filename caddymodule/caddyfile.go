package caddymodule

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/caddyserver/caddy/v2/modules/caddytls"

	"github.com/caddy-csb/caddy-csb/broker/httpclient"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
	"github.com/caddy-csb/caddy-csb/broker/quota"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("csb", parseGlobalOption)
	// The csb handler answers requests itself, like respond and
	// reverse_proxy, so it sits just before respond; authentication
	// directives (basic_auth, digest_auth) run before it.
	cfparse.Directive[Handler]("csb", httpcaddyfile.Before, "respond")
}

// parseGlobalOption parses the csb global option into the csb app.
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	app := new(App)
	if existing != nil {
		return nil, d.Err("the csb global option may appear only once")
	}
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{
		Name:  "csb",
		Value: caddyconfig.JSON(app, nil),
	}, nil
}

// UnmarshalCaddyfile sets up the csb app from Caddyfile tokens. Syntax:
//
//	csb {
//		provider <id> {
//			adapter <name> [<args...>] [{
//				<adapter options>            # csb.adapters.<name>: see its UnmarshalCaddyfile
//			}]                               # one per service model; the first is the primary one
//			uri                <uri>
//			label              <text>
//			status             active|deactivated|unavailable
//			encryption_support true|false
//			service <id> {
//				kind              iaas|paas|saas|dsaas
//				status            active|deactivated|unavailable
//				uri               <uri>
//				compute           { architecture <a>; cores <n>; memory <gb>; speed <ghz>; hostname <h> }
//				network           { vlan <v>; vlan_label <l>; address <a>; gateway <g>; allocation dynamic|static }
//				storage           { size <gb> }
//				network_interface { interface <i>; mac <m>; ip <ip>; gateway <g>; allocation dynamic|static }
//				storagelink       { device_id <d>; mountpoint <m> }
//				link              <rel> [<href>]
//				objects           data|container|domain|queue|capability...
//			}
//			discover      [<interval>]             # default 5m
//			weight        <n>
//			price         <number>
//			allowed_hosts <pattern>...
//			allow_private
//			auth digest|basic <user> <password> [{
//				allow_cleartext
//			}]
//			auth bearer <token> [{
//				allow_cleartext
//			}]
//			tls {
//				ca          <file>
//				client_cert <cert-file> <key-file>
//				server_name <name>
//			}
//			subscribe <url> [{
//				expires   <duration>
//				frequency <duration>
//			}]
//			publishers <user>...                   # "*": anyone who reached the publish endpoint
//			push <id>... [{
//				expires <duration>
//			}]
//		}
//		placement <policy> [{
//			<policy options>                         # csb.placement.<policy>: first (default),
//		}]                                           # round_robin, random, least_loaded, weighted, cheapest
//		jobs {
//			lease_default      <duration>
//			lease_min          <duration>
//			lease_max          <duration>
//			reap_interval      <duration>
//			check_interval     <duration>
//			attempt_timeout    <duration>
//			call_timeout       <duration>
//			respond_within     <duration>
//			poll_interval      <duration>
//			retain             <duration>
//			retain_failed      <duration>
//			max_jobs_per_owner <n>|unlimited
//			max_attempts       <n>
//			cache_ttl          <duration>
//			cache_size         <size>
//			anonymous          refuse|allow
//			unhonoured_fields  refuse|ignore
//			access <user>|* {
//				allow <provider>...
//				deny  <provider>...
//			}
//		}
//		ovf {
//			allow_host    <pattern>...
//			allow_private
//			allow_http
//			max_size      <size>
//			max_depth     <n>
//			max_elements  <n>
//			timeout       <duration>
//			max_redirects <n>
//			rel           <rel>...
//		}
//		catalog {
//			sync_interval <duration>
//			flush_delay   <duration>
//			retention     <duration>
//			cache_size    <services>
//			max_services  <n>
//		}
//		subscriptions {
//			renew_at      <fraction>                 # default 0.8
//			retry         <min> <max>                # default 1s 5m
//			timeout       <duration>                 # default 30s
//			sync_interval <duration>                 # default 10s
//		}
//		events {
//			lease_warning <duration>|off             # default 5m before a lease ends
//			max_wait      <duration>                 # long-poll bound; default 60s
//			cluster_recheck <duration>               # long-poll re-read for other brokers' changes; default 1s
//			webhook <url> {                          # an operator's webhook; repeatable
//				secret <whsec_...>                   # required; {env.*} expanded
//				events <name>...                     # default all: csb.job.state, csb.job.lease_warning,
//			}                                        # csb.job.reclaimed, csb.job.drift, csb.provider.health
//			allowed_hosts <pattern>...               # consumers' Csb-Callback hosts; default any
//			allow_private                            # callbacks may reach non-public addresses
//			retry         <min> <max>                # default 1s 10m
//			max_attempts  <n>                        # default 10
//			timeout       <duration>                 # default 10s
//			retain        <duration>                 # default 24h
//		}
//		xml [lenient|strict] [{
//			mode           lenient|strict
//			max_body_size  <size>
//			max_depth      <n>
//			max_elements   <n>
//			max_attributes <n>
//			max_text_size  <size>
//		}]
//		quota {
//			unit  iaas|paas|saas|dsaas core|memory_gb|storage_gb|job   # default: iaas core, the others job
//			user  <user>|* {                         # "*": each user without a block of its own
//				jobs    <n>                          # live jobs
//				cores   <n>
//				memory  <gb>
//				storage <gb>
//				spend   <amount> hour|day|month      # one per period; calendar periods in UTC
//			}
//			group <name> <user>... {                 # limits the members share
//				<the limits of a user block>
//			}
//		}
//	}
//
// Each option may be given once in its block, but provider, adapter,
// service, allowed_hosts, publishers, access (one per user), allow, deny,
// allow_host, rel, webhook, events, unit, user, group and spend (one per
// period), whose lines add up. Defaults and meanings are documented on
// the App, Provider and option types' fields each subdirective sets.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	of := func(parse func(*caddyfile.Dispenser, *App) error) cfparse.Option {
		return func(d *caddyfile.Dispenser) error { return parse(d, a) }
	}
	// Each block may appear once (the Block refuses a second): the jobs
	// block, for one, fills the consumer configuration placement also
	// makes, so a second one would be merged into the first.
	return cfparse.Block{Name: "csb", Options: map[string]cfparse.Option{
		"provider": of(parseProviderBlock), "placement": of(parsePlacementOption), "jobs": of(parseJobsOption),
		"ovf": of(parseOVFOption), "catalog": of(parseCatalogOptions), "subscriptions": of(parseSubscriptionOptions),
		"xml": of(parseXMLOption), "quota": of(parseQuotaOption), "events": of(parseEventsOption),
	}, Repeat: []string{"provider"}, More: cfparse.Unknown("unrecognized csb option %q (known: catalog, events, jobs, ovf, placement, provider, quota, subscriptions, xml)")}.Parse(d)
}

// parseProviderBlock parses "provider <id> { ... }" into a's providers.
func parseProviderBlock(d *caddyfile.Dispenser, a *App) error {
	p := new(Provider)
	if err := p.unmarshal(d); err != nil {
		return err
	}
	for _, existing := range a.Providers {
		if existing.ID == p.ID {
			return d.Errf("provider %q declared twice", p.ID)
		}
	}
	a.Providers = append(a.Providers, p)
	return nil
}

// UnmarshalCaddyfile sets up the provider from a provider block of the
// csb global option (its syntax: App.UnmarshalCaddyfile), from the
// provider token on.
func (p *Provider) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "provider"
	return p.unmarshal(d)
}

// unmarshal parses "<id> { ... }", the dispenser being on "provider".
func (p *Provider) unmarshal(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	p.ID = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	of := func(parse func(*caddyfile.Dispenser, *Provider) error) cfparse.Option {
		return func(d *caddyfile.Dispenser) error { return parse(d, p) }
	}
	return cfparse.Block{Name: fmt.Sprintf("provider %q", p.ID),
		Single: map[string]*string{"uri": &p.URI, "label": &p.Label, "status": &p.Status},
		// publishers <user>...: "*" allows anyone who reached the publish
		// endpoint.
		Lists: map[string]*[]string{"publishers": &p.Publishers},
		Flags: map[string]*bool{"allow_private": &p.AllowPrivate},
		// One adapter per service model, a service per id, and patterns
		// that add up.
		Repeat: []string{"adapter", "service", "allowed_hosts"},
		Options: map[string]cfparse.Option{
			"adapter": of(parseProviderAdapter), "service": of(parseStaticService), "allowed_hosts": of(parseAllowedHosts),
			"encryption_support": cfparse.Parsed(&p.EncryptionSupport, func(v string) (*bool, bool) {
				b, err := strconv.ParseBool(v)
				return &b, err == nil
			}, p.refusal("%s %q is not a boolean")),
			// weight and price are the weighted and the cheapest policies'
			// defaults.
			"weight": cfparse.Parsed(&p.Weight, cfparse.NonNegative, p.refusal("%s %q: want a non-negative integer")),
			"price": cfparse.Parsed(&p.Price, func(v string) (*float64, bool) {
				// ParseFloat takes "inf", which JSON cannot hold: the
				// price would vanish from the adapted config.
				f, err := strconv.ParseFloat(v, 64)
				return &f, err == nil && f >= 0 && !math.IsInf(f, 0)
			}, p.refusal("%s %q: want a non-negative number")),
			"discover": of(parseDiscover), "auth": of(parseProviderAuth), "tls": of(parseProviderTLS),
			"subscribe": of(parseSubscribe), "push": of(parsePush),
		},
		More: func(d *caddyfile.Dispenser, opt string) (bool, error) {
			return true, d.Errf("provider %q: unrecognized option %q (known: adapter, allow_private, allowed_hosts, auth, discover, encryption_support, "+
				"label, price, publishers, push, service, status, subscribe, tls, uri, weight)", p.ID, opt)
		}}.Body(d)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	csb {
//		publish_path  <path>    # default /csb/publish
//		consumer_path <path>    # default /csb/consumer
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return cfparse.Block{Name: "csb", Options: map[string]cfparse.Option{
		"publish_path": handlerPath(&h.PublishPath), "consumer_path": handlerPath(&h.ConsumerPath),
	}, More: cfparse.Unknown("unrecognized csb handler option %q (known: consumer_path, publish_path)")}.Parse(d)
}

// parseProviderAdapter parses the provider subdirective
//
//	adapter <name> [<args...>] {
//		...
//	}
//
// It loads the guest module csb.adapters.<name> and lets it parse the rest
// of the segment, so every adapter documents its own syntax in its
// UnmarshalCaddyfile. A provider may name one adapter per service model
// (adapter cimi ... and adapter cdmi ...); the first is its primary one.
func parseProviderAdapter(d *caddyfile.Dispenser, p *Provider) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	name := d.Val()
	info, err := caddy.GetModule("csb.adapters." + name)
	if err != nil {
		return d.Errf("provider %q: unknown adapter %q: %v", p.ID, name, err)
	}
	unm, ok := info.New().(caddyfile.Unmarshaler)
	if !ok {
		return d.Errf("provider %q: adapter %q has no Caddyfile syntax", p.ID, name)
	}
	if err := unm.UnmarshalCaddyfile(d.NewFromNextSegment()); err != nil {
		return err
	}
	raw := caddyconfig.JSONModuleObject(unm, "name", name, nil)
	if len(p.AdapterRaw) == 0 {
		p.AdapterRaw = raw
	} else {
		p.MoreAdaptersRaw = append(p.MoreAdaptersRaw, raw)
	}
	return nil
}

// parseOVFOption parses the ovf block of the csb global option:
//
//	csb {
//		ovf {
//			allow_host    <pattern>...
//			allow_private
//			allow_http
//			max_size      <size>      # e.g. 1MiB
//			max_depth     <n>
//			max_elements  <n>
//			timeout       <duration>
//			max_redirects <n>
//			rel           <rel>...
//		}
//	}
func parseOVFOption(d *caddyfile.Dispenser, a *App) error {
	const notCount = "ovf: %s %q is not a positive whole number"
	return onceBlock(d, &a.OVF, func(c *OVFConfig) cfparse.Block {
		return cfparse.Block{Name: "ovf",
			Lists: map[string]*[]string{"allow_host": &c.AllowedHosts, "rel": &c.Rels},
			Flags: map[string]*bool{"allow_private": &c.AllowPrivate, "allow_http": &c.AllowHTTP},
			Options: cfparse.Merge(cfparse.Ints(cfparse.Positive, notCount, map[string]*int{"max_depth": &c.MaxDepth, "max_elements": &c.MaxElements}),
				map[string]cfparse.Option{
					"max_size": cfparse.Parsed(&c.MaxSize, cfparse.Size(1<<30), "ovf: %s %q is not a size between 1 byte and 1GiB"),
					"max_redirects": cfparse.Parsed(&c.MaxRedirects, func(v string) (int, bool) {
						n, ok := cfparse.NonNegative(v)
						if n == 0 {
							n = -1 // none; 0 in JSON means the default
						}
						return n, ok
					}, notCount),
					"timeout": cfparse.Parsed(&c.Timeout, cfparse.PositiveDuration, "ovf: %s %q is not a positive duration"),
				})}
	})
}

// onceBlock reads a block of the csb global option that takes no
// argument (and, as every option of the csb block, may appear once) into
// a new T, set in *dst once the block is read.
func onceBlock[T any](d *caddyfile.Dispenser, dst **T, block func(v *T) cfparse.Block) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	v := new(T)
	if err := block(v).Body(d); err != nil {
		return err
	}
	*dst = v
	return nil
}

func parseCatalogOptions(d *caddyfile.Dispenser, a *App) error {
	return onceBlock(d, &a.Catalog, func(o *CatalogOptions) cfparse.Block {
		return cfparse.Block{Name: "catalog", Options: map[string]cfparse.Option{
			"sync_interval": cfparse.Duration(&o.SyncInterval), "flush_delay": cfparse.Duration(&o.FlushDelay),
			"retention": cfparse.Duration(&o.Retention),
			"cache_size": cfparse.Parsed(&o.CacheSize, func(v string) (int64, bool) {
				n, err := strconv.ParseInt(v, 10, 64)
				return n, err == nil && n > 0
			}, "catalog: %s %q is not a positive integer"),
			"max_services": cfparse.Parsed(&o.MaxServices, func(v string) (int, bool) {
				n, err := strconv.Atoi(v)
				return n, err == nil && n > 0
			}, "catalog: %s %q is not a positive integer"),
		}}
	})
}

// parseStaticService parses:
//
//	service <id> {
//		kind iaas|paas|saas|dsaas
//		status active|deactivated|unavailable
//		uri <uri>
//		compute { architecture <a>; cores <n>; memory <gb>; speed <ghz>; hostname <h> }
//		network { vlan <v>; vlan_label <l>; address <a>; gateway <g>; allocation dynamic|static }
//		storage { size <gb> }
//		network_interface { interface <i>; mac <m>; ip <ip>; gateway <g>; allocation dynamic|static }
//		storagelink { device_id <d>; mountpoint <m> }
//		link <rel> [<href>]
//		objects data|container|domain|queue|capability...
//	}
func parseStaticService(d *caddyfile.Dispenser, p *Provider) error {
	s := StaticService{}
	if !d.Args(&s.ID) {
		return d.ArgErr()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for _, other := range p.Services {
		if other.ID == s.ID {
			return d.Errf("provider %q: service %q declared twice", p.ID, s.ID)
		}
	}
	where := fmt.Sprintf("provider %q: service %q", p.ID, s.ID)
	err := cfparse.Block{Name: where, Single: map[string]*string{"kind": &s.Kind, "status": &s.Status, "uri": &s.URI},
		// objects, a list, is one line: a second is refused, as it used
		// to replace the first.
		Options: map[string]cfparse.Option{
			"link": func(d *caddyfile.Dispenser) error {
				l := &StaticLink{}
				if !d.Args(&l.Rel) {
					return d.ArgErr()
				}
				d.Args(&l.Href)
				if d.NextArg() {
					return d.ArgErr()
				}
				s.Link = l
				return nil
			},
			"objects": func(d *caddyfile.Dispenser) error {
				s.Objects = d.RemainingArgs()
				if len(s.Objects) == 0 {
					return d.ArgErr()
				}
				return nil
			},
			"compute": staticPart(where, &s.Compute, func(c *StaticCompute) map[string]func(string) error {
				return map[string]func(string) error{
					"architecture": setString(&c.Architecture),
					"cores":        setUint(&c.Cores),
					"memory":       setUint(&c.Memory),
					"speed":        setUint(&c.Speed),
					"hostname":     setString(&c.Hostname),
				}
			}),
			"network": staticPart(where, &s.Network, func(n *StaticNetwork) map[string]func(string) error {
				return map[string]func(string) error{
					"vlan":       setString(&n.VLAN),
					"vlan_label": setString(&n.VLANLabel),
					"address":    setString(&n.Address),
					"gateway":    setString(&n.Gateway),
					"allocation": setString(&n.Allocation),
				}
			}),
			"storage": staticPart(where, &s.Storage, func(st *StaticStorage) map[string]func(string) error {
				return map[string]func(string) error{"size": setUint(&st.Size)}
			}),
			"network_interface": staticPart(where, &s.NetworkInterface, func(n *StaticNetworkInterface) map[string]func(string) error {
				return map[string]func(string) error{
					"interface":  setString(&n.Interface),
					"mac":        setString(&n.MAC),
					"ip":         setString(&n.IP),
					"gateway":    setString(&n.Gateway),
					"allocation": setString(&n.Allocation),
				}
			}),
			"storagelink": staticPart(where, &s.StorageLink, func(l *StaticStorageLink) map[string]func(string) error {
				return map[string]func(string) error{
					"device_id":  setString(&l.DeviceID),
					"mountpoint": setString(&l.Mountpoint),
				}
			}),
		}}.Body(d)
	if err != nil {
		return err
	}
	if _, err := s.toService(); err != nil {
		return d.Errf("provider %q: %v", p.ID, err)
	}
	p.Services = append(p.Services, s)
	return nil
}

// staticPart is an option of a static service whose block of "<name>
// <value>" lines (fields says which) fills a new T, set in *dst.
func staticPart[T any](where string, dst **T, fields func(v *T) map[string]func(string) error) cfparse.Option {
	return func(d *caddyfile.Dispenser) error {
		v := new(T)
		if err := parseFields(d, where+": "+d.Val(), fields(v)); err != nil {
			return err
		}
		*dst = v
		return nil
	}
}

// parseFields parses a block of "<name> <value>" lines, each name once.
func parseFields(d *caddyfile.Dispenser, where string, fields map[string]func(string) error) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	opts := make(map[string]cfparse.Option, len(fields))
	for name, set := range fields {
		opts[name] = func(d *caddyfile.Dispenser) error {
			v, err := cfparse.ArgValue(d)
			if err != nil {
				return err
			}
			if err := set(v); err != nil {
				return d.Errf("%s: %s: %v", where, name, err)
			}
			return nil
		}
	}
	return cfparse.Block{Name: where, Options: opts}.Body(d)
}

func setString(dst *string) func(string) error {
	return func(v string) error { *dst = v; return nil }
}

func setUint(dst **uint64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a non-negative integer", v)
		}
		*dst = &n
		return nil
	}
}

// parseDiscover parses: discover [<interval>]
func parseDiscover(d *caddyfile.Dispenser, p *Provider) error {
	p.Discover = &Discovery{}
	if d.NextArg() {
		dur, err := caddy.ParseDuration(d.Val())
		if err != nil || dur <= 0 {
			return d.Errf("provider %q: discover interval %q is not a positive duration", p.ID, d.Val())
		}
		p.Discover.Interval = caddy.Duration(dur)
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// parseJobsOption parses the jobs subdirective of the csb global option:
//
//	jobs {
//		lease_default      <duration>
//		lease_min          <duration>
//		lease_max          <duration>
//		reap_interval      <duration>
//		check_interval     <duration>
//		attempt_timeout    <duration>
//		call_timeout       <duration>
//		respond_within     <duration>
//		poll_interval      <duration>
//		retain             <duration>
//		retain_failed      <duration>
//		max_jobs_per_owner <n>|unlimited
//		max_attempts       <n>
//		cache_ttl          <duration>
//		cache_size         <size>
//		anonymous          refuse|allow
//		unhonoured_fields  refuse|ignore
//		access <user>|* {
//			allow <provider>...
//			deny  <provider>...
//		}
//	}
func parseJobsOption(d *caddyfile.Dispenser, a *App) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	cfg := a.consumerConfig()
	opts := map[string]cfparse.Option{
		"max_attempts": cfparse.Parsed(&cfg.MaxAttempts, cfparse.Positive, "jobs: %s %q: want a positive integer"),
		"max_jobs_per_owner": cfparse.Parsed(&cfg.MaxJobsPerOwner, func(v string) (int, bool) {
			if v == "unlimited" {
				return -1, true
			}
			return cfparse.Positive(v)
		}, "jobs: %s %q: want a positive integer or unlimited"),
		"cache_size":        cfparse.Parsed(&cfg.CacheSize, cfparse.Size(math.MaxInt64), "jobs: %s %q: want a positive size such as 4MiB"),
		"anonymous":         cfparse.Parsed(&cfg.Anonymous, oneOf(AnonymousRefuse, AnonymousAllow), "jobs: %s %q: want refuse or allow"),
		"unhonoured_fields": cfparse.Parsed(&cfg.UnhonouredFields, oneOf(UnhonouredRefuse, UnhonouredIgnore), "jobs: %s %q: want refuse or ignore"),
		"access": func(d *caddyfile.Dispenser) error {
			user, err := cfparse.ArgValue(d)
			if err != nil {
				return err
			}
			if cfg.Access == nil {
				cfg.Access = map[string]*UserAccess{}
			}
			if _, dup := cfg.Access[user]; dup {
				return d.Errf("jobs: access for user %q given twice", user)
			}
			ua := new(UserAccess)
			err = cfparse.Block{Lists: map[string]*[]string{"allow": &ua.Allow, "deny": &ua.Deny},
				More: func(d *caddyfile.Dispenser, opt string) (bool, error) {
					return true, d.Errf("jobs: access %q: unrecognized option %q (known: allow, deny)", user, opt)
				}}.Body(d)
			if err != nil {
				return err
			}
			cfg.Access[user] = ua
			return nil
		},
	}
	for name, dst := range map[string]*caddy.Duration{
		"lease_default": &cfg.LeaseDefault, "lease_min": &cfg.LeaseMin, "lease_max": &cfg.LeaseMax,
		"reap_interval": &cfg.ReapInterval, "attempt_timeout": &cfg.AttemptTimeout, "call_timeout": &cfg.CallTimeout,
		"respond_within": &cfg.RespondWithin, "poll_interval": &cfg.PollInterval, "retain": &cfg.Retain,
		"retain_failed": &cfg.RetainFailed,
		"cache_ttl":     &cfg.CacheTTL, "check_interval": &cfg.CheckInterval,
	} {
		opts[name] = cfparse.Parsed(dst, cfparse.PositiveDuration, "jobs: %s %q: want a positive duration")
	}
	// access is one block per user.
	return cfparse.Block{Name: "jobs", Options: opts, Repeat: []string{"access"}}.Body(d)
}

// oneOf reads a value that must be one of words.
func oneOf(words ...string) func(v string) (string, bool) {
	return func(v string) (string, bool) { return v, slices.Contains(words, v) }
}

// parseAllowedHosts parses "allowed_hosts <pattern>..." in a provider
// block.
func parseAllowedHosts(d *caddyfile.Dispenser, p *Provider) error {
	hosts := d.RemainingArgs()
	if len(hosts) == 0 {
		return d.ArgErr()
	}
	for _, h := range hosts {
		if _, err := peerurl.ParsePattern(h); err != nil {
			return d.Errf("provider %q: %v", p.ID, err)
		}
	}
	p.AllowedHosts = append(p.AllowedHosts, hosts...)
	return nil
}

// parsePlacementOption parses the placement subdirective of the csb global
// option:
//
//	placement <policy> [{
//		<policy options>
//	}]
//
// where <policy> names a csb.placement.* module (first, round_robin,
// random, least_loaded, weighted, cheapest, or a third-party one). The
// policy's options are documented on its module.
func parsePlacementOption(d *caddyfile.Dispenser, a *App) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	name := d.Val()
	cfg := a.consumerConfig()
	unm, err := caddyfile.UnmarshalModule(d, "csb.placement."+name)
	if err != nil {
		return err
	}
	cfg.PlacementRaw = caddyconfig.JSONModuleObject(unm, "policy", name, nil)
	return nil
}

// parseProviderAuth parses:
//
//	auth digest|basic <user> <password> [{
//		allow_cleartext
//	}]
//	auth bearer <token> [{
//		allow_cleartext
//	}]
func parseProviderAuth(d *caddyfile.Dispenser, p *Provider) error {
	a := &ProviderAuth{}
	if !d.NextArg() {
		return d.ArgErr()
	}
	a.Scheme = d.Val()
	switch a.Scheme {
	case httpclient.SchemeDigest, httpclient.SchemeBasic:
		if !d.Args(&a.Username, &a.Password) {
			return d.Errf("provider %q: want auth %s <user> <password>", p.ID, a.Scheme)
		}
	case httpclient.SchemeBearer:
		if !d.Args(&a.Token) {
			return d.Errf("provider %q: want auth bearer <token>", p.ID)
		}
	default:
		return d.Errf("provider %q: unknown auth scheme %q (want digest, basic or bearer)", p.ID, a.Scheme)
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	err := cfparse.Block{Name: fmt.Sprintf("provider %q: auth", p.ID), Options: map[string]cfparse.Option{
		"allow_cleartext": func(d *caddyfile.Dispenser) error {
			if d.NextArg() {
				return d.ArgErr()
			}
			if a.Scheme == httpclient.SchemeDigest {
				return d.Errf("provider %q: allow_cleartext is for basic and bearer (digest never sends the password)", p.ID)
			}
			a.AllowCleartext = true
			return nil
		},
	}, More: p.unknownIn("auth")}.Body(d)
	if err != nil {
		return err
	}
	p.Auth = a
	return nil
}

// parseProviderTLS parses:
//
//	tls {
//		ca          <file>
//		client_cert <cert-file> <key-file>
//		server_name <name>
//	}
func parseProviderTLS(d *caddyfile.Dispenser, p *Provider) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	t := &reverseproxy.TLSConfig{}
	err := cfparse.Block{Name: fmt.Sprintf("provider %q: tls", p.ID), Single: map[string]*string{"server_name": &t.ServerName},
		Options: map[string]cfparse.Option{
			"ca": func(d *caddyfile.Dispenser) error {
				file, err := cfparse.ArgValue(d)
				if err != nil {
					return err
				}
				t.CARaw = caddyconfig.JSONModuleObject(caddytls.FileCAPool{TrustedCACertPEMFiles: []string{file}}, "provider", "file", nil)
				return nil
			},
			"client_cert": func(d *caddyfile.Dispenser) error {
				if !d.Args(&t.ClientCertificateFile, &t.ClientCertificateKeyFile) || d.NextArg() {
					return d.Errf("provider %q: want client_cert <cert-file> <key-file>", p.ID)
				}
				return nil
			},
		}, More: p.unknownIn("tls")}.Body(d)
	if err != nil {
		return err
	}
	if t.CARaw == nil && t.ClientCertificateFile == "" && t.ServerName == "" {
		return d.Errf("provider %q: empty tls block", p.ID)
	}
	p.TLS = t
	return nil
}

func parseSubscriptionOptions(d *caddyfile.Dispenser, a *App) error {
	return onceBlock(d, &a.Subscriptions, func(o *SubscriptionOptions) cfparse.Block {
		return cfparse.Block{Name: "subscriptions", Options: map[string]cfparse.Option{
			"renew_at": cfparse.Parsed(&o.RenewAt, func(v string) (float64, bool) {
				f, err := strconv.ParseFloat(v, 64)
				return f, err == nil && f > 0 && f < 1
			}, "subscriptions: %s %q must be a fraction between 0 and 1"),
			"retry":         retryOption("subscriptions", &o.RetryMin, &o.RetryMax),
			"timeout":       cfparse.Duration(&o.Timeout),
			"sync_interval": cfparse.Duration(&o.SyncInterval),
		}}
	})
}

// retryOption is "retry <min> <max>", two positive durations, min <=
// max; what names the block in errors.
func retryOption(what string, lo, hi *caddy.Duration) cfparse.Option {
	return func(d *caddyfile.Dispenser) error {
		var mnv, mxv string
		if !d.Args(&mnv, &mxv) || d.NextArg() {
			return d.Errf("%s: want retry <min> <max>", what)
		}
		mn, err1 := caddy.ParseDuration(mnv)
		mx, err2 := caddy.ParseDuration(mxv)
		if err1 != nil || err2 != nil || mn <= 0 || mx < mn {
			return d.Errf("%s: retry %s %s: want two positive durations, min <= max", what, mnv, mxv)
		}
		*lo, *hi = caddy.Duration(mn), caddy.Duration(mx)
		return nil
	}
}

// parseSubscribe parses:
//
//	subscribe <url> {
//		expires   <duration>
//		frequency <duration>
//	}
func parseSubscribe(d *caddyfile.Dispenser, p *Provider) error {
	s := &Subscribe{}
	if !d.Args(&s.URL) {
		return d.ArgErr()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	err := cfparse.Block{Name: fmt.Sprintf("provider %q: subscribe", p.ID),
		Options: map[string]cfparse.Option{"expires": cfparse.Duration(&s.Expires), "frequency": cfparse.Duration(&s.Frequency)},
		More:    p.unknown("subscribe: ")}.Body(d)
	if err != nil {
		return err
	}
	if err := s.validate(); err != nil {
		return d.Errf("provider %q: %v", p.ID, err)
	}
	p.Subscribe = s
	return nil
}

// refusal words the provider's refusal of an option's value: "provider
// <id>: " and then rest, a format of the option and the value (see
// cfparse.Parsed).
func (p *Provider) refusal(rest string) string {
	return strings.ReplaceAll(fmt.Sprintf("provider %q: ", p.ID), "%", "%%") + rest
}

// unknown refuses an option of a block of the provider's, in says which.
func (p *Provider) unknown(in string) func(d *caddyfile.Dispenser, opt string) (bool, error) {
	return func(d *caddyfile.Dispenser, opt string) (bool, error) {
		return true, d.Errf("provider %q: %sunrecognized option %q", p.ID, in, opt)
	}
}

// unknownIn refuses an option of the provider's auth or tls block:
// "unrecognized <block> option".
func (p *Provider) unknownIn(block string) func(d *caddyfile.Dispenser, opt string) (bool, error) {
	return func(d *caddyfile.Dispenser, opt string) (bool, error) {
		return true, d.Errf("provider %q: unrecognized %s option %q", p.ID, block, opt)
	}
}

// parsePush parses:
//
//	push <id>... {
//		expires <duration>
//	}
func parsePush(d *caddyfile.Dispenser, p *Provider) error {
	ps := &Push{IDs: d.RemainingArgs()}
	if len(ps.IDs) == 0 {
		return d.Errf("provider %q: push needs the notification ids it may use", p.ID)
	}
	err := cfparse.Block{Name: fmt.Sprintf("provider %q: push", p.ID),
		Options: map[string]cfparse.Option{"expires": cfparse.Duration(&ps.Expires)}, More: p.unknown("push: ")}.Body(d)
	if err != nil {
		return err
	}
	p.Push = ps
	return nil
}

// parseXMLOption parses the xml subdirective of the csb global option.
func parseXMLOption(d *caddyfile.Dispenser, a *App) error {
	x := new(XMLConfig)
	var given []string // the argument gives the mode
	if d.NextArg() {
		if err := setXMLMode(d, x); err != nil {
			return err
		}
		if d.NextArg() {
			return d.ArgErr()
		}
		given = append(given, "mode")
	}
	err := cfparse.Block{Name: "xml", Options: cfparse.Merge(
		cfparse.Ints(cfparse.Positive, "xml: %s: %q is not a positive integer", map[string]*int{
			"max_depth": &x.MaxDepth, "max_elements": &x.MaxElements, "max_attributes": &x.MaxAttributes,
		}),
		map[string]cfparse.Option{
			"mode":          cfparse.Parsed(&x.Mode, oneOf("lenient", "strict"), xmlModeRefusal),
			"max_body_size": cfparse.Parsed(&x.MaxBodySize, cfparse.Size(math.MaxInt64), "xml: %s: invalid size %q"),
			"max_text_size": cfparse.Parsed(&x.MaxTextSize, func(v string) (int, bool) {
				n, ok := cfparse.Size(math.MaxInt32)(v)
				return int(n), ok
			}, "xml: %s: invalid size %q"),
		}),
		More: cfparse.Unknown("xml: unrecognized option %q (known: max_attributes, max_body_size, max_depth, max_elements, max_text_size, mode)"),
	}.Body(d, given...)
	if err != nil {
		return err
	}
	a.XML = x
	return nil
}

// parseQuotaOption parses the quota subdirective of the csb global
// option (its syntax: App.UnmarshalCaddyfile; the fields: QuotaConfig).
func parseQuotaOption(d *caddyfile.Dispenser, a *App) error {
	return onceBlock(d, &a.Quota, func(q *QuotaConfig) cfparse.Block {
		// unit, user and group key their lines (a service model, a user,
		// a group), each refusing a key given twice.
		return cfparse.Block{Name: "quota", Repeat: []string{"unit", "user", "group"}, Options: map[string]cfparse.Option{
			"unit": func(d *caddyfile.Dispenser) error {
				var kind, unit string
				if !d.Args(&kind, &unit) || d.NextArg() {
					return d.Err("quota: want unit iaas|paas|saas|dsaas core|memory_gb|storage_gb|job")
				}
				kind = strings.ToLower(kind)
				if _, ok := quotaKinds[kind]; !ok {
					return d.Errf("quota: unit %s: unknown service model (want iaas, paas, saas or dsaas)", kind)
				}
				if _, err := quota.ParseUnit(unit); err != nil {
					return d.Errf("quota: unit %s: %v", kind, err)
				}
				if q.Units == nil {
					q.Units = map[string]string{}
				}
				if _, dup := q.Units[kind]; dup {
					return d.Errf("quota: unit %s given twice", kind)
				}
				q.Units[kind] = unit
				return nil
			},
			"user": func(d *caddyfile.Dispenser) error {
				var user string
				if !d.Args(&user) || d.NextArg() {
					return d.Err("quota: want user <user>|* { ... }")
				}
				if _, dup := q.Users[user]; dup {
					return d.Errf("quota: user %q given twice", user)
				}
				l := new(quota.Limits)
				if err := parseQuotaLimits(d, fmt.Sprintf("quota: user %q", user), l); err != nil {
					return err
				}
				if q.Users == nil {
					q.Users = map[string]*quota.Limits{}
				}
				q.Users[user] = l
				return nil
			},
			"group": func(d *caddyfile.Dispenser) error {
				args := d.RemainingArgs()
				if len(args) < 2 {
					return d.Err("quota: want group <name> <user>... { ... }")
				}
				g := quota.Group{Name: args[0], Members: args[1:]}
				if slices.ContainsFunc(q.Groups, func(o quota.Group) bool { return o.Name == g.Name }) {
					return d.Errf("quota: group %q given twice", g.Name)
				}
				if err := parseQuotaLimits(d, fmt.Sprintf("quota: group %q", g.Name), &g.Limits); err != nil {
					return err
				}
				q.Groups = append(q.Groups, g)
				return nil
			},
		}, More: cfparse.Unknown("quota: unrecognized option %q (known: group, unit, user)")}
	})
}

// parseQuotaLimits parses the block of a quota user or group: each
// limit once, but spend, once per period (setQuotaLimit refuses a period
// given twice).
func parseQuotaLimits(d *caddyfile.Dispenser, where string, l *quota.Limits) error {
	opts := map[string]cfparse.Option{}
	for _, name := range quotaLimitNames {
		opts[name] = func(d *caddyfile.Dispenser) error {
			if err := setQuotaLimit(l, name, d.RemainingArgs()); err != nil {
				return d.Errf("%s: %v", where, err)
			}
			return nil
		}
	}
	return cfparse.Block{Name: where, Options: opts, Repeat: []string{"spend"},
		More: func(d *caddyfile.Dispenser, name string) (bool, error) {
			return true, d.Errf("%s: unrecognized limit %q (known: %s)", where, name, strings.Join(quotaLimitNames, ", "))
		}}.Body(d)
}

// xmlModeRefusal words the refusal of an xml mode.
const xmlModeRefusal = "xml: mode must be lenient or strict, not %[2]q"

func setXMLMode(d *caddyfile.Dispenser, x *XMLConfig) error {
	mode, ok := oneOf("lenient", "strict")(d.Val())
	if !ok {
		return d.Errf(xmlModeRefusal, "mode", mode)
	}
	x.Mode = mode
	return nil
}

// handlerPath is an option of one path, kept without its trailing slash.
func handlerPath(dst *string) cfparse.Option {
	return cfparse.Parsed(dst, func(v string) (string, bool) {
		return strings.TrimSuffix(v, "/"), strings.HasPrefix(v, "/")
	}, "path %[2]q must begin with /")
}

// Interface guards.
var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*Provider)(nil)
	_ caddyfile.Unmarshaler = (*Handler)(nil)
)

// parseEventsOption parses the events block of the csb global option
// (its syntax: App.UnmarshalCaddyfile; meanings: EventsConfig).
func parseEventsOption(d *caddyfile.Dispenser, a *App) error {
	return onceBlock(d, &a.Events, func(o *EventsConfig) cfparse.Block {
		return cfparse.Block{Name: "events",
			Lists:  map[string]*[]string{"allowed_hosts": &o.AllowedHosts},
			Repeat: []string{"webhook"}, // a webhook per line, each its own
			Flags:  map[string]*bool{"allow_private": &o.AllowPrivate},
			Options: map[string]cfparse.Option{
				"lease_warning":   cfparse.Parsed(&o.LeaseWarning, cfparse.PositiveDurationOrOff, "events: %s %q: want a positive duration or off"),
				"max_wait":        cfparse.Duration(&o.MaxWait),
				"cluster_recheck": cfparse.Duration(&o.ClusterRecheck),
				"timeout":         cfparse.Duration(&o.Timeout),
				"retain":          cfparse.Duration(&o.Retain),
				"webhook":         func(d *caddyfile.Dispenser) error { return parseOperatorWebhook(d, o) },
				"retry":           retryOption("events", &o.RetryMin, &o.RetryMax),
				"max_attempts":    cfparse.Parsed(&o.MaxAttempts, cfparse.Positive, "events: %s %q is not a positive whole number"),
			},
			More: cfparse.Unknown("events: unrecognized option %q (known: allow_private, allowed_hosts, cluster_recheck, lease_warning, max_attempts, max_wait, retain, retry, timeout, webhook)"),
		}
	})
}

// parseOperatorWebhook parses "webhook <url> { secret ...; events ... }".
func parseOperatorWebhook(d *caddyfile.Dispenser, o *EventsConfig) error {
	w := new(OperatorWebhook)
	if err := cfparse.OneArg(d, &w.URL); err != nil {
		return err
	}
	err := cfparse.Block{Name: fmt.Sprintf("events: webhook %q", w.URL),
		Single: map[string]*string{"secret": &w.Secret}, Lists: map[string]*[]string{"events": &w.Events},
		More: func(d *caddyfile.Dispenser, opt string) (bool, error) {
			return true, d.Errf("events: webhook %q: unrecognized option %q (known: events, secret)", w.URL, opt)
		}}.Body(d)
	if err != nil {
		return err
	}
	if w.Secret == "" {
		return d.Errf("events: webhook %q: a secret is required", w.URL)
	}
	o.Webhooks = append(o.Webhooks, w)
	return nil
}
