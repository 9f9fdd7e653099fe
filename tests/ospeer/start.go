package ospeer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/caddy-csb/caddy-csb/tests/swiftpeer"
)

// ports of one instance.
type ports struct {
	keystone, placement, glance, nova, rabbit, rabbitDist, epmd int
}

// start brings the stack up in dependency order, running independent
// steps (database syncs, RabbitMQ's start) side by side.
func (o *OpenStack) start(ctx context.Context) error {
	for _, d := range []string{"log", "keystone", "nova", "placement", "glance", "glance/images", "glance/staging", "glance/tasks", "rabbit/home", "lock", "pyhooks"} {
		if err := os.MkdirAll(filepath.Join(o.Dir, d), 0o755); err != nil {
			return err
		}
	}
	pl, err := swiftpeer.FreePorts(ctx, 7)
	if err != nil {
		return err
	}
	p := ports{pl[0], pl[1], pl[2], pl[3], pl[4], pl[5], pl[6]}
	base := func(port int) string { return "http://127.0.0.1:" + itoa(port) }
	o.AuthURL = base(p.keystone) + "/v3"
	o.PlacementURL = base(p.placement)
	o.ImageURL = base(p.glance)
	o.ComputeURL = base(p.nova) + "/v2.1"
	neutronURL, err := o.startNeutron()
	if err != nil {
		return err
	}
	if err := o.writeConfigs(p, neutronURL); err != nil {
		return err
	}

	// RabbitMQ takes the longest to start: begin with it.
	if err := o.startRabbit(p); err != nil {
		return err
	}
	// Databases, side by side.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Add(3)
	go func() { defer wg.Done(); errs[0] = o.keystoneSetup(ctx, p) }()
	go func() { defer wg.Done(); errs[1] = o.novaDBSetup(ctx) }()
	go func() { defer wg.Done(); errs[2] = o.placementGlanceDBSetup(ctx) }()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if _, err := o.spawn("keystone", nil, nil, "keystone-wsgi-public", "--host", "127.0.0.1", "--port", itoa(p.keystone), "--", "--config-file", o.path("keystone/keystone.conf")); err != nil {
		return err
	}
	if err := o.waitFor(ctx, "keystone", func() error {
		_, err := o.AdminToken(ctx)
		return err
	}); err != nil {
		return err
	}
	if err := o.identities(ctx); err != nil {
		return err
	}
	if _, err := o.spawn("placement", []string{"OS_PLACEMENT_CONFIG_DIR=" + o.path("placement")}, nil, "placement-api", "--host", "127.0.0.1", "--port", itoa(p.placement)); err != nil {
		return err
	}
	if _, err := o.spawn("glance", nil, nil, "glance-api", "--config-file", o.path("glance/glance-api.conf")); err != nil {
		return err
	}
	if err := o.waitFor(ctx, "rabbitmq", o.logHas("rabbit.out", "Server startup complete")); err != nil {
		return err
	}
	novaConf := o.path("nova/nova.conf")
	// Nova's services share two sqlite databases: their transactions
	// begin IMMEDIATE (immediateBeginPy).
	hooks := "PYTHONPATH=" + o.path("pyhooks")
	for _, s := range []string{"nova-conductor", "nova-scheduler", "nova-compute"} {
		if _, err := o.spawn(s, []string{hooks}, nil, s, "--config-file", novaConf); err != nil {
			return err
		}
	}
	if _, err := o.spawn("nova-api", []string{"OS_NOVA_CONFIG_DIR=" + o.path("nova"), hooks}, nil, "nova-api-wsgi", "--host", "127.0.0.1", "--port", itoa(p.nova)); err != nil {
		return err
	}
	// Swift through this Keystone, while Nova starts.
	swiftErr := make(chan error, 1)
	go func() { swiftErr <- o.startSwift(ctx) }()

	if err := o.uploadImage(ctx); err != nil {
		return err
	}
	if err := o.waitFor(ctx, "nova-compute's resource provider", o.logHas("nova-compute.log", "Created resource provider record")); err != nil {
		return err
	}
	if _, err := o.run(ctx, nil, "nova-manage", "--config-file", novaConf, "cell_v2", "discover_hosts"); err != nil {
		return err
	}
	if err := o.waitFor(ctx, "nova-api", func() error {
		_, err := o.Admin(ctx, http.MethodGet, o.ComputeURL+"/flavors", nil, nil, nil)
		return err
	}); err != nil {
		return err
	}
	for _, s := range []string{"nova-conductor", "nova-scheduler", "nova-compute", "nova-api"} {
		if err := o.waitFor(ctx, s+"'s sqlite hook", o.logHas(s+".out", immediateMark)); err != nil {
			return err
		}
	}
	if err := o.novaSetup(ctx); err != nil {
		return err
	}
	if err := o.probeBoot(ctx); err != nil {
		return err
	}
	return <-swiftErr
}

func (o *OpenStack) path(rel string) string { return filepath.Join(o.Dir, rel) }

// sqlite is the database URL of a service's sqlite file. Its timeout
// (seconds) is how long a writer waits for another's lock before
// "database is locked": pysqlite's 5 s default was once too short for
// Nova's conductor under a full test run's load, and the resize it was
// recording ended in ERROR.
func (o *OpenStack) sqlite(name string) string { return "sqlite:///" + o.path(name) + "?timeout=30" }

// writeConfigs writes the configuration of every service.
func (o *OpenStack) writeConfigs(p ports, neutronURL string) error {
	authtoken := func(user string) string {
		cache := ""
		if user == "nova" {
			// Validate every token with Keystone: a token revoked there is
			// refused at once (tests of re-authentication rely on it).
			cache = "token_cache_time = -1\n"
		}
		return fmt.Sprintf(`[keystone_authtoken]
www_authenticate_uri = %[1]s
auth_url = %[1]s
auth_type = password
interface = public
user_domain_name = Default
project_domain_name = Default
project_name = service
username = %[2]s
password = %[3]s
region_name = %[4]s
`, o.AuthURL, user, servicePassword, Region) + cache
	}
	paste, err := os.ReadFile("/etc/nova/api-paste.ini")
	if err != nil {
		return fmt.Errorf("nova's api-paste.ini (Debian package nova-api): %w", err)
	}
	files := map[string]string{
		"pyhooks/sitecustomize.py": immediateBeginPy,
		"keystone/keystone.conf": fmt.Sprintf(`[DEFAULT]
log_dir = %[1]s/log
[database]
connection = sqlite:///%[1]s/keystone/keystone.db
[token]
provider = fernet
[fernet_tokens]
key_repository = %[1]s/keystone/fernet
[fernet_receipts]
key_repository = %[1]s/keystone/fernet-receipts
[credential]
key_repository = %[1]s/keystone/credential
`, o.Dir),
		"placement/placement.conf": fmt.Sprintf(`[DEFAULT]
log_dir = %s/log
[placement_database]
connection = %s
[api]
auth_strategy = keystone
%s`, o.Dir, o.sqlite("placement/placement.db"), authtoken("placement")),
		"glance/glance-api.conf": fmt.Sprintf(`[DEFAULT]
bind_host = 127.0.0.1
bind_port = %[1]d
workers = 1
log_dir = %[2]s/log
enabled_backends = fs:file
[database]
connection = %[3]s
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = %[2]s/glance/images
[os_glance_staging_store]
filesystem_store_datadir = %[2]s/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = %[2]s/glance/tasks
[paste_deploy]
flavor = keystone
config_file = /etc/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = %[2]s/lock
%[4]s`, p.glance, o.Dir, o.sqlite("glance/glance.db"), authtoken("glance")),
		"nova/api-paste.ini": string(paste),
		"nova/nova.conf": fmt.Sprintf(`[DEFAULT]
host = ospeer
my_ip = 127.0.0.1
state_path = %[1]s/nova
log_dir = %[1]s/log
transport_url = rabbit://guest:guest@127.0.0.1:%[2]d/
compute_driver = fake.FakeDriver
enabled_apis = osapi_compute
allow_resize_to_same_host = True
network_allocate_retries = 3
[api]
auth_strategy = keystone
[api_database]
connection = %[3]s
[database]
connection = %[4]s
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = -1
[placement]
auth_type = password
auth_url = %[5]s
user_domain_name = Default
project_domain_name = Default
project_name = service
username = placement
password = %[6]s
region_name = %[7]s
valid_interfaces = public
[glance]
api_servers = %[8]s
[neutron]
endpoint_override = %[9]s
auth_type = password
auth_url = %[5]s
user_domain_name = Default
project_domain_name = Default
project_name = service
username = nova
password = %[6]s
region_name = %[7]s
[oslo_concurrency]
lock_path = %[1]s/lock
[vnc]
enabled = False
[oslo_messaging_notifications]
driver = noop
[wsgi]
api_paste_config = %[1]s/nova/api-paste.ini
%[10]s`, o.Dir, p.rabbit, o.sqlite("nova/nova_api.db"), o.sqlite("nova/nova.db"), o.AuthURL, servicePassword, Region,
			o.ImageURL, neutronURL, authtoken("nova")),
	}
	for name, content := range files {
		if err := os.WriteFile(o.path(name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// startRabbit starts an epmd of its own on p.epmd, then RabbitMQ in the
// foreground (the Erlang VM itself, no wrapper shell) on p.rabbit. As
// root both run as the user rabbitmq.
func (o *OpenStack) startRabbit(p ports) error {
	var cred *syscall.Credential
	home := o.path("rabbit/home")
	if os.Geteuid() == 0 {
		u, err := user.Lookup("rabbitmq")
		if err != nil {
			return fmt.Errorf("user rabbitmq (created by the Debian package rabbitmq-server): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := filepath.Walk(o.path("rabbit"), func(path string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(path, uid, gid)
		}); err != nil {
			return err
		}
	}
	if _, err := o.spawn("epmd", nil, cred, "epmd", "-port", itoa(p.epmd), "-address", "127.0.0.1"); err != nil {
		return err
	}
	env := []string{
		"HOME=" + home,
		"ERL_EPMD_PORT=" + itoa(p.epmd),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"RABBITMQ_NODENAME=ospeer@localhost",
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT=" + itoa(p.rabbit),
		"RABBITMQ_DIST_PORT=" + itoa(p.rabbitDist),
		"RABBITMQ_MNESIA_BASE=" + o.path("rabbit/mnesia"),
		"RABBITMQ_LOG_BASE=" + o.path("rabbit/log"),
		"RABBITMQ_PID_FILE=" + o.path("rabbit/pid"),
		"RABBITMQ_CONFIG_FILE=" + o.path("rabbit/rabbitmq"),
		"RABBITMQ_ADVANCED_CONFIG_FILE=" + o.path("rabbit/advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + o.path("rabbit/enabled_plugins"),
		"RABBITMQ_CONF_ENV_FILE=" + o.path("rabbit/rabbitmq-env.conf"),
		"RABBITMQ_LOGS=-", // the console, so the output file holds the log
		// exec the Erlang VM directly: its pid is the watchdog's child.
		"RUNNING_UNDER_SYSTEMD=1",
	}
	_, err := o.spawn("rabbit", env, cred, rabbitServer)
	return err
}

// keystoneSetup creates Keystone's database, keys, admin and catalogue.
func (o *OpenStack) keystoneSetup(ctx context.Context, p ports) error {
	conf := o.path("keystone/keystone.conf")
	steps := [][]string{
		{"db_sync"},
		{"fernet_setup", "--keystone-user", userName(), "--keystone-group", groupName()},
		{"credential_setup", "--keystone-user", userName(), "--keystone-group", groupName()},
		{"bootstrap", "--bootstrap-password", AdminPassword, "--bootstrap-admin-url", o.AuthURL,
			"--bootstrap-public-url", o.AuthURL, "--bootstrap-region-id", Region},
	}
	for _, s := range steps {
		if _, err := o.run(ctx, nil, "keystone-manage", append([]string{"--config-file", conf}, s...)...); err != nil {
			return err
		}
	}
	if err := o.wal(ctx, "keystone/keystone.db"); err != nil {
		return err
	}
	// The catalogue is written before Keystone serves, straight into its
	// tables: no token, no requests to wait for.
	return o.addEndpoints(ctx, map[string]string{
		"placement": o.PlacementURL,
		"image":     o.ImageURL,
		"compute":   o.ComputeURL,
	})
}

// addEndpoints adds one service of each type with a public, internal and
// admin endpoint at its URL to Keystone's catalogue tables.
func (o *OpenStack) addEndpoints(ctx context.Context, services map[string]string) error {
	args := []string{"-c", addEndpointsPy, o.path("keystone/keystone.db"), Region}
	for typ, url := range services {
		args = append(args, typ, url)
	}
	_, err := o.run(ctx, nil, "python3", args...)
	return err
}

const addEndpointsPy = `import sqlite3, sys, uuid, json
db = sqlite3.connect(sys.argv[1], timeout=30)
region = sys.argv[2]
a = sys.argv[3:]
for typ, url in zip(a[0::2], a[1::2]):
    sid = uuid.uuid4().hex
    db.execute("INSERT INTO service (id, type, enabled, extra) VALUES (?, ?, 1, ?)", (sid, typ, json.dumps({"name": typ})))
    for iface in ("public", "internal", "admin"):
        db.execute("INSERT INTO endpoint (id, legacy_endpoint_id, interface, service_id, url, extra, enabled, region_id) VALUES (?, NULL, ?, ?, ?, '{}', 1, ?)", (uuid.uuid4().hex, iface, sid, url, region))
db.commit()
`

// immediateBeginPy is the sitecustomize module of Nova's services: it
// makes the transactions oslo.db begins on sqlite take the write lock at
// once (BEGIN IMMEDIATE). oslo.db turns off pysqlite's own transaction
// handling and emits a plain (deferred) BEGIN, so a transaction reads
// first and takes the write lock only at its first write. When another
// process committed in between, sqlite answers that write with
// SQLITE_BUSY at once, which no busy timeout covers: Nova answered 500
// ("database is locked") in several full test runs (TestNovaLifecycle's
// os-start, TestNovaAdapterResize's resize). An
// immediate BEGIN waits for the lock (the URL's timeout) before it reads
// anything, so it never has to upgrade. Nova's transactions do no I/O
// but the database's, so a process never waits on a lock it holds.
const immediateBeginPy = `import sqlite3
import sqlite3.dbapi2
import sys

immediateMark = "` + immediateMark + `"


class _Cursor(sqlite3.Cursor):
    def execute(self, sql, *args):
        if isinstance(sql, str) and sql.strip().upper() == "BEGIN":
            sql = "BEGIN IMMEDIATE"
        return super().execute(sql, *args)


class _Connection(sqlite3.Connection):
    def cursor(self, factory=_Cursor):
        return super().cursor(factory)


_connect = sqlite3.dbapi2.connect


def _immediate_connect(*args, **kwargs):
    kwargs.setdefault("factory", _Connection)
    return _connect(*args, **kwargs)


sqlite3.connect = sqlite3.dbapi2.connect = _immediate_connect
print(immediateMark, file=sys.stderr, flush=True)
`

// immediateMark is what immediateBeginPy writes to the log of each
// process it is loaded into (the peer checks Nova's).
const immediateMark = "ospeer: sqlite transactions begin IMMEDIATE"

// wal switches sqlite databases to write-ahead logging. In the default
// rollback-journal mode a reader blocks writers, and Keystone (as Nova)
// keeps a read open across requests: its third write through the API
// answers 500 "database is locked". With WAL readers never block the
// writer.
func (o *OpenStack) wal(ctx context.Context, dbs ...string) error {
	args := []string{"-c", "import sqlite3, sys\nfor f in sys.argv[1:]:\n    sqlite3.connect(f).execute('PRAGMA journal_mode=WAL').fetchall()\n"}
	for _, d := range dbs {
		args = append(args, o.path(d))
	}
	_, err := o.run(ctx, nil, "python3", args...)
	return err
}

func userName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

func groupName() string {
	if u, err := user.Current(); err == nil {
		if g, err := user.LookupGroupId(u.Gid); err == nil {
			return g.Name
		}
	}
	return "root"
}

// novaDBSetup creates Nova's API, cell0 and cell1 databases.
func (o *OpenStack) novaDBSetup(ctx context.Context) error {
	conf := o.path("nova/nova.conf")
	for _, s := range [][]string{
		{"api_db", "sync"},
		{"cell_v2", "map_cell0", "--database_connection", o.sqlite("nova/nova_cell0.db")},
		{"cell_v2", "create_cell", "--name", "cell1"},
		{"db", "sync"},
	} {
		if _, err := o.run(ctx, nil, "nova-manage", append([]string{"--config-file", conf}, s...)...); err != nil {
			return err
		}
	}
	return o.wal(ctx, "nova/nova_api.db", "nova/nova.db", "nova/nova_cell0.db")
}

func (o *OpenStack) placementGlanceDBSetup(ctx context.Context) error {
	if _, err := o.run(ctx, nil, "placement-manage", "--config-file", o.path("placement/placement.conf"), "db", "sync"); err != nil {
		return err
	}
	if _, err := o.run(ctx, nil, "glance-manage", "--config-file", o.path("glance/glance-api.conf"), "db_sync"); err != nil {
		return err
	}
	return o.wal(ctx, "placement/placement.db", "glance/glance.db")
}

// identities creates the service project and users, the broker's
// projects, user and application credential.
func (o *OpenStack) identities(ctx context.Context) error {
	k := o.AuthURL
	roles := map[string]string{}
	var rl struct {
		Roles []struct{ ID, Name string } `json:"roles"`
	}
	if _, err := o.Admin(ctx, http.MethodGet, k+"/roles", nil, &rl, nil); err != nil {
		return err
	}
	for _, r := range rl.Roles {
		roles[r.Name] = r.ID
	}
	if roles["admin"] == "" || roles["member"] == "" {
		return fmt.Errorf("keystone bootstrap made no admin or member role: %v", roles)
	}
	project := func(name string) (string, error) {
		var out struct {
			Project struct{ ID string } `json:"project"`
		}
		_, err := o.Admin(ctx, http.MethodPost, k+"/projects", map[string]any{"project": map[string]any{"name": name, "domain_id": "default"}}, &out, nil)
		return out.Project.ID, err
	}
	userID := func(name, password string) (string, error) {
		var out struct {
			User struct{ ID string } `json:"user"`
		}
		_, err := o.Admin(ctx, http.MethodPost, k+"/users", map[string]any{"user": map[string]any{"name": name, "domain_id": "default", "password": password}}, &out, nil)
		return out.User.ID, err
	}
	grant := func(project, user, role string) error {
		_, err := o.Admin(ctx, http.MethodPut, k+"/projects/"+project+"/users/"+user+"/roles/"+roles[role], nil, nil, nil)
		return err
	}
	service, err := project("service")
	if err != nil {
		return err
	}
	for _, u := range []string{"nova", "placement", "glance", "swift"} {
		id, err := userID(u, servicePassword)
		if err != nil {
			return err
		}
		if err := grant(service, id, "admin"); err != nil {
			return err
		}
	}
	if o.BrokerProjectID, err = project(BrokerProject); err != nil {
		return err
	}
	if o.TinyProjectID, err = project(TinyProject); err != nil {
		return err
	}
	if o.BrokerUserID, err = userID(BrokerUser, BrokerPassword); err != nil {
		return err
	}
	for _, p := range []string{o.BrokerProjectID, o.TinyProjectID} {
		if err := grant(p, o.BrokerUserID, "member"); err != nil {
			return err
		}
	}
	// The application credential is made by its user, with a token
	// scoped to the project it will be scoped to.
	tok, err := o.Token(ctx, BrokerProject)
	if err != nil {
		return err
	}
	var ac struct {
		Cred struct{ ID, Secret string } `json:"application_credential"`
	}
	if _, _, err := call(ctx, tok, http.MethodPost, k+"/users/"+o.BrokerUserID+"/application_credentials",
		map[string]any{"application_credential": map[string]any{"name": AppCredName, "description": "the broker's"}}, &ac, nil); err != nil {
		return err
	}
	o.AppCredID, o.AppCredSecret = ac.Cred.ID, ac.Cred.Secret
	return nil
}

// uploadImage creates the public raw image servers boot from: 1 KiB is
// enough for the fake driver.
func (o *OpenStack) uploadImage(ctx context.Context) error {
	if err := o.waitFor(ctx, "glance", func() error {
		_, err := o.Admin(ctx, http.MethodGet, o.ImageURL+"/v2/images", nil, nil, nil)
		return err
	}); err != nil {
		return err
	}
	var img struct{ ID string }
	if _, err := o.Admin(ctx, http.MethodPost, o.ImageURL+"/v2/images", map[string]any{
		"name": "ospeer-image", "disk_format": "raw", "container_format": "bare", "visibility": "public",
	}, &img, nil); err != nil {
		return err
	}
	tok, err := o.AdminToken(ctx)
	if err != nil {
		return err
	}
	if _, _, err := call(ctx, tok, http.MethodPut, o.ImageURL+"/v2/images/"+img.ID+"/file", bytes.Repeat([]byte{0}, 1024), nil,
		map[string]string{"Content-Type": "application/octet-stream"}); err != nil {
		return err
	}
	o.ImageID = img.ID
	return nil
}

// novaSetup creates the flavors and gives TinyProject a quota of no
// instances.
func (o *OpenStack) novaSetup(ctx context.Context) error {
	for _, f := range Flavors {
		if _, err := o.Admin(ctx, http.MethodPost, o.ComputeURL+"/flavors", map[string]any{"flavor": map[string]any{
			"id": f.ID, "name": f.Name, "vcpus": f.VCPUs, "ram": f.RAM, "disk": f.Disk,
		}}, nil, nil); err != nil {
			return err
		}
	}
	_, err := o.Admin(ctx, http.MethodPut, o.ComputeURL+"/os-quota-sets/"+o.TinyProjectID,
		map[string]any{"quota_set": map[string]any{"instances": 0}}, nil, nil)
	return err
}

// probeBoot boots a server as the admin, waits until it is ACTIVE,
// deletes it and waits until Nova no longer knows it: the stack is ready
// for tests.
func (o *OpenStack) probeBoot(ctx context.Context) error {
	var out struct {
		Server struct{ ID string } `json:"server"`
	}
	if _, err := o.Admin(ctx, http.MethodPost, o.ComputeURL+"/servers", map[string]any{"server": map[string]any{
		"name": "ospeer-probe", "imageRef": o.ImageID, "flavorRef": Flavors[0].ID,
	}}, &out, nil); err != nil {
		return err
	}
	id := out.Server.ID
	if err := o.waitFor(ctx, "probe server ACTIVE", func() error {
		s, _, err := o.GetServer(ctx, id)
		if err != nil {
			return err
		}
		if s.Status == "ERROR" {
			return backoffStop{fmt.Errorf("probe server in ERROR")}
		}
		if s.Status != "ACTIVE" {
			return fmt.Errorf("probe server %s", s.Status)
		}
		return nil
	}); err != nil {
		return err
	}
	if _, err := o.Admin(ctx, http.MethodDelete, o.ComputeURL+"/servers/"+id, nil, nil, nil); err != nil {
		return err
	}
	return o.waitFor(ctx, "probe server deleted", func() error {
		_, st, err := o.GetServer(ctx, id)
		if st == http.StatusNotFound {
			return nil
		}
		if err == nil {
			err = errors.New("still there")
		}
		return err
	})
}

// backoffStop is an error waitFor should not wait out. (It still waits;
// the message shows in the failure.)
type backoffStop struct{ error }

// startSwift starts a Keystone-authenticated proxy in front of the shared
// Swift and adds it to the catalogue as object-store, unless
// CSB_SKIP_SWIFT is set.
func (o *OpenStack) startSwift(ctx context.Context) error {
	if os.Getenv(swiftpeer.Skip) != "" {
		return nil // no Swift: SwiftURL stays empty
	}
	sw, err := swiftpeer.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("swift: %w", err)
	}
	u, err := sw.StartKeystoneProxy(ctx, swiftpeer.KeystoneAuth{AuthURL: o.AuthURL, User: "swift", Password: servicePassword})
	if err != nil {
		return err
	}
	o.SwiftURL = u
	return o.addEndpoints(ctx, map[string]string{"object-store": u + "/v1/AUTH_$(project_id)s"})
}

// startNeutron serves the little of Neutron's API Nova calls for servers
// without networks: empty lists, and 204 to deletions. Nova lists a
// server's ports on every GET of it, so without this every GET answers
// 500.
func (o *OpenStack) startNeutron() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	logf, err := os.Create(o.path("log/neutron-stub.log"))
	if err != nil {
		l.Close()
		return "", err
	}
	var mu sync.Mutex
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fmt.Fprintf(logf, "%s %s %s\n", time.Now().Format(time.TimeOnly), r.Method, r.URL)
		mu.Unlock()
		neutronStub(w, r)
	})}
	o.neutronLog = logf
	go srv.Serve(l)
	o.neutron = srv
	return "http://" + l.Addr().String(), nil
}

func neutronStub(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodDelete {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	p := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2.0/"), ".json")
	switch p {
	case "ports", "networks", "subnets", "security-groups", "floatingips", "extensions":
		key := strings.ReplaceAll(p, "-", "_")
		fmt.Fprintf(w, `{%q: []}`, key)
	case "quotas/" + strings.TrimPrefix(p, "quotas/"):
		// Nova reads the port quota before a boot: unlimited.
		fmt.Fprint(w, `{"quota": {"port": -1, "network": -1, "subnet": -1, "security_group": -1, "floatingip": -1}}`)
	case "", "/":
		fmt.Fprint(w, `{"versions": [{"id": "v2.0", "status": "CURRENT", "links": []}]}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"NeutronError": {"type": "NotFound", "message": "not in the test stand-in", "detail": ""}}`)
	}
}
