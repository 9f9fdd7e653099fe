// Package digest implements HTTP Digest Access Authentication (RFC 7616)
// for both ends of a connection, without any dependency on Caddy.
//
// The server side is Server: it writes one challenge per configured
// algorithm (SHA-256, SHA-512-256, MD5 and their "-sess" variants), with
// qop auth and/or auth-int, an opaque value, charset=UTF-8 and optionally
// userhash=true, and it verifies credentials, answering with an
// Authentication-Info value (rspauth, and nextnonce when the nonce is
// getting old). Its parts can be used alone:
//
//   - Nonces issues stateless nonces: an issue time and a random part
//     authenticated by HMAC-SHA-256 under a key that every server of a
//     cluster can share. Expired nonces with a correct response earn a
//     stale=true challenge.
//   - ReplayCache refuses a nonce count seen before, with a sliding
//     window per nonce (clients may send counts out of order). It only
//     tracks nonces that authenticated a request and is bounded in size,
//     so unauthenticated traffic cannot flood it.
//   - Throttle slows down online guessing: a nonce may take only a
//     small budget of wrong responses (by default one), and a user name
//     or client address with too many failures is refused for a backoff
//     that doubles with each further failure, except for credentials
//     whose nonce proves an earlier correct response for their user (it
//     authenticated that user, or was vouched for it: Nonces.IssueFor),
//     so that a guesser cannot lock a user out. Its tables are bounded
//     in size, and while nothing failed lately it costs an atomic load.
//   - Users holds HA1 values per hash function, from configuration or
//     from Apache htdigest files, and resolves userhash usernames.
//
// Secrets are compared in constant time, and an unknown user costs the
// same hashing as a known one (the response is computed against a dummy
// HA1). None of the errors this package returns contains a password, an
// HA1 or a response value, so they are safe to log.
//
// The client side is Transport, an http.RoundTripper that answers Digest
// challenges with the strongest algorithm offered and reuses nonces with
// an increasing nonce count.
//
// ParseChallenges and ParseCredentials are the header parsers both sides
// use (RFC 7235 syntax: quoted strings with escapes, commas inside quotes,
// several challenges in one field, case-insensitive names; a parameter
// given twice is an error).
package digest
