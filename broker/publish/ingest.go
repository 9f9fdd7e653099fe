// Package publish implements both directions of the draft's Publish
// interface (section 4.1) on top of the catalogue: the ingest of
// <csbnotification> messages that providers send to the broker, with
// per-subscription sequencing and publisher authorisation, and the
// subscription manager that creates, renews and removes the broker's
// subscriptions at providers.
//
// This package does not import Caddy.
package publish

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/internal/defaults"
)

// AnyPublisher in Policy.Publishers allows every request that reached the
// publish endpoint (authentication, if any, is done in front of it).
const AnyPublisher = "*"

// Policy says who may notify about one provider.
type Policy struct {
	// Publishers are the authenticated user ids allowed to publish
	// notifications describing the provider; AnyPublisher allows anyone
	// who reached the endpoint. Empty: nobody.
	Publishers []string
	// PushIDs are notification ids the provider may use without a
	// subscription the broker holds (providers that push on their own).
	PushIDs []string
	// PushExpires is how long entries published under a push id stay
	// placeable after each notification. Zero: until withdrawn.
	PushExpires time.Duration
	// CheckURL, when set, judges every URL of a notification the broker
	// may call or proxy to (Cloud-Service-Provider-URI, Cloud-Service-URI,
	// Link hrefs): the broker's peer URL policy for the provider. A
	// notification naming a refused URL is refused whole (402, the reason
	// naming the URL) and nothing of it enters the catalogue.
	CheckURL func(*url.URL) error
}

// SubscriptionLookup tells which provider a held subscription id belongs
// to. The subscription manager implements it.
type SubscriptionLookup interface {
	// SubscriptionProvider returns the provider of the subscription id if
	// the broker holds it. providerHint is the provider the notification
	// describes; an implementation may use it to look the subscription up
	// in shared storage when it does not know the id yet (a subscription
	// another broker of a cluster created a moment ago).
	SubscriptionProvider(id, providerHint string) (providerID string, ok bool)
}

// IngestOptions configure an Ingester.
type IngestOptions struct {
	// Catalog receives the notifications. Required.
	Catalog *catalog.Catalog
	// Subscriptions knows the subscription ids the broker holds. Nil: no
	// subscription is held (only push ids are accepted).
	Subscriptions SubscriptionLookup
	// Clock is the time source. Default: the wall clock.
	Clock clock.Clock
	// Logger receives one line per refusal, gap and sequence restart.
	Logger *zap.Logger
	// OnGap is called (from the request's goroutine, after the
	// notification was applied) when a notification of a held subscription
	// skips seqnumbers, to resynchronise: the subscription manager sends a
	// subscription update asking the provider for its full state.
	OnGap func(providerID, subscriptionID string)
	// CommitTimeout bounds how long an acknowledgement waits for the
	// catalogue's store write. Default DefaultCommitTimeout (10s).
	CommitTimeout time.Duration
}

// DefaultCommitTimeout is IngestOptions.CommitTimeout's default.
const DefaultCommitTimeout = 10 * time.Second

// WithDefaults returns opt with the wall clock, a no-op logger and the
// default commit timeout where they are unset.
func (opt IngestOptions) WithDefaults() IngestOptions {
	opt.Clock = clock.OrReal(opt.Clock)
	defaults.Zero(&opt.Logger, zap.NewNop())
	defaults.Positive(&opt.CommitTimeout, DefaultCommitTimeout)
	return opt
}

// Ingester applies notifications to the catalogue. It is safe for
// concurrent use.
type Ingester struct {
	opt    IngestOptions
	clock  clock.Clock
	logger *zap.Logger
	cfg    atomic.Pointer[ingestConfig]

	mu         sync.Mutex
	last       map[string]uint64 // id → last applied seqnumber
	expectFull map[string]bool   // ids whose next notification is full (resynchronisation)
}

type ingestConfig struct {
	lenient  bool
	policies map[string]Policy
	pushIDs  map[string]string // push id → provider id
}

// NewIngester returns an Ingester with no provider allowed to publish
// until Configure is called.
func NewIngester(opt IngestOptions) *Ingester {
	opt = opt.WithDefaults()
	i := &Ingester{
		opt:        opt,
		clock:      opt.Clock,
		logger:     opt.Logger,
		last:       make(map[string]uint64),
		expectFull: make(map[string]bool),
	}
	i.cfg.Store(&ingestConfig{policies: map[string]Policy{}, pushIDs: map[string]string{}})
	return i
}

// SetSubscriptions sets the subscription lookup and the gap callback of
// an Ingester built without them (the subscription manager needs the
// Ingester, and the Ingester needs the manager). Call it before the first
// Ingest.
func (i *Ingester) SetSubscriptions(s SubscriptionLookup, onGap func(providerID, subscriptionID string)) {
	i.opt.Subscriptions = s
	i.opt.OnGap = onGap
}

// Configure replaces the per-provider policies (keyed by provider id) and
// says whether the codec runs in lenient mode (which enables withdrawal
// by full notifications); it is safe to call while notifications are
// ingested (a configuration reload). A push id may belong to one provider
// only.
func (i *Ingester) Configure(lenient bool, policies map[string]Policy) error {
	c := &ingestConfig{lenient: lenient, policies: make(map[string]Policy, len(policies)), pushIDs: make(map[string]string)}
	for pid, p := range policies {
		c.policies[pid] = p
		for _, id := range p.PushIDs {
			if other, dup := c.pushIDs[id]; dup && other != pid {
				return fmt.Errorf("push id %q configured for providers %q and %q", id, other, pid)
			}
			c.pushIDs[id] = pid
		}
	}
	i.cfg.Store(c)
	return nil
}

// ExpectFull marks the next notification under id as the provider's full
// state (see Ingest). The subscription manager calls it when it asks for
// a resynchronisation.
func (i *Ingester) ExpectFull(id string) {
	i.mu.Lock()
	i.expectFull[id] = true
	i.mu.Unlock()
}

// CancelFull undoes ExpectFull(id) when the resynchronisation it
// announced failed (the provider refused or never got the update), unless
// a notification has taken it already.
func (i *Ingester) CancelFull(id string) {
	i.mu.Lock()
	delete(i.expectFull, id)
	i.mu.Unlock()
}

// Outcome classifies what Ingest did with a notification.
type Outcome string

// Outcomes.
const (
	OutcomeApplied   Outcome = "applied"   // in sequence, applied
	OutcomeGap       Outcome = "gap"       // applied after missing seqnumbers; resynchronising
	OutcomeRestart   Outcome = "restart"   // push id restarted its sequence at 1; applied
	OutcomeDuplicate Outcome = "duplicate" // same seqnumber as the last applied; acknowledged, not applied
	OutcomeOld       Outcome = "old"       // older seqnumber; acknowledged, ignored
	OutcomeRefused   Outcome = "refused"   // not allowed (who may notify); nothing changed
	OutcomeInvalid   Outcome = "invalid"   // not a valid notification (400/420); nothing changed
)

// reasonApplied is the reason of the answer to a notification applied in
// sequence.
const reasonApplied = "OK: notification applied"

// Result is the answer to one notification.
type Result struct {
	// Response is the <csbresponse> to send back (in an HTTP 200).
	Response csbmsg.PublishResponse
	Outcome  Outcome
	// ProviderID is the provider the notification described, when known.
	ProviderID string
	// ID is the notification's id (a subscription or push id), when the
	// body parsed.
	ID string
	// Full is true when the notification was applied as the provider's
	// full state.
	Full bool
	// Changes is what the catalogue changed.
	Changes catalog.Result
	// Err is the codec's error when the body was refused (IngestBody).
	Err error
}

func refuse(status csbmsg.Status, outcome Outcome, pid, format string, args ...any) Result {
	return Result{
		Response:   csbmsg.PublishResponse{Status: status, Reason: fmt.Sprintf(format, args...)},
		Outcome:    outcome,
		ProviderID: pid,
	}
}

// Ingest authorises, sequences and applies one parsed notification sent
// by user (the authenticated user id; "" when the request was not
// authenticated).
//
// Who may notify: the user must be one of the provider's publishers
// (else 402); the notification's id must be a subscription the broker
// holds or a push id of the provider (else 404); a subscription's
// notifications may describe only the provider the subscription was made
// with (else 402); every URL the notification names must pass the
// provider's Policy.CheckURL (else 402, naming the URL); and it must not
// leave the provider with more published services than the catalogue
// keeps (catalog.Options.MaxPublishedServices; else 402, its seqnumber
// not used up). Nothing changes in the catalogue on a refusal.
//
// Sequencing per id: the first notification has seqnumber 1 and each next
// one is +1 (applied); a duplicate of the last applied seqnumber is
// acknowledged with 200 and not applied again; an older one is
// acknowledged with 200 and ignored; a gap is applied, logged, and
// triggers a resynchronisation of the subscription (OnGap). A push id that
// starts again at 1 is taken as the provider having restarted its
// sequence. Seqnumber 0 is refused with 400, and so is a notification
// that lists one Cloud-Service-id in two <Cloud-Service> elements; neither
// uses up its seqnumber.
//
// Full notifications: in lenient mode a notification is the provider's
// full state when it carries several Cloud-Service elements (like the
// draft's example), when it has seqnumber 1 (the first of a subscription,
// or a push sequence restart), or when it is the first after a
// resynchronisation was asked for. Published services of the provider that
// a full notification does not list are withdrawn. Every other
// notification, and every notification in strict mode (where the schema
// allows a single Cloud-Service), only adds and updates.
func (i *Ingester) Ingest(n *csbmsg.Notification, user string) Result {
	return i.ingestAnnounced(n, user, func() {})
}

// ingestAnnounced is Ingest for a notification announced to the catalogue
// with Expect: arrived is called once it is applied (or will not be), and
// before its commit waits for storage.
func (i *Ingester) ingestAnnounced(n *csbmsg.Notification, user string, arrived func()) Result {
	defer arrived()
	res := i.ingest(n, user, arrived)
	res.ID = n.ID
	return res
}

func (i *Ingester) ingest(n *csbmsg.Notification, user string, arrived func()) Result {
	cfg := i.cfg.Load()
	pid := n.Provider.ID
	l := noteLogger{i.logger, n}

	pol, known := cfg.policies[pid]
	if !known || !allowed(pol.Publishers, user) {
		l.Warn("notification refused: publisher not allowed for provider", zap.String("user", user))
		return refuse(csbmsg.StatusCannotUpdate, OutcomeRefused, pid,
			"user %q may not publish for provider %q", user, pid)
	}
	push := false
	owner, held := "", false
	if i.opt.Subscriptions != nil {
		owner, held = i.opt.Subscriptions.SubscriptionProvider(n.ID, pid)
	}
	if !held {
		owner, push = cfg.pushIDs[n.ID]
	}
	if !held && !push {
		l.Warn("notification refused: unknown subscription id")
		return refuse(csbmsg.StatusNoSuchSubscription, OutcomeRefused, pid,
			"subscription %q does not exist", n.ID)
	}
	if owner != pid {
		l.Warn("notification refused: id belongs to another provider", zap.String("owner_id", owner))
		return refuse(csbmsg.StatusCannotUpdate, OutcomeRefused, pid,
			"subscription %q is not a subscription of provider %q: a notification may describe only its own provider", n.ID, pid)
	}
	if pol.CheckURL != nil {
		if err := checkNotificationURLs(n, pol.CheckURL); err != nil {
			l.Warn("notification refused: peer url not allowed", zap.String("reason", err.Error()))
			return refuse(csbmsg.StatusCannotUpdate, OutcomeRefused, pid,
				"notification refused, nothing applied: %v", err)
		}
	}
	if n.SeqNumber == 0 {
		return Result{
			Response:   csbmsg.PublishResponse{Status: csbmsg.StatusSyntaxError, Reason: "seqnumber must start at 1"},
			Outcome:    OutcomeInvalid,
			ProviderID: pid,
		}
	}
	if id, dup := repeatedServiceID(n.Services); dup {
		// The catalogue keeps one entry per id: applying both would keep
		// whichever came last and answer 200 for the other.
		l.Warn("notification refused: a Cloud-Service-id appears twice", zap.String("service_id", id))
		return Result{
			Response: csbmsg.PublishResponse{Status: csbmsg.StatusSyntaxError,
				Reason: fmt.Sprintf("Cloud-Service-id %q appears in more than one <Cloud-Service>; nothing applied", id)},
			Outcome:    OutcomeInvalid,
			ProviderID: pid,
		}
	}

	i.mu.Lock()
	last, seen := i.last[n.ID]
	if seq, _, ok := i.opt.Catalog.Sequence(n.ID); ok && (!seen || seq > last) {
		last, seen = seq, true
	}
	outcome := OutcomeApplied
	switch {
	case seen && n.SeqNumber == last:
		i.mu.Unlock()
		l.Debug("duplicate notification acknowledged")
		// A duplicate is often a retry after a refused commit: make sure
		// what was applied the first time is stored before saying so.
		arrived()
		if res, ok := i.commit(l, pid); !ok {
			return res
		}
		return Result{Outcome: OutcomeDuplicate, ProviderID: pid, Response: csbmsg.PublishResponse{
			Status: csbmsg.StatusOK, Reason: fmt.Sprintf("OK: duplicate seqnumber %d already applied", n.SeqNumber)}}
	case seen && n.SeqNumber < last && !(push && n.SeqNumber == 1):
		i.mu.Unlock()
		l.Info("old notification ignored", zap.Uint64("last_seqnumber", last))
		return Result{Outcome: OutcomeOld, ProviderID: pid, Response: csbmsg.PublishResponse{
			Status: csbmsg.StatusOK, Reason: fmt.Sprintf("OK: seqnumber %d is older than %d, ignored", n.SeqNumber, last)}}
	case seen && n.SeqNumber < last:
		outcome = OutcomeRestart
	case seen && n.SeqNumber > last+1, !seen && n.SeqNumber > 1:
		outcome = OutcomeGap
	}
	full := cfg.lenient &&
		(len(n.Services) > 1 || n.SeqNumber == 1 || i.expectFull[n.ID])
	if err := i.opt.Catalog.CheckNotification(n, full); err != nil {
		i.mu.Unlock()
		// Nothing applied and the seqnumber not used up: the provider may
		// send a full notification, which replaces what it published.
		l.Warn("notification refused: too many services", zap.Error(err))
		return refuse(csbmsg.StatusCannotUpdate, OutcomeRefused, pid, "notification refused, nothing applied: %v", err)
	}
	delete(i.expectFull, n.ID)
	if push {
		// Without an expiry the lease is "never": set it too, so that a
		// lease left by an earlier configuration's expiry (in memory or
		// in storage) does not publish the entries already expired.
		var until time.Time
		if pol.PushExpires > 0 {
			until = i.clock.Now().Add(pol.PushExpires)
		}
		i.opt.Catalog.SetLease(n.ID, until)
	}
	changes := i.opt.Catalog.ApplyNotification(n, full)
	i.last[n.ID] = n.SeqNumber
	i.mu.Unlock()
	arrived()
	if res, ok := i.commit(l, pid); !ok {
		return res
	}

	res := Result{Outcome: outcome, ProviderID: pid, Full: full, Changes: changes,
		Response: csbmsg.PublishResponse{Status: csbmsg.StatusOK, Reason: reasonApplied}}
	switch outcome {
	case OutcomeGap:
		from := uint64(1)
		if seen {
			from = last + 1
		}
		l.Warn("notification gap: applied, resynchronising", zap.Uint64("missing_from", from),
			zap.Uint64("missing_to", n.SeqNumber-1), zap.Bool("push", push))
		res.Response.Reason = "OK: notification applied; " + missingSeqnumbers(from, n.SeqNumber-1)
		if !push && i.opt.OnGap != nil {
			res.Response.Reason += ", resynchronising"
			i.opt.OnGap(pid, n.ID)
		}
	case OutcomeRestart:
		l.Info("push sequence restarted", zap.Uint64("last_seqnumber", last))
		res.Response.Reason = "OK: notification applied; sequence restarted"
	}
	return res
}

// commit makes the catalogue's changes durable before a notification is
// acknowledged, so nothing the broker acknowledged is lost in a crash.
// Concurrent notifications share one store write (catalog.Flush). When the
// write fails, the notification stays applied in memory and the provider
// is told to try again (402, "unable to update subscription", the draft's
// code for an update refused for any other reason); its retry is then a
// duplicate, which commits again before it is acknowledged.
func (i *Ingester) commit(l noteLogger, pid string) (Result, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), i.opt.CommitTimeout)
	defer cancel()
	if err := i.opt.Catalog.Flush(ctx); err != nil {
		l.Error("notification applied but not stored: asking the provider to retry", zap.Error(err))
		return Result{Outcome: OutcomeRefused, ProviderID: pid, Response: csbmsg.PublishResponse{
			Status: csbmsg.StatusCannotUpdate,
			Reason: "notification could not be stored by the broker; send it again",
		}}, false
	}
	return Result{}, true
}

// noteLogger logs about one notification, with its provider_id,
// subscription_id and seqnumber fields. Unlike a zap child logger made
// with With for every notification, it costs nothing until a line is
// written: most notifications log nothing.
type noteLogger struct {
	l *zap.Logger
	n *csbmsg.Notification
}

func (x noteLogger) write(lvl zapcore.Level, msg string, extra []zap.Field) {
	if ce := x.l.Check(lvl, msg); ce != nil {
		fields := make([]zap.Field, 0, 3+len(extra))
		fields = append(fields, zap.String("provider_id", x.n.Provider.ID), zap.String("subscription_id", x.n.ID),
			zap.Uint64("seqnumber", x.n.SeqNumber))
		ce.Write(append(fields, extra...)...)
	}
}

func (x noteLogger) Debug(msg string, f ...zap.Field) { x.write(zapcore.DebugLevel, msg, f) }
func (x noteLogger) Info(msg string, f ...zap.Field)  { x.write(zapcore.InfoLevel, msg, f) }
func (x noteLogger) Warn(msg string, f ...zap.Field)  { x.write(zapcore.WarnLevel, msg, f) }
func (x noteLogger) Error(msg string, f ...zap.Field) { x.write(zapcore.ErrorLevel, msg, f) }

// repeatedServiceID returns the first Cloud-Service-id that more than one
// of services carries. The draft makes the id "a unique system wide
// identifier for a specific Cloud Service instance" (4.1.2.3.2), so two
// descriptions under one id contradict each other: such a notification is
// a syntax error (400), not two updates of which the last wins.
func repeatedServiceID(services []csbmsg.Service) (string, bool) {
	if len(services) <= 32 {
		// A notification carries a handful: compare them pairwise rather
		// than allocate a set on the publish path.
		for i := 1; i < len(services); i++ {
			for j := range i {
				if services[i].ID == services[j].ID {
					return services[i].ID, true
				}
			}
		}
		return "", false
	}
	seen := make(map[string]struct{}, len(services))
	for i := range services {
		id := services[i].ID
		if _, dup := seen[id]; dup {
			return id, true
		}
		seen[id] = struct{}{}
	}
	return "", false
}

// Forget drops the sequencing state of an id that is no longer held.
func (i *Ingester) Forget(id string) {
	i.mu.Lock()
	delete(i.last, id)
	delete(i.expectFull, id)
	i.mu.Unlock()
}

func allowed(publishers []string, user string) bool {
	return slices.Contains(publishers, AnyPublisher) || (user != "" && slices.Contains(publishers, user))
}

// missingSeqnumbers says which seqnumbers a gap skipped: "seqnumber 4
// missing" for one, "seqnumbers 3 to 5 missing" for a range.
func missingSeqnumbers(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("seqnumber %d missing", from)
	}
	return fmt.Sprintf("seqnumbers %d to %d missing", from, to)
}
