package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/store"
)

// The group-committed write-ahead log of new jobs (Config.GroupCommit).
//
// A create writes its job several times before it answers (the pending
// record, each attempt's write-ahead record, the resource handle, the
// outcome). Without the log each write is a file of its own. With it,
// while the creating process holds the job's lock and has told nobody of
// the job, those writes go to the log instead: concurrent writes of every
// job share one log file per batch (csb/jobs/wal/<instance>.<seq>, one
// storage write, fsynced by Caddy's file storage), and the job's per-job
// file is written once, with its latest record ("settling" it), before
// the job is announced:
//
//   - before the create's answer (whatever it says);
//   - before an answer that the job is still in progress (RespondWithin
//     passed): from then on every write of the job goes to its file;
//   - before the job's lock is released.
//
// So another broker sharing the storage, and this one after a restart,
// never needs the log to read a job anybody was told of; a log file is
// deleted once every job it holds is settled.
//
// Crash safety: a record is acknowledged to the writer only once its log
// file is stored. A process that dies with jobs unsettled leaves their
// log files; every pass of the reaper (of any broker sharing the storage,
// the restarted one included) replays the log files of other instances
// that are dead (their instance lock is free, newlock.go), and those of
// live ones walOrphanAge after it first listed them (or last found them
// refreshed by their writer, whose create could not take its job's
// storage lock yet: newlock.go): under
// each job's lock (so never a job its creator still works on), it writes
// a log record to the job's file when it is newer (Rev) than the stored
// one, or when the file is missing but the job's owner index key exists
// (a create that never settled; a job purged or dropped has no index
// key). The reaper then resumes or cleans up the job as it does any job
// a dead instance left in flight. A settle that fails keeps the job in
// the log: its creator retries at its next reaper pass, and this
// process's reads of the job find the log's record.
//
// Events. A job's events are announced once the record that carries them
// is stored (events.go). Those of a deferred write, held in memory with
// its record or without it (hold, holdBehind), are held too, with the
// job (walJob.events), and announced by whoever holds the job's lock
// once a record that carries them is stored: the job's next write (its
// log append, or its file once announced), its worker's settle, or the
// reaper's retry of a failed settle, always before the events of a later
// write. An announce's settle (the await's, on the request's goroutine
// while the worker holds the job) stores the record and leaves its
// events to the worker's next write or settle: the job's events are
// announced by one goroutine at a time, in order, and only the worker
// touches the job's in-memory outbox state (EventState.handed). The
// events of a job dropped (a create answered as failed) are discarded
// with it.

const walPrefix = "csb/jobs/wal/" // csb/jobs/wal/<instance>.<seq>: a batch of job records

// walOrphanAge is how long a running broker leaves a live instance's log
// file alone after it first saw it (the files of a live peer are deleted
// by the peer within a create's time; one whose delete failed is
// replayed then); the files of a dead instance (its instance lock can be
// taken, newlock.go) are replayed at once. A live peer's new job is held
// by its lock in the storage well within that time (newLockHoldAfter);
// while that lock cannot be taken, the peer refreshes the job's log files
// every newLockRetry, and each refresh starts the age again.
const walOrphanAge = 20 * time.Second

// walFile is the content of one log file.
type walFile struct {
	Instance string `json:"instance"`
	Seq      uint64 `json:"seq"`
	// Refresh counts its writer's refreshes (jobWAL.refresh): another
	// broker that finds it changed since it last looked leaves the file
	// alone for walOrphanAge more.
	Refresh uint64      `json:"refresh,omitempty"`
	Records []walRecord `json:"records"`
}

type walRecord struct {
	ID  string          `json:"id"`
	Rev uint64          `json:"rev"`
	Job json.RawMessage `json:"job"`
}

type walReq struct {
	rec  walRecord
	seq  uint64 // the Seq of the record's last event (Events.Seq)
	done chan error
}

// walJob is what the log knows of one unsettled job of this instance.
type walJob struct {
	rev  uint64
	data []byte
	// drev is data's Rev: rev, unless the job is behind (then older);
	// dseq is the Seq of data's last event.
	drev, dseq uint64
	files      map[string]bool // log files holding its records
	announced  bool            // writes go to the job's file from now on
	// behind: the job has changed since data (rev is the change's) and
	// its worker has not encoded it yet (holdBehind); the worker does
	// before it settles the job (Manager.catchUp).
	behind bool
	// events are the events of the job's deferred writes not announced
	// yet, in order (see the top of this file); stored is the Seq of the
	// last event of the newest record a settle stored (or logged).
	events []Event
	stored uint64
}

// jobWAL is a manager's log.
type jobWAL struct {
	m *Manager

	mu      sync.Mutex
	queue   []*walReq
	writers int // appends writing a batch (at most walWriters)
	seq     uint64
	jobs    map[string]*walJob
	files   map[string]map[string]bool // log file → unsettled jobs in it

	// settling queues the settles of each job: one job's run in Rev
	// order, and never wait for another job's (a lock per stripe of
	// ids, held across the file's sync, made up to a hundred concurrent
	// creates' settles queue behind others').
	settling store.LockQueue
	settled  map[string]uint64

	// waiting counts the jobs with events held (walJob.events), so that
	// a write finds none without taking mu.
	waiting atomic.Int64
}

func newJobWAL(m *Manager) *jobWAL {
	return &jobWAL{m: m, jobs: map[string]*walJob{}, files: map[string]map[string]bool{}, settled: map[string]uint64{}}
}

func (w *jobWAL) key(seq uint64) string {
	return fmt.Sprintf("%s%s.%016d", walPrefix, w.m.instance, seq)
}

// logged reports whether writes of job id go to the log.
func (w *jobWAL) logged(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	j, ok := w.jobs[id]
	return ok && !j.announced
}

// latest returns the newest logged record of an unsettled job.
func (w *jobWAL) latest(id string) ([]byte, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if j, ok := w.jobs[id]; ok && j.data != nil {
		return j.data, true
	}
	return nil, false
}

// start registers a new job whose writes go to the log.
func (w *jobWAL) start(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.jobs[id] = &walJob{files: map[string]bool{}}
}

// walWriters is how many log files are written at once: while they are,
// appends queue, and the next free writer takes the whole queue.
const walWriters = 4

// hold keeps a record of a logged job in memory: the job's next log
// append or its settle writes it (Config.GroupCommit's deferred writes:
// the pending record, and a create's outcome). seq is the Seq of its
// last event; evs, the events of the write, are held until a record that
// carries them is stored (see the top of this file).
func (w *jobWAL) hold(id string, rev, seq uint64, data []byte, evs []Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	j, ok := w.jobs[id]
	if !ok {
		return
	}
	if rev >= j.rev {
		j.rev, j.drev, j.dseq, j.data, j.behind = rev, rev, seq, data, false
	}
	w.keepEvents(j, evs)
}

// keepEvents holds evs with job j until a record that carries them is
// stored. Called with w.mu held.
func (w *jobWAL) keepEvents(j *walJob, evs []Event) {
	switch {
	case len(evs) == 0:
	case len(j.events) == 0:
		w.waiting.Add(1)
		j.events = evs
	default:
		j.events = append(j.events, evs...)
	}
}

// dropEvents discards the events held with job j. Called with w.mu held.
func (w *jobWAL) dropEvents(j *walJob) {
	if len(j.events) > 0 {
		w.waiting.Add(-1)
	}
	j.events = nil
}

// takeEvents returns, and stops holding, the events held with job id
// that a stored record carries: those up to Seq upTo, or up to the last
// event of the newest record a settle stored. The caller holds the job's
// lock (its events are announced in order, by one goroutine at a time)
// and announces them at once (Manager.emit), before any later event of
// the job.
func (w *jobWAL) takeEvents(id string, upTo uint64) []Event {
	if w.waiting.Load() == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	j, ok := w.jobs[id]
	if !ok || len(j.events) == 0 {
		return nil
	}
	upTo = max(upTo, j.stored)
	n := 0
	for n < len(j.events) && j.events[n].Seq <= upTo {
		n++
	}
	out := j.events[:n:n]
	if j.events = j.events[n:]; len(j.events) == 0 {
		w.dropEvents(j)
	}
	return out
}

// waitingFrom returns the Seq of the first event held with job id, or 0
// when none is: that event and the later ones are not announced yet.
func (w *jobWAL) waitingFrom(id string) uint64 {
	if w.waiting.Load() == 0 {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if j, ok := w.jobs[id]; ok && len(j.events) > 0 {
		return j.events[0].Seq
	}
	return 0
}

// holdBehind notes a deferred write of a logged job without its record:
// the job's worker encodes the record once, before it settles the job,
// instead of at each of a create's deferred writes (only the last is
// ever written). It returns false, and the caller encodes and holds the
// record as usual, when the log holds no record of the job to stand in
// for it meanwhile (readers of the job and an early settle, the answer
// that a job is still in progress, use the older record) or the job is
// no longer logged. The write's events, evs, are held with the job when
// it returns true.
func (w *jobWAL) holdBehind(id string, rev uint64, evs []Event) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	j, ok := w.jobs[id]
	if !ok || j.announced || j.data == nil || rev < j.rev {
		return false
	}
	j.rev, j.behind = rev, true
	w.keepEvents(j, evs)
	return true
}

// isBehind reports whether a logged job's held record is older than the
// job (holdBehind).
func (w *jobWAL) isBehind(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	j, ok := w.jobs[id]
	return ok && j.behind
}

// append stores a record of job id in the log, sharing the storage write
// with every record appended meanwhile (group commit: an append that
// finds a writer free becomes one, writing the queue as one file, then
// the records queued during that write, and so on). A job has one append
// at a time, so its records reach the log in order; a replay takes the
// newest by Rev whatever the file. It returns once the record's file is
// stored. seq is the Seq of the record's last event.
func (w *jobWAL) append(id string, rev, seq uint64, data []byte) error {
	r := &walReq{rec: walRecord{ID: id, Rev: rev, Job: data}, seq: seq, done: make(chan error, 1)}
	w.mu.Lock()
	w.queue = append(w.queue, r)
	if w.writers >= walWriters {
		w.mu.Unlock()
		return <-r.done
	}
	w.writers++
	for len(w.queue) > 0 {
		batch := w.queue
		w.queue = nil
		w.seq++
		seq := w.seq
		w.mu.Unlock()
		err := w.write(seq, batch)
		w.mu.Lock()
		key := w.key(seq)
		for _, b := range batch {
			if err == nil {
				if j, ok := w.jobs[b.rec.ID]; ok {
					if b.rec.Rev >= j.rev {
						j.rev, j.drev, j.dseq, j.data, j.behind = b.rec.Rev, b.rec.Rev, b.seq, b.rec.Job, false
					}
					j.files[key] = true
					if w.files[key] == nil {
						w.files[key] = map[string]bool{}
					}
					w.files[key][b.rec.ID] = true
				}
			}
			b.done <- err
		}
		w.dropUnclaimed(key, err)
	}
	w.writers--
	w.mu.Unlock()
	return <-r.done
}

func (w *jobWAL) write(seq uint64, batch []*walReq) error {
	// The walFile encoding, written by hand: the records are the jobs'
	// JSON already, which json.Marshal would scan again.
	size := 64
	for _, b := range batch {
		size += len(b.rec.Job) + len(b.rec.ID) + 40
	}
	data := make([]byte, 0, size)
	data = append(data, `{"instance":`...)
	data = strconv.AppendQuote(data, w.m.instance)
	data = append(data, `,"seq":`...)
	data = strconv.AppendUint(data, seq, 10)
	data = append(data, `,"records":[`...)
	for i, b := range batch {
		if i > 0 {
			data = append(data, ',')
		}
		data = append(data, `{"id":`...)
		data = strconv.AppendQuote(data, b.rec.ID) // a valid job id: no escapes
		data = append(data, `,"rev":`...)
		data = strconv.AppendUint(data, b.rec.Rev, 10)
		data = append(data, `,"job":`...)
		data = append(data, b.rec.Job...)
		data = append(data, '}')
	}
	data = append(data, "]}"...)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.m.base), 30*time.Second)
	defer cancel()
	if err := w.m.store.Store(ctx, w.key(seq), data); err != nil {
		return fmt.Errorf("storing the job log: %w", err)
	}
	return nil
}

// dropUnclaimed deletes a log file written without error that no
// tracked job claims (its jobs were dropped meanwhile). Called with w.mu
// held; the delete runs in the background.
func (w *jobWAL) dropUnclaimed(key string, err error) {
	if err != nil || len(w.files[key]) > 0 {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(w.m.base), 30*time.Second)
		defer cancel()
		_ = w.m.store.Delete(ctx, key)
	}()
}

// store writes a job record to its file unless a newer one was written
// there (settles of one job run in Rev order).
func (w *jobWAL) store(ctx context.Context, id string, rev uint64, data []byte) error {
	// Not given up when ctx ends: a settle waits for the job's earlier
	// one as it did on a mutex, and the write itself decides (a create
	// whose request went away still settles).
	_, _ = w.settling.Acquire(context.WithoutCancel(ctx), id)
	defer w.settling.Release(id)
	w.mu.Lock()
	done := w.settled[id]
	w.mu.Unlock()
	if rev <= done {
		return nil
	}
	if err := w.m.store.Store(ctx, jobKey(id), data); err != nil {
		return fmt.Errorf("storing job %s: %w", id, err)
	}
	w.mu.Lock()
	w.settled[id] = rev
	w.mu.Unlock()
	return nil
}

// settle writes the latest logged record of job id to its file, and from
// then on routes the job's writes there (announce); with forget it also
// stops tracking the job (its lock is being released). The log files
// whose jobs are all settled are deleted.
//
// The record is written with its own Rev: a job behind (holdBehind) has
// a newer Rev than the record the log holds, and the settle of the
// record its worker encodes later (catchUp) must not be passed over as
// written already.
//
// owner: the caller holds the job's lock and its Job (the worker, or the
// create's request before the worker starts): once the record is stored
// (or logged), it announces the held events the record carries. An
// announce's settle (on the request's goroutine while the worker holds
// the job) leaves them to the worker (see the top of this file).
func (w *jobWAL) settle(ctx context.Context, id string, forget, owner bool) error {
	w.mu.Lock()
	j, ok := w.jobs[id]
	if !ok {
		w.mu.Unlock()
		return nil
	}
	j.announced = true
	rev, seq, data := j.drev, j.dseq, j.data
	w.mu.Unlock()
	if data != nil {
		if err := w.store(ctx, id, rev, data); err != nil {
			// The record may be held in memory only: keep it in the
			// log at least, for the retry or another broker's replay.
			if lerr := w.append(id, rev, seq, data); lerr != nil {
				return errors.Join(err, lerr)
			}
			w.storedUpTo(id, seq)
			if owner {
				w.m.emit(w.takeEvents(id, seq))
			}
			return err
		}
		w.m.touch(id)
		w.storedUpTo(id, seq)
	}
	if owner {
		w.m.emit(w.takeEvents(id, seq))
	}
	w.release(id, forget, rev)
	return nil
}

// storedUpTo notes that a record of job id whose last event is seq is
// stored: its held events up to seq may be announced (takeEvents).
func (w *jobWAL) storedUpTo(id string, seq uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if j, ok := w.jobs[id]; ok {
		j.stored = max(j.stored, seq)
	}
}

// release drops job id's claim on its log files, and deletes the files
// no unsettled job needs. The record held in memory is dropped when it
// is no newer than settled, the Rev just written to the job's file: a
// write the job's worker held meanwhile (a deferred write that checked
// the job was logged just before settle announced it) is kept for the
// next settle, not lost.
func (w *jobWAL) release(id string, forget bool, settled uint64) {
	w.mu.Lock()
	j, ok := w.jobs[id]
	if !ok {
		w.mu.Unlock()
		return
	}
	var empty []string
	for k := range j.files {
		delete(w.files[k], id)
		if len(w.files[k]) == 0 {
			delete(w.files, k)
			empty = append(empty, k)
		}
	}
	j.files = map[string]bool{}
	if j.rev <= settled || forget {
		j.data = nil
	}
	if forget {
		// Events still held were never stored: a dropped job's, or
		// those of a record never encoded.
		w.dropEvents(j)
		delete(w.jobs, id)
		delete(w.settled, id)
	}
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.m.base), 30*time.Second)
	defer cancel()
	for _, k := range empty {
		if err := w.m.store.Delete(ctx, k); err != nil {
			w.m.logger.Warn("deleting a settled job log file; the reaper replays it", zap.String("key", k), zap.Error(err))
		}
	}
}

// refresh rewrites the log files that hold records of job id, unchanged
// but for their refresh count: the job's work goes on, and its storage
// lock could not be taken yet (newlock.go), so no other broker may replay
// them, which one does walOrphanAge after it first listed a file unless
// it found the file refreshed since (replayWAL).
func (w *jobWAL) refresh(ctx context.Context, id string) error {
	w.mu.Lock()
	var keys []string
	if j, ok := w.jobs[id]; ok {
		for k := range j.files {
			keys = append(keys, k)
		}
	}
	w.mu.Unlock()
	var errs []error
	for _, key := range keys {
		data, err := w.m.store.Load(ctx, key)
		if errors.Is(err, store.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var f walFile
		if err := json.Unmarshal(data, &f); err != nil {
			errs = append(errs, fmt.Errorf("reading job log file %s: %w", key, err))
			continue
		}
		f.Refresh++
		if data, err = json.Marshal(f); err == nil {
			err = w.m.store.Store(ctx, key, data)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("refreshing job log file %s: %w", key, err))
			continue
		}
		// The jobs of the file may have been settled meanwhile and the
		// file deleted before this write: one no job claims is
		// deleted again.
		w.mu.Lock()
		claimed := len(w.files[key]) > 0
		w.mu.Unlock()
		if !claimed {
			if err := w.m.store.Delete(ctx, key); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// drop forgets a job whose record was deleted (a create answered as
// failed before anything was announced).
func (w *jobWAL) drop(id string) { w.release(id, true, 0) }

// retry settles, under their locks, this instance's jobs whose settle
// failed (the reaper's pass); a job still in flight here is skipped (its
// lock is held).
func (w *jobWAL) retry(ctx context.Context) {
	type pending struct {
		id       string
		rev, seq uint64
		data     []byte
	}
	w.mu.Lock()
	var todo []pending
	for id, j := range w.jobs {
		if j.announced && j.data != nil {
			todo = append(todo, pending{id, j.drev, j.dseq, j.data})
		}
	}
	w.mu.Unlock()
	for _, p := range todo {
		// The held events the record carries are announced once it is
		// written, under the job's lock (a write the record lost to,
		// one newer in the job's file, announced its own).
		written := func() { w.m.emit(w.takeEvents(p.id, p.seq)) }
		if _, err := w.m.replayRecord(ctx, walRecord{ID: p.id, Rev: p.rev, Job: p.data}, written); err != nil {
			continue
		}
		w.release(p.id, true, p.rev)
	}
}

// holds reports whether log files of this instance hold records of job
// id.
func (w *jobWAL) holds(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	j, ok := w.jobs[id]
	return ok && len(j.files) > 0
}

// stored reports whether some record of job id is stored: in a log
// file, or in its own file.
func (w *jobWAL) stored(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	j, ok := w.jobs[id]
	return ok && len(j.files) > 0 || w.settled[id] > 0
}

// known reports whether the log tracks job id (logged or announced).
func (w *jobWAL) known(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.jobs[id]
	return ok
}

// replay folds the log files of other instances (dead ones, or live ones
// whose jobs are settled) into the jobs' files; see the comment at the
// top of this file. It reports the records written.
func (m *Manager) replayWAL(ctx context.Context) (int, error) {
	keys, err := m.store.List(ctx, walPrefix)
	if err != nil {
		return 0, err
	}
	now := m.now()
	gone := map[string]bool{} // instance → dead (instanceAlive)
	m.walSeenMu.Lock()
	if m.walSeen == nil {
		m.walSeen = map[string]time.Time{}
		m.walIDs = map[string][]string{}
		m.walGens = map[string]uint64{}
	}
	due := keys[:0:0]
	gens := map[string]uint64{} // due file → its refresh count when last looked at
	present := map[string]bool{}
	for _, key := range keys {
		name := strings.TrimPrefix(key, walPrefix)
		if inst, _, _ := strings.Cut(name, "."); inst == m.instance {
			continue
		}
		present[key] = true
		// Caddy's file storage writes through a temporary file in the
		// key's directory (named with digits): one a crash left behind
		// holds nothing acknowledged. It is deleted once old enough not
		// to be a live peer's write in progress.
		temp := !strings.Contains(name, ".")
		if ids, ok := m.walIDs[key]; (!ok || ids == nil) && !temp {
			// Read once; again at each pass while it could not be
			// read (nil), so that its jobs become known (loggedIDs)
			// and the owner index's cleanup resumes (logsUnread).
			// Its refresh count is taken when this process starts to
			// count the file's age (0 when the file could not be read
			// then): a later read does not move it, so that a refresh
			// meanwhile is never missed.
			ids, gen := m.logIDs(ctx, key)
			m.walIDs[key] = ids
			if !ok {
				m.walGens[key] = gen
			}
		}
		seen, ok := m.walSeen[key]
		if !ok {
			seen = now
			m.walSeen[key] = seen
		}
		if now.Sub(seen) >= walOrphanAge {
			due = append(due, key)
			gens[key] = m.walGens[key]
		} else if !temp {
			inst, _, _ := strings.Cut(name, ".")
			if _, ok := gone[inst]; !ok {
				gone[inst] = !m.instanceAlive(ctx, inst)
			}
			if gone[inst] {
				due = append(due, key) // its writer is dead: replay now
			}
		}
	}
	for key := range m.walSeen {
		if !present[key] {
			delete(m.walSeen, key)
			delete(m.walIDs, key)
			delete(m.walGens, key)
		}
	}
	m.walSeenMu.Unlock()
	written := 0
	for _, key := range due {
		if !strings.Contains(strings.TrimPrefix(key, walPrefix), ".") {
			if err := m.store.Delete(ctx, key); err != nil {
				m.logger.Warn("deleting a leftover job log write", zap.String("key", key), zap.Error(err))
			}
			continue
		}
		data, err := m.store.Load(ctx, key)
		if errors.Is(err, store.ErrNotExist) {
			continue
		}
		if err != nil {
			return written, err
		}
		var f walFile
		if err := json.Unmarshal(data, &f); err != nil {
			m.logger.Warn("unreadable job log file", zap.String("key", key), zap.Error(err))
			continue
		}
		inst, _, _ := strings.Cut(strings.TrimPrefix(key, walPrefix), ".")
		if gen, aged := gens[key]; aged && f.Refresh != gen && m.instanceAlive(ctx, inst) {
			// Its live writer refreshed it since this process last
			// looked: a create whose storage lock could not be taken
			// yet works on its job (newlock.go). Its age starts again.
			m.walSeenMu.Lock()
			if _, ok := m.walSeen[key]; ok {
				m.walSeen[key] = now
				m.walGens[key] = f.Refresh
			}
			m.walSeenMu.Unlock()
			continue
		}
		newest := map[string]walRecord{}
		var order []string
		for _, r := range f.Records {
			if !validID(r.ID) {
				continue
			}
			if old, ok := newest[r.ID]; !ok || r.Rev >= old.Rev {
				if !ok {
					order = append(order, r.ID)
				}
				newest[r.ID] = r
			}
		}
		complete := true
		for _, id := range order {
			n, err := m.replayRecord(ctx, newest[id], nil)
			if err != nil {
				complete = false
				continue
			}
			written += n
		}
		if complete {
			if err := m.store.Delete(ctx, key); err != nil {
				m.logger.Warn("deleting a replayed job log file", zap.String("key", key), zap.Error(err))
			}
		}
	}
	return written, nil
}

// logIDs returns the ids of the jobs a log file holds records of (nil
// when it cannot be read), and its refresh count.
func (m *Manager) logIDs(ctx context.Context, key string) ([]string, uint64) {
	data, err := m.store.Load(ctx, key)
	if err != nil {
		return nil, 0
	}
	var f walFile
	if json.Unmarshal(data, &f) != nil {
		return nil, 0
	}
	ids := make([]string, 0, len(f.Records))
	for _, r := range f.Records {
		ids = append(ids, r.ID)
	}
	return ids, f.Refresh
}

// unsettledIDs returns this process's new jobs whose files are not
// written yet (none without the log).
func (m *Manager) unsettledIDs() []string {
	if m.wal == nil {
		return nil
	}
	m.wal.mu.Lock()
	defer m.wal.mu.Unlock()
	ids := make([]string, 0, len(m.wal.jobs))
	for id := range m.wal.jobs {
		ids = append(ids, id)
	}
	return ids
}

// loggedIDs returns the jobs with records in a job log: this process's
// unsettled jobs and those of the other instances' log files the last
// replay listed. Their index keys are not stale (reconcileOwners), even
// without a job file: a create in flight, or one a replay will write.
func (m *Manager) loggedIDs() map[string]bool {
	out := map[string]bool{}
	for _, id := range m.unsettledIDs() {
		out[id] = true
	}
	m.walSeenMu.Lock()
	for _, ids := range m.walIDs {
		for _, id := range ids {
			out[id] = true
		}
	}
	m.walSeenMu.Unlock()
	return out
}

// replayRecord writes one logged record to its job's file, under the
// job's lock, if it is newer than what is stored there. A record no newer
// than the stored one is passed over without the lock (a file's Rev only
// grows), so that replaying a live peer's settled jobs takes no lock.
// written, when not nil, runs under the lock once the record is written.
func (m *Manager) replayRecord(ctx context.Context, r walRecord, written func()) (int, error) {
	if data, err := m.store.Load(ctx, jobKey(r.ID)); err == nil {
		var cur struct {
			Rev uint64 `json:"rev"`
		}
		if json.Unmarshal(data, &cur) == nil && cur.Rev >= r.Rev {
			return 0, nil
		}
	}
	unlock, err := m.lock(ctx, r.ID, 100*time.Millisecond)
	if err != nil {
		return 0, err // its creator still holds it
	}
	defer unlock()
	var rec Job
	if err := json.Unmarshal(r.Job, &rec); err != nil || rec.ID != r.ID {
		return 0, nil // nothing to replay
	}
	data, err := m.store.Load(ctx, jobKey(r.ID))
	switch {
	case err == nil:
		var cur Job
		if json.Unmarshal(data, &cur) == nil && cur.Rev >= rec.Rev {
			return 0, nil
		}
	case errors.Is(err, store.ErrNotExist):
		// Missing: a create that never settled, or a job purged or
		// dropped since (its index key is gone).
		if _, err := m.store.Load(ctx, ownerKey(rec.Owner, rec.ID)); errors.Is(err, store.ErrNotExist) {
			return 0, nil
		} else if err != nil {
			return 0, err
		}
	default:
		return 0, err
	}
	if err := m.store.Store(ctx, jobKey(r.ID), r.Job); err != nil {
		return 0, err
	}
	m.forget(r.ID)
	if written != nil {
		written()
	}
	m.logger.Info("job record replayed from another instance's log", zap.String("job_id", r.ID), zap.Uint64("rev", rec.Rev))
	return 1, nil
}

// storeRecord writes a job's record: to the log while the job is
// logged, else to its file (through the log's Rev order when the log
// knows the job). A deferred write of a logged job is held in memory
// instead (held), and so are its events, evs, until a record that
// carries them is stored (see the top of this file); otherwise the
// caller announces them once storeRecord returns.
func (m *Manager) storeRecord(ctx context.Context, j *Job, data []byte, evs []Event) (held bool, err error) {
	deferred := j.deferWrite
	j.deferWrite = false
	if m.wal != nil {
		if m.wal.logged(j.ID) {
			if deferred {
				m.wal.hold(j.ID, j.Rev, j.Events.Seq, data, m.heard(evs))
				return true, nil
			}
			return false, m.wal.append(j.ID, j.Rev, j.Events.Seq, data)
		}
		if m.wal.known(j.ID) {
			return false, m.wal.store(ctx, j.ID, j.Rev, data)
		}
	}
	if err := m.store.Store(ctx, jobKey(j.ID), data); err != nil {
		return false, fmt.Errorf("storing job %s: %w", j.ID, err)
	}
	return false, nil
}

// loadRecord reads a job's record: the log's newest record of an
// unsettled job of this process, else its file.
func (m *Manager) loadRecord(ctx context.Context, id string) ([]byte, error) {
	if m.wal != nil {
		if data, ok := m.wal.latest(id); ok {
			return data, nil
		}
	}
	return m.store.Load(ctx, jobKey(id))
}

// settleLogged settles a logged job (see jobWAL.settle); a failure is
// logged, the job stays in the log and the reaper's pass retries.
func (m *Manager) settleLogged(ctx context.Context, id string, forget bool) {
	if m.wal == nil {
		return
	}
	if err := m.wal.settle(ctx, id, forget, false); err != nil {
		m.logger.Warn("settling a logged job; it stays in the log", zap.String("job_id", id), zap.Error(err))
	}
}

// settleCreate settles a new job once its provisioning is done. A
// failure is logged and the job stays in the log, for the reaper's pass
// to retry; the error is returned only when nothing of the job is stored
// anywhere, neither its file nor a log record.
func (m *Manager) settleCreate(ctx context.Context, id string) error {
	if m.wal == nil {
		return nil
	}
	err := m.wal.settle(ctx, id, false, true)
	if err == nil {
		return nil
	}
	if m.wal.stored(id) {
		m.logger.Warn("settling a logged job; it stays in the log", zap.String("job_id", id), zap.Error(err))
		return nil
	}
	return err
}

// settleBeforeUnlock wraps a new job's unlock: the job is settled before
// its lock is released.
func (m *Manager) settleBeforeUnlock(id string, unlock func()) func() {
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(m.base), 30*time.Second)
		defer cancel()
		if err := m.wal.settle(ctx, id, true, true); err != nil {
			m.logger.Warn("settling a logged job; it stays in the log", zap.String("job_id", id), zap.Error(err))
		}
		unlock()
	}
}

// replayLogs retries this process's failed settles and replays other
// instances' logs (the reaper's pass).
func (m *Manager) replayLogs(ctx context.Context) {
	if m.wal != nil {
		m.wal.retry(ctx)
	}
	if n, err := m.replayWAL(ctx); err != nil {
		m.logger.Warn("replaying job logs", zap.Error(err))
	} else if n > 0 {
		m.logger.Info("job records replayed from job logs", zap.Int("records", n))
	}
}
