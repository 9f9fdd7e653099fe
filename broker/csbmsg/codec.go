package csbmsg

import (
	"errors"
	"fmt"
	"strconv"
)

// Mode selects how faithfully a parser holds a message to the schemas of
// draft sections 6 and 7.
type Mode int

const (
	// Lenient (the default) accepts, besides every schema-valid message,
	// the spellings the draft's own prose and examples use instead of the
	// schema names (for example <Network-support> for <network-support>,
	// <link> for <Link>, several <Cloud-Service> in one notification),
	// reports each through Options.OnAlias, and accepts schema elements
	// in any order within their parent. The alias table is in
	// CONFORMANCE.md ("Lenient aliases").
	Lenient Mode = iota

	// Strict holds a message to the (repaired) schemas: an alias
	// spelling is an element the broker does not understand (status
	// 420), and children out of schema order are a schema violation
	// (status 400).
	Strict
)

// String returns "lenient" or "strict".
func (m Mode) String() string {
	switch m {
	case Lenient:
		return "lenient"
	case Strict:
		return "strict"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Options controls ParsePublish and ParseConsumer. The zero value is
// lenient mode with the default Limits.
type Options struct {
	// Mode is Lenient (default) or Strict.
	Mode Mode

	// Limits bounds the resources one message may use. Zero fields take
	// their defaults (see Limits).
	Limits Limits

	// Charset is the charset parameter of the Content-Type the message
	// arrived with, if any ("" when absent). As RFC 3023 (cited by draft
	// section 9) says, it is authoritative over the XML declaration's
	// encoding; a message whose declaration names a different charset is
	// refused with 400 when it holds non-ASCII bytes, since its text would
	// then depend on which label is believed. See CharsetSupported for the
	// charsets understood.
	Charset string

	// OnAlias, if set, is called in lenient mode once per alias spelling
	// seen in a message, with the spelling and the schema name it stands
	// for, e.g. ("Network-support", "network-support"). Two kinds of
	// deviation that are not spellings are reported the same way: a
	// repeated <Cloud-Service> as (AliasSeveralServices, "Cloud-Service"),
	// and an example-only child the codec drops (<Location>,
	// <queueValues>) with an empty canonical name.
	OnAlias func(alias, canonical string)
}

// AliasSeveralServices is the alias name reported through Options.OnAlias
// when a <csbnotification> carries more than one <Cloud-Service>, as the
// draft's example B1 does while its schema allows one.
const AliasSeveralServices = "Cloud-Service (several)"

// Error is a message the codec refused, with the status code the draft
// prescribes for the answer (tables 1 and 2): StatusSyntaxError (400) for
// a message that is not well-formed, violates the schema or carries an
// invalid value, StatusUnsupported (420) for a well-formed message with
// an element or attribute the codec does not understand. Reason is a
// short English explanation naming the offending item, suitable for the
// reason attribute of a <csbresponse> or <CloudServiceResponse>.
//
// Err, when non-nil, is one of the sentinel errors (ErrTooLarge,
// ErrLimit, ErrCharset) so that callers can tell resource refusals apart
// with errors.Is; the HTTP layer answers ErrTooLarge with 413.
type Error struct {
	Status Status
	Reason string
	Err    error
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("csbmsg: %d: %s", e.Status, e.Reason)
}

// Unwrap returns the sentinel error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Sentinel errors wrapped by *Error.
var (
	// ErrTooLarge: the message exceeds Limits.MaxBytes. The *Error
	// carries status 400, but HTTP servers should answer 413 Content Too
	// Large instead of a protocol response.
	ErrTooLarge = errors.New("message too large")

	// ErrLimit: the message exceeds Limits.MaxDepth, MaxElements,
	// MaxAttributes or MaxTextBytes (status 400).
	ErrLimit = errors.New("message exceeds a parser limit")

	// ErrCharset: the message's charset is not supported, conflicts with
	// the transport's, or its bytes are not valid in it (status 400).
	ErrCharset = errors.New("unsupported or invalid charset")
)

func syntaxErr(format string, args ...any) *Error {
	return &Error{Status: StatusSyntaxError, Reason: fmt.Sprintf(format, args...)}
}

func wrapErr(sentinel error, format string, args ...any) *Error {
	return &Error{Status: StatusSyntaxError, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}

// ParsePublish parses and validates a csb-publish message (a <csbpublish>
// document, draft sections 4.1.2 and 6). On failure the error is an
// *Error carrying status 400 or 420.
func ParsePublish(data []byte, opt Options) (*Publish, error) {
	return parse(data, &opt, publishVocab, (*reader).publish)
}

// ParseConsumer parses and validates a csb-consumer message (a
// <csbconsumer> document, draft sections 4.2.2 and 7). On failure the
// error is an *Error carrying status 400 or 420.
func ParseConsumer(data []byte, opt Options) (*Consumer, error) {
	return parse(data, &opt, consumerVocab, (*reader).consumer)
}

// parse is what the parsers share: it reads data's tree in vocabulary v
// (begin), reads its root with read, and returns what read made, or the
// first violation recorded.
func parse[T any](data []byte, opt *Options, v *vocab, read func(r *reader, root *node) *T) (*T, error) {
	r, root, err := begin(data, opt, v)
	if err != nil {
		return nil, err
	}
	defer r.release()
	x := read(r, root)
	if e := r.result(); e != nil {
		return nil, e
	}
	return x, nil
}

// String returns the code and its meaning from the draft's tables, e.g.
// "420 Unsupported attribute or element".
func (s Status) String() string {
	text := map[Status]string{
		StatusOK:                   "OK",
		StatusSyntaxError:          "Syntax error",
		StatusCannotCreate:         "Unable to create Subscription",
		StatusCannotUpdate:         "Unable to update Subscription",
		StatusCannotRemove:         "Unable to remove Subscription",
		StatusNoSuchSubscription:   "Subscription does not exist",
		StatusSubscriptionExists:   "Subscription already exists",
		StatusUnableToFindResource: "Unable to find Resource",
		StatusCannotUpdateResource: "Unable to update Resource",
		StatusCannotRemoveResource: "Unable to remove Resource",
		StatusUnsupported:          "Unsupported attribute or element",
	}[s]
	if text == "" {
		return strconv.Itoa(int(s))
	}
	return strconv.Itoa(int(s)) + " " + text
}
