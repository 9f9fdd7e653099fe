package csbmsg

// consumer reads <csbconsumer> (section 4.2.2): exactly one of
// <CloudServiceRequest> and <CloudServiceResponse>.
func (r *reader) consumer(n *node) *Consumer {
	c := &Consumer{Version: Version}
	ok := r.root(n, "<CloudServiceRequest> and <CloudServiceResponse>", "<CloudServiceRequest> or <CloudServiceResponse>", func(i int, ch *node) {
		switch i {
		case 0:
			c.Request = r.serviceRequest(ch)
		case 1:
			c.Response = r.serviceResponse(ch)
		}
	})
	if !ok {
		return nil
	}
	return c
}

// serviceRequest reads <CloudServiceRequest> (section 4.2.2.1).
func (r *reader) serviceRequest(n *node) *ServiceRequest {
	req := &ServiceRequest{}
	r.attrs(n, nil, nil)
	r.children(n, r.v.serviceRequest, func(i int, c *node) {
		switch i {
		case 0:
			req.JobInfo = r.jobInfo(c)
		case 1, 2, 3, 4:
			r.resource(i-1, c, &req.IaaS, &req.PaaS, &req.SaaS, &req.DSaaS)
		case 5:
			req.Encryption = r.optBool(c)
		}
	})
	return req
}

// serviceResponse reads <CloudServiceResponse> (section 4.2.2.2), with
// the <encryption> child the section lists and the schema lacks.
func (r *reader) serviceResponse(n *node) *ServiceResponse {
	resp := &ServiceResponse{}
	r.statusAttrs(n, &resp.Status, &resp.Reason)
	r.children(n, r.v.serviceResponse, func(i int, c *node) {
		switch i {
		case 0:
			resp.JobInfo = r.responseJobInfo(c)
		case 1, 2, 3, 4:
			r.resource(i-1, c, &resp.IaaS, &resp.PaaS, &resp.SaaS, &resp.DSaaS)
		case 5:
			resp.Encryption = r.optBool(c)
		}
	})
	return resp
}

// jobInfo reads <job-info> (section 4.2.2.3): <job-id> and <action>.
func (r *reader) jobInfo(n *node) *JobInfo {
	j := &JobInfo{}
	r.attrs(n, nil, nil)
	r.children(n, r.v.jobInfo, func(i int, c *node) {
		switch i {
		case 0:
			j.JobID = r.token(c)
		case 1:
			j.Action = enumElem(r, c, jobActions)
		}
	})
	return j
}

// responseJobInfo reads <response-job-info> (section 4.2.2.5).
func (r *reader) responseJobInfo(n *node) *ResponseJobInfo {
	j := &ResponseJobInfo{}
	r.attrs(n, nil, nil)
	r.children(n, r.v.responseJobInfo, func(i int, c *node) {
		switch i {
		case 0:
			j.JobID = r.token(c)
		case 1:
			j.JobStatus = r.str(c)
		case 2:
			j.Expires = r.uint(c)
		case 3:
			j.CloudServiceURI = r.uri(c)
		}
	})
	return j
}
