package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// PublishConfig configures the provider side of the draft's Publish
// interface (section 4.1).
//
// Where notifications go: a <subscription> has no callback address in the
// draft, so the sandbox sends every notification to one broker, BrokerURL
// (the broker's Publish endpoint, e.g. https://localhost:8443/csb/publish).
// The subscription's id, chosen by the broker, is what ties notifications
// to it: every <csbnotification> carries the id and its own sequence
// (seqnumber 1, then +1).
type PublishConfig struct {
	// BrokerURL is the broker's Publish endpoint. Without it the cloud
	// accepts subscriptions but cannot notify.
	BrokerURL string
	// Client sends the notifications (TLS trust, authentication). Nil
	// means a client with the default transport and a 30 s timeout.
	Client *http.Client
	// Frequency bounds: a requested frequency below MinFrequency is raised,
	// above MaxFrequency lowered, and an omitted one set to
	// DefaultFrequency. Defaults 5 s, 1 h, 60 s.
	MinFrequency, MaxFrequency, DefaultFrequency time.Duration
	// Expiry bounds, likewise. Defaults 60 s, 24 h, 600 s.
	MinExpires, MaxExpires, DefaultExpires time.Duration
	// MaxSubscriptions is how many subscriptions the cloud holds at once;
	// a create beyond it is answered 401. Default 16.
	MaxSubscriptions int
	// PushID, if set, makes the cloud notify the broker without any
	// subscription, under this id, every PushFrequency (default
	// DefaultFrequency) and on every change.
	PushID        string
	PushFrequency time.Duration
	// Refuse makes the cloud refuse every subscription command it could
	// otherwise accept, with 401, 402 or 403 by action (tests).
	Refuse bool
	// Logger receives delivery failures (once per change of outcome).
	Logger *zap.Logger
}

func (pc PublishConfig) withDefaults() PublishConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&pc.MinFrequency, 5*time.Second)
	def(&pc.MaxFrequency, time.Hour)
	def(&pc.DefaultFrequency, 60*time.Second)
	def(&pc.MinExpires, 60*time.Second)
	def(&pc.MaxExpires, 24*time.Hour)
	def(&pc.DefaultExpires, 600*time.Second)
	def(&pc.PushFrequency, pc.DefaultFrequency)
	if pc.MaxSubscriptions <= 0 {
		pc.MaxSubscriptions = 16
	}
	if pc.Client == nil {
		pc.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if pc.Logger == nil {
		pc.Logger = zap.NewNop()
	}
	return pc
}

type pubState struct {
	mu      sync.Mutex
	cfg     PublishConfig
	subs    map[string]*subscription
	kick    chan struct{} // wakes the notifier after a command
	lastErr string        // last delivery outcome, to log once per change
	running int           // notifiers running (at most one sends at a time)
	sendMu  sync.Mutex    // serialises deliveries so seqnumbers arrive in order
}

type subscription struct {
	id          string
	cmdSeq      uint64 // seqnumber of the last command accepted
	notifySeq   uint64 // seqnumber of the last notification delivered
	expires     time.Time
	frequency   time.Duration
	nextDue     time.Time
	sentVersion uint64
	sentAny     bool
	push        bool
	failures    int // consecutive failed deliveries
}

func newPubState() *pubState {
	return &pubState{cfg: PublishConfig{}.withDefaults(), subs: map[string]*subscription{}, kick: make(chan struct{}, 1)}
}

// SetPublishConfig applies the Publish configuration. Subscriptions are
// kept; a push id, if set, gets its subscription-less entry.
func (c *Cloud) SetPublishConfig(pc PublishConfig) {
	pc = pc.withDefaults()
	ps := c.pub
	ps.mu.Lock()
	ps.cfg = pc
	for id, s := range ps.subs {
		if s.push && id != pc.PushID {
			delete(ps.subs, id)
		}
	}
	if pc.PushID != "" {
		s, ok := ps.subs[pc.PushID]
		if !ok {
			s = &subscription{id: pc.PushID, push: true, nextDue: c.clock()}
			ps.subs[pc.PushID] = s
		}
		s.frequency = pc.PushFrequency
	}
	ps.mu.Unlock()
	ps.wake()
}

func (c *Cloud) clock() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clk.Now()
}

func (ps *pubState) wake() {
	select {
	case ps.kick <- struct{}{}:
	default:
	}
}

// SubscriptionInfo describes a subscription the cloud holds.
type SubscriptionInfo struct {
	ID        string
	CmdSeq    uint64
	NotifySeq uint64
	Expires   time.Time // zero for a push entry
	Frequency time.Duration
	Push      bool
}

// Subscriptions lists the subscriptions the cloud holds, sorted by id.
func (c *Cloud) Subscriptions() []SubscriptionInfo {
	ps := c.pub
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []SubscriptionInfo
	for _, s := range ps.subs {
		out = append(out, SubscriptionInfo{ID: s.id, CmdSeq: s.cmdSeq, NotifySeq: s.notifySeq, Expires: s.expires, Frequency: s.frequency, Push: s.push})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// SubscriptionHandler serves the provider's subscription endpoint: it
// accepts POST or PUT of application/csb-publish+xml carrying
// <csbrequest><subscription> and answers HTTP 200 with a <csbresponse>
// whose status is the draft's table 1 code:
//
//	200  accepted (with an extra <subscription> child when expires or
//	     frequency were changed to fit the cloud's bounds, or omitted)
//	400  syntax error, schema violation, a create whose seqnumber is not 1,
//	     or a command whose seqnumber does not exceed the last one
//	401  create refused (too many subscriptions, or Refuse set)
//	402  update refused (Refuse set)
//	403  remove refused (Refuse set)
//	404  update or remove of an unknown id
//	405  create of an id that exists
//	420  an element or attribute the codec does not understand
//
// HTTP-level problems get HTTP statuses: 405 (with Allow) for another
// method, 415 for another content type, 413 for a body over 1 MiB.
func (c *Cloud) SubscriptionHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != csbmsg.PublishMediaType {
			http.Error(w, "content type must be "+csbmsg.PublishMediaType, http.StatusUnsupportedMediaType)
			return
		}
		data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
		if err != nil {
			http.Error(w, "reading body", http.StatusBadRequest)
			return
		}
		if len(data) > 1<<20 {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		resp := c.handleSubscription(data)
		out, err := csbmsg.MarshalPublish(&csbmsg.Publish{Version: csbmsg.Version, Response: resp})
		if err != nil {
			http.Error(w, "encoding response", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", csbmsg.PublishMediaType)
		_, _ = w.Write(out)
	})
}

func (c *Cloud) handleSubscription(data []byte) *csbmsg.PublishResponse {
	msg, err := csbmsg.ParsePublish(data, csbmsg.Options{})
	if err != nil {
		var ce *csbmsg.Error
		if errors.As(err, &ce) {
			return &csbmsg.PublishResponse{Status: ce.Status, Reason: ce.Reason}
		}
		return &csbmsg.PublishResponse{Status: csbmsg.StatusSyntaxError, Reason: err.Error()}
	}
	if msg.Request == nil {
		return &csbmsg.PublishResponse{Status: csbmsg.StatusSyntaxError, Reason: "a provider accepts only <csbrequest>"}
	}
	sub := msg.Request.Subscription
	now := c.clock()
	ps := c.pub
	ps.mu.Lock()
	defer ps.mu.Unlock()
	cfg := ps.cfg
	existing, exists := ps.subs[sub.ID]
	if exists && existing.push {
		exists = false
	}
	switch sub.Action {
	case csbmsg.ActionCreate:
		if exists {
			return &csbmsg.PublishResponse{Status: csbmsg.StatusSubscriptionExists, Reason: fmt.Sprintf("subscription %s already exists", sub.ID)}
		}
		if sub.SeqNumber != 1 {
			return &csbmsg.PublishResponse{Status: csbmsg.StatusSyntaxError, Reason: "the first command of a subscription has seqnumber 1"}
		}
		n := 0
		for _, s := range ps.subs {
			if !s.push {
				n++
			}
		}
		if cfg.Refuse || n >= cfg.MaxSubscriptions {
			return &csbmsg.PublishResponse{Status: csbmsg.StatusCannotCreate, Reason: "unable to create subscription: the cloud holds its maximum"}
		}
		s := &subscription{id: sub.ID, cmdSeq: 1, nextDue: now}
		exp, freq, changed := grant(cfg, sub)
		s.expires, s.frequency = now.Add(exp), freq
		ps.subs[sub.ID] = s
		ps.wake()
		return okResponse(sub, exp, freq, changed)
	case csbmsg.ActionUpdate, csbmsg.ActionRemove:
		if !exists {
			return &csbmsg.PublishResponse{Status: csbmsg.StatusNoSuchSubscription, Reason: fmt.Sprintf("no subscription %s", sub.ID)}
		}
		if sub.SeqNumber <= existing.cmdSeq {
			return &csbmsg.PublishResponse{Status: csbmsg.StatusSyntaxError, Reason: fmt.Sprintf("seqnumber %d does not follow %d", sub.SeqNumber, existing.cmdSeq)}
		}
		if sub.Action == csbmsg.ActionRemove {
			if cfg.Refuse {
				return &csbmsg.PublishResponse{Status: csbmsg.StatusCannotRemove, Reason: "unable to remove subscription"}
			}
			delete(ps.subs, sub.ID)
			return &csbmsg.PublishResponse{Status: csbmsg.StatusOK, Reason: "OK: subscription removed"}
		}
		if cfg.Refuse {
			return &csbmsg.PublishResponse{Status: csbmsg.StatusCannotUpdate, Reason: "unable to update subscription"}
		}
		existing.cmdSeq = sub.SeqNumber
		exp, freq, changed := grant(cfg, sub)
		existing.expires, existing.frequency = now.Add(exp), freq
		// An update asks for the full state (the broker resynchronises with
		// it): notify at once.
		existing.nextDue = now
		existing.sentAny = false
		ps.wake()
		return okResponse(sub, exp, freq, changed)
	}
	return &csbmsg.PublishResponse{Status: csbmsg.StatusSyntaxError, Reason: fmt.Sprintf("unknown action %q", sub.Action)}
}

// grant fits the requested expires and frequency into the cloud's
// bounds. changed reports whether the answer must carry them.
func grant(cfg PublishConfig, sub csbmsg.Subscription) (exp, freq time.Duration, changed bool) {
	exp, freq = cfg.DefaultExpires, cfg.DefaultFrequency
	changed = sub.Expires == nil || sub.Frequency == nil
	if sub.Expires != nil {
		exp = clampDur(time.Duration(*sub.Expires)*time.Second, cfg.MinExpires, cfg.MaxExpires)
		changed = changed || exp != time.Duration(*sub.Expires)*time.Second
	}
	if sub.Frequency != nil {
		freq = clampDur(time.Duration(*sub.Frequency)*time.Second, cfg.MinFrequency, cfg.MaxFrequency)
		changed = changed || freq != time.Duration(*sub.Frequency)*time.Second
	}
	return exp, freq, changed
}

func clampDur(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}

func okResponse(sub csbmsg.Subscription, exp, freq time.Duration, changed bool) *csbmsg.PublishResponse {
	r := &csbmsg.PublishResponse{Status: csbmsg.StatusOK, Reason: "OK: Request accepted"}
	if changed {
		e, f := uint64(exp/time.Second), uint64(freq/time.Second)
		r.Subscription = &csbmsg.Subscription{ID: sub.ID, SeqNumber: sub.SeqNumber, Action: sub.Action, Expires: &e, Frequency: &f}
	}
	return r
}

// RunPublisher sends notifications until ctx ends: to every subscription
// (and the push id) at its granted frequency and at once whenever what the
// cloud publishes changes. Expired subscriptions are dropped. Several
// RunPublisher calls may overlap (during a Caddy reload): the due times
// live in the cloud's state and deliveries are serialised, so no
// notification is sent twice and sequence numbers stay in order.
//
// wait waits for d or for the returned channel of a wake-up; nil means a
// real timer. Tests pass one driven by a fake clock.
func (c *Cloud) RunPublisher(ctx context.Context, wait func(ctx context.Context, d time.Duration, wake <-chan struct{}, changed <-chan struct{})) {
	if wait == nil {
		wait = realWait
	}
	for ctx.Err() == nil {
		changed := c.Changed()
		next := c.PublishDue(ctx)
		wait(ctx, next, c.pub.kick, changed)
	}
}

func realWait(ctx context.Context, d time.Duration, wake <-chan struct{}, changed <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-wake:
	case <-changed:
	}
}

// PublishDue sends every notification that is due now and returns how long
// until the next one is due (at most a minute).
func (c *Cloud) PublishDue(ctx context.Context) time.Duration {
	ps := c.pub
	ps.sendMu.Lock()
	defer ps.sendMu.Unlock()
	version := c.Version()
	now := c.clock()
	ps.mu.Lock()
	cfg := ps.cfg
	var due []*subscription
	for id, s := range ps.subs {
		if !s.push && !s.expires.IsZero() && !now.Before(s.expires) {
			delete(ps.subs, id)
			continue
		}
		if !now.Before(s.nextDue) || (s.sentAny && s.sentVersion != version) {
			due = append(due, s)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].id < due[j].id })
	ps.mu.Unlock()

	for _, s := range due {
		if ctx.Err() != nil || cfg.BrokerURL == "" {
			break
		}
		c.notify(ctx, cfg, s, version, now)
	}

	next := time.Minute
	ps.mu.Lock()
	for _, s := range ps.subs {
		if d := s.nextDue.Sub(now); d < next {
			next = d
		}
		if !s.push && !s.expires.IsZero() {
			if d := s.expires.Sub(now); d < next {
				next = d
			}
		}
	}
	ps.mu.Unlock()
	return max(next, 0)
}

// notify delivers one notification to the broker. The sequence number is
// consumed only when the broker answered with a <csbresponse> (it saw the
// message); after a transport or HTTP failure the same number is sent
// again next time, which the broker treats as a duplicate if it did get it.
func (c *Cloud) notify(ctx context.Context, cfg PublishConfig, s *subscription, version uint64, now time.Time) {
	ps := c.pub
	ps.mu.Lock()
	if ps.subs[s.id] != s {
		ps.mu.Unlock()
		return
	}
	seq := s.notifySeq + 1
	ps.mu.Unlock()

	prov, services, label := c.Offer()
	enc := false
	msg := &csbmsg.Publish{Version: csbmsg.Version, Notification: &csbmsg.Notification{
		ID: s.id, SeqNumber: seq, Provider: prov, Services: services, EncryptionSupport: &enc, Label: label,
	}}
	status, err := c.deliver(ctx, cfg, msg)

	ps.mu.Lock()
	defer ps.mu.Unlock()
	outcome := "ok"
	if err != nil {
		outcome = err.Error()
	} else if status != csbmsg.StatusOK {
		outcome = fmt.Sprintf("broker answered %d", status)
	}
	if outcome != ps.lastErr {
		if outcome != "ok" {
			cfg.Logger.Warn("notification not accepted", zap.String("subscription", s.id), zap.Uint64("seqnumber", seq), zap.String("outcome", outcome))
		} else if ps.lastErr != "" {
			cfg.Logger.Info("notifications delivered again", zap.String("subscription", s.id))
		}
		ps.lastErr = outcome
	}
	s.nextDue = now.Add(s.frequency)
	if err != nil {
		// Retry sooner than the frequency: 1 s, 2 s, 4 s, ... (the broker
		// may just be starting).
		s.failures++
		if b := time.Second << min(s.failures-1, 16); b < s.frequency {
			s.nextDue = now.Add(b)
		}
		return
	}
	s.failures = 0
	s.notifySeq = seq
	s.sentVersion, s.sentAny = version, true
	if status == csbmsg.StatusNoSuchSubscription && !s.push {
		// The broker no longer knows the subscription: stop notifying it.
		delete(ps.subs, s.id)
	}
}

func (c *Cloud) deliver(ctx context.Context, cfg PublishConfig, msg *csbmsg.Publish) (csbmsg.Status, error) {
	body, err := csbmsg.MarshalPublish(msg)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.BrokerURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", csbmsg.PublishMediaType)
	req.Header.Set("Accept", csbmsg.PublishMediaType)
	resp, err := cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("broker answered HTTP %d", resp.StatusCode)
	}
	ans, err := csbmsg.ParsePublish(data, csbmsg.Options{})
	if err != nil {
		return 0, fmt.Errorf("broker answer: %w", err)
	}
	if ans.Response == nil {
		return 0, errors.New("broker answer has no <csbresponse>")
	}
	return ans.Response.Status, nil
}
