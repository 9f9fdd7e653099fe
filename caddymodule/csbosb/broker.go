package csbosb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"code.cloudfoundry.org/brokerapi/v13/domain"
	"code.cloudfoundry.org/brokerapi/v13/domain/apiresponses"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/caddymodule"
)

// osbBroker implements brokerapi's ServiceBroker over the csb app's job
// manager: each service instance is one broker job, placed by policy.
type osbBroker struct {
	h      *Handler
	app    *caddymodule.App
	rec    records
	logger *zap.Logger
	cache  catalogCache

	// work counts the background operations (background); the
	// handler's Cleanup waits for them (drain), so that a stop does not
	// cut a provision between its job and its idempotency record (then
	// the platform's next poll, after a restart, found no record naming
	// the job and provisioned a second one). draining refuses new ones.
	workMu   sync.Mutex
	work     sync.WaitGroup
	draining bool
}

// running marks the operations this process is working on (record key →
// operation id), for every handler of the process: a poll that finds an
// operation in progress that nobody here works on resumes it.
var running sync.Map

// workTimeout bounds one background operation.
const workTimeout = 10 * time.Minute

// placementRequest is a request with the provider it is pinned to.
type placementRequest struct {
	req      *csbmsg.ServiceRequest
	provider string
}

// OSB errors.
func badRequest(format string, args ...any) error {
	return apiresponses.NewFailureResponse(fmt.Errorf(format, args...), http.StatusBadRequest, "bad-request")
}

func unprocessable(format string, args ...any) error {
	return apiresponses.NewFailureResponse(fmt.Errorf(format, args...), http.StatusUnprocessableEntity, "unprocessable")
}

func notFound(format string, args ...any) error {
	return apiresponses.NewFailureResponse(fmt.Errorf(format, args...), http.StatusNotFound, "not-found")
}

func concurrency(rec *instanceRecord) error {
	return apiresponses.NewFailureResponseBuilder(
		fmt.Errorf("instance %s is busy: its %s (operation %s) is in progress; wait until it has finished", rec.ID, rec.Op.Kind, rec.Op.ID),
		http.StatusUnprocessableEntity, "concurrency-error").WithErrorKey("ConcurrencyError").Build()
}

func serverError(err error) error {
	return apiresponses.NewFailureResponse(err, http.StatusInternalServerError, "server-error")
}

// mgr returns the job manager, or an OSB error when it is not running.
func (b *osbBroker) mgr() (*jobs.Manager, error) {
	m := b.app.JobManager()
	if m == nil {
		return nil, apiresponses.NewFailureResponse(errors.New("the broker's job manager is not running (configure the csb app's consumer side)"), http.StatusServiceUnavailable, "no-job-manager")
	}
	return m, nil
}

// Services is GET /v2/catalog.
func (b *osbBroker) Services(ctx context.Context) ([]domain.Service, error) {
	return b.view().services, nil
}

// checkMaintenance answers MaintenanceInfoConflict when the platform's
// maintenance_info is not the catalogue's.
func (b *osbBroker) checkMaintenance(mi *domain.MaintenanceInfo) error {
	if mi == nil || (mi.Version == "" && mi.Private == "" && len(mi.Public) == 0) {
		return nil
	}
	if b.h.MaintenanceVersion == "" {
		return apiresponses.ErrMaintenanceInfoNilConflict
	}
	if mi.Version != b.h.MaintenanceVersion {
		return apiresponses.ErrMaintenanceInfoConflict
	}
	return nil
}

// checkChange is what a provision and an update check first: that the
// platform accepts an asynchronous answer, and its maintenance version.
func (b *osbBroker) checkChange(async bool, mi *domain.MaintenanceInfo) error {
	if !async {
		return apiresponses.ErrAsyncRequired
	}
	return b.checkMaintenance(mi)
}

// planFor finds a plan of the catalogue and checks that it belongs to
// the service.
func (b *osbBroker) planFor(serviceID, planID string) (*osbPlan, error) {
	v := b.view()
	p, ok := v.plans[planID]
	if !ok {
		return nil, badRequest("unknown plan_id %q: GET /v2/catalog lists the plans", planID)
	}
	if k, ok := v.service[serviceID]; !ok || k != p.Kind {
		return nil, badRequest("plan %s (%s) does not belong to service_id %q", p.Plan.Name, planID, serviceID)
	}
	return p, nil
}

// resolve validates a plan's parameters and finds the providers that can
// serve them now: the pinned provider, else every matching one the
// platform user may use.
func (b *osbBroker) resolve(c caller, p *osbPlan, q params) (placementRequest, []string, error) {
	pin, err := p.provider(q)
	if err != nil {
		return placementRequest{}, nil, badRequest("%v", err)
	}
	pr := placementRequest{req: p.request(q), provider: pin}
	if pr.provider != "" {
		if _, known := b.knownProvider(pr.provider); !known {
			return pr, nil, badRequest("parameter provider: unknown provider %q", pr.provider)
		}
	}
	providers, why := b.matching(c.Platform, pr)
	if len(providers) == 0 {
		return pr, nil, unprocessable("no provider can serve plan %s with these parameters now: %s", p.Plan.Name, why)
	}
	return pr, providers, nil
}

func (b *osbBroker) knownProvider(id string) (string, bool) {
	if b.app.Provider(id) != nil {
		return id, true
	}
	if cat := b.app.Catalogue(); cat != nil {
		if _, ok := cat.Provider(id); ok {
			return id, true
		}
	}
	return "", false
}

// canonical compacts raw JSON parameters for comparison: nil for none,
// and for an empty object, which asks for nothing either (a platform may
// send "parameters": {} in one request and leave them out in its re-send).
func canonical(raw json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	if m, ok := v.(map[string]any); ok && len(m) == 0 {
		return nil
	}
	out, _ := json.Marshal(v) // map keys are sorted
	return out
}

// Provision is PUT /v2/service_instances/:id: it validates the plan and
// parameters, records the instance, and starts the broker job in the
// background (202 with the operation id).
func (b *osbBroker) Provision(ctx context.Context, instanceID string, d domain.ProvisionDetails, async bool) (domain.ProvisionedServiceSpec, error) {
	var spec domain.ProvisionedServiceSpec
	// OSB 2.17 makes both fields REQUIRED and non-empty, and a request
	// missing mandatory data MUST get 400 (brokerapi checks only the ids).
	if d.OrganizationGUID == "" || d.SpaceGUID == "" {
		return spec, badRequest("organization_guid and space_guid are required (non-empty strings) in a provision request")
	}
	if err := b.checkChange(async, d.MaintenanceInfo); err != nil {
		return spec, err
	}
	c := callerOf(ctx)
	p, err := b.planFor(d.ServiceID, d.PlanID)
	if err != nil {
		return spec, err
	}
	q, err := parseParams(d.RawParameters, p.Kind)
	if err != nil {
		return spec, badRequest("%v", err)
	}
	if _, err := b.mgr(); err != nil {
		return spec, err
	}
	key := instanceKey(c.Platform, instanceID)
	unlock, err := b.rec.lock(ctx, key)
	if err != nil {
		return spec, serverError(err)
	}
	defer unlock()
	prev, err := b.rec.loadInstance(ctx, key)
	if err != nil && !errors.Is(err, errNoRecord) {
		return spec, serverError(err)
	}
	params := canonical(d.RawParameters)
	if prev != nil && !prev.Deleted {
		same := prev.Owner == c.owner() && prev.ServiceID == d.ServiceID && prev.PlanID == d.PlanID && bytes.Equal(canonical(prev.Params), params)
		switch {
		case !same:
			return spec, apiresponses.ErrInstanceAlreadyExists
		case prev.Op.Kind == opProvision && prev.Op.State == stateInProgress:
			return domain.ProvisionedServiceSpec{IsAsync: true, OperationData: prev.Op.ID}, nil
		case prev.Op.Kind == opProvision && prev.Op.State == stateSucceeded, prev.Op.Kind == opUpdate:
			// Provisioned, with these attributes: an update is only
			// accepted once the provision has succeeded, and it changes
			// the recorded plan and parameters only when it succeeds, so
			// the instance is still the one asked for (OSB: 409 is for
			// other attributes; this was 409 after any update, even a
			// lease renewal).
			return domain.ProvisionedServiceSpec{AlreadyExists: true}, nil
		default:
			// A provision that failed, or an instance being (or that
			// failed to be) deprovisioned.
			return spec, apiresponses.ErrInstanceAlreadyExists
		}
	}
	// Only a new instance is placed: a re-sent request is answered above
	// whether or not a provider could take the instance now.
	pr, providers, err := b.resolve(c, p, q)
	if err != nil {
		return spec, err
	}
	now := time.Now().UTC()
	rec := &instanceRecord{
		ID: instanceID, Platform: c.Platform, Owner: c.owner(), ServiceID: d.ServiceID, PlanID: d.PlanID, Plan: planCopy(p), Params: params,
		Op:      operation{ID: "provision-" + randomToken(12), Kind: opProvision, State: stateInProgress, Started: now, Description: "placing the instance"},
		Created: now, Updated: now,
	}
	if err := b.rec.storeInstance(ctx, key, rec); err != nil {
		return spec, serverError(err)
	}
	b.logger.Info("osb provision accepted", zap.String("instance_id", instanceID), zap.String("owner", rec.Owner), zap.String("plan", p.Plan.Name), zap.Strings("providers", providers))
	b.startProvision(key, rec.Op.ID, rec.Owner, pr, p.lease(q), providers)
	return domain.ProvisionedServiceSpec{IsAsync: true, OperationData: rec.Op.ID}, nil
}

// startProvision creates the instance's job in the background. The job's
// idempotency key is the operation, so a resumed provision (after a
// restart, or on another member of a cluster) finds the job the first
// attempt made instead of making a second one.
func (b *osbBroker) startProvision(key, opID, owner string, pr placementRequest, lease time.Duration, providers []string) {
	b.background(key, opID, func(ctx context.Context) {
		m, err := b.mgr()
		var res *jobs.Result
		if err == nil {
			res, err = m.Create(ctx, owner, pr.req, jobs.CreateOptions{IdempotencyKey: "osb/" + key + "/" + opID, Lease: lease, Access: placementAccess(providers)})
		}
		b.finish(key, opID, func(rec *instanceRecord) {
			switch {
			case err != nil:
				// The engine could not answer (its storage, a lock
				// another broker left behind): the provision stays in
				// progress and the next poll tries again, with the same
				// idempotency key.
				rec.Op.Description = "waiting to create the job: " + err.Error()
			case res.Job == nil:
				rec.Op.State, rec.Op.Description = stateFailed, res.Reason
			default:
				rec.JobID = res.Job.ID
				rec.Op.Description = res.Reason
				b.settleProvision(rec, res.Job)
			}
		})
	})
}

// begin stores the instance with the operation just set on it and
// starts the operation's work.
func (b *osbBroker) begin(ctx context.Context, key string, rec *instanceRecord, start func(key string, rec *instanceRecord)) error {
	rec.Updated = rec.Op.Started
	if err := b.rec.storeInstance(ctx, key, rec); err != nil {
		return serverError(err)
	}
	start(key, rec)
	return nil
}

// settledJob reads the instance's job for an operation that needs its
// resources (an update, a binding): a job that holds none is 422, the
// instance cannot be what ("updated", "bound").
func (b *osbBroker) settledJob(ctx context.Context, rec *instanceRecord, what string) (*jobs.Job, error) {
	j, err := b.jobState(ctx, rec)
	if err != nil {
		return nil, err
	}
	if j == nil || j.Status != jobs.StatusSuccess || j.Resource == nil {
		return nil, unprocessable("service instance %q cannot be %s: %s", rec.ID, what, holdsNothing(rec, j))
	}
	return j, nil
}

// background runs work for the instance's operation opID in a goroutine,
// with a context bounded by workTimeout: once per instance at a time (a
// start while the instance's work runs, in a retried poll, does nothing).
func (b *osbBroker) background(key, opID string, work func(ctx context.Context)) {
	b.workMu.Lock()
	defer b.workMu.Unlock()
	if b.draining {
		return // a later poll, at the next configuration's handler, resumes it
	}
	if _, busy := running.LoadOrStore(key, opID); busy {
		return
	}
	b.work.Add(1)
	go func() {
		defer b.work.Done()
		defer running.Delete(key)
		ctx, cancel := context.WithTimeout(context.Background(), workTimeout)
		defer cancel()
		work(ctx)
	}()
}

// drain refuses new background operations and waits at most d for the
// running ones; it reports whether they all ended.
func (b *osbBroker) drain(d time.Duration) bool {
	b.workMu.Lock()
	b.draining = true
	b.workMu.Unlock()
	done := make(chan struct{})
	go func() {
		b.work.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// finish applies fn to the instance record under its lock, when the
// record's operation is still opID.
func (b *osbBroker) finish(key, opID string, fn func(rec *instanceRecord)) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	unlock, err := b.rec.lock(ctx, key)
	if err != nil {
		b.logger.Error("osb record lock", zap.Error(err))
		return
	}
	defer unlock()
	rec, err := b.rec.loadInstance(ctx, key)
	if err != nil || rec.Op.ID != opID {
		return
	}
	fn(rec)
	rec.Updated = time.Now().UTC()
	if err := b.rec.storeInstance(ctx, key, rec); err != nil {
		b.logger.Error("osb record write", zap.String("instance_id", rec.ID), zap.Error(err))
	}
}

// settleProvision sets a provision's state from its job.
func (b *osbBroker) settleProvision(rec *instanceRecord, j *jobs.Job) {
	switch {
	case j.Status.InFlight():
		rec.Op.State = stateInProgress
	case j.Status == jobs.StatusSuccess:
		rec.Op.State = stateSucceeded
	default:
		rec.Op.State = stateFailed
	}
	if j.Reason != "" {
		rec.Op.Description = j.Reason
	}
}

// errOtherOwner is current's error for an instance that another end
// user of the platform owns; it is also an errNoRecord.
var errOtherOwner = fmt.Errorf("%w: the instance belongs to another user of the platform", errNoRecord)

// current reads the caller's instance (see caller.reaches). It returns
// errNoRecord for an unknown id and a deleted instance, errOtherOwner
// (an errNoRecord too) for an instance of another owner.
func (b *osbBroker) current(ctx context.Context, instanceID string, deletedToo bool) (*instanceRecord, string, error) {
	c := callerOf(ctx)
	key := instanceKey(c.Platform, instanceID)
	rec, err := b.rec.loadInstance(ctx, key)
	if err != nil {
		return nil, key, err
	}
	if rec.Deleted && !deletedToo {
		return nil, key, errNoRecord
	}
	if !c.reaches(rec) {
		return nil, key, errOtherOwner
	}
	return rec, key, nil
}

// locked locks the caller's instance and reads it (see current): the
// record, its key and the unlock to defer. An unknown instance is the
// error missing (each OSB call names its own), an instance of another
// owner the error foreign, any other failure a server error; on an
// error nothing stays locked.
func (b *osbBroker) locked(ctx context.Context, instanceID string, missing, foreign error) (*instanceRecord, string, func(), error) {
	key := instanceKey(callerOf(ctx).Platform, instanceID)
	unlock, err := b.rec.lock(ctx, key)
	if err != nil {
		return nil, key, nil, serverError(err)
	}
	rec, _, err := b.current(ctx, instanceID, false)
	if err != nil {
		unlock()
		if errors.Is(err, errOtherOwner) {
			return nil, key, nil, foreign
		}
		if errors.Is(err, errNoRecord) {
			return nil, key, nil, missing
		}
		return nil, key, nil, serverError(err)
	}
	return rec, key, unlock, nil
}

// notOwner refuses to remove another end user's instance or binding
// (what is to be done). A 410 would say it does not exist: the platform
// then forgets it for good while its resources keep running and, for a
// binding, its credential keeps working. Any status the deprovision and
// unbind tables do not list is a failure the platform remembers.
func notOwner(what, instanceID string) error {
	return apiresponses.NewFailureResponse(
		fmt.Errorf("service instance %q belongs to another user of this platform: only its owner can %s (or the platform itself, without %s)", instanceID, what, originatingHeader),
		http.StatusForbidden, "not-owner")
}

// jobState reads the instance's job: nil when it is gone (purged).
func (b *osbBroker) jobState(ctx context.Context, rec *instanceRecord) (*jobs.Job, error) {
	m, err := b.mgr()
	if err != nil {
		return nil, err
	}
	if rec.JobID == "" {
		return nil, nil
	}
	j, err := m.Get(ctx, rec.Owner, rec.JobID)
	if errors.Is(err, jobs.ErrNoJob) {
		return nil, nil
	}
	if err != nil {
		return nil, serverError(err)
	}
	return j, nil
}

// gone explains a job that holds nothing any more.
func gone(j *jobs.Job) string {
	if j == nil {
		return "the instance's job is gone: its lease ended and its resources were reclaimed"
	}
	switch j.Status {
	case jobs.StatusExpired:
		return "the instance's lease ended and its resources were reclaimed: " + j.Reason
	case jobs.StatusRemoved:
		return "the instance's resources were removed: " + j.Reason
	case jobs.StatusFailed:
		return "the instance failed: " + j.Reason
	}
	return ""
}

// holdsNothing explains why the instance holds no resources, its job
// being j (nil: none). An instance whose provision made no job never
// held any: gone(nil) said its lease had ended and its resources had
// been reclaimed, sending the operator after a reaper that never ran.
func holdsNothing(rec *instanceRecord, j *jobs.Job) string {
	if rec.JobID == "" {
		op := &rec.Op
		if op.Kind != opProvision {
			op = nil
			for i := range rec.Past {
				if rec.Past[i].Kind == opProvision {
					op = &rec.Past[i]
				}
			}
		}
		if op != nil && op.State == stateFailed && op.Description != "" {
			return "its provision failed, so it never held resources: " + op.Description
		}
		return "its provision did not succeed, so it never held resources"
	}
	if why := gone(j); why != "" {
		return why
	}
	return "it holds no resources"
}

// LastOperation is GET /v2/service_instances/:id/last_operation.
func (b *osbBroker) LastOperation(ctx context.Context, instanceID string, d domain.PollDetails) (domain.LastOperation, error) {
	rec, key, err := b.current(ctx, instanceID, true)
	if errors.Is(err, errNoRecord) {
		return domain.LastOperation{}, notFound("no service instance %q", instanceID)
	}
	if err != nil {
		return domain.LastOperation{}, serverError(err)
	}
	// The platform names the operation it polls (OSB: it MUST send the
	// operation the broker answered with); an earlier one is answered
	// as it ended, so that a stale poll of a failed provision does not
	// read the deprovision that followed as its success.
	if op := d.OperationData; op != "" && op != rec.Op.ID {
		past := rec.pastOp(op)
		if past == nil {
			return domain.LastOperation{}, badRequest("service instance %q has no operation %q", instanceID, op)
		}
		return opAnswer(*past), nil
	}
	if rec.Op.State == stateInProgress {
		if err := b.progress(ctx, key, rec); err != nil {
			return domain.LastOperation{}, err
		}
	}
	lo := opAnswer(rec.Op)
	// A settled instance whose lease ended shows as failed.
	if !rec.Deleted && rec.Op.State == stateSucceeded && rec.Op.Kind != opDeprovision {
		j, err := b.jobState(ctx, rec)
		if err != nil {
			return lo, err
		}
		if j == nil || j.Status != jobs.StatusSuccess {
			lo = opAnswer(operation{Kind: rec.Op.Kind, State: stateFailed, Description: gone(j)})
		}
	}
	return lo, nil
}

// opAnswer is last_operation's answer for op; its description is never
// empty (OSB: if present, non-empty).
func opAnswer(op operation) domain.LastOperation {
	lo := domain.LastOperation{State: domain.LastOperationState(op.State), Description: op.Description}
	if lo.Description == "" {
		lo.Description = op.Kind + " " + op.State
	}
	return lo
}

// progress brings an operation in progress up to date from its job, and
// resumes it when nobody in this process works on it (a restart, a
// reload, or another member of the cluster that stopped).
func (b *osbBroker) progress(ctx context.Context, key string, rec *instanceRecord) error {
	_, here := running.Load(key)
	switch rec.Op.Kind {
	case opProvision:
		if rec.JobID == "" {
			if !here {
				p, ok := b.view().plans[rec.PlanID]
				var q params
				var pr placementRequest
				var providers []string
				err := errors.New("the instance's plan is no longer in the catalogue")
				if ok {
					q, _ = parseParams(rec.Params, p.Kind)
					pr, providers, err = b.resolve(callerOf(ctx), p, q)
				}
				if err != nil {
					// The first attempt may have created the job and
					// stopped before recording it: that job is the
					// instance's, whatever placement would say now
					// (failing the provision would leave it holding
					// resources that no deprovision removes).
					j, lerr := b.operationJob(ctx, key, rec)
					if lerr != nil {
						return lerr
					}
					if j != nil {
						rec.JobID = j.ID
						b.settleProvision(rec, j)
					} else {
						rec.Op.State, rec.Op.Description = stateFailed, err.Error()
					}
					op := rec.Op
					b.finish(key, op.ID, func(r *instanceRecord) { r.JobID, r.Op = rec.JobID, op })
					return nil
				}
				b.startProvision(key, rec.Op.ID, rec.Owner, pr, p.lease(q), providers)
			}
			return nil
		}
		j, err := b.jobState(ctx, rec)
		if err != nil {
			return err
		}
		if j == nil {
			rec.Op.State, rec.Op.Description = stateFailed, gone(nil)
		} else {
			b.settleProvision(rec, j)
		}
		if rec.Op.State != stateInProgress {
			op := rec.Op
			b.finish(key, op.ID, func(r *instanceRecord) { r.Op = op })
		}
	case opUpdate, opDeprovision:
		if here {
			return nil
		}
		j, err := b.jobState(ctx, rec)
		if err != nil {
			return err
		}
		if j != nil && j.Op != nil {
			return nil // the job manager is still at it
		}
		if rec.Op.Kind == opUpdate {
			b.startUpdate(key, rec)
		} else {
			b.startDeprovision(key, rec)
		}
	}
	return nil
}

// operationJob finds the job a provision's first attempt created under
// its idempotency key (see startProvision): nil when there is none.
func (b *osbBroker) operationJob(ctx context.Context, key string, rec *instanceRecord) (*jobs.Job, error) {
	m, err := b.mgr()
	if err != nil {
		return nil, err
	}
	j, err := m.IdempotentJob(ctx, rec.Owner, "osb/"+key+"/"+rec.Op.ID)
	if err != nil {
		return nil, serverError(err)
	}
	return j, nil
}

// GetInstance is GET /v2/service_instances/:id.
func (b *osbBroker) GetInstance(ctx context.Context, instanceID string, d domain.FetchInstanceDetails) (domain.GetInstanceDetailsSpec, error) {
	var spec domain.GetInstanceDetailsSpec
	rec, _, err := b.current(ctx, instanceID, false)
	if errors.Is(err, errNoRecord) {
		return spec, notFound("no service instance %q", instanceID)
	}
	if err != nil {
		return spec, serverError(err)
	}
	if rec.Op.State == stateInProgress {
		if rec.Op.Kind == opProvision {
			return spec, notFound("service instance %q is still being provisioned", instanceID)
		}
		return spec, concurrency(rec)
	}
	j, err := b.jobState(ctx, rec)
	if err != nil {
		return spec, err
	}
	if j == nil || j.Status != jobs.StatusSuccess {
		return spec, notFound("service instance %q: %s", instanceID, holdsNothing(rec, j))
	}
	var ps any
	if len(rec.Params) > 0 {
		_ = json.Unmarshal(rec.Params, &ps)
	}
	return domain.GetInstanceDetailsSpec{
		ServiceID: rec.ServiceID, PlanID: rec.PlanID, Parameters: ps,
		Metadata: domain.InstanceMetadata{Attributes: map[string]any{
			"job_id":      j.ID,
			"provider_id": j.ProviderID,
			"service":     j.ServiceID,
			"expires":     j.Expires.UTC().Format(time.RFC3339),
		}},
	}, nil
}

// Update is PATCH /v2/service_instances/:id: a resize, a plan change
// within the service model, or a lease renewal, applied to the job in
// the background.
func (b *osbBroker) Update(ctx context.Context, instanceID string, d domain.UpdateDetails, async bool) (domain.UpdateServiceSpec, error) {
	var spec domain.UpdateServiceSpec
	if err := b.checkChange(async, d.MaintenanceInfo); err != nil {
		return spec, err
	}
	missing := notFound("no service instance %q", instanceID)
	rec, key, unlock, err := b.locked(ctx, instanceID, missing, missing)
	if err != nil {
		return spec, err
	}
	defer unlock()
	if rec.Op.State == stateInProgress && rec.Op.Kind != opUpdate {
		return spec, concurrency(rec)
	}
	planID := d.PlanID
	if planID == "" {
		planID = rec.PlanID
	}
	serviceID := d.ServiceID
	if serviceID == "" {
		serviceID = rec.ServiceID
	}
	if serviceID != rec.ServiceID {
		return spec, badRequest("service_id %q is not the instance's service", serviceID)
	}
	p, err := b.planFor(serviceID, planID)
	if err != nil && planID == rec.PlanID {
		// The instance's own plan (the platform sent no other), which
		// the catalogue does not list now: a derived plan leaves it
		// while its provider is unavailable. This was 400 "unknown
		// plan_id" for a request that named no plan, and no lease could
		// be renewed meanwhile.
		if p = rec.ownPlan(); p == nil {
			return spec, unprocessable("service instance %q cannot be updated now: its plan is not in the catalogue at the moment (a derived plan's provider may be unavailable)", instanceID)
		}
		err = nil
	}
	if err != nil {
		return spec, err
	}
	// The update's parameters change those the instance has.
	merged := map[string]json.RawMessage{}
	if len(rec.Params) > 0 {
		_ = json.Unmarshal(rec.Params, &merged)
	}
	if raw := canonical(d.RawParameters); raw != nil {
		var upd map[string]json.RawMessage
		if err := json.Unmarshal(raw, &upd); err != nil {
			return spec, badRequest("parameters must be a JSON object: %v", err)
		}
		for k, v := range upd {
			merged[k] = v
		}
	}
	mergedRaw, _ := json.Marshal(merged)
	q, err := parseParams(mergedRaw, p.Kind)
	if err != nil {
		return spec, badRequest("%v", err)
	}
	opParams := canonical(mergedRaw)
	if rec.Op.State == stateInProgress {
		// A re-sent PATCH gets the update in progress (OSB: "a re-sent
		// PATCH request MUST return a 202 Accepted"); the instance's
		// parameters change only when the update succeeds, so the same
		// request merges to the same plan and parameters. Another update
		// meanwhile is a concurrent one.
		if rec.Op.PlanID == planID && bytes.Equal(canonical(rec.Op.Params), opParams) {
			return domain.UpdateServiceSpec{IsAsync: true, OperationData: rec.Op.ID}, nil
		}
		return spec, concurrency(rec)
	}
	j, err := b.settledJob(ctx, rec, "updated")
	if err != nil {
		return spec, err
	}
	// Moving an instance is a change the broker does not support: OSB
	// says 422 (MUST), not 400 (the request is well formed).
	pin, err := p.provider(q)
	if err != nil {
		// The instance's provider parameter, or the update's, against
		// the new plan's pin.
		return spec, unprocessable("%v", err)
	}
	if pin != "" && pin != j.ProviderID {
		if p.Plan.Provider != "" {
			return spec, unprocessable("plan %s is served at %s, the instance is at %s: an update cannot move it", p.Plan.Name, pin, j.ProviderID)
		}
		return spec, unprocessable("parameter provider: the instance is at %s; an update cannot move it to %s", j.ProviderID, pin)
	}
	rec.setOp(operation{ID: "update-" + randomToken(12), Kind: opUpdate, State: stateInProgress, Started: time.Now().UTC(),
		Description: "updating the instance", PlanID: planID, Params: opParams})
	if err := b.begin(ctx, key, rec, b.startUpdate); err != nil {
		return spec, err
	}
	return domain.UpdateServiceSpec{IsAsync: true, OperationData: rec.Op.ID}, nil
}

// startUpdate applies a recorded update to the job in the background.
func (b *osbBroker) startUpdate(key string, rec *instanceRecord) {
	opID := rec.Op.ID
	p, ok := b.view().plans[rec.Op.PlanID]
	if !ok && rec.Op.PlanID == rec.PlanID {
		p = rec.ownPlan()
		ok = p != nil
	}
	owner, jobID, planID, ps := rec.Owner, rec.JobID, rec.Op.PlanID, rec.Op.Params
	b.background(key, opID, func(ctx context.Context) {
		if !ok {
			b.finish(key, opID, func(r *instanceRecord) {
				r.Op.State, r.Op.Description = stateFailed, "the plan is no longer in the catalogue"
			})
			return
		}
		q, _ := parseParams(ps, p.Kind)
		m, err := b.mgr()
		var res *jobs.Result
		if err == nil {
			res, err = m.Update(ctx, owner, jobID, p.request(q), p.lease(q))
		}
		b.finish(key, opID, func(r *instanceRecord) {
			switch {
			case err != nil:
				r.Op.State, r.Op.Description = stateFailed, "update failed: "+err.Error()
			case res.Status != csbmsg.StatusOK:
				r.Op.State, r.Op.Description = stateFailed, res.Reason
			default:
				r.Op.State, r.Op.Description = stateSucceeded, res.Reason
				r.PlanID, r.Plan, r.Params = planID, planCopy(p), ps
			}
		})
	})
}

// Deprovision is DELETE /v2/service_instances/:id: the instance's
// bindings are revoked at once, and its job is removed in the background.
func (b *osbBroker) Deprovision(ctx context.Context, instanceID string, d domain.DeprovisionDetails, async bool) (domain.DeprovisionServiceSpec, error) {
	var spec domain.DeprovisionServiceSpec
	if !async {
		return spec, apiresponses.ErrAsyncRequired
	}
	rec, key, unlock, err := b.locked(ctx, instanceID, apiresponses.ErrInstanceDoesNotExist, notOwner("deprovision it", instanceID))
	if err != nil {
		return spec, err
	}
	defer unlock()
	if rec.Op.State == stateInProgress {
		if rec.Op.Kind == opDeprovision {
			// A re-sent DELETE gets the deprovision in progress (OSB: "a
			// re-sent DELETE request MUST return a 202 Accepted"); the
			// next poll resumes it if nobody works on it.
			return domain.DeprovisionServiceSpec{IsAsync: true, OperationData: rec.Op.ID}, nil
		}
		return spec, concurrency(rec)
	}
	for id, bd := range rec.Bindings {
		if err := b.rec.deleteCredential(ctx, bd.Username); err != nil {
			return spec, serverError(err)
		}
		delete(rec.Bindings, id)
	}
	rec.setOp(operation{ID: "deprovision-" + randomToken(12), Kind: opDeprovision, State: stateInProgress, Started: time.Now().UTC(), Description: "removing the instance's resources"})
	if err := b.begin(ctx, key, rec, b.startDeprovision); err != nil {
		return spec, err
	}
	return domain.DeprovisionServiceSpec{IsAsync: true, OperationData: rec.Op.ID}, nil
}

// startDeprovision removes a recorded deprovision's job in the
// background.
func (b *osbBroker) startDeprovision(key string, rec *instanceRecord) {
	opID := rec.Op.ID
	owner, jobID := rec.Owner, rec.JobID
	b.background(key, opID, func(ctx context.Context) {
		var res *jobs.Result
		var err error
		if jobID != "" {
			var m *jobs.Manager
			if m, err = b.mgr(); err == nil {
				res, err = m.Remove(ctx, owner, jobID)
				if errors.Is(err, jobs.ErrNoJob) {
					res, err = &jobs.Result{Status: csbmsg.StatusOK, Reason: "the job was already gone"}, nil
				}
			}
		}
		b.finish(key, opID, func(r *instanceRecord) {
			switch {
			case err != nil:
				r.Op.State, r.Op.Description = stateFailed, "deprovision failed: "+err.Error()
			case res != nil && res.Status != csbmsg.StatusOK:
				r.Op.State, r.Op.Description = stateFailed, res.Reason
			default:
				r.Op.State, r.Op.Description = stateSucceeded, "the instance's resources were removed"
				r.Deleted = true
			}
		})
	})
}

// Bind is PUT /v2/service_instances/:id/service_bindings/:binding_id: a
// credential for the instance's job route, scoped to that one job.
func (b *osbBroker) Bind(ctx context.Context, instanceID, bindingID string, d domain.BindDetails, async bool) (domain.Binding, error) {
	var out domain.Binding
	missing := notFound("no service instance %q", instanceID)
	rec, key, unlock, err := b.locked(ctx, instanceID, missing, missing)
	if err != nil {
		return out, err
	}
	defer unlock()
	if d.ServiceID != rec.ServiceID {
		return out, badRequest("service_id %q is not the instance's service", d.ServiceID)
	}
	// An existing binding is compared first: a re-send with other
	// parameters is 409 (OSB: MUST), although a new binding with them
	// is 400.
	params := canonical(d.RawParameters)
	if bd, ok := rec.Bindings[bindingID]; ok {
		if !bytes.Equal(canonical(bd.Params), params) {
			return out, apiresponses.ErrBindingAlreadyExists
		}
		j, err := b.jobState(ctx, rec)
		if err != nil {
			return out, err
		}
		out = b.binding(ctx, rec, j, bd)
		out.AlreadyExists = true
		return out, nil
	}
	if params != nil {
		return out, badRequest("bindings take no parameters")
	}
	if rec.Op.State == stateInProgress {
		return out, concurrency(rec)
	}
	j, err := b.settledJob(ctx, rec, "bound")
	if err != nil {
		return out, err
	}
	bd := &bindingRecord{ID: bindingID, Username: "osb-" + randomToken(12), Password: randomToken(24), Params: params, Created: time.Now().UTC()}
	if err := b.rec.storeCredential(ctx, &credentialRecord{
		Username: bd.Username, PasswordHash: hashHex(bd.Password), Owner: rec.Owner, JobID: rec.JobID,
		Platform: rec.Platform, InstanceID: rec.ID, BindingID: bindingID,
	}); err != nil {
		return out, serverError(err)
	}
	if rec.Bindings == nil {
		rec.Bindings = map[string]*bindingRecord{}
	}
	rec.Bindings[bindingID] = bd
	rec.Updated = time.Now().UTC()
	if err := b.rec.storeInstance(ctx, key, rec); err != nil {
		_ = b.rec.deleteCredential(ctx, bd.Username)
		return out, serverError(err)
	}
	b.logger.Info("osb binding created", zap.String("instance_id", instanceID), zap.String("binding_id", bindingID), zap.String("job_id", rec.JobID), zap.String("username", bd.Username))
	return b.binding(ctx, rec, j, bd), nil
}

// binding answers a binding: the job route's URL, the resource's URL
// through it, and the binding's Basic credential.
func (b *osbBroker) binding(ctx context.Context, rec *instanceRecord, j *jobs.Job, bd *bindingRecord) domain.Binding {
	route := b.routeURL(ctx, rec.JobID)
	creds := map[string]any{
		"uri":      route,
		"route":    route,
		"username": bd.Username,
		"password": bd.Password,
		"job_id":   rec.JobID,
	}
	if j != nil {
		creds["provider_id"] = j.ProviderID
		if j.Resource != nil && j.Resource.Endpoint != "" && strings.HasPrefix(j.Resource.URI, j.Resource.Endpoint) {
			creds["uri"] = strings.TrimSuffix(route, "/") + "/" + strings.TrimPrefix(j.Resource.URI[len(j.Resource.Endpoint):], "/")
		}
	}
	return domain.Binding{Credentials: creds}
}

// Unbind is DELETE .../service_bindings/:binding_id: the credential is
// revoked at once.
func (b *osbBroker) Unbind(ctx context.Context, instanceID, bindingID string, d domain.UnbindDetails, async bool) (domain.UnbindSpec, error) {
	rec, key, unlock, err := b.locked(ctx, instanceID, apiresponses.ErrBindingDoesNotExist, notOwner("remove its bindings", instanceID))
	if err != nil {
		return domain.UnbindSpec{}, err
	}
	defer unlock()
	bd, ok := rec.Bindings[bindingID]
	if !ok {
		return domain.UnbindSpec{}, apiresponses.ErrBindingDoesNotExist
	}
	if err := b.rec.deleteCredential(ctx, bd.Username); err != nil {
		return domain.UnbindSpec{}, serverError(err)
	}
	delete(rec.Bindings, bindingID)
	rec.Updated = time.Now().UTC()
	if err := b.rec.storeInstance(ctx, key, rec); err != nil {
		return domain.UnbindSpec{}, serverError(err)
	}
	b.logger.Info("osb binding revoked", zap.String("instance_id", instanceID), zap.String("binding_id", bindingID), zap.String("username", bd.Username))
	return domain.UnbindSpec{}, nil
}

// GetBinding is GET .../service_bindings/:binding_id.
func (b *osbBroker) GetBinding(ctx context.Context, instanceID, bindingID string, d domain.FetchBindingDetails) (domain.GetBindingSpec, error) {
	rec, _, err := b.current(ctx, instanceID, false)
	if errors.Is(err, errNoRecord) {
		return domain.GetBindingSpec{}, notFound("no service binding %q", bindingID)
	}
	if err != nil {
		return domain.GetBindingSpec{}, serverError(err)
	}
	bd, ok := rec.Bindings[bindingID]
	if !ok {
		return domain.GetBindingSpec{}, notFound("no service binding %q", bindingID)
	}
	j, err := b.jobState(ctx, rec)
	if err != nil {
		return domain.GetBindingSpec{}, err
	}
	out := b.binding(ctx, rec, j, bd)
	return domain.GetBindingSpec{Credentials: out.Credentials}, nil
}

// LastBindingOperation: bindings are made synchronously, so there is
// never one to poll.
func (b *osbBroker) LastBindingOperation(ctx context.Context, instanceID, bindingID string, d domain.PollDetails) (domain.LastOperation, error) {
	rec, _, err := b.current(ctx, instanceID, false)
	if err == nil && rec.Bindings[bindingID] != nil {
		return domain.LastOperation{State: domain.Succeeded, Description: "bindings are created synchronously"}, nil
	}
	return domain.LastOperation{}, notFound("no service binding %q", bindingID)
}

// routeURL is the job's route as the application reaches it.
func (b *osbBroker) routeURL(ctx context.Context, jobID string) string {
	base := b.h.JobRoute
	if !strings.Contains(base, "://") {
		base = callerOf(ctx).Origin + base
	}
	return strings.TrimSuffix(base, "/") + "/" + jobID + "/"
}

var _ domain.ServiceBroker = (*osbBroker)(nil)
