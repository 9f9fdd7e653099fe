package csbmsg

import (
	"errors"

	"github.com/beevik/etree"
)

// JobList is a consumer's listing of its own jobs: this broker's
// extension of the Consumer interface (GET on the Consumer collection),
// written in the draft's vocabulary. The document is a <csbconsumer>
// root holding one <CloudServiceResponse> per job, each exactly what a
// GET of that job answers (status, reason, <response-job-info>, the
// granted resources); an empty list is a <csbconsumer> with no children.
// The draft's schema allows one child, so strict draft parsers refuse
// a list of two or more: it is read with ParseJobList, not ParseConsumer.
type JobList struct {
	Version   string
	Responses []*ServiceResponse
}

// MarshalJobList serialises l the way MarshalConsumer serialises one
// response, and refuses what MarshalConsumer would refuse in any of them.
func MarshalJobList(l *JobList) ([]byte, error) {
	if l == nil {
		return nil, errors.New("csbmsg: cannot serialise a nil *JobList")
	}
	w := newWriter(consumerVocab)
	w.root(l.Version)
	for _, s := range l.Responses {
		if s == nil {
			w.fail("a nil response in the list")
			break
		}
		w.serviceResponse(s)
	}
	return w.finish()
}

// ParseJobList parses a job list written by MarshalJobList, with the
// same checks ParseConsumer makes of each <CloudServiceResponse>. Any
// other child of the root is a violation (400), or not understood (420)
// when it is not an element of the csb-consumer package.
func ParseJobList(data []byte, opt Options) (*JobList, error) {
	return parse(data, &opt, consumerVocab, (*reader).jobList)
}

// jobList reads the root of a job list.
func (r *reader) jobList(root *node) *JobList {
	l := &JobList{Version: Version}
	r.version(root)
	for _, t := range root.el.Child {
		if r.failed() {
			break
		}
		switch t := t.(type) {
		case *etree.Element:
			c := r.enter(t, root)
			switch {
			case r.failed():
			case c.ns != r.v.ns:
				r.unsupported(c, "element <%s>%s is not understood", sanitize(t.Tag, 64), nsNote(c.ns))
			case t.Tag != "CloudServiceResponse":
				r.invalid(c, "a job list holds only <CloudServiceResponse> elements, not <%s>", sanitize(t.Tag, 64))
			default:
				l.Responses = append(l.Responses, r.serviceResponse(c))
			}
		case *etree.CharData:
			if !isWhitespace(t.Data) {
				r.invalid(root, "text is not allowed in <csbconsumer>")
			}
		case *etree.Directive:
			r.invalid(root, "markup declarations are not allowed")
		}
	}
	return l
}
