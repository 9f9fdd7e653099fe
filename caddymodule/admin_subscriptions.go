package caddymodule

// The admin API's GET /csb/subscriptions.

import (
	"net/http"

	"slices"
	"strconv"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
	"github.com/caddy-csb/caddy-csb/broker/publish"
)

// adminSubscription is one subscription of GET /csb/subscriptions.
type adminSubscription struct {
	publish.State
	// LastNotification is the last notification applied under the
	// subscription id (as far as the catalogue knows, cluster-wide).
	LastNotification *adminNotification `json:"last_notification,omitempty"`
}

type adminNotification struct {
	SeqNumber uint64    `json:"seqnumber"`
	At        time.Time `json:"at"`
}

func (api *AdminAPI) serveSubscriptions(w http.ResponseWriter, r *http.Request) error {
	format, e, err := api.engineRequest(w, r, http.MethodGet, csbmsg.PublishMediaType)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	providers, err := listParam(q, "provider")
	if err != nil {
		return err
	}
	states, err := listParam(q, "state")
	if err != nil {
		return err
	}
	for _, s := range states {
		if !slices.Contains(subscriptionStates, s) {
			return adminError(http.StatusBadRequest, "state %q: want creating, active, retrying, lapsed, removing or paused", s)
		}
	}
	out := []adminSubscription{}
	for _, s := range e.subs.Snapshot() {
		if len(providers) > 0 && !slices.Contains(providers, s.ProviderID) || len(states) > 0 && !slices.Contains(states, s.Status) {
			continue
		}
		s.URL = peerurl.RedactString(s.URL)
		as := adminSubscription{State: s}
		if pe, ok := e.catalog.Provider(s.ProviderID); ok && pe.SubscriptionID == s.ID && s.ID != "" {
			if seq, _, ok := e.catalog.Sequence(s.ID); ok {
				as.LastNotification = &adminNotification{SeqNumber: seq, At: pe.UpdatedAt}
			}
		}
		out = append(out, as)
	}
	if format == formatJSON {
		return writeJSON(w, out)
	}
	doc, root := newAdminDoc("subscriptions", csbmsg.PublishNS)
	for _, s := range out {
		el := root.CreateElement("admin:subscription")
		el.CreateAttr("provider", s.ProviderID)
		el.CreateAttr("url", s.URL)
		el.CreateAttr("status", s.Status)
		el.CreateAttr("active", strconv.FormatBool(s.Active))
		setTime(el, "granted-at", s.GrantedAt)
		setTime(el, "expires-at", s.ExpiresAt)
		setTime(el, "renew-at", s.RenewAt)
		setTime(el, "updated", s.UpdatedAt)
		if s.LastError != "" {
			el.CreateAttr("last-error", s.LastError)
			el.CreateAttr("failures", strconv.Itoa(s.Failures))
		}
		if ln := s.LastNotification; ln != nil {
			el.CreateAttr("last-notification-seqnumber", strconv.FormatUint(ln.SeqNumber, 10))
			setTime(el, "last-notification-at", ln.At)
		}
		if !s.Active {
			// Never granted: the id of the create sent, if any, but no
			// draft <subscription>, which would claim the provider holds it.
			if s.ID != "" {
				el.CreateAttr("id", s.ID)
			}
			continue
		}
		// The draft's <subscription> with the granted values; its action
		// is the last command's (create for seqnumber 1, else update).
		action := csbmsg.ActionUpdate
		if s.SeqNumber <= 1 {
			action = csbmsg.ActionCreate
		}
		data, err := csbmsg.MarshalPublish(&csbmsg.Publish{Version: csbmsg.Version, Request: &csbmsg.PublishRequest{
			Subscription: csbmsg.Subscription{ID: s.ID, SeqNumber: max(s.SeqNumber, 1), Action: action, Expires: s.Expires, Frequency: s.Frequency}}})
		if err != nil {
			el.CreateAttr("id", s.ID)
			continue
		}
		if els, err := draftElements(data, "csbrequest"); err == nil {
			for _, c := range els {
				el.AddChild(c)
			}
		}
	}
	return writeXML(w, csbmsg.PublishMediaType, doc)
}
