package caddymodule

// The jobs-by-state gauge, kept up to date as jobs are written.

import (
	"context"
	"sync"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// jobRecountEvery bounds how often the job counts are recounted from
// storage (on a scrape, in the background).
const jobRecountEvery = 30 * time.Second

// jobCounter keeps the state of every job for the caddy_csb_jobs gauge
// without reading every stored job on each scrape: this process's own
// writes update it at once (jobs.Config.OnChange), and a recount from
// storage, at most every jobRecountEvery and started by a scrape, adds
// what other instances of a cluster changed and drops purged jobs. Between
// two records of one job the higher revision wins.
type jobCounter struct {
	// list reads every stored job's state (jobs.Manager.Census: the id,
	// status and revision only, so a recount does not hold every job).
	list  func(context.Context) ([]jobs.JobState, error)
	every time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	marks      map[string]jobMark
	gen        uint64 // bumped when a recount starts
	last       time.Time
	recounting bool
}

// jobMark is what the counter knows of one job.
type jobMark struct {
	status jobs.Status
	rev    uint64
	gen    uint64 // the recount generation it was last confirmed in
}

func newJobCounter(list func(context.Context) ([]jobs.JobState, error)) *jobCounter {
	ctx, cancel := context.WithCancel(context.Background())
	return &jobCounter{list: list, every: jobRecountEvery, ctx: ctx, cancel: cancel, marks: map[string]jobMark{}}
}

// observe records a job this process wrote (jobs.Config.OnChange).
func (c *jobCounter) observe(j *jobs.Job) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mergeLocked(j.ID, j.Status, j.Rev)
}

func (c *jobCounter) mergeLocked(id string, status jobs.Status, rev uint64) {
	if m, ok := c.marks[id]; ok && m.rev > rev {
		m.gen = c.gen
		c.marks[id] = m
		return
	}
	c.marks[id] = jobMark{status: status, rev: rev, gen: c.gen}
}

// counts returns the jobs by state, and starts a recount in the
// background when the last one is older than every.
func (c *jobCounter) counts() map[jobs.Status]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.recounting && time.Since(c.last) >= c.every && c.ctx.Err() == nil {
		c.startRecountLocked()
	}
	out := make(map[jobs.Status]int, len(jobStates))
	for _, m := range c.marks {
		out[m.status]++
	}
	return out
}

// recount starts a recount from storage now (unless one is running).
func (c *jobCounter) recount() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.recounting && c.ctx.Err() == nil {
		c.startRecountLocked()
	}
}

func (c *jobCounter) startRecountLocked() {
	c.recounting = true
	c.gen++
	gen := c.gen
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
		defer cancel()
		list, err := c.list(ctx)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.recounting = false
		c.last = time.Now()
		if err != nil {
			return // keep what is known; try again on a later scrape
		}
		for _, j := range list {
			c.mergeLocked(j.ID, j.Status, j.Rev)
		}
		// Jobs neither listed nor written here since the recount began
		// are gone from storage (purged, here or elsewhere).
		for id, m := range c.marks {
			if m.gen < gen {
				delete(c.marks, id)
			}
		}
	}()
}

// stop ends a recount in progress and waits for it.
func (c *jobCounter) stop() {
	c.cancel()
	c.wg.Wait()
}
