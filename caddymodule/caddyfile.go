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
	"github.com/dustin/go-humanize"

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
// Defaults and meanings are documented on the App, Provider and option
// types' fields each subdirective sets.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "provider":
			err = parseProviderBlock(d, a)
		case "placement":
			err = parsePlacementOption(d, a)
		case "jobs":
			err = parseJobsOption(d, a)
		case "ovf":
			err = parseOVFOption(d, a)
		case "catalog":
			err = parseCatalogOptions(d, a)
		case "subscriptions":
			err = parseSubscriptionOptions(d, a)
		case "xml":
			err = parseXMLOption(d, a)
		case "quota":
			err = parseQuotaOption(d, a)
		case "events":
			err = parseEventsOption(d, a)
		default:
			err = d.Errf("unrecognized csb option %q (known: catalog, events, jobs, ovf, placement, provider, quota, subscriptions, xml)", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
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
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "adapter":
			err = parseProviderAdapter(d, p)
		case "uri":
			err = cfparse.OneArg(d, &p.URI)
		case "label":
			err = cfparse.OneArg(d, &p.Label)
		case "status":
			err = cfparse.OneArg(d, &p.Status)
		case "encryption_support":
			err = parseEncryptionSupport(d, p)
		case "service":
			err = parseStaticService(d, p)
		case "discover":
			err = parseDiscover(d, p)
		case "weight":
			err = parseWeight(d, p)
		case "price":
			err = parsePrice(d, p)
		case "allowed_hosts":
			err = parseAllowedHosts(d, p)
		case "allow_private":
			err = parseAllowPrivate(d, p)
		case "auth":
			err = parseProviderAuth(d, p)
		case "tls":
			err = parseProviderTLS(d, p)
		case "subscribe":
			err = parseSubscribe(d, p)
		case "publishers":
			err = parsePublishers(d, p)
		case "push":
			err = parsePush(d, p)
		default:
			err = d.Errf("provider %q: unrecognized option %q (known: adapter, allow_private, allowed_hosts, auth, discover, encryption_support, "+
				"label, price, publishers, push, service, status, subscribe, tls, uri, weight)", p.ID, d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	csb {
//		publish_path  <path>    # default /csb/publish
//		consumer_path <path>    # default /csb/consumer
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "publish_path":
			err = parsePath(d, &h.PublishPath)
		case "consumer_path":
			err = parsePath(d, &h.ConsumerPath)
		default:
			err = d.Errf("unrecognized csb handler option %q (known: consumer_path, publish_path)", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parseEncryptionSupport parses "encryption_support true|false".
func parseEncryptionSupport(d *caddyfile.Dispenser, p *Provider) error {
	var v string
	if err := cfparse.OneArg(d, &v); err != nil {
		return err
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return d.Errf("provider %q: encryption_support %q is not a boolean", p.ID, v)
	}
	p.EncryptionSupport = &b
	return nil
}

// parseWeight parses "weight <n>" (the weighted policy's default).
func parseWeight(d *caddyfile.Dispenser, p *Provider) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	w, err := strconv.Atoi(d.Val())
	if err != nil || w < 0 {
		return d.Errf("provider %q: weight %q: want a non-negative integer", p.ID, d.Val())
	}
	p.Weight = w
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// parsePrice parses "price <number>" (the cheapest policy's default).
func parsePrice(d *caddyfile.Dispenser, p *Provider) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	v, err := strconv.ParseFloat(d.Val(), 64)
	if err != nil || v < 0 {
		return d.Errf("provider %q: price %q: want a non-negative number", p.ID, d.Val())
	}
	p.Price = &v
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
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
	if a.OVF != nil {
		return d.Err("ovf: the block may appear only once")
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	c := &OVFConfig{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "allow_host":
			hosts := d.RemainingArgs()
			if len(hosts) == 0 {
				return d.ArgErr()
			}
			c.AllowedHosts = append(c.AllowedHosts, hosts...)
		case "allow_private", "allow_http":
			if d.NextArg() {
				return d.ArgErr()
			}
			if opt == "allow_private" {
				c.AllowPrivate = true
			} else {
				c.AllowHTTP = true
			}
		case "max_size":
			v, err := cfparse.ArgValue(d)
			if err != nil {
				return err
			}
			n, err := humanize.ParseBytes(v)
			if err != nil || n == 0 || n > 1<<30 {
				return d.Errf("ovf: max_size %q is not a size between 1 byte and 1GiB", v)
			}
			c.MaxSize = int64(n)
		case "max_depth", "max_elements", "max_redirects":
			v, err := cfparse.ArgValue(d)
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || (n == 0 && opt != "max_redirects") {
				return d.Errf("ovf: %s %q is not a positive whole number", opt, v)
			}
			switch opt {
			case "max_depth":
				c.MaxDepth = n
			case "max_elements":
				c.MaxElements = n
			default:
				if n == 0 {
					n = -1 // none; 0 in JSON means the default
				}
				c.MaxRedirects = n
			}
		case "timeout":
			v, err := cfparse.ArgValue(d)
			if err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("ovf: timeout %q is not a positive duration", v)
			}
			c.Timeout = caddy.Duration(dur)
		case "rel":
			rels := d.RemainingArgs()
			if len(rels) == 0 {
				return d.ArgErr()
			}
			c.Rels = append(c.Rels, rels...)
		default:
			return d.Errf("ovf: unrecognized option %q", opt)
		}
	}
	a.OVF = c
	return nil
}

func parseCatalogOptions(d *caddyfile.Dispenser, a *App) error {
	if a.Catalog != nil {
		return d.Err("catalog given twice")
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	o := new(CatalogOptions)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "sync_interval":
			if err := cfparse.DurationArg(d, &o.SyncInterval); err != nil {
				return err
			}
		case "flush_delay":
			if err := cfparse.DurationArg(d, &o.FlushDelay); err != nil {
				return err
			}
		case "retention":
			if err := cfparse.DurationArg(d, &o.Retention); err != nil {
				return err
			}
		case "cache_size":
			var v string
			if err := cfparse.OneArg(d, &v); err != nil {
				return err
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return d.Errf("catalog: cache_size %q is not a positive integer", v)
			}
			o.CacheSize = n
		default:
			return d.Errf("catalog: unrecognized option %q", d.Val())
		}
	}
	a.Catalog = o
	return nil
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
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch opt {
		case "kind":
			if err := cfparse.OneArg(d, &s.Kind); err != nil {
				return err
			}
		case "status":
			if err := cfparse.OneArg(d, &s.Status); err != nil {
				return err
			}
		case "uri":
			if err := cfparse.OneArg(d, &s.URI); err != nil {
				return err
			}
		case "link":
			l := &StaticLink{}
			if !d.Args(&l.Rel) {
				return d.ArgErr()
			}
			d.Args(&l.Href)
			if d.NextArg() {
				return d.ArgErr()
			}
			s.Link = l
		case "objects":
			s.Objects = d.RemainingArgs()
			if len(s.Objects) == 0 {
				return d.ArgErr()
			}
		case "compute":
			c := &StaticCompute{}
			err := parseFields(d, where+": compute", map[string]func(string) error{
				"architecture": setString(&c.Architecture),
				"cores":        setUint(&c.Cores),
				"memory":       setUint(&c.Memory),
				"speed":        setUint(&c.Speed),
				"hostname":     setString(&c.Hostname),
			})
			if err != nil {
				return err
			}
			s.Compute = c
		case "network":
			n := &StaticNetwork{}
			err := parseFields(d, where+": network", map[string]func(string) error{
				"vlan":       setString(&n.VLAN),
				"vlan_label": setString(&n.VLANLabel),
				"address":    setString(&n.Address),
				"gateway":    setString(&n.Gateway),
				"allocation": setString(&n.Allocation),
			})
			if err != nil {
				return err
			}
			s.Network = n
		case "storage":
			st := &StaticStorage{}
			if err := parseFields(d, where+": storage", map[string]func(string) error{"size": setUint(&st.Size)}); err != nil {
				return err
			}
			s.Storage = st
		case "network_interface":
			n := &StaticNetworkInterface{}
			err := parseFields(d, where+": network_interface", map[string]func(string) error{
				"interface":  setString(&n.Interface),
				"mac":        setString(&n.MAC),
				"ip":         setString(&n.IP),
				"gateway":    setString(&n.Gateway),
				"allocation": setString(&n.Allocation),
			})
			if err != nil {
				return err
			}
			s.NetworkInterface = n
		case "storagelink":
			l := &StaticStorageLink{}
			err := parseFields(d, where+": storagelink", map[string]func(string) error{
				"device_id":  setString(&l.DeviceID),
				"mountpoint": setString(&l.Mountpoint),
			})
			if err != nil {
				return err
			}
			s.StorageLink = l
		default:
			return d.Errf("%s: unrecognized option %q", where, opt)
		}
	}
	if _, err := s.toService(); err != nil {
		return d.Errf("provider %q: %v", p.ID, err)
	}
	p.Services = append(p.Services, s)
	return nil
}

// parseFields parses a block of "<name> <value>" lines.
func parseFields(d *caddyfile.Dispenser, where string, fields map[string]func(string) error) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		set, ok := fields[name]
		if !ok {
			return d.Errf("%s: unrecognized option %q", where, name)
		}
		var v string
		if err := cfparse.OneArg(d, &v); err != nil {
			return err
		}
		if err := set(v); err != nil {
			return d.Errf("%s: %s: %v", where, name, err)
		}
	}
	return nil
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
	if p.Discover != nil {
		return d.Errf("provider %q: discover given twice", p.ID)
	}
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
	durations := map[string]*caddy.Duration{
		"lease_default": &cfg.LeaseDefault, "lease_min": &cfg.LeaseMin, "lease_max": &cfg.LeaseMax,
		"reap_interval": &cfg.ReapInterval, "attempt_timeout": &cfg.AttemptTimeout, "call_timeout": &cfg.CallTimeout,
		"respond_within": &cfg.RespondWithin, "poll_interval": &cfg.PollInterval, "retain": &cfg.Retain,
		"retain_failed": &cfg.RetainFailed,
		"cache_ttl":     &cfg.CacheTTL, "check_interval": &cfg.CheckInterval,
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if dst, ok := durations[opt]; ok {
			if !d.NextArg() {
				return d.ArgErr()
			}
			v, err := caddy.ParseDuration(d.Val())
			if err != nil || v <= 0 {
				return d.Errf("jobs: %s %q: want a positive duration", opt, d.Val())
			}
			*dst = caddy.Duration(v)
			if d.NextArg() {
				return d.ArgErr()
			}
			continue
		}
		switch opt {
		case "max_attempts":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n < 1 {
				return d.Errf("jobs: max_attempts %q: want a positive integer", d.Val())
			}
			cfg.MaxAttempts = n
			if d.NextArg() {
				return d.ArgErr()
			}
		case "max_jobs_per_owner":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if d.Val() == "unlimited" {
				cfg.MaxJobsPerOwner = -1
			} else {
				n, err := strconv.Atoi(d.Val())
				if err != nil || n < 1 {
					return d.Errf("jobs: max_jobs_per_owner %q: want a positive integer or unlimited", d.Val())
				}
				cfg.MaxJobsPerOwner = n
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "cache_size":
			if !d.NextArg() {
				return d.ArgErr()
			}
			size, err := humanize.ParseBytes(d.Val())
			if err != nil || size == 0 || size > math.MaxInt64 {
				return d.Errf("jobs: cache_size %q: want a positive size such as 4MiB", d.Val())
			}
			cfg.CacheSize = int64(size)
			if d.NextArg() {
				return d.ArgErr()
			}
		case "anonymous":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if v := d.Val(); v != AnonymousRefuse && v != AnonymousAllow {
				return d.Errf("jobs: anonymous %q: want refuse or allow", v)
			}
			cfg.Anonymous = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "unhonoured_fields":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if v := d.Val(); v != UnhonouredRefuse && v != UnhonouredIgnore {
				return d.Errf("jobs: unhonoured_fields %q: want refuse or ignore", v)
			}
			cfg.UnhonouredFields = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "access":
			if !d.NextArg() {
				return d.ArgErr()
			}
			user := d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
			if cfg.Access == nil {
				cfg.Access = map[string]*UserAccess{}
			}
			if _, dup := cfg.Access[user]; dup {
				return d.Errf("jobs: access for user %q given twice", user)
			}
			ua := new(UserAccess)
			for n2 := d.Nesting(); d.NextBlock(n2); {
				switch d.Val() {
				case "allow":
					args := d.RemainingArgs()
					if len(args) == 0 {
						return d.ArgErr()
					}
					ua.Allow = append(ua.Allow, args...)
				case "deny":
					args := d.RemainingArgs()
					if len(args) == 0 {
						return d.ArgErr()
					}
					ua.Deny = append(ua.Deny, args...)
				default:
					return d.Errf("jobs: access %q: unrecognized option %q (known: allow, deny)", user, d.Val())
				}
			}
			cfg.Access[user] = ua
		default:
			return d.Errf("jobs: unrecognized option %q", opt)
		}
	}
	return nil
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

// parseAllowPrivate parses "allow_private" in a provider block.
func parseAllowPrivate(d *caddyfile.Dispenser, p *Provider) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	p.AllowPrivate = true
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
	if cfg.PlacementRaw != nil {
		return d.Err("placement policy already set")
	}
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
	if p.Auth != nil {
		return d.Errf("provider %q: auth given twice", p.ID)
	}
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
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "allow_cleartext":
			if d.NextArg() {
				return d.ArgErr()
			}
			if a.Scheme == httpclient.SchemeDigest {
				return d.Errf("provider %q: allow_cleartext is for basic and bearer (digest never sends the password)", p.ID)
			}
			a.AllowCleartext = true
		default:
			return d.Errf("provider %q: unrecognized auth option %q", p.ID, d.Val())
		}
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
	if p.TLS != nil {
		return d.Errf("provider %q: tls given twice", p.ID)
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	t := &reverseproxy.TLSConfig{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "ca":
			var file string
			if !d.Args(&file) || d.NextArg() {
				return d.ArgErr()
			}
			t.CARaw = caddyconfig.JSONModuleObject(caddytls.FileCAPool{TrustedCACertPEMFiles: []string{file}}, "provider", "file", nil)
		case "client_cert":
			if !d.Args(&t.ClientCertificateFile, &t.ClientCertificateKeyFile) || d.NextArg() {
				return d.Errf("provider %q: want client_cert <cert-file> <key-file>", p.ID)
			}
		case "server_name":
			if !d.Args(&t.ServerName) || d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("provider %q: unrecognized tls option %q", p.ID, d.Val())
		}
	}
	if t.CARaw == nil && t.ClientCertificateFile == "" && t.ServerName == "" {
		return d.Errf("provider %q: empty tls block", p.ID)
	}
	p.TLS = t
	return nil
}

func parseSubscriptionOptions(d *caddyfile.Dispenser, a *App) error {
	if a.Subscriptions != nil {
		return d.Err("subscriptions given twice")
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	o := new(SubscriptionOptions)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "renew_at":
			var v string
			if err := cfparse.OneArg(d, &v); err != nil {
				return err
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 || f >= 1 {
				return d.Errf("subscriptions: renew_at %q must be a fraction between 0 and 1", v)
			}
			o.RenewAt = f
		case "retry":
			var lo, hi string
			if !d.Args(&lo, &hi) || d.NextArg() {
				return d.Errf("subscriptions: want retry <min> <max>")
			}
			mn, err1 := caddy.ParseDuration(lo)
			mx, err2 := caddy.ParseDuration(hi)
			if err1 != nil || err2 != nil || mn <= 0 || mx < mn {
				return d.Errf("subscriptions: retry %s %s: want two positive durations, min <= max", lo, hi)
			}
			o.RetryMin, o.RetryMax = caddy.Duration(mn), caddy.Duration(mx)
		case "timeout":
			if err := cfparse.DurationArg(d, &o.Timeout); err != nil {
				return err
			}
		case "sync_interval":
			if err := cfparse.DurationArg(d, &o.SyncInterval); err != nil {
				return err
			}
		default:
			return d.Errf("subscriptions: unrecognized option %q", d.Val())
		}
	}
	a.Subscriptions = o
	return nil
}

// parseSubscribe parses:
//
//	subscribe <url> {
//		expires   <duration>
//		frequency <duration>
//	}
func parseSubscribe(d *caddyfile.Dispenser, p *Provider) error {
	if p.Subscribe != nil {
		return d.Errf("provider %q: subscribe given twice", p.ID)
	}
	s := &Subscribe{}
	if !d.Args(&s.URL) {
		return d.ArgErr()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "expires":
			if err := cfparse.DurationArg(d, &s.Expires); err != nil {
				return err
			}
		case "frequency":
			if err := cfparse.DurationArg(d, &s.Frequency); err != nil {
				return err
			}
		default:
			return d.Errf("provider %q: subscribe: unrecognized option %q", p.ID, d.Val())
		}
	}
	if err := s.validate(); err != nil {
		return d.Errf("provider %q: %v", p.ID, err)
	}
	p.Subscribe = s
	return nil
}

// parsePublishers parses: publishers <user>... ("*" allows anyone who
// reached the publish endpoint).
func parsePublishers(d *caddyfile.Dispenser, p *Provider) error {
	users := d.RemainingArgs()
	if len(users) == 0 {
		return d.ArgErr()
	}
	p.Publishers = append(p.Publishers, users...)
	return nil
}

// parsePush parses:
//
//	push <id>... {
//		expires <duration>
//	}
func parsePush(d *caddyfile.Dispenser, p *Provider) error {
	if p.Push != nil {
		return d.Errf("provider %q: push given twice", p.ID)
	}
	ps := &Push{IDs: d.RemainingArgs()}
	if len(ps.IDs) == 0 {
		return d.Errf("provider %q: push needs the notification ids it may use", p.ID)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "expires":
			if err := cfparse.DurationArg(d, &ps.Expires); err != nil {
				return err
			}
		default:
			return d.Errf("provider %q: push: unrecognized option %q", p.ID, d.Val())
		}
	}
	p.Push = ps
	return nil
}

// parseXMLOption parses the xml subdirective of the csb global option.
func parseXMLOption(d *caddyfile.Dispenser, a *App) error {
	if a.XML != nil {
		return d.Err("xml: the xml option may appear only once")
	}
	x := new(XMLConfig)
	if d.NextArg() {
		if err := setXMLMode(d, x); err != nil {
			return err
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch opt {
		case "mode":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if err := setXMLMode(d, x); err != nil {
				return err
			}
		case "max_body_size":
			if !d.NextArg() {
				return d.ArgErr()
			}
			size, err := humanize.ParseBytes(d.Val())
			if err != nil || size == 0 || size > math.MaxInt64 {
				return d.Errf("xml: max_body_size: invalid size %q", d.Val())
			}
			x.MaxBodySize = int64(size)
		case "max_text_size":
			if !d.NextArg() {
				return d.ArgErr()
			}
			size, err := humanize.ParseBytes(d.Val())
			if err != nil || size == 0 || size > math.MaxInt32 {
				return d.Errf("xml: max_text_size: invalid size %q", d.Val())
			}
			x.MaxTextSize = int(size)
		case "max_depth", "max_elements", "max_attributes":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n <= 0 {
				return d.Errf("xml: %s: %q is not a positive integer", opt, d.Val())
			}
			switch opt {
			case "max_depth":
				x.MaxDepth = n
			case "max_elements":
				x.MaxElements = n
			default:
				x.MaxAttributes = n
			}
		default:
			return d.Errf("xml: unrecognized option %q (known: max_attributes, max_body_size, max_depth, max_elements, max_text_size, mode)", opt)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	a.XML = x
	return nil
}

// parseQuotaOption parses the quota subdirective of the csb global
// option (its syntax: App.UnmarshalCaddyfile; the fields: QuotaConfig).
func parseQuotaOption(d *caddyfile.Dispenser, a *App) error {
	if a.Quota != nil {
		return d.Err("quota: the block may appear only once")
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	q := new(QuotaConfig)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "unit":
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
		case "user":
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
		case "group":
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
		default:
			return d.Errf("quota: unrecognized option %q (known: group, unit, user)", opt)
		}
	}
	a.Quota = q
	return nil
}

// parseQuotaLimits parses the block of a quota user or group.
func parseQuotaLimits(d *caddyfile.Dispenser, where string, l *quota.Limits) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if !slices.Contains(quotaLimitNames, name) {
			return d.Errf("%s: unrecognized limit %q (known: %s)", where, name, strings.Join(quotaLimitNames, ", "))
		}
		if err := setQuotaLimit(l, name, d.RemainingArgs()); err != nil {
			return d.Errf("%s: %v", where, err)
		}
	}
	return nil
}

func setXMLMode(d *caddyfile.Dispenser, x *XMLConfig) error {
	switch v := d.Val(); v {
	case "lenient", "strict":
		x.Mode = v
		return nil
	default:
		return d.Errf("xml: mode must be lenient or strict, not %q", v)
	}
}

func parsePath(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	p := d.Val()
	if !strings.HasPrefix(p, "/") {
		return d.Errf("path %q must begin with /", p)
	}
	*dst = strings.TrimSuffix(p, "/")
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
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
	if a.Events != nil {
		return d.Err("events given twice")
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	o := new(EventsConfig)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch opt := d.Val(); opt {
		case "lease_warning":
			var v string
			if err := cfparse.OneArg(d, &v); err != nil {
				return err
			}
			if v == "off" {
				o.LeaseWarning = -1
				break
			}
			dur, perr := caddy.ParseDuration(v)
			if perr != nil || dur <= 0 {
				return d.Errf("events: lease_warning %q: want a positive duration or off", v)
			}
			o.LeaseWarning = caddy.Duration(dur)
		case "max_wait":
			err = cfparse.DurationArg(d, &o.MaxWait)
		case "cluster_recheck":
			err = cfparse.DurationArg(d, &o.ClusterRecheck)
		case "timeout":
			err = cfparse.DurationArg(d, &o.Timeout)
		case "retain":
			err = cfparse.DurationArg(d, &o.Retain)
		case "webhook":
			err = parseOperatorWebhook(d, o)
		case "allowed_hosts":
			hosts := d.RemainingArgs()
			if len(hosts) == 0 {
				return d.ArgErr()
			}
			o.AllowedHosts = append(o.AllowedHosts, hosts...)
		case "allow_private":
			if d.NextArg() {
				return d.ArgErr()
			}
			o.AllowPrivate = true
		case "retry":
			var lo, hi string
			if !d.Args(&lo, &hi) || d.NextArg() {
				return d.Errf("events: want retry <min> <max>")
			}
			mn, err1 := caddy.ParseDuration(lo)
			mx, err2 := caddy.ParseDuration(hi)
			if err1 != nil || err2 != nil || mn <= 0 || mx < mn {
				return d.Errf("events: retry %s %s: want two positive durations, min <= max", lo, hi)
			}
			o.RetryMin, o.RetryMax = caddy.Duration(mn), caddy.Duration(mx)
		case "max_attempts":
			var v string
			if err := cfparse.OneArg(d, &v); err != nil {
				return err
			}
			n, perr := strconv.Atoi(v)
			if perr != nil || n <= 0 {
				return d.Errf("events: max_attempts %q is not a positive whole number", v)
			}
			o.MaxAttempts = n
		default:
			return d.Errf("events: unrecognized option %q (known: allow_private, allowed_hosts, cluster_recheck, lease_warning, max_attempts, max_wait, retain, retry, timeout, webhook)", opt)
		}
		if err != nil {
			return err
		}
	}
	a.Events = o
	return nil
}

// parseOperatorWebhook parses "webhook <url> { secret ...; events ... }".
func parseOperatorWebhook(d *caddyfile.Dispenser, o *EventsConfig) error {
	w := new(OperatorWebhook)
	if err := cfparse.OneArg(d, &w.URL); err != nil {
		return err
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "secret":
			if err := cfparse.OneArg(d, &w.Secret); err != nil {
				return err
			}
		case "events":
			names := d.RemainingArgs()
			if len(names) == 0 {
				return d.ArgErr()
			}
			w.Events = append(w.Events, names...)
		default:
			return d.Errf("events: webhook %q: unrecognized option %q (known: events, secret)", w.URL, d.Val())
		}
	}
	if w.Secret == "" {
		return d.Errf("events: webhook %q: a secret is required", w.URL)
	}
	o.Webhooks = append(o.Webhooks, w)
	return nil
}
