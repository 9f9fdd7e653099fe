package digest

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// Users holds the HA1 values of a realm's users, per base algorithm, and
// the userhash index that resolves hashed usernames (RFC 7616 section
// 3.4.4). Build it with Add and LoadHTDigest before use; after that it is
// read-only and safe for concurrent use.
type Users struct {
	realm  string
	byName map[string]*userEntry
	byHash map[Algorithm]map[string]string // base algorithm → userhash → name
}

type userEntry struct {
	ha1 [SHA512_256 + 1]string // by base algorithm
	// account names the user together with its HA1 values: what a
	// Server vouches nonces for and records as authenticated (see
	// Throttle). The name alone is not enough: every provider with the
	// same realm and nonce key shares nonces and the replay cache, and
	// another provider's "alice" with another password must not be able
	// to prove itself as this one.
	account string
}

// NewUsers returns an empty user set for realm.
func NewUsers(realm string) *Users {
	return &Users{
		realm:  realm,
		byName: make(map[string]*userEntry),
		byHash: make(map[Algorithm]map[string]string),
	}
}

// Realm returns the realm the users belong to.
func (u *Users) Realm() string { return u.realm }

// Len returns the number of distinct user names.
func (u *Users) Len() int { return len(u.byName) }

// Add records ha1, the hex H(name:realm:password) of alg's hash function
// (for a "-sess" algorithm, of its base). It fails on a malformed HA1 or
// when name already has an HA1 for that hash function. The error never
// quotes the HA1.
func (u *Users) Add(name string, alg Algorithm, ha1 string) error {
	if !alg.Valid() {
		return fmt.Errorf("user %q: invalid algorithm", name)
	}
	if name == "" {
		return fmt.Errorf("empty user name")
	}
	if strings.ContainsAny(name, "\x00\r\n") {
		return fmt.Errorf("user %q: control character in name", name)
	}
	base := alg.Base()
	norm, ok := normalizeHex(ha1, base.HexLen())
	if !ok {
		return fmt.Errorf("user %q: %s HA1 must be %d hexadecimal digits", name, base, base.HexLen())
	}
	e := u.byName[name]
	if e == nil {
		e = new(userEntry)
		u.byName[name] = e
	}
	if e.ha1[base] != "" {
		return fmt.Errorf("user %q: %s HA1 given twice", name, base)
	}
	e.ha1[base] = norm
	e.account = accountID(name, &e.ha1)
	idx := u.byHash[base]
	if idx == nil {
		idx = make(map[string]string)
		u.byHash[base] = idx
	}
	idx[UserHash(base, name, u.realm)] = name
	return nil
}

// Lookup returns the HA1 of name for alg's hash function.
func (u *Users) Lookup(name string, alg Algorithm) (string, bool) {
	e := u.byName[name]
	if e == nil {
		return "", false
	}
	h := e.ha1[alg.Base()]
	return h, h != ""
}

// lookupAccount is Lookup that also returns the user's account
// identity (see userEntry.account).
func (u *Users) lookupAccount(name string, alg Algorithm) (ha1, account string, ok bool) {
	e := u.byName[name]
	if e == nil {
		return "", "", false
	}
	h := e.ha1[alg.Base()]
	return h, e.account, h != ""
}

// accountID returns the name followed by a digest of its HA1 values, so
// that it differs between two accounts of one name with different
// passwords, without holding an HA1 itself.
func accountID(name string, ha1 *[SHA512_256 + 1]string) string {
	h := sha256.New()
	for _, v := range ha1 {
		h.Write([]byte(v))
		h.Write([]byte{0})
	}
	return name + "\x00" + hex.EncodeToString(h.Sum(nil)[:16])
}

// LookupHash returns the user whose userhash under alg's hash function is
// h (lower- or upper-case hex).
func (u *Users) LookupHash(h string, alg Algorithm) (string, bool) {
	norm, ok := normalizeHex(h, alg.Base().HexLen())
	if !ok {
		return "", false
	}
	name, ok := u.byHash[alg.Base()][norm]
	return name, ok
}

// Has reports whether any user has an HA1 for alg's hash function.
func (u *Users) Has(alg Algorithm) bool { return len(u.byHash[alg.Base()]) > 0 }

// LoadHTDigest reads users of the Users' realm from an htdigest file, the
// format of Apache's htdigest tool (apache2-utils) and mod_authn_file:
// one "user:realm:HA1" per line, where HA1 is the MD5 hex digest of
// "user:realm:password". Lines of other realms are skipped, as Apache
// does, and so are blank lines and lines starting with "#".
//
// The htdigest format is MD5-only by definition. As a caddy-csb extension,
// a line may carry a fourth field naming the hash function,
// "user:realm:SHA-256:HA1" or "user:realm:SHA-512-256:HA1", so that one
// file can hold every algorithm's HA1; "caddy digest-hash --format
// htdigest" writes such lines. Apache does not understand them (it would
// never match such a line), so keep them out of files Apache reads.
//
// It returns the number of HA1 values loaded. Errors name the line, never
// its hash.
func (u *Users) LoadHTDigest(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	n, lineNo := 0, 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, ":")
		var name, realm, algName, ha1 string
		switch len(fields) {
		case 3:
			name, realm, algName, ha1 = fields[0], fields[1], "MD5", fields[2]
		case 4:
			name, realm, algName, ha1 = fields[0], fields[1], fields[2], fields[3]
		default:
			return n, fmt.Errorf("line %d: want user:realm:HA1 (or user:realm:algorithm:HA1)", lineNo)
		}
		if realm != u.realm {
			continue
		}
		alg, err := ParseAlgorithm(algName)
		if err != nil || alg.Sess() {
			return n, fmt.Errorf("line %d: unknown hash function %q (want MD5, SHA-256 or SHA-512-256)", lineNo, algName)
		}
		if err := u.Add(name, alg, ha1); err != nil {
			return n, fmt.Errorf("line %d: %v", lineNo, err)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("line %d: %v", lineNo+1, err)
	}
	return n, nil
}

// FormatHTDigest returns an htdigest line for name with an HA1 of alg's
// hash function: Apache's three-field form for MD5, the caddy-csb
// four-field form otherwise.
func FormatHTDigest(name, realm string, alg Algorithm, ha1 string) string {
	if alg.Base() == MD5 {
		return name + ":" + realm + ":" + ha1
	}
	return name + ":" + realm + ":" + alg.Base().String() + ":" + ha1
}

// normalizeHex returns s in lower case if it is n hex digits.
func normalizeHex(s string, n int) (string, bool) {
	if len(s) != n {
		return "", false
	}
	lower := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			lower = false
		default:
			return "", false
		}
	}
	if lower {
		return s, true
	}
	return strings.ToLower(s), true
}
