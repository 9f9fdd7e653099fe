package publish

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
)

// HTTPSender sends subscription commands over HTTP(S): a POST of the
// <csbpublish><csbrequest> document with Content-Type and Accept
// application/csb-publish+xml (draft section 4.1.1), answered by an HTTP
// 200 whose body is a <csbresponse>.
type HTTPSender struct {
	// Codec are the options the provider's answers are parsed with; the
	// charset is taken from each answer's Content-Type.
	Codec csbmsg.Options
	// UserAgent is sent when set.
	UserAgent string
}

// HTTPError is an answer that is not an HTTP 200 (for example 401 when
// the provider refused the broker's credentials).
type HTTPError struct {
	StatusCode int
	Status     string
}

func (e *HTTPError) Error() string { return "provider answered HTTP " + e.Status }

// maxAnswer bounds the body of a provider's answer that is read.
const maxAnswer = 1 << 20

var defaultClient = &http.Client{Timeout: DefaultRequestTimeout}

// Send implements Sender.
func (s HTTPSender) Send(ctx context.Context, cfg SubscriptionConfig, req *csbmsg.PublishRequest) (*csbmsg.PublishResponse, error) {
	body, err := csbmsg.MarshalPublish(&csbmsg.Publish{Version: csbmsg.Version, Request: req})
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, bytes.NewReader(body))
	if err != nil {
		return nil, peerurl.RedactError(err)
	}
	hreq.Header.Set("Content-Type", csbmsg.PublishMediaType)
	hreq.Header.Set("Accept", csbmsg.PublishMediaType)
	if s.UserAgent != "" {
		hreq.Header.Set("User-Agent", s.UserAgent)
	}
	client := cfg.Client
	if client == nil {
		client = defaultClient
	}
	resp, err := client.Do(hreq)
	if err != nil {
		// net/http's *url.Error prints the URL whole, and the error
		// becomes the subscription's last error (console, admin API,
		// logs): a token in the URL's query, or its user name, must
		// not go with it.
		return nil, peerurl.RedactError(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{StatusCode: resp.StatusCode, Status: resp.Status}
	}
	if len(data) > maxAnswer {
		return nil, fmt.Errorf("provider's answer exceeds %d bytes", maxAnswer)
	}
	opt := s.Codec
	if mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil && mt == csbmsg.PublishMediaType {
		opt.Charset = params["charset"]
	}
	p, err := csbmsg.ParsePublish(data, opt)
	if err != nil {
		return nil, fmt.Errorf("provider's answer: %w", err)
	}
	if p.Response == nil {
		return nil, fmt.Errorf("provider's answer is not a <csbresponse>")
	}
	return p.Response, nil
}

var _ Sender = HTTPSender{}
