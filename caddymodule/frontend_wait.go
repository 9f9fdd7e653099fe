package caddymodule

// The long-poll for every front-end: GET <consumer_path>/<id>?wait=
// (consumer_wait.go) and the web console's job pages wait with it.

import (
	"context"
	"errors"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// ErrNoEvents is returned by WaitJobChange when the events engine (which
// wakes long-polls) is not running.
var ErrNoEvents = errors.New("events are not running")

// WaitJobChange reads job id with read (which scopes it to the caller:
// an owner's Get, or an operator's Inspect), then waits until the job's
// status changes, wait passes (shortened to events { max_wait }), or ctx
// ends, and returns the job as it then stands (read again; the first
// read if that fails) with the wait applied. A change made by this
// broker ends the wait at once; one made by another broker of a cluster
// is seen within events { cluster_recheck }. The first read's error is
// returned as it is; ctx's error when ctx ended.
func (a *App) WaitJobChange(ctx context.Context, id string, wait time.Duration, read func(context.Context) (*jobs.Job, error)) (*jobs.Job, time.Duration, error) {
	ev := a.events
	if ev == nil {
		return nil, 0, ErrNoEvents
	}
	wait = min(wait, a.Events.maxWait())
	// Registered before the job is read: a change between the two wakes
	// the wait at once instead of being missed.
	ch := ev.waiters.add(id)
	defer ev.waiters.remove(id, ch)
	j, err := read(ctx)
	if err != nil {
		return nil, wait, err
	}
	start, rev := j.Status, j.Rev
	timer := time.NewTimer(wait)
	defer timer.Stop()
	tick := time.NewTicker(a.Events.clusterRecheck())
	defer tick.Stop()
	ev.waiters.waiting.Add(1)
	defer ev.waiters.waiting.Add(-1)
wait:
	for {
		select {
		case <-ch:
			break wait
		case <-timer.C:
			break wait
		case <-ctx.Done():
			return j, wait, ctx.Err()
		case <-tick.C:
			if cur, err := read(ctx); err == nil && cur.Rev != rev && cur.Status != start {
				break wait
			}
		}
	}
	if cur, err := read(ctx); err == nil {
		j = cur
	}
	return j, wait, nil
}
