package caddymodule

// The Consumer interface's event features: the long-poll
// (GET <consumer_path>/<id>?wait=<duration>) and the per-job callback a
// create registers (Csb-Callback).
//
// Long-poll: GET or HEAD <consumer_path>/<job-id>?wait=30s (or wait=30,
// seconds) answers as soon as the job's status changes after the request
// arrived, or when the wait is over, with the job as it then stands (the
// usual answer). A wait longer than events { max_wait } (default 60s) is
// shortened to it; the Csb-Wait response header gives the wait applied
// in seconds. A wait that is not a positive duration is answered 400.
// Changes made by another broker of a cluster are seen within
// events { cluster_recheck } (default 1s).
//
// Callbacks: a create (POST of a <CloudServiceRequest>) with the request
// header Csb-Callback: <url> registers that URL for the new job's events
// (state changes, lease warnings, reclaim, drift), signed with the
// secret in Csb-Callback-Secret (whsec_ and the base64 of 24 to 64
// bytes), or, when that header is absent, with a new secret the answer
// returns in its Csb-Callback-Secret header (only there: keep it). The
// URL must be allowed by events { allowed_hosts } (default any host) and
// resolve to public addresses unless events { allow_private }: otherwise
// the create is answered 400 and nothing is created. A retry of the
// create with the same Idempotency-Key and Csb-Callback (and no
// Csb-Callback-Secret) is answered with the job of the first and, in
// Csb-Callback-Secret, the secret made for it.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
	"github.com/caddy-csb/caddy-csb/broker/webhook"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/durparam"
)

// Request and response headers of the callback.
const (
	headerCallback       = "Csb-Callback"
	headerCallbackSecret = "Csb-Callback-Secret"
)

// parseWait reads the wait parameter: a Go duration or whole seconds.
func parseWait(v string) (time.Duration, error) {
	d, ok := durparam.Parse(v)
	if !ok {
		return 0, fmt.Errorf("wait %q: want a positive duration (30s) or seconds (30)", v)
	}
	return d, nil
}

// longPoll serves GET/HEAD <consumer_path>/<id>?wait=<d>.
func (c *consumerCall) longPoll(jobID string) error {
	wait, err := parseWait(c.r.URL.Query().Get("wait"))
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	ctx := c.r.Context()
	j, wait, err := c.h.app.WaitJobChange(ctx, jobID, wait, func(ctx context.Context) (*jobs.Job, error) {
		return c.m.Get(ctx, c.owner, jobID)
	})
	switch {
	case errors.Is(err, ErrNoEvents):
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	case j != nil && ctx.Err() != nil:
		return nil // the client went away
	case err != nil:
		return c.fail(err, csbmsg.StatusUnableToFindResource, jobID)
	}
	c.w.Header().Set("Csb-Wait", strconv.FormatFloat(wait.Seconds(), 'f', -1, 64))
	return c.answer(c.m.Answer(j), false)
}

// checkConsumerCallback judges a consumer's callback URL by the
// consumers' rules (events allowed_hosts; public addresses unless
// allow_private). checkCallback judges it as a delivery will, and a
// delivery to an operator webhook's own URL trusts it whatever it
// resolves to: a consumer naming that URL would have the operator's
// internal receiver sent its job's events. So such a URL is judged again
// as any other consumer's callback is.
func (v *eventsView) checkConsumerCallback(ctx context.Context, raw string) (*url.URL, error) {
	u, err := v.checkCallback(ctx, raw)
	if err != nil {
		return nil, err
	}
	if _, key, _ := v.policy(u); !strings.HasPrefix(key, "operator ") {
		return u, nil
	}
	pc := peerurl.Config{Admin: v.admin, AllowPrivate: v.cfg.AllowPrivate, AllowedHosts: v.cfg.AllowedHosts}
	if len(pc.AllowedHosts) == 0 {
		pc.AllowedHosts = []string{u.Host}
	}
	pol, err := peerurl.New(pc)
	if err == nil {
		cctx, cancel := context.WithTimeout(ctx, peerResolveTimeout)
		defer cancel()
		err = pol.CheckResolved(cctx, u)
	}
	if err != nil {
		return nil, fmt.Errorf("Csb-Callback: %v", err)
	}
	return u, nil
}

// noCallback refuses (400) a Csb-Callback or Csb-Callback-Secret on a
// request that is not a create: callbacks are registered by creates
// only, and such a request would otherwise be answered without it.
func (c *consumerCall) noCallback() error {
	for _, h := range []string{headerCallback, headerCallbackSecret} {
		if c.r.Header.Get(h) != "" {
			return caddyhttp.Error(http.StatusBadRequest, fmt.Errorf("%s is taken by a create (POST without <job-info>) only", h))
		}
	}
	return nil
}

// callback registers the create's Csb-Callback, if any, and returns the
// subscriber ids for jobs.CreateOptions.Subscribers and a function to
// call with the create's result: it drops the registration when no job
// took it (a refusal, an idempotent retry of an earlier create), and
// sets a generated secret on the answer's Csb-Callback-Secret header
// when one did.
func (c *consumerCall) callback() ([]string, func(*jobs.Result), error) {
	nothing := func(*jobs.Result) {}
	raw := c.r.Header.Get(headerCallback)
	if raw == "" {
		if c.r.Header.Get(headerCallbackSecret) != "" {
			return nil, nil, caddyhttp.Error(http.StatusBadRequest, errors.New("Csb-Callback-Secret without Csb-Callback"))
		}
		return nil, nothing, nil
	}
	ev, v := c.h.app.events, c.h.app.eventsView
	if ev == nil || v == nil {
		return nil, nil, caddyhttp.Error(http.StatusServiceUnavailable, errors.New("events are not running"))
	}
	u, err := v.checkConsumerCallback(c.r.Context(), raw)
	if err != nil {
		return nil, nil, caddyhttp.Error(http.StatusBadRequest, err)
	}
	secret := strings.TrimSpace(c.r.Header.Get(headerCallbackSecret))
	generated := secret == ""
	if generated {
		secret = webhook.NewSecret()
	} else if _, err := webhook.ParseSecret(secret); err != nil {
		return nil, nil, caddyhttp.Error(http.StatusBadRequest, fmt.Errorf("Csb-Callback-Secret: %v", err))
	}
	id, err := ev.disp.Register(c.r.Context(), webhook.Subscriber{URL: u.String(), Secret: secret, Owner: c.owner})
	if err != nil {
		return nil, nil, caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("recording the callback: %v", err))
	}
	done := func(res *jobs.Result) {
		if res != nil && res.Job != nil && slices.Contains(res.Job.Events.Subscribers, id) {
			if generated {
				c.w.Header().Set(headerCallbackSecret, secret)
			}
			return
		}
		ctx := context.WithoutCancel(c.r.Context())
		if err := ev.disp.Unregister(ctx, id); err != nil {
			c.h.logger.Warn("dropping an unused callback", zap.Error(err))
		}
		// An idempotent retry is answered with the first create's job,
		// whose callback was registered then: a consumer retries because
		// the first answer, the only one with the secret the broker made,
		// was lost. It gets that callback's secret again when it names
		// the same callback.
		if generated && res != nil && res.Job != nil && res.Job.Owner == c.owner {
			for _, sid := range res.Job.Events.Subscribers {
				if s, err := ev.disp.Lookup(ctx, sid); err == nil && s.Owner == c.owner && s.URL == u.String() {
					c.w.Header().Set(headerCallbackSecret, s.Secret)
					break
				}
			}
		}
	}
	return []string{id}, done, nil
}
