package tests

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// ApacheOptions configure StartApache.
type ApacheOptions struct {
	// Realm is the Digest realm (AuthName). Default "provider".
	Realm string
	// Users maps user names to passwords. They are written to an htdigest
	// file with the real htdigest tool of apache2-utils.
	Users map[string]string
	// Backend is the URL Apache reverse-proxies authenticated requests to
	// (mod_proxy_http), typically an httptest server acting as the
	// provider double. Required.
	Backend string
	// Algorithm is AuthDigestAlgorithm: "MD5" (default) or "MD5-sess".
	// mod_auth_digest supports no other.
	Algorithm string
	// TLSCert and TLSKey, when set, make Apache serve HTTPS (mod_ssl)
	// with this PEM certificate and key.
	TLSCert, TLSKey string
	// ClientCA, with TLS, requires a client certificate signed by this
	// PEM CA (mutual TLS).
	ClientCA string
	// NonceLifetime is AuthDigestNonceLifetime in seconds: how long a
	// nonce is accepted before Apache answers stale=true. Default: Apache's
	// (300).
	NonceLifetime int
}

// Apache is an Apache httpd with mod_auth_digest protecting a provider
// double, started by a test on a free loopback port with its own
// configuration in a temporary directory. It is stopped when the test
// ends.
type Apache struct {
	// URL is the base URL, http://127.0.0.1:<port> or https://...
	URL string
	// Dir holds the configuration, the htdigest file and the logs.
	Dir string

	cmd  *exec.Cmd
	done chan struct{}
	out  *bytes.Buffer
	mu   sync.Mutex
}

// apacheModulesDir is where Debian's apache2 package keeps its modules.
func apacheModulesDir() string {
	if d := os.Getenv("CSB_APACHE_MODULES_DIR"); d != "" {
		return d
	}
	return "/usr/lib/apache2/modules"
}

func lookTool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("%s not found: install the Debian packages apache2 and apache2-utils (or set CSB_SKIP_APACHE to skip)", name)
	return ""
}

// StartApache starts Apache httpd in the foreground ("apache2 -X": one
// process, no detaching), loading only the modules it needs from Debian's
// module directory, and waits until it accepts connections. Unless
// CSB_SKIP_APACHE is set, a missing apache2 fails the test.
func StartApache(t testing.TB, opt ApacheOptions) *Apache {
	t.Helper()
	if os.Getenv("CSB_SKIP_APACHE") != "" {
		t.Skip("CSB_SKIP_APACHE is set")
	}
	if opt.Backend == "" {
		t.Fatal("StartApache: Backend is required")
	}
	if opt.Realm == "" {
		opt.Realm = "provider"
	}
	if opt.Algorithm == "" {
		opt.Algorithm = "MD5"
	}
	httpd := lookTool(t, "apache2")
	htdigest := lookTool(t, "htdigest")
	dir := t.TempDir()
	users := filepath.Join(dir, "users.htdigest")

	// htdigest reads the password twice from stdin when it has no
	// terminal. Sorted, so the file is the same on every run.
	names := make([]string, 0, len(opt.Users))
	for u := range opt.Users {
		names = append(names, u)
	}
	sort.Strings(names)
	for i, u := range names {
		args := []string{users, opt.Realm, u}
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		cmd := exec.Command(htdigest, args...)
		pw := opt.Users[u]
		cmd.Stdin = strings.NewReader(pw + "\n" + pw + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("htdigest: %v\n%s", err, out)
		}
	}

	port := harness.FreePort(t)
	mods := apacheModulesDir()
	var conf strings.Builder
	fmt.Fprintf(&conf, `ServerRoot %q
Listen 127.0.0.1:%d
ServerName 127.0.0.1
PidFile %q
ErrorLog %q
LogLevel info auth_digest:debug
DefaultRuntimeDir %q
Mutex file:%s default
`, dir, port, filepath.Join(dir, "httpd.pid"), filepath.Join(dir, "error.log"), dir, dir)
	load := []string{"mpm_event", "authn_core", "authn_file", "authz_core", "authz_user", "auth_digest", "proxy", "proxy_http"}
	scheme := "http"
	if opt.TLSCert != "" {
		load = append(load, "socache_shmcb", "ssl")
		scheme = "https"
	}
	for _, m := range load {
		fmt.Fprintf(&conf, "LoadModule %s_module %q\n", m, filepath.Join(mods, "mod_"+m+".so"))
	}
	if opt.TLSCert != "" {
		fmt.Fprintf(&conf, `SSLEngine on
SSLProtocol -all +TLSv1.2 +TLSv1.3
SSLCertificateFile %q
SSLCertificateKeyFile %q
SSLSessionCache "shmcb:%s(512000)"
`, opt.TLSCert, opt.TLSKey, filepath.Join(dir, "ssl_scache"))
		if opt.ClientCA != "" {
			fmt.Fprintf(&conf, "SSLVerifyClient require\nSSLVerifyDepth 2\nSSLCACertificateFile %q\n", opt.ClientCA)
		}
	}
	lifetime := ""
	if opt.NonceLifetime > 0 {
		lifetime = fmt.Sprintf("\tAuthDigestNonceLifetime %d\n", opt.NonceLifetime)
	}
	fmt.Fprintf(&conf, `<Location "/">
	AuthType Digest
	AuthName %q
	AuthDigestProvider file
	AuthDigestAlgorithm %s
	AuthDigestDomain "/"
%s	AuthUserFile %q
	Require valid-user
	ProxyPass %q
	ProxyPassReverse %q
</Location>
`, opt.Realm, opt.Algorithm, lifetime, users, strings.TrimSuffix(opt.Backend, "/")+"/", strings.TrimSuffix(opt.Backend, "/")+"/")
	confPath := filepath.Join(dir, "httpd.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	a := &Apache{URL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, port), Dir: dir, out: new(bytes.Buffer), done: make(chan struct{})}
	a.cmd = exec.Command(httpd, "-X", "-f", confPath)
	a.cmd.Dir = dir
	a.cmd.Stdout = (*lockedWriter)(a)
	a.cmd.Stderr = (*lockedWriter)(a)
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("apache2: %v", err)
	}
	go func() {
		_ = a.cmd.Wait()
		close(a.done)
	}()
	t.Cleanup(func() { a.stop(t) })

	// Wait until it accepts connections (polling for readiness).
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-a.done:
			t.Fatalf("apache2 exited at start:\n%s\n%s", a.output(), a.ErrorLog())
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("apache2 not listening after 20s:\n%s\n%s", a.output(), a.ErrorLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return a
}

type lockedWriter Apache

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(p)
}

func (a *Apache) output() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.out.String()
}

// ErrorLog returns Apache's error log so far (auth_digest at debug level:
// it says why a request was refused).
func (a *Apache) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(a.Dir, "error.log"))
	return string(b)
}

// stop sends SIGTERM to the process it started and waits; SIGKILL to its
// process group after 10 s.
func (a *Apache) stop(t testing.TB) {
	select {
	case <-a.done:
	default:
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		select {
		case <-a.done:
		case <-ctx.Done():
			_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
			<-a.done
		}
	}
	if t.Failed() {
		t.Logf("apache2 output:\n%s\nerror.log:\n%s", a.output(), a.ErrorLog())
	}
}
