package csbmsg

var (
	versionAttr      = []attrSpec{{name: "version", req: true}}
	subscriptionAttr = []attrSpec{{name: "id", req: true}, {name: "seqnumber", req: true}, {name: "action", req: true}}
	statusAttrs      = []attrSpec{{name: "status", req: true}, {name: "reason"}}
	notificationAttr = []attrSpec{{name: "id", req: true}, {name: "seqnumber", req: true}}
)

// version reads the version attribute of a root element (section
// 4.1.2.1, 4.2.2): required, fixed to "1.0".
func (r *reader) version(n *node) {
	r.attrs(n, versionAttr, func(_ int, v string) {
		if collapse(v) != Version {
			r.invalid(n, "attribute version: %q is not %q", sanitize(collapse(v), 32), Version)
		}
	})
}

// publish reads <csbpublish> (section 4.1.2.1): exactly one of
// <csbrequest>, <csbresponse>, <csbnotification>.
func (r *reader) publish(n *node) *Publish {
	p := &Publish{Version: Version}
	ok := r.root(n, "<csbrequest>, <csbresponse> and <csbnotification>", "<csbrequest>, <csbresponse> or <csbnotification>", func(i int, c *node) {
		switch i {
		case 0:
			p.Request = r.publishRequest(c)
		case 1:
			p.Response = r.publishResponse(c)
		case 2:
			p.Notification = r.notification(c)
		}
	})
	if !ok {
		return nil
	}
	return p
}

// root reads a root element, <csbpublish> or <csbconsumer>: its version,
// then its children (the vocabulary's rootFields) with each, of which it
// must hold exactly one (more and missing list them for the messages).
// It reports whether the reading went on past the version and children
// without a violation (the root's message is then returned, even when it
// lacks the child).
func (r *reader) root(n *node, more, missing string, each func(i int, c *node)) bool {
	r.version(n)
	if r.failed() {
		return false
	}
	counts := r.children(n, r.v.rootFields, each)
	if r.failed() {
		return false
	}
	total := 0
	for i := range r.v.rootFields {
		total += counts[i]
	}
	switch {
	case total > 1:
		r.invalid(n, "more than one of %s", more)
	case total == 0 && r.unsup == nil:
		r.invalid(n, "missing %s", missing)
	}
	return true
}

// publishRequest reads <csbrequest> (section 4.1.2.2).
func (r *reader) publishRequest(n *node) *PublishRequest {
	req := &PublishRequest{}
	r.attrs(n, nil, nil)
	r.children(n, r.v.request, func(_ int, c *node) {
		req.Subscription = r.subscription(c)
	})
	return req
}

// subscription reads <subscription> (section 4.1.2.2.1).
func (r *reader) subscription(n *node) Subscription {
	var s Subscription
	r.attrs(n, subscriptionAttr, func(i int, v string) {
		switch i {
		case 0:
			s.ID, _ = r.tokenValue(n, "id", v)
		case 1:
			s.SeqNumber, _ = r.uintValue(n, "seqnumber", v)
		case 2:
			s.Action, _ = enumValue(r, n, "action", v, subscriptionAction)
		}
	})
	r.children(n, r.v.subscription, func(i int, c *node) {
		switch i {
		case 0:
			s.Expires = r.optUint(c)
		case 1:
			s.Frequency = r.optUint(c)
		}
	})
	return s
}

// statusAttrs reads the status and reason attributes of <csbresponse> and
// <CloudServiceResponse>.
func (r *reader) statusAttrs(n *node, status *Status, reason *string) {
	r.attrs(n, statusAttrs, func(i int, v string) {
		switch i {
		case 0:
			s, ok := parseStatus(collapse(v))
			if !ok {
				r.invalid(n, "attribute status: %q is not a three-digit status code", sanitize(collapse(v), 32))
			}
			*status = s
		case 1:
			*reason = v
		}
	})
}

// publishResponse reads <csbresponse> (section 4.1.2.4), with the
// <subscription> child the section requires and the schema lacks.
func (r *reader) publishResponse(n *node) *PublishResponse {
	resp := &PublishResponse{}
	r.statusAttrs(n, &resp.Status, &resp.Reason)
	r.children(n, r.v.response, func(_ int, c *node) {
		s := r.subscription(c)
		resp.Subscription = &s
	})
	return resp
}

// notification reads <csbnotification> (section 4.1.2.3).
func (r *reader) notification(n *node) *Notification {
	no := &Notification{}
	r.attrs(n, notificationAttr, func(i int, v string) {
		switch i {
		case 0:
			no.ID, _ = r.tokenValue(n, "id", v)
		case 1:
			no.SeqNumber, _ = r.uintValue(n, "seqnumber", v)
		}
	})
	r.children(n, r.v.notification, func(i int, c *node) {
		switch i {
		case 0:
			no.Provider = r.provider(c)
		case 1:
			no.Services = append(no.Services, r.service(c))
		case 2:
			no.EncryptionSupport = r.optBool(c)
		case 3:
			no.Label = r.token(c)
		}
	})
	return no
}

// provider reads <Cloud-Service-Provider> (section 4.1.2.3.1).
func (r *reader) provider(n *node) Provider {
	var p Provider
	r.attrs(n, nil, nil)
	r.children(n, r.v.provider, func(i int, c *node) {
		switch i {
		case 0:
			p.ID = r.token(c)
		case 1:
			p.Status = enumElem(r, c, serviceStatuses)
		case 2:
			p.URI = r.uri(c)
		}
	})
	return p
}

// service reads <Cloud-Service> (section 4.1.2.3.2): at most one of the
// four *-support elements.
func (r *reader) service(n *node) Service {
	var s Service
	r.attrs(n, nil, nil)
	counts := r.children(n, r.v.service, func(i int, c *node) {
		switch i {
		case 0:
			s.ID = r.token(c)
		case 1:
			s.Status = enumElem(r, c, serviceStatuses)
		case 2:
			s.URI = r.uri(c)
		case 3, 4, 5, 6:
			r.resource(i-3, c, &s.IaaS, &s.PaaS, &s.SaaS, &s.DSaaS)
		}
	})
	if !r.failed() && counts[3]+counts[4]+counts[5]+counts[6] > 1 {
		r.invalid(n, "more than one of <IaaS%[1]s>, <PaaS%[1]s>, <SaaS%[1]s> and <DSaaS%[1]s>", r.v.suffix)
	}
	return s
}
