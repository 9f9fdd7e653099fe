package caddymodule_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/caddymodule"
	"github.com/caddy-csb/caddy-csb/caddymodule/csbcimi"
	"github.com/caddy-csb/caddy-csb/caddymodule/csbconsole"
	"github.com/caddy-csb/caddy-csb/caddymodule/csbosb"
	"github.com/caddy-csb/caddy-csb/caddymodule/csbsandbox"
	"github.com/caddy-csb/caddy-csb/caddymodule/digestauth"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/parsetest"
	"github.com/caddy-csb/caddy-csb/caddymodule/jobroute"
)

// onceApp is the csb global option with every option of every block
// (the placement policies but first apart: onceCases), each once, but
// the options that may repeat, each twice.
const onceApp = `csb {
	provider p1 {
		adapter cimi {
			endpoint https://cimi.example
			image img
			name_prefix csb-
		}
		adapter cdmi {
			endpoint https://cdmi.example
			prefix /p
		}
		adapter occi {
			endpoint https://occi.example
			rendering text/plain
			os_tpl http://schemes.example/tpl#small
			network /network/1
			no_start
			service_id svc
			offer cores 2 memory 4
			retries 2
			retry_backoff 1s
			model_ttl 1m
		}
		adapter openstack {
			auth_url https://keystone.example/v3
			region r
			interface public
			user_id u
			username n
			password pw
			user_domain_id d
			user_domain_name dn
			project_id p
			project_name pn
			project_domain_id pd
			project_domain_name pdn
			application_credential_id a
			application_credential_name an
			application_credential_secret as
			tempauth_url https://swift.example/auth/v1.0
			tempauth_user acct:u
			tempauth_key k
			compute_url https://nova.example
			object_store_url https://swift.example
			image img
			arch_image aarch64 img-arm
			arch_image x86_64 img-x86
			network n1
			network n2
			key_name kp
			security_group sg1
			security_group sg2
			availability_zone az
			name_prefix csb-
		}
		adapter aws {
			region us-east-1
			services ec2
			services s3
			s3_endpoint https://s3.example
			ec2_endpoint https://ec2.example
			path_style
			access_key_id id
			secret_access_key secret
			session_token tok
			image_id ami-1
			arch_image arm64 ami-2
			arch_image x86_64 ami-3
			instance_type t3.micro 2 1024
			instance_type t4g.micro 2 1024 arm64
			subnet_id sn
			security_group_id sg1
			security_group_id sg2
			key_name kp
			root_device /dev/xvda
			name_prefix csb-
		}
		adapter link {
			schemes https
			schemes http
		}
		uri https://p1.example/csb
		label P1
		status active
		encryption_support true
		service s1 {
			kind iaas
			status active
			uri https://p1.example/s1
			compute {
				architecture x64
				cores 2
				memory 4
				speed 2
				hostname h
			}
			network {
				vlan v
				vlan_label l
				address 10.0.0.1
				gateway 10.0.0.254
				allocation dynamic
			}
			storage {
				size 10
			}
			network_interface {
				interface eth0
				mac 00:00:00:00:00:01
				ip 10.0.0.2
				gateway 10.0.0.254
				allocation static
			}
			storagelink {
				device_id d
				mountpoint /mnt
			}
			link self https://p1.example/s1
		}
		service s2 {
			kind dsaas
			objects data container
		}
		discover 5m
		weight 1
		price 0.5
		allowed_hosts *.example
		allowed_hosts p1.example
		allow_private
		auth basic user pass {
			allow_cleartext
		}
		tls {
			ca /ca.pem
			client_cert /c.pem /k.pem
			server_name p1.example
		}
		subscribe https://p1.example/subs {
			expires 1h
			frequency 1m
		}
		publishers alice
		publishers bob
		push n1 n2 {
			expires 1h
		}
	}
	provider p2 {
		uri https://p2.example/csb
	}
	placement first
	jobs {
		lease_default 1h
		lease_min 1m
		lease_max 2h
		reap_interval 1m
		check_interval 1m
		attempt_timeout 1m
		call_timeout 1m
		respond_within 1s
		poll_interval 1s
		retain 1h
		retain_failed 1h
		max_jobs_per_owner 10
		max_attempts 3
		cache_ttl 1s
		cache_size 4MiB
		anonymous refuse
		unhonoured_fields refuse
		access alice {
			allow p1
			allow p2
			deny p3
			deny p4
		}
		access * {
		}
	}
	ovf {
		allow_host *.example
		allow_host ovf.example
		allow_private
		allow_http
		max_size 1MiB
		max_depth 10
		max_elements 100
		timeout 10s
		max_redirects 3
		rel ovf
		rel image
	}
	catalog {
		sync_interval 1m
		flush_delay 1s
		retention 1h
		cache_size 100
	}
	subscriptions {
		renew_at 0.8
		retry 1s 1m
		timeout 30s
		sync_interval 10s
	}
	events {
		lease_warning 5m
		max_wait 60s
		cluster_recheck 1s
		webhook https://hooks.example/a {
			secret whsec_a
			events csb.job.state
			events csb.job.drift
		}
		webhook https://hooks.example/b {
			secret whsec_b
		}
		allowed_hosts *.example
		allowed_hosts hooks.example
		allow_private
		retry 1s 10m
		max_attempts 10
		timeout 10s
		retain 24h
	}
	xml {
		mode strict
		max_body_size 1MiB
		max_depth 10
		max_elements 100
		max_attributes 4
		max_text_size 64KiB
	}
	quota {
		unit iaas core
		unit paas job
		user alice {
			jobs 1
			cores 2
			memory 3
			storage 4
			spend 1 day
			spend 10 month
		}
		user * {
			jobs 1
		}
		group team a b {
			jobs 5
		}
		group ops c {
			cores 8
		}
	}
}`

// onceCases are a sample of each directive with options, and of each
// placement policy with options, and the options each may repeat.
var onceCases = []struct {
	name, sample string
	parse        func(*caddyfile.Dispenser) error
	repeat       []string // "<block>/<option>", see parsetest.CheckOnce
}{
	{"csb global option", onceApp, parsetest.Unmarshal[caddymodule.App](), []string{
		"csb/provider", "provider p1/adapter", "adapter openstack/arch_image", "adapter openstack/network",
		"adapter openstack/security_group", "adapter aws/services", "adapter aws/arch_image", "adapter aws/instance_type",
		"adapter aws/security_group_id", "adapter link/schemes", "provider p1/service", "provider p1/allowed_hosts",
		"provider p1/publishers", "jobs/access", "access alice/allow", "access alice/deny", "ovf/allow_host", "ovf/rel",
		"events/webhook", "webhook https://hooks.example/a/events", "events/allowed_hosts", "quota/unit", "quota/user",
		"user alice/spend", "quota/group",
	}},
	{"placement random", "csb {\n\tplacement random {\n\t\tseed 1\n\t}\n}", parsetest.Unmarshal[caddymodule.App](), nil},
	{"placement least_loaded", "csb {\n\tplacement least_loaded {\n\t\tby capacity\n\t}\n}", parsetest.Unmarshal[caddymodule.App](), nil},
	{"placement weighted", "csb {\n\tplacement weighted {\n\t\tweight p1 1\n\t\tweight p2 2\n\t}\n}", parsetest.Unmarshal[caddymodule.App](),
		[]string{"placement weighted/weight"}},
	{"placement cheapest", "csb {\n\tplacement cheapest {\n\t\tprice p1 1\n\t\tprice p2/s 2\n\t}\n}", parsetest.Unmarshal[caddymodule.App](),
		[]string{"placement cheapest/price"}},
	{"csb handler", "csb {\n\tpublish_path /p\n\tconsumer_path /c\n}", parsetest.Unmarshal[caddymodule.Handler](), nil},
	{"csb_osb", `csb_osb {
	plan small {
		kind iaas
		description small
		cores 1
		memory 2
		storage 10
		architecture x64
		lease 1h
		provider p1
	}
	plan site {
		kind saas
		link https://saas.example
	}
	derive_plans off
	platforms alice
	platforms bob
	job_route /csb/jobs/
	broker_id b
	maintenance_version 1.0.0
}`, parsetest.Unmarshal[csbosb.Handler](), []string{"csb_osb/plan", "csb_osb/platforms"}},
	{"csb_binding_auth", "csb_binding_auth {\n\trealm r\n}", parsetest.Unmarshal[csbosb.BindingAuth](), nil},
	{"csb_cimi", `csb_cimi {
	prefix /cimi/
	max_body_size 64KiB
	machine_config small 1 2 {
		description one core
	}
	machine_config big 8 32 x86_64
	machine_image ubuntu p1 {
		description Ubuntu
	}
	machine_image debian
	policies first
	policies cheapest
}`, parsetest.Unmarshal[csbcimi.Handler](), []string{"csb_cimi/machine_config", "csb_cimi/machine_image", "csb_cimi/policies"}},
	{"csb_console", "csb_console {\n\tprefix /console\n\toperators alice\n\toperators bob\n}", parsetest.Unmarshal[csbconsole.Console](),
		[]string{"csb_console/operators"}},
	{"csb_job_route", "csb_job_route {\n\tprefix /csb/jobs/\n\theader X-Csb-Job\n\tcache_ttl 1s\n}", parsetest.Unmarshal[jobroute.JobRoute](), nil},
	{"dynamic csb", "csb {\n\tunhealthy_after 3\n\thealth_interval 1s\n}", parsetest.Unmarshal[jobroute.JobUpstreams](), nil},
	{"csb_sandbox", `csb_sandbox cloud-a {
	cimi_path /cimi
	cdmi_path /cdmi
	subscribe_path /subscribe
	capacity 8 32 1000
	price 0.05
	architecture x64
	build_time 1s
	url https://cloud-a.example
	broker https://broker.example/csb/publish
	broker_ca internal
	broker_auth digest a b
	push n1 1m
	min_frequency 1s
	max_expires 1h
	max_subscriptions 4
	latency 1ms
	error_rate 0.1 503
	fail_after 3 500
	hang
	seed 1
}`, parsetest.Unmarshal[csbsandbox.Sandbox](), nil},
	{"digest_auth", `digest_auth {
	realm r
	algorithms SHA-256
	algorithms MD5
	qop auth
	qop auth-int
	userhash
	nonce_lifetime 1m
	nonce_key k
	replay_window 16
	max_nonces 100
	auth_int_max_body 1MiB
	htdigest /a.htdigest
	htdigest /b.htdigest
	user alice MD5 0123456789abcdef0123456789abcdef
	user alice SHA-256 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
	throttle {
		nonce_failures 3
		user_failures 5
		client_failures 10
		backoff 1s 5m
		forget_after 15m
		max_tracked 1000
	}
}`, parsetest.Unmarshal[digestauth.HTTPDigestAuth](), []string{"digest_auth/algorithms", "digest_auth/qop", "digest_auth/htdigest", "digest_auth/user"}},
}

// TestCaddyfileOptionOnce: an option of one value given twice in its
// block used to keep the second silently (max_jobs_per_owner 10, then
// max_jobs_per_owner 20, was 20), where Caddy's own directives refuse a
// second lb_policy. Every option of every block is given again here and
// must be refused at the second, naming it and its line; the options
// that are lists or keyed entries by design must still repeat.
func TestCaddyfileOptionOnce(t *testing.T) {
	for _, c := range onceCases {
		t.Run(c.name, func(t *testing.T) {
			got := parsetest.CheckOnce(t, c.sample, c.parse)
			if !slices.Equal(got, c.repeat) {
				t.Errorf("the sample repeats %q, want %q", got, c.repeat)
			}
		})
	}
}

// TestCaddyfileOptionOnceByArgument: an option the directive's argument
// already gave is given twice too, as are a placement policy's provider
// and an offer's key.
func TestCaddyfileOptionOnceByArgument(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"csb {\n xml lenient {\n mode strict\n }\n}", "xml: mode given twice, at Testfile:3"},
		{"csb {\n provider p {\n adapter cimi https://a {\n endpoint https://b\n }\n }\n}", "adapter cimi: endpoint given twice, at Testfile:4"},
		{"digest_auth r {\n realm s\n}", "digest_auth: realm given twice, at Testfile:2"},
		{"csb {\n placement weighted {\n weight p 1\n weight p 2\n }\n}", `placement weighted: weight of "p" given twice, at Testfile:4`},
		{"csb {\n placement cheapest {\n price p 1\n price p 2\n }\n}", `placement cheapest: price of "p" given twice, at Testfile:4`},
		{"csb {\n provider p {\n adapter occi https://o {\n offer cores 1 cores 2\n }\n }\n}", "adapter occi: offer cores given twice, at Testfile:4"},
	} {
		parse := parsetest.Unmarshal[caddymodule.App]()
		if strings.HasPrefix(c.in, "digest_auth") {
			parse = parsetest.Unmarshal[digestauth.HTTPDigestAuth]()
		}
		if err := parse(caddyfile.NewTestDispenser(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.in, err, c.want)
		}
	}
}
