package digest

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strings"
)

// Algorithm is a Digest algorithm of the RFC 7616 registry (section 6.1):
// a hash function, optionally in its "-sess" variant. The zero value is not
// a valid algorithm.
type Algorithm uint8

// The algorithms of RFC 7616. MD5 exists for legacy clients (RFC 7616
// section 3.3 keeps it for backward compatibility with RFC 2617); SHA-256
// and SHA-512-256 (SHA-512/256 of FIPS 180-4) are the modern ones.
const (
	MD5 Algorithm = iota + 1
	MD5Sess
	SHA256
	SHA256Sess
	SHA512_256
	SHA512_256Sess
)

// Algorithms lists every supported algorithm, strongest first.
var Algorithms = []Algorithm{SHA512_256, SHA512_256Sess, SHA256, SHA256Sess, MD5, MD5Sess}

// BaseAlgorithms lists the hash functions (the algorithms without "-sess"),
// strongest first. An HA1 value belongs to one of them.
var BaseAlgorithms = []Algorithm{SHA512_256, SHA256, MD5}

var algorithmNames = [...]string{
	MD5:            "MD5",
	MD5Sess:        "MD5-sess",
	SHA256:         "SHA-256",
	SHA256Sess:     "SHA-256-sess",
	SHA512_256:     "SHA-512-256",
	SHA512_256Sess: "SHA-512-256-sess",
}

// ParseAlgorithm returns the algorithm with the given RFC 7616 name,
// compared without regard to case ("SHA-256", "sha-256-sess", ...).
func ParseAlgorithm(name string) (Algorithm, error) {
	for a := MD5; a <= SHA512_256Sess; a++ {
		if strings.EqualFold(name, algorithmNames[a]) {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown digest algorithm %q (known: MD5, MD5-sess, SHA-256, SHA-256-sess, SHA-512-256, SHA-512-256-sess)", name)
}

// String returns the algorithm's RFC 7616 name, as sent in headers.
func (a Algorithm) String() string {
	if !a.Valid() {
		return fmt.Sprintf("Algorithm(%d)", uint8(a))
	}
	return algorithmNames[a]
}

// Valid reports whether a is one of the defined algorithms.
func (a Algorithm) Valid() bool { return a >= MD5 && a <= SHA512_256Sess }

// Sess reports whether a is a "-sess" variant, whose HA1 is rehashed with
// the nonce and cnonce (RFC 7616 section 3.4.2).
func (a Algorithm) Sess() bool { return a == MD5Sess || a == SHA256Sess || a == SHA512_256Sess }

// Base returns the hash function of a: the algorithm without "-sess". HA1
// values are stored per base algorithm, since a "-sess" variant derives its
// session key from the same H(username:realm:password).
func (a Algorithm) Base() Algorithm {
	switch a {
	case MD5Sess:
		return MD5
	case SHA256Sess:
		return SHA256
	case SHA512_256Sess:
		return SHA512_256
	}
	return a
}

// Size is the length in bytes of the algorithm's hash.
func (a Algorithm) Size() int {
	if a.Base() == MD5 {
		return md5.Size
	}
	return sha256.Size // SHA-256 and SHA-512/256 both give 32 bytes
}

// HexLen is the length of the algorithm's hash in lower-case hex: the
// length of an HA1, a response or a userhash.
func (a Algorithm) HexLen() int { return 2 * a.Size() }

// strength orders algorithms for a client choosing among challenges:
// higher is preferred. A "-sess" variant ranks just below its base, since
// it adds nothing a client needs and some servers implement it poorly.
func (a Algorithm) strength() int {
	switch a {
	case SHA512_256:
		return 6
	case SHA512_256Sess:
		return 5
	case SHA256:
		return 4
	case SHA256Sess:
		return 3
	case MD5:
		return 2
	case MD5Sess:
		return 1
	}
	return 0
}

// New returns a new hash.Hash of the algorithm's hash function, for
// streaming large inputs (an auth-int entity body).
func (a Algorithm) New() hash.Hash {
	switch a.Base() {
	case MD5:
		return md5.New()
	case SHA256:
		return sha256.New()
	case SHA512_256:
		return sha512.New512_256()
	}
	panic("digest: invalid algorithm " + a.String())
}

// appendSum appends the lower-case hex hash of data to dst. It does not
// allocate when dst has room.
func (a Algorithm) appendSum(dst, data []byte) []byte {
	switch a.Base() {
	case MD5:
		s := md5.Sum(data)
		return hex.AppendEncode(dst, s[:])
	case SHA256:
		s := sha256.Sum256(data)
		return hex.AppendEncode(dst, s[:])
	case SHA512_256:
		s := sha512.Sum512_256(data)
		return hex.AppendEncode(dst, s[:])
	}
	panic("digest: invalid algorithm " + a.String())
}

// hashJoin returns hex(H(p0 ":" p1 ":" ...)).
func (a Algorithm) hashJoin(parts ...string) string {
	var buf [256]byte
	b := joinColon(buf[:0], parts...)
	var out [128]byte
	return string(a.appendSum(out[:0], b))
}

func joinColon(dst []byte, parts ...string) []byte {
	for i, p := range parts {
		if i > 0 {
			dst = append(dst, ':')
		}
		dst = append(dst, p...)
	}
	return dst
}

// HA1 returns hex(H(username ":" realm ":" password)) with the base hash
// of alg: the value a server stores instead of the password (RFC 7616
// section 3.4.2). username, realm and password are taken as UTF-8 octets,
// which is what charset=UTF-8 asks of clients.
func HA1(alg Algorithm, username, realm, password string) string {
	return alg.Base().hashJoin(username, realm, password)
}

// UserHash returns hex(H(username ":" realm)): the username a client sends
// when the server asked for userhash (RFC 7616 section 3.4.4).
func UserHash(alg Algorithm, username, realm string) string {
	return alg.Base().hashJoin(username, realm)
}

// HashBody returns hex(H(body)), the entity-body hash that qop=auth-int
// puts into A2.
func HashBody(alg Algorithm, body []byte) string {
	var out [128]byte
	return string(alg.appendSum(out[:0], body))
}

// HashBodyReader is HashBody for a stream.
func HashBodyReader(alg Algorithm, r io.Reader) (string, error) {
	h := alg.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// QOP values (RFC 7616 section 3.3).
const (
	QOPAuth    = "auth"
	QOPAuthInt = "auth-int"
)

// Input holds what a Digest response is computed from (RFC 7616 section
// 3.4.1). HA1 is always the base value hex(H(username:realm:password)),
// also for "-sess" algorithms: the session key is derived here.
type Input struct {
	Algorithm Algorithm
	HA1       string // hex H(username ":" realm ":" password), base algorithm
	Nonce     string
	Cnonce    string
	NC        string // 8 hex digits, as sent
	QOP       string // "auth", "auth-int", or "" for the RFC 2069 form
	Method    string
	URI       string
	BodyHash  string // hex H(entity-body), for auth-int
}

// Response returns the request-digest a client sends in "response".
func (in *Input) Response() string {
	var out [128]byte
	return string(in.appendDigest(out[:0], in.Method))
}

// RspAuth returns the "rspauth" of the Authentication-Info header field: the
// same computation with an empty method in A2 (RFC 7616 section 3.5). For
// auth-int, BodyHash must then be the hash of the response body.
func (in *Input) RspAuth() string {
	var out [128]byte
	return string(in.appendDigest(out[:0], ""))
}

// appendDigest appends KD(H(A1), nonce:nc:cnonce:qop:H(A2)) in hex to dst,
// without allocating for inputs of ordinary size.
func (in *Input) appendDigest(dst []byte, method string) []byte {
	alg := in.Algorithm
	var buf [512]byte

	// H(A1): the stored HA1, or for -sess H(HA1 ":" nonce ":" cnonce).
	var ha1buf [128]byte
	ha1 := append(ha1buf[:0], in.HA1...)
	if alg.Sess() {
		b := joinColon(buf[:0], in.HA1, in.Nonce, in.Cnonce)
		ha1 = alg.appendSum(ha1buf[:0], b)
	}

	// H(A2) = H(method ":" uri [":" H(body)]).
	b := append(buf[:0], method...)
	b = append(b, ':')
	b = append(b, in.URI...)
	if in.QOP == QOPAuthInt {
		b = append(b, ':')
		b = append(b, in.BodyHash...)
	}
	var ha2buf [128]byte
	ha2 := alg.appendSum(ha2buf[:0], b)

	// KD(secret, data) = H(secret ":" data).
	b = append(buf[:0], ha1...)
	b = append(b, ':')
	b = append(b, in.Nonce...)
	b = append(b, ':')
	if in.QOP != "" {
		b = append(b, in.NC...)
		b = append(b, ':')
		b = append(b, in.Cnonce...)
		b = append(b, ':')
		b = append(b, in.QOP...)
		b = append(b, ':')
	}
	b = append(b, ha2...)
	return alg.appendSum(dst, b)
}
