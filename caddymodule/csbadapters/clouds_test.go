package csbadapters

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/caddymodule"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/parsetest"
)

func TestCloudAdapterParseErrors(t *testing.T) {
	parsetest.CheckErrors(t, []parsetest.Case{
		{"openstack no auth", "provider p {\n adapter openstack {\n region r\n }\n}", "auth_url (Keystone v3) or tempauth_url"},
		{"openstack unknown option", "provider p {\n adapter openstack http://k/v3 {\n colour red\n }\n}", `unrecognized option "colour"`},
		{"openstack extra arg", "provider p {\n adapter openstack http://k/v3 http://x\n}", "wrong argument count"},
		{"openstack option without value", "provider p {\n adapter openstack http://k/v3 {\n region\n }\n}", "wrong argument count"},
		{"openstack option with two values", "provider p {\n adapter openstack http://k/v3 {\n password a b\n }\n}", "wrong argument count"},
		{"openstack network without id", "provider p {\n adapter openstack http://k/v3 {\n network\n }\n}", "wrong argument count"},
		{"openstack arch_image arity", "provider p {\n adapter openstack http://k/v3 {\n arch_image aarch64\n }\n}", "wrong argument count"},
		{"openstack arch_image twice", "provider p {\n adapter openstack http://k/v3 {\n arch_image a 1\n arch_image a 2\n }\n}", `arch_image "a" given twice`},
		{"aws unknown option", "provider p {\n adapter aws {\n colour red\n }\n}", `unrecognized option "colour"`},
		{"aws extra arg", "provider p {\n adapter aws us-east-1 eu-west-1\n}", "wrong argument count"},
		{"aws path_style arg", "provider p {\n adapter aws {\n path_style yes\n }\n}", "wrong argument count"},
		{"aws instance_type arity", "provider p {\n adapter aws {\n instance_type t3.micro 2\n }\n}", "wrong argument count"},
		{"aws instance_type numbers", "provider p {\n adapter aws {\n instance_type t3.micro two 1024\n }\n}", "positive integers"},
		{"aws service", "provider p {\n adapter aws {\n services ec2 sqs\n }\n}", `service "sqs"`},
		{"aws services empty", "provider p {\n adapter aws {\n services\n }\n}", "wrong argument count"},
		{"aws arch_image twice", "provider p {\n adapter aws {\n arch_image arm64 a\n arch_image arm64 b\n }\n}", "given twice"},
	}, parsetest.Unmarshal[caddymodule.Provider]())
}

// TestCloudAdapterProvision: placeholders are expanded, the configuration
// is checked at provisioning (so caddy validate reports it), and the
// provisioned module hands out an adapter that reports its kinds.
func TestCloudAdapterProvision(t *testing.T) {
	t.Setenv("CSB_TEST_OS_PASSWORD", "pw")
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	os := &OpenStackAdapter{}
	os.TempAuthURL, os.TempAuthUser, os.TempAuthKey = "http://127.0.0.1:1/auth/v1.0", "a:b", "{env.CSB_TEST_OS_PASSWORD}"
	if err := os.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if got := os.CSBAdapter().(contract.KindReporter).ServiceKinds(); strings.Join(got, ",") != "DSaaS" {
		t.Fatalf("tempauth kinds %v", got)
	}
	if os.adapter.Config().TempAuthKey != "pw" {
		t.Fatal("placeholder not expanded")
	}
	bad := &OpenStackAdapter{}
	bad.AuthURL, bad.Username, bad.UserDomainName = "https://k/v3", "u", "Default"
	if err := bad.Provision(ctx); err == nil || !strings.Contains(err.Error(), "password is required") {
		t.Fatalf("missing password: %v", err)
	}

	aw := &AWSAdapter{}
	aw.Services = []string{"s3"}
	aw.AccessKeyID, aw.SecretAccessKey = "id", "{env.CSB_TEST_OS_PASSWORD}"
	if err := aw.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if got := aw.CSBAdapter().(contract.KindReporter).ServiceKinds(); strings.Join(got, ",") != "DSaaS" {
		t.Fatalf("s3-only kinds %v", got)
	}
	if aw.adapter.Config().SecretAccessKey != "pw" || aw.adapter.Config().Region != "us-east-1" {
		t.Fatalf("config %+v", aw.adapter.Config().Region)
	}
	badAWS := &AWSAdapter{}
	badAWS.AccessKeyID = "only-id"
	if err := badAWS.Provision(ctx); err == nil || !strings.Contains(err.Error(), "go together") {
		t.Fatalf("half credentials: %v", err)
	}
}

// TestCloudAdapterProvisionExpandsIDLists: the ids of networks, security
// groups and architecture images are per deployment, so they come from
// the environment like the image and subnet do; Provision expanded only
// the single-valued fields, and {env.*} in a list reached Nova or EC2 as
// text. The module's own configuration keeps the placeholders.
func TestCloudAdapterProvisionExpandsIDLists(t *testing.T) {
	t.Setenv("CSB_TEST_NET", "ff608d40-75e9-48cb-b745-77bb55b5eaf2")
	t.Setenv("CSB_TEST_SG", "sg-0123456789abcdef0")
	t.Setenv("CSB_TEST_ARM", "ami-0fedcba9876543210")
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()

	os := &OpenStackAdapter{}
	os.AuthURL, os.Username, os.UserDomainName, os.Password = "https://k/v3", "u", "Default", "pw"
	os.Networks, os.SecurityGroups = []string{"{env.CSB_TEST_NET}"}, []string{"{env.CSB_TEST_SG}"}
	os.ArchImages = map[string]string{"aarch64": "{env.CSB_TEST_ARM}"}
	if err := os.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	oc := os.adapter.Config()
	if oc.Networks[0] != "ff608d40-75e9-48cb-b745-77bb55b5eaf2" || oc.SecurityGroups[0] != "sg-0123456789abcdef0" || oc.ArchImages["aarch64"] != "ami-0fedcba9876543210" {
		t.Fatalf("openstack: networks %v, security groups %v, arch images %v: placeholders not expanded", oc.Networks, oc.SecurityGroups, oc.ArchImages)
	}
	if os.Networks[0] != "{env.CSB_TEST_NET}" || os.ArchImages["aarch64"] != "{env.CSB_TEST_ARM}" {
		t.Fatal("openstack: the module's configuration was rewritten")
	}

	aw := &AWSAdapter{}
	aw.SecurityGroupIDs = []string{"{env.CSB_TEST_SG}"}
	aw.ArchImages = map[string]string{"arm64": "{env.CSB_TEST_ARM}"}
	if err := aw.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	ac := aw.adapter.Config()
	if ac.SecurityGroupIDs[0] != "sg-0123456789abcdef0" || ac.ArchImages["arm64"] != "ami-0fedcba9876543210" {
		t.Fatalf("aws: security groups %v, arch images %v: placeholders not expanded", ac.SecurityGroupIDs, ac.ArchImages)
	}
	if aw.SecurityGroupIDs[0] != "{env.CSB_TEST_SG}" {
		t.Fatal("aws: the module's configuration was rewritten")
	}
}
