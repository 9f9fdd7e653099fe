// Package nativeerr classifies failures of native provider calls into the
// contract.Error kinds the broker records with a job: provider 4xx,
// provider 5xx, timeout, transport, not found, capacity.
package nativeerr

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// New returns an *contract.Error for a native call op that failed with err
// and, when the provider answered, HTTP status (0 if it did not).
// An *contract.Error passes through unchanged. err's text is scrubbed
// (Scrub): an SDK's error carries the provider's answer (gophercloud's,
// the body whole) and the URL it called, and the text becomes a job's
// reason.
func New(op string, status int, err error) error {
	if Settled(err) {
		return err
	}
	return &contract.Error{Kind: Kind(status, err), Op: op, Status: status, Err: Scrub(err)}
}

// Settled reports whether err needs no classifying: it is nil, or
// already an *contract.Error (a classifier passes it through unchanged).
func Settled(err error) bool {
	var ae *contract.Error
	return err == nil || errors.As(err, &ae)
}

// Kind returns the error kind for an HTTP status (0 if none) and an error.
func Kind(status int, err error) contract.ErrorKind {
	switch {
	case status == http.StatusNotFound || status == http.StatusGone:
		return contract.KindNotFound
	case status == http.StatusRequestEntityTooLarge || status == http.StatusInsufficientStorage:
		return contract.KindCapacity
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		return contract.KindTimeout
	case status >= 400 && status < 500:
		return contract.KindClient
	case status >= 500:
		return contract.KindServer
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return contract.KindTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return contract.KindTimeout
	}
	return contract.KindTransport
}

// Retryable reports whether a failed call may be sent again: the method is
// idempotent and the failure is one a second try can cure (a transport
// error that is not the caller's deadline, or 502/503/504).
func Retryable(method string, status int, err error) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
	default:
		return false
	}
	switch status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case 0:
		return err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	return false
}
