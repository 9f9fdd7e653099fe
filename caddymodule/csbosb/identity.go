package csbosb

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// originatingHeader names the platform's end user (OSB "Originating
// Identity"): "<platform> <base64 of a JSON object>".
const originatingHeader = "X-Broker-API-Originating-Identity"

// caller is who sends an OSB request: the authenticated platform user
// and, when the platform names one, its end user.
type caller struct {
	Platform string // {http.auth.user.id}
	User     string // "<platform>:<user id>", or "" without the header
	// Origin is the scheme and host the request came to, for the job
	// route's URL in credentials.
	Origin string
}

type callerKey struct{}

func withCaller(ctx context.Context, c caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

func callerOf(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// owner is the job owner of the caller's instances: the platform user
// alone when the platform names no end user, else the platform user, a
// slash and the end user ("platform/cloudfoundry:3d5c..."), so that the
// end users of two platforms cannot collide and each end user sees only
// its own instances.
func (c caller) owner() string {
	if c.User == "" {
		return c.Platform
	}
	return c.Platform + "/" + c.User
}

// reaches reports whether the caller may act on rec: its owner, or the
// platform itself. A request without an originating identity is the
// platform's own: OSB lets the platform leave the header out of requests
// no end user made, such as orphan mitigation and (as its authors read
// it) last_operation polls, and the platform is the source of truth for
// its instances. Answering those as if the instance did not exist made
// an orphan mitigation's DELETE a 410, after which the platform forgot a
// resource that still ran. Records are scoped to the platform user, so
// another platform never reaches them.
func (c caller) reaches(rec *instanceRecord) bool {
	return rec.Owner == c.owner() || (c.User == "" && rec.Platform == c.Platform)
}

// parseOriginatingIdentity reads the header's value: the platform, and
// the end user's id from the JSON object (user_id for Cloud Foundry,
// username for Kubernetes, else uid or user; an object with none of them
// is named by its canonical JSON).
func parseOriginatingIdentity(v string) (string, error) {
	platform, enc, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || platform == "" || enc == "" {
		return "", fmt.Errorf("%s must be \"<platform> <base64 JSON object>\"", originatingHeader)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return "", fmt.Errorf("%s: the value is not base64: %v", originatingHeader, err)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", fmt.Errorf("%s: the value is not a JSON object: %v", originatingHeader, err)
	}
	for _, k := range []string{"user_id", "username", "uid", "user"} {
		if s, ok := obj[k].(string); ok && s != "" {
			return strings.ToLower(platform) + ":" + s, nil
		}
	}
	if len(obj) == 0 {
		return "", fmt.Errorf("%s: the JSON object is empty", originatingHeader)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v, _ := json.Marshal(obj[k])
		fmt.Fprintf(&b, "%q=%s;", k, v)
	}
	return strings.ToLower(platform) + ":" + hashHex(b.String())[:32], nil
}
