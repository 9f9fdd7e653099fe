package swiftpeer

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// KeystoneAuth configures a Swift proxy that authenticates with Keystone
// instead of TempAuth: keystonemiddleware's auth_token validates the
// token, Swift's keystoneauth grants the account AUTH_<project id> to the
// token's project when it holds one of OperatorRoles.
type KeystoneAuth struct {
	// AuthURL is the Keystone v3 endpoint, http://host:port/v3.
	AuthURL string
	// User and Password are a service user of project "service" (domain
	// Default) that auth_token uses to validate tokens.
	User, Password string
	// OperatorRoles are the roles that make a user the owner of the
	// project's account. Default "admin, member".
	OperatorRoles []string
}

// StartKeystoneProxy starts a second proxy server in front of this
// Swift's account, container and object servers, with the pipeline
// "catch_errors cache authtoken keystoneauth proxy-server", on a free
// loopback port, and returns its base URL once it accepts connections.
// The account of a Keystone project is /v1/AUTH_<project id>. Stop stops
// it with the other servers.
func (s *Swift) StartKeystoneProxy(ctx context.Context, ka KeystoneAuth) (string, error) {
	if len(ka.OperatorRoles) == 0 {
		ka.OperatorRoles = []string{"admin", "member"}
	}
	lctx, lcancel := context.WithTimeout(ctx, 5*time.Minute)
	unlock, err := lockPorts(lctx)
	lcancel()
	if err != nil {
		return "", err
	}
	defer unlock()
	ports, err := freePorts(1)
	if err != nil {
		return "", err
	}
	port := ports[0]
	confDir := filepath.Join(s.Dir, "etc")
	conf := filepath.Join(confDir, "proxy-keystone.conf")
	content := fmt.Sprintf(keystoneProxyConf, port, confDir, s.runAs, s.memcachePort,
		ka.AuthURL, ka.User, ka.Password, strings.Join(ka.OperatorRoles, ", "))
	if err := os.WriteFile(conf, []byte(content), 0o644); err != nil {
		return "", err
	}
	if err := s.spawn("proxy-keystone", "swift-proxy-server", conf, "-v"); err != nil {
		return "", err
	}
	p := s.procs[len(s.procs)-1]
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return "http://" + addr, nil
		}
		select {
		case <-p.done:
			out, _ := os.ReadFile(p.logPath)
			return "", fmt.Errorf("keystone proxy exited: %v\n%s", p.err, out)
		case <-ctx.Done():
			return "", fmt.Errorf("keystone proxy not listening on %s: %v", addr, err)
		case <-time.After(50 * time.Millisecond): // polling for readiness
		}
	}
}

// FreePorts returns n loopback ports that were free a moment ago, chosen
// under the same cross-process lock and in the same band as the ports of
// every Swift (see lockPorts), for other peers whose servers also listen
// with SO_REUSEPORT (eventlet's default).
func FreePorts(ctx context.Context, n int) ([]int, error) {
	lctx, lcancel := context.WithTimeout(ctx, 5*time.Minute)
	unlock, err := lockPorts(lctx)
	lcancel()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return freePorts(n)
}

// keystoneProxyConf: port, swift_dir, user, memcached port, Keystone URL,
// service user, its password, operator roles.
const keystoneProxyConf = `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = %[1]d
swift_dir = %[2]s
user = %[3]s
workers = 0
log_name = swiftpeer-proxy-keystone

[pipeline:main]
pipeline = catch_errors cache authtoken keystoneauth proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:%[4]d

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = %[5]s
auth_url = %[5]s
auth_type = password
interface = public
user_domain_name = Default
project_domain_name = Default
project_name = service
username = %[6]s
password = %[7]s
delay_auth_decision = True
cache = swift.cache
include_service_catalog = False

[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = %[8]s
`
