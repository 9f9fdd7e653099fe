package publish

import (
	"errors"
	"sync"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// IngestBody parses a csb-publish request body with the codec and ingests
// the notification it carries (see Ingest). A body the codec refuses is
// answered with the codec's status (400 or 420) and its reason; a body
// that is a <csbrequest> or <csbresponse> rather than a <csbnotification>
// is answered with 420, since the broker's publish endpoint only
// understands notifications. Result.Err carries the codec's error, so the
// HTTP layer can answer csbmsg.ErrTooLarge with 413 instead.
//
// The notification is announced to the catalogue (catalog.Expect) before
// it is parsed, so that concurrent notifications share one storage write.
func (i *Ingester) IngestBody(data []byte, user string, opt csbmsg.Options) Result {
	arrived := i.opt.Catalog.Expect()
	defer arrived()
	p, err := csbmsg.ParsePublish(data, opt)
	if err != nil {
		var ce *csbmsg.Error
		if !errors.As(err, &ce) {
			ce = &csbmsg.Error{Status: csbmsg.StatusSyntaxError, Reason: err.Error()}
		}
		return Result{
			Response: csbmsg.PublishResponse{Status: ce.Status, Reason: ce.Reason},
			Outcome:  OutcomeInvalid,
			Err:      err,
		}
	}
	if p.Notification == nil {
		what := "<csbrequest>"
		if p.Response != nil {
			what = "<csbresponse>"
		}
		return Result{
			Response: csbmsg.PublishResponse{Status: csbmsg.StatusUnsupported,
				Reason: what + " is not accepted here: the broker's publish endpoint takes <csbnotification> only"},
			Outcome: OutcomeInvalid,
		}
	}
	return i.ingestAnnounced(p.Notification, user, arrived)
}

// Marshal returns the result's response as a <csbpublish> document. The
// caller must not modify the bytes: the answer to an applied notification,
// almost every answer, is encoded once and shared.
func (r Result) Marshal() ([]byte, error) {
	if r.Response == appliedResponse {
		appliedOnce.Do(func() { appliedDoc, appliedErr = marshalResponse(appliedResponse) })
		return appliedDoc, appliedErr
	}
	return marshalResponse(r.Response)
}

var (
	appliedResponse = csbmsg.PublishResponse{Status: csbmsg.StatusOK, Reason: reasonApplied}
	appliedOnce     sync.Once
	appliedDoc      []byte
	appliedErr      error
)

func marshalResponse(resp csbmsg.PublishResponse) ([]byte, error) {
	return csbmsg.MarshalPublish(&csbmsg.Publish{Version: csbmsg.Version, Response: &resp})
}
