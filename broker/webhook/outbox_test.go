package webhook

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// TestOutboxEnqueueAgainAfterDelivery: a job event's deliveries may be
// stored again (a broker that died between the job's write and the
// deliveries' leaves the event in the job's outbox, and whoever finds it
// stores them). Enqueue kept a message already queued, but one already
// delivered is in the log, not the queue: it was queued anew, under a
// new Webhook-Id, and the receiver got it twice. A delivery is named by
// its subscriber, group and order, queued or logged.
func TestOutboxEnqueueAgainAfterDelivery(t *testing.T) {
	ctx := context.Background()
	secret := NewSecret()
	clk := clock.NewFake(eventsT0)
	rcv := &eventsReceiver{v: &Verifier{Secret: secret, Now: clk.Now}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	st := new(store.Memory)
	d := eventsDispatcher(t, st, clk, nil)
	sid, err := d.Register(ctx, Subscriber{URL: srv.URL, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	msg := Message{Type: "csb.job.state", Group: "job1", Order: 3, Time: eventsT0, Data: map[string]uint64{"seq": 3}}
	if err := d.Enqueue(ctx, msg, sid); err != nil {
		t.Fatal(err)
	}
	if next, err := d.Pass(ctx); err != nil || !next.IsZero() || len(rcv.got) != 1 {
		t.Fatalf("first pass: next %v err %v got %v", next, err, rcv.got)
	}
	// Stored again, by a new dispatcher on the same store (a broker
	// taking over): queued and delivered already, it stays as it was.
	d = eventsDispatcher(t, st, clk, nil)
	if err := d.Enqueue(ctx, msg, sid); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rcv.got) != 1 || rcv.tries != 1 {
		t.Fatalf("the receiver got %d deliveries in %d tries, want 1: %q", len(rcv.got), rcv.tries, rcv.got)
	}
	list, err := d.List(ctx)
	if err != nil || len(list) != 1 || list[0].State != StateDelivered {
		t.Fatalf("deliveries %+v %v", list, err)
	}
}

// TestOutboxRecoverStoresWhatIsMissing: Recover stores the deliveries of
// a message that are missing, with the id they would have had, keeps
// those stored (queued or logged), skips a subscriber that is gone, and
// leaves a message older than Retain/2 alone: a delivery done that long
// ago may have left the log already (Retain after it was done), and
// storing it again would send it twice. Stored tells the same without
// writing.
func TestOutboxRecoverStoresWhatIsMissing(t *testing.T) {
	ctx := context.Background()
	secret := NewSecret()
	clk := clock.NewFake(eventsT0)
	rcv := &eventsReceiver{v: &Verifier{Secret: secret, Now: clk.Now}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	st := new(store.Memory)
	op := &Subscriber{ID: "op-1", URL: srv.URL, Secret: secret}
	d := eventsDispatcher(t, st, clk, op)
	sid, err := d.Register(ctx, Subscriber{URL: srv.URL, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	msg := func(seq uint64) Message {
		return Message{Type: "csb.job.state", Group: "job1", Order: seq, Time: clk.Now(), Data: map[string]uint64{"seq": seq}}
	}
	// Seq 1 reached the operator only; seq 2 reached nobody.
	if err := d.Enqueue(ctx, msg(1), "op-1"); err != nil {
		t.Fatal(err)
	}
	d.Pass(ctx)
	for seq, want := range map[uint64]bool{1: false, 2: false} {
		if ok, err := d.Stored(ctx, msg(seq), sid, "op-1", "gone"); err != nil || ok != want {
			t.Fatalf("Stored(seq %d) = %v %v, want %v", seq, ok, err, want)
		}
	}
	for _, seq := range []uint64{1, 2} {
		if err := d.Recover(ctx, msg(seq), sid, "op-1", "gone"); err != nil {
			t.Fatalf("Recover(seq %d): %v", seq, err)
		}
		if ok, err := d.Stored(ctx, msg(seq), sid, "op-1", "gone"); err != nil || !ok {
			t.Fatalf("Stored(seq %d) after Recover = %v %v", seq, ok, err)
		}
	}
	d.Pass(ctx)
	list, _ := d.List(ctx)
	count := map[string]int{}
	for _, dl := range list {
		count[dl.Subscriber]++
		if dl.ID != deliveryID(dl.Subscriber, dl.Group, dl.Order) {
			t.Errorf("delivery %s of %s seq %d: id not derived from them", dl.ID, dl.Subscriber, dl.Order)
		}
	}
	if len(list) != 4 || count[sid] != 2 || count["op-1"] != 2 || len(rcv.got) != 4 {
		t.Fatalf("deliveries %v (%d), received %d: want seq 1 and 2 once to each", count, len(list), len(rcv.got))
	}
	// Too old to tell: left alone, and counted as stored.
	old := msg(3)
	clk.Advance(DefaultRetain / 2)
	if ok, err := d.Stored(ctx, old, sid); err != nil || !ok {
		t.Fatalf("Stored(old) = %v %v, want true", ok, err)
	}
	if err := d.Recover(ctx, old, sid); err != nil {
		t.Fatal(err)
	}
	if list, _ := d.List(ctx); len(list) != 4 {
		t.Fatalf("an event older than Retain/2 was stored again: %d deliveries", len(list))
	}
	// Enqueue still says that a subscriber is unknown.
	if err := d.Enqueue(ctx, msg(4), "gone"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("Enqueue to an unknown subscriber: %v", err)
	}
}

// TestOutboxClosedSubscriberKeptWhileInUse: a consumer's callback is
// closed when its job fails or ends, and was deleted Retain later, though
// a job that names it may still have events (a reclaim queued while its
// provider is held back is announced when done, days later; a copy
// inherits its source's callback and outlives it): those were then
// refused ("subscriber ...: file does not exist") and reached nobody but
// the operators. A closed subscriber that Config.InUse says is in use is
// kept, and asked of again Retain later; one not in use goes.
func TestOutboxClosedSubscriberKeptWhileInUse(t *testing.T) {
	ctx := context.Background()
	secret := NewSecret()
	clk := clock.NewFake(eventsT0)
	rcv := &eventsReceiver{v: &Verifier{Secret: secret, Now: clk.Now}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	st := new(store.Memory)
	inUse := true
	asked := 0
	d := eventsDispatcher(t, st, clk, nil)
	d.Reconfigure(Config{RetryMin: time.Second, RetryMax: 4 * time.Second, MaxAttempts: 3, Clock: clk,
		InUse: func(_ context.Context, s *Subscriber) (bool, error) { asked++; return inUse, nil }})
	sid, _ := d.Register(ctx, Subscriber{URL: srv.URL, Secret: secret, Owner: "alice"})
	if err := d.Close(ctx, sid); err != nil {
		t.Fatal(err)
	}
	clk.Advance(DefaultRetain + time.Hour)
	d.Pass(ctx)
	if _, err := st.Load(ctx, subPrefix+sid); err != nil || asked != 1 {
		t.Fatalf("a closed subscriber still in use was deleted (asked %d): %v", asked, err)
	}
	d.Pass(ctx) // asked again only Retain later
	if asked != 1 {
		t.Fatalf("asked %d times within Retain", asked)
	}
	// Days after the close, the job's reclaim reaches the callback.
	clk.Advance(DefaultRetain / 2)
	if err := d.Enqueue(ctx, Message{Type: "csb.job.reclaimed", Group: "j", Order: 9, Time: clk.Now()}, sid); err != nil {
		t.Fatalf("a late event to the callback: %v", err)
	}
	d.Pass(ctx)
	if len(rcv.got) != 1 {
		t.Fatalf("the late event reached the callback %d times", len(rcv.got))
	}
	// Its job gone, it goes Retain after it was last found in use.
	inUse = false
	clk.Advance(DefaultRetain/2 + time.Hour)
	d.Pass(ctx)
	if _, err := st.Load(ctx, subPrefix+sid); !errors.Is(err, store.ErrNotExist) || asked != 2 {
		t.Fatalf("a closed subscriber no longer in use is kept (asked %d): %v", asked, err)
	}
}

// outboxNoDelete fails the deletes of queued deliveries while on.
type outboxNoDelete struct {
	*store.Memory
	on bool
}

func (s *outboxNoDelete) Delete(ctx context.Context, key string) error {
	if s.on && strings.HasPrefix(key, queuePrefix) {
		return errors.New("storage unavailable")
	}
	return s.Memory.Delete(ctx, key)
}

// TestOutboxLoggedDeliveryNotSentAgain: a pass logs a delivery once done
// and then deletes it from the queue; when the delete failed, the next
// pass found it queued and sent it again. One that is logged already is
// only deleted from the queue.
func TestOutboxLoggedDeliveryNotSentAgain(t *testing.T) {
	ctx := context.Background()
	secret := NewSecret()
	clk := clock.NewFake(eventsT0)
	rcv := &eventsReceiver{v: &Verifier{Secret: secret, Now: clk.Now}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	st := &outboxNoDelete{Memory: new(store.Memory), on: true}
	d := eventsDispatcher(t, st, clk, nil)
	sid, _ := d.Register(ctx, Subscriber{URL: srv.URL, Secret: secret})
	if err := d.Enqueue(ctx, Message{Type: "csb.job.state", Group: "job1", Order: 1, Time: eventsT0}, sid); err != nil {
		t.Fatal(err)
	}
	d.Pass(ctx)
	st.on = false
	d.Pass(ctx)
	if rcv.tries != 1 {
		t.Fatalf("the receiver was sent the delivery %d times", rcv.tries)
	}
	if keys, _ := st.List(ctx, queuePrefix); len(keys) != 0 {
		t.Fatalf("still queued: %v", keys)
	}
}

// TestOutboxLeftOverCallbackDeleted: a consumer's callback is registered
// before its job is created; a broker that stopped in between left a
// subscriber nobody would close. One that is open, older than Retain,
// named by no job and with nothing queued is deleted; one a job names is
// kept (asked of again only Retain later), and an operator's is never
// asked about.
func TestOutboxLeftOverCallbackDeleted(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(eventsT0)
	st := new(store.Memory)
	used := map[string]bool{}
	asked := map[string]int{}
	d := eventsDispatcher(t, st, clk, nil)
	d.Reconfigure(Config{RetryMin: time.Second, RetryMax: 4 * time.Second, MaxAttempts: 3, Clock: clk,
		InUse: func(_ context.Context, s *Subscriber) (bool, error) { asked[s.ID]++; return used[s.ID], nil }})
	left, _ := d.Register(ctx, Subscriber{URL: "http://127.0.0.1:1/", Secret: NewSecret(), Owner: "alice"})
	named, _ := d.Register(ctx, Subscriber{URL: "http://127.0.0.1:1/", Secret: NewSecret(), Owner: "alice"})
	used[named] = true
	op, _ := d.Register(ctx, Subscriber{URL: "http://127.0.0.1:1/", Secret: NewSecret()})
	exists := func(id string) bool { _, err := st.Load(ctx, subPrefix+id); return err == nil }

	d.Pass(ctx) // within Retain: nothing asked, nothing deleted
	if len(asked) != 0 || !exists(left) || !exists(named) || !exists(op) {
		t.Fatalf("within Retain: asked %v", asked)
	}
	clk.Advance(DefaultRetain + time.Hour)
	d.Pass(ctx)
	if exists(left) {
		t.Fatal("a left-over callback no job names was kept")
	}
	if !exists(named) || !exists(op) || asked[named] != 1 || asked[op] != 0 {
		t.Fatalf("named %v, operator's %v, asked %v", exists(named), exists(op), asked)
	}
	d.Pass(ctx)
	if asked[named] != 1 {
		t.Fatalf("an open callback in use was asked about again within Retain: %v", asked)
	}
}
