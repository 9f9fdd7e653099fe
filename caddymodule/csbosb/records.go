package csbosb

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/caddyserver/certmagic"
)

// Storage layout, in the storage Caddy is configured with (shared by
// every member of a cluster):
//
//	csb/osb/instances/<platform-hash>/<instance-hash>   instanceRecord
//	csb/osb/credentials/<username>                      credentialRecord
//
// Instance ids are the platform's: they are hashed into the key, and
// each platform user (the authenticated caller) has its own space, so two
// platforms cannot collide.
const (
	instancePrefix   = "csb/osb/instances/"
	credentialPrefix = "csb/osb/credentials/"
)

// Operation kinds and states (the OSB last_operation states).
const (
	opProvision   = "provision"
	opUpdate      = "update"
	opDeprovision = "deprovision"

	stateInProgress = "in progress"
	stateSucceeded  = "succeeded"
	stateFailed     = "failed"
)

// operation is an instance's last operation.
type operation struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	State       string    `json:"state"`
	Description string    `json:"description,omitempty"`
	Started     time.Time `json:"started"`
	// PlanID and Params are what an update applies (recorded before the
	// job manager is asked, so another broker can finish it).
	PlanID string          `json:"plan_id,omitempty"`
	Params json.RawMessage `json:"parameters,omitempty"`
}

// instanceRecord is one OSB service instance: the job that holds it, the
// operation last asked of it and its bindings.
type instanceRecord struct {
	ID        string          `json:"id"`
	Platform  string          `json:"platform"`
	Owner     string          `json:"owner"`
	ServiceID string          `json:"service_id"`
	PlanID    string          `json:"plan_id"`
	Params    json.RawMessage `json:"parameters,omitempty"`
	JobID     string          `json:"job_id,omitempty"`
	Op        operation       `json:"operation"`
	// Deleted marks a deprovisioned instance, kept so that the platform
	// can poll the deprovision's outcome; a new provision of the id
	// replaces it.
	Deleted  bool                      `json:"deleted,omitempty"`
	Bindings map[string]*bindingRecord `json:"bindings,omitempty"`
	// Plan is the plan PlanID named when it was last applied, for when
	// the catalogue does not list it (see ownPlan).
	Plan *Plan `json:"plan,omitempty"`
	// Past are the operations Op replaced, settled, oldest first (at
	// most maxPastOps), so that last_operation answers the operation the
	// platform names, not only the latest one.
	Past    []operation `json:"past_operations,omitempty"`
	Created time.Time   `json:"created"`
	Updated time.Time   `json:"updated"`
}

// maxPastOps bounds the operations an instance record remembers besides
// its current one.
const maxPastOps = 8

// setOp makes op the instance's operation and remembers the one it
// replaces (an operation is replaced only once it has settled).
func (rec *instanceRecord) setOp(op operation) {
	if rec.Op.ID != "" {
		old := rec.Op
		old.PlanID, old.Params = "", nil // what an update applied: not needed any more
		rec.Past = append(rec.Past, old)
		if len(rec.Past) > maxPastOps {
			rec.Past = append([]operation(nil), rec.Past[len(rec.Past)-maxPastOps:]...)
		}
	}
	rec.Op = op
}

// pastOp finds an operation Op replaced, or nil.
func (rec *instanceRecord) pastOp(id string) *operation {
	for i := range rec.Past {
		if rec.Past[i].ID == id {
			return &rec.Past[i]
		}
	}
	return nil
}

// bindingRecord is one binding of an instance: the credential it handed
// out. The password is kept so that a repeated bind and GET of the
// binding return the same credentials; the credential record the
// authentication provider reads holds only its hash.
type bindingRecord struct {
	ID       string          `json:"id"`
	Username string          `json:"username"`
	Password string          `json:"password"`
	Params   json.RawMessage `json:"parameters,omitempty"`
	Created  time.Time       `json:"created"`
}

// credentialRecord is what the csb_binding provider checks: a binding's
// username, the SHA-256 of its password, and the one job it reaches, as
// the instance's owner.
type credentialRecord struct {
	Username     string `json:"username"`
	PasswordHash string `json:"password_sha256"`
	Owner        string `json:"owner"`
	JobID        string `json:"job_id"`
	Platform     string `json:"platform"`
	InstanceID   string `json:"instance_id"`
	BindingID    string `json:"binding_id"`
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func instanceKey(platform, id string) string {
	return instancePrefix + hashHex(platform)[:32] + "/" + hashHex(id)[:40]
}

func credentialKey(username string) string { return credentialPrefix + username }

// randomToken returns n random bytes, base64url.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// records reads and writes the front-end's records.
type records struct{ s certmagic.Storage }

var errNoRecord = errors.New("no record")

func (r records) loadInstance(ctx context.Context, key string) (*instanceRecord, error) {
	return loadRecord[instanceRecord](ctx, r, key, func(err error) error {
		return fmt.Errorf("instance record %s: %v", key, err)
	})
}

func (r records) storeInstance(ctx context.Context, key string, rec *instanceRecord) error {
	return r.store(ctx, key, rec)
}

func (r records) loadCredential(ctx context.Context, username string) (*credentialRecord, error) {
	return loadRecord[credentialRecord](ctx, r, credentialKey(username), func(err error) error { return err })
}

func (r records) storeCredential(ctx context.Context, rec *credentialRecord) error {
	return r.store(ctx, credentialKey(rec.Username), rec)
}

// loadRecord reads the JSON record at key: errNoRecord when there is
// none, bad(the decoding error) when it does not decode as a T.
func loadRecord[T any](ctx context.Context, r records, key string, bad func(error) error) (*T, error) {
	data, err := r.s.Load(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoRecord
	}
	if err != nil {
		return nil, err
	}
	rec := new(T)
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, bad(err)
	}
	return rec, nil
}

// store writes rec at key as JSON.
func (r records) store(ctx context.Context, key string, rec any) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return r.s.Store(ctx, key, data)
}

func (r records) deleteCredential(ctx context.Context, username string) error {
	err := r.s.Delete(ctx, credentialKey(username))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// lock takes the storage lock of an instance record (shared by a
// cluster) and returns its release.
func (r records) lock(ctx context.Context, key string) (func(), error) {
	name := "osb-" + hashHex(key)[:40]
	if err := r.s.Lock(ctx, name); err != nil {
		return nil, err
	}
	return func() { _ = r.s.Unlock(context.Background(), name) }, nil
}
