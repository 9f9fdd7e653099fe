package openstack

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/caddy-csb/caddy-csb/adapters/httpx"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
)

// Config says how to reach and use one OpenStack cloud. Either Keystone
// (AuthURL with a password or an application credential) or Swift's
// TempAuth (TempAuthURL) authenticates; TempAuth reaches only Swift.
type Config struct {
	// AuthURL is the Keystone v3 endpoint, e.g.
	// https://keystone.example.com:5000/v3. Required unless TempAuthURL
	// is set.
	AuthURL string `json:"auth_url,omitempty"`
	// Region selects the service-catalogue endpoints of this region.
	// Default: the first endpoint of each service, whatever its region.
	Region string `json:"region,omitempty"`
	// Interface selects the catalogue endpoints by interface: public,
	// internal or admin. Default public.
	Interface string `json:"interface,omitempty"`

	// UserID or Username with UserDomainID or UserDomainName, and
	// Password: Keystone password authentication.
	UserID         string `json:"user_id,omitempty"`
	Username       string `json:"username,omitempty"`
	Password       string `json:"password,omitempty"`
	UserDomainID   string `json:"user_domain_id,omitempty"`
	UserDomainName string `json:"user_domain_name,omitempty"`
	// ProjectID or ProjectName with ProjectDomainID or ProjectDomainName:
	// the project the token is scoped to (password authentication).
	ProjectID         string `json:"project_id,omitempty"`
	ProjectName       string `json:"project_name,omitempty"`
	ProjectDomainID   string `json:"project_domain_id,omitempty"`
	ProjectDomainName string `json:"project_domain_name,omitempty"`

	// ApplicationCredentialID, or ApplicationCredentialName with the
	// user, and ApplicationCredentialSecret: Keystone
	// application-credential authentication (the credential carries its
	// own project scope).
	ApplicationCredentialID     string `json:"application_credential_id,omitempty"`
	ApplicationCredentialName   string `json:"application_credential_name,omitempty"`
	ApplicationCredentialSecret string `json:"application_credential_secret,omitempty"`

	// TempAuthURL is Swift's TempAuth v1.0 endpoint, e.g.
	// http://swift.example.com:8080/auth/v1.0, for Swift-only
	// deployments without Keystone. TempAuthUser ("account:user") and
	// TempAuthKey are its credentials.
	TempAuthURL  string `json:"tempauth_url,omitempty"`
	TempAuthUser string `json:"tempauth_user,omitempty"`
	TempAuthKey  string `json:"tempauth_key,omitempty"`

	// ComputeURL overrides the Nova endpoint from the catalogue.
	ComputeURL string `json:"compute_url,omitempty"`
	// ObjectStoreURL overrides the Swift storage URL (the account URL,
	// .../v1/AUTH_<project>) from the catalogue or TempAuth.
	ObjectStoreURL string `json:"object_store_url,omitempty"`

	// Image is the Glance image id servers boot from. Required for IaaS
	// requests unless ArchImages names one for the request's
	// architecture.
	Image string `json:"image,omitempty"`
	// ArchImages maps a requested <architecture> (e.g. x86_64, aarch64)
	// to the image id servers of that architecture boot from.
	ArchImages map[string]string `json:"arch_images,omitempty"`
	// Networks are the Neutron network ids new servers attach to.
	// Default: none given, so Nova picks the project's network.
	Networks []string `json:"networks,omitempty"`
	// KeyName is the Nova key pair injected into new servers. Optional.
	KeyName string `json:"key_name,omitempty"`
	// SecurityGroups are the security group names of new servers.
	// Default: Nova's default group.
	SecurityGroups []string `json:"security_groups,omitempty"`
	// AvailabilityZone places new servers in this zone. Optional.
	AvailabilityZone string `json:"availability_zone,omitempty"`

	// NamePrefix prefixes the names the adapter gives servers and
	// containers itself (prefix + job id). Default "csb-".
	NamePrefix string `json:"name_prefix,omitempty"`
}

// Default values.
const (
	DefaultInterface  = "public"
	DefaultNamePrefix = "csb-"
)

// Keystone reports whether the configuration authenticates with Keystone.
func (c *Config) Keystone() bool { return c.AuthURL != "" }

// ApplicationCredential reports whether Keystone authentication uses an
// application credential rather than a password.
func (c *Config) ApplicationCredential() bool {
	return c.ApplicationCredentialID != "" || c.ApplicationCredentialName != ""
}

var namePrefixRE = regexp.MustCompile(`^[A-Za-z0-9._-]{0,64}$`)

// Validate checks the configuration without network access.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	checkURL := func(name, v string) {
		if v == "" {
			return
		}
		if _, ok := httpx.ParseHTTPURL(v); !ok {
			bad("%s %q: not an http(s) URL", name, peerurl.RedactString(v))
		}
	}
	checkURL("auth_url", c.AuthURL)
	checkURL("tempauth_url", c.TempAuthURL)
	checkURL("compute_url", c.ComputeURL)
	checkURL("object_store_url", c.ObjectStoreURL)
	switch {
	case c.AuthURL != "" && c.TempAuthURL != "":
		bad("auth_url and tempauth_url are exclusive: use Keystone or TempAuth")
	case c.AuthURL == "" && c.TempAuthURL == "":
		bad("auth_url (Keystone v3) or tempauth_url (Swift TempAuth) is required")
	}
	switch c.Interface {
	case "", "public", "internal", "admin":
	default:
		bad("interface %q: want public, internal or admin", c.Interface)
	}
	if c.Keystone() {
		if c.ApplicationCredential() {
			if c.ApplicationCredentialSecret == "" {
				bad("application_credential_secret is required with an application credential")
			}
			if c.ApplicationCredentialID == "" && c.UserID == "" && c.Username == "" {
				bad("application_credential_name needs user_id or username")
			}
			if c.Password != "" {
				bad("password and application credential are exclusive")
			}
		} else {
			if c.UserID == "" && c.Username == "" {
				bad("user_id or username is required for Keystone password authentication")
			}
			if c.Username != "" && c.UserID == "" && c.UserDomainID == "" && c.UserDomainName == "" {
				bad("username needs user_domain_id or user_domain_name")
			}
			if c.Password == "" {
				bad("password is required for Keystone password authentication")
			}
			if c.ProjectName != "" && c.ProjectID == "" && c.ProjectDomainID == "" && c.ProjectDomainName == "" {
				bad("project_name needs project_domain_id or project_domain_name")
			}
		}
	} else if c.TempAuthURL != "" {
		if c.TempAuthUser == "" || c.TempAuthKey == "" {
			bad("tempauth_user and tempauth_key are required with tempauth_url")
		} else if !strings.Contains(c.TempAuthUser, ":") {
			bad("tempauth_user %q: want account:user", c.TempAuthUser)
		}
		if c.ComputeURL != "" {
			bad("compute_url needs Keystone: TempAuth reaches only Swift")
		}
	}
	if !namePrefixRE.MatchString(c.NamePrefix) {
		bad("name_prefix %q: want up to 64 letters, digits, '.', '_' or '-'", c.NamePrefix)
	}
	return errors.Join(errs...)
}
