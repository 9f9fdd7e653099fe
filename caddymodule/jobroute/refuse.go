package jobroute

// Refused job-route requests: the loopback responder that answers them,
// since an upstream source cannot answer a request itself.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-csb/caddy-csb/broker/adapters"
)

// refuse points r at the refusal responder with the status and reason of
// err. The request never reaches a provider.
func (u *JobUpstreams) refuse(r *http.Request, err error) []*reverseproxy.Upstream {
	status := http.StatusBadGateway
	var ae *adapters.Error
	if errors.As(err, &ae) {
		switch {
		case ae.Status >= 400 && ae.Status < 600 && (ae.Kind == adapters.KindClient || ae.Kind == adapters.KindNotFound || ae.Op == "proxy"):
			status = ae.Status
		case ae.Kind == adapters.KindNotFound:
			status = http.StatusNotFound
		case ae.Kind == adapters.KindClient:
			status = http.StatusForbidden
		case ae.Kind == adapters.KindTimeout:
			status = http.StatusGatewayTimeout
		}
	}
	if c := u.logger.Check(zapcore.DebugLevel, "job route refused"); c != nil {
		c.Write(zap.Int("status", status), zap.Error(err))
	}
	for k := range r.Header {
		delete(r.Header, k) // nothing of the consumer's goes on, not even to loopback
	}
	// Nor its body, which a front may have read to check it: a length
	// without the bytes would fail the refusal, and count as a failure
	// of the responder in the passive health checks.
	r.Body, r.ContentLength, r.GetBody, r.TransferEncoding = http.NoBody, 0, nil, nil
	r.Header.Set(refuseStatusHeader, strconv.Itoa(status))
	r.Header.Set(refuseReasonHeader, reasonOf(err))
	r.URL.Path, r.URL.RawPath, r.URL.RawQuery = "/", "", ""
	r.Host = u.refuser.addr
	return []*reverseproxy.Upstream{{Dial: u.refuser.addr}}
}

// reasonOf is the text a refused consumer sees: the cause without the
// operation prefixes.
func reasonOf(err error) string {
	var ae *adapters.Error
	if errors.As(err, &ae) && ae.Err != nil {
		err = ae.Err
	}
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, err.Error())
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// Headers between the source and its refusal responder.
const (
	refuseStatusHeader = "X-Csb-Refuse-Status"
	refuseReasonHeader = "X-Csb-Refuse-Reason"
)

// refuser is a loopback HTTP responder shared by every configuration: it
// answers refused job-route requests with the status and reason the
// source put in the request.
type refuser struct {
	addr string
	srv  *http.Server
}

func (r *refuser) Destruct() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.srv.Shutdown(ctx)
}

var refusers = caddy.NewUsagePool()

const refuserKey = "csb.proxy.refuser"

func loadRefuser() (*refuser, error) {
	v, _, err := refusers.LoadOrNew(refuserKey, func() (caddy.Destructor, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("dynamic csb: refusal responder: %v", err)
		}
		rf := &refuser{addr: ln.Addr().String()}
		rf.srv = &http.Server{
			ReadHeaderTimeout: 5 * time.Second,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				status, err := strconv.Atoi(req.Header.Get(refuseStatusHeader))
				if err != nil || status < 400 || status > 599 {
					status = http.StatusNotFound
				}
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.Header().Set("Connection", "close")
				w.WriteHeader(status)
				fmt.Fprintf(w, "%d %s: %s\n", status, http.StatusText(status), req.Header.Get(refuseReasonHeader))
			}),
		}
		go rf.srv.Serve(ln)
		return rf, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*refuser), nil
}
