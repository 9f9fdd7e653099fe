package csbmsg

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const (
	pubOpen = `<csbpublish xmlns="urn:ietf:params:xml:ns:csb-publish" version="1.0">`
	conOpen = `<csbconsumer xmlns="urn:ietf:params:xml:ns:csb-consumer" version="1.0">`
)

func pub(body string) string { return pubOpen + body + `</csbpublish>` }
func con(body string) string { return conOpen + body + `</csbconsumer>` }

// notif wraps services (and trailing elements) in a notification.
func notif(rest string) string {
	return pub(`<csbnotification id="n" seqnumber="1"><Cloud-Service-Provider>` +
		`<Cloud-Service-Provider-id>p</Cloud-Service-Provider-id>` +
		`<Cloud-Service-Provider-status>active</Cloud-Service-Provider-status>` +
		`</Cloud-Service-Provider>` + rest + `</csbnotification>`)
}

// svc is a Cloud-Service with the given content after id and status.
func svc(content string) string {
	return `<Cloud-Service><Cloud-Service-id>s</Cloud-Service-id><Cloud-Service-status>active</Cloud-Service-status>` +
		content + `</Cloud-Service>`
}

func sub(attrs, body string) string {
	return pub(`<csbrequest><subscription ` + attrs + `>` + body + `</subscription></csbrequest>`)
}

const okSub = `id="s" seqnumber="1" action="create"`

func compute(body string) string {
	return notif(svc(`<IaaS-support><compute-support>` + body + `</compute-support></IaaS-support>`))
}

func creq(body string) string { return con(`<CloudServiceRequest>` + body + `</CloudServiceRequest>`) }

type classifyCase struct {
	name    string
	doc     string
	lenient Status
	strict  Status // 0: same as lenient
	reason  string // substring of the lenient reason
}

var classifyCases = []classifyCase{
	// Well-formedness (400).
	{"mismatched end tag", pub(`<csbrequest></csbreqest>`), 400, 0, "closed by </csbreqest>"},
	{"unclosed", pubOpen + `<csbrequest>`, 400, 0, "not well-formed"},
	{"two roots", pub(`<csbresponse status="200"/>`) + pub(`<csbresponse status="200"/>`), 400, 0, "more than one root"},
	{"text after root", pub(`<csbresponse status="200"/>`) + `x`, 400, 0, "text outside the root"},
	{"empty", ``, 400, 0, "no root element"},
	{"undefined entity", pub(`<csbresponse status="200" reason="&nbsp;"/>`), 400, 0, "not well-formed"},
	{"unescaped ampersand", pub(`<csbresponse status="200" reason="a & b"/>`), 400, 0, "not well-formed"},
	{"duplicate attribute", pub(`<csbresponse status="200" status="400"/>`), 400, 0, "duplicate attribute status"},
	{"duplicate attribute through two prefixes", `<p:csbpublish xmlns:p="urn:ietf:params:xml:ns:csb-publish" xmlns:f="urn:x" xmlns:g="urn:x" f:a="1" g:a="2" version="1.0"><p:csbresponse status="200"/></p:csbpublish>`, 400, 0, "duplicate attribute"},
	{"undeclared prefix", `<p:csbpublish version="1.0"/>`, 400, 0, `undeclared namespace prefix "p"`},
	{"empty prefix binding", `<csbpublish xmlns="urn:ietf:params:xml:ns:csb-publish" xmlns:p="" version="1.0"/>`, 400, 0, "bound to the empty name"},
	{"rebinding xml", `<csbpublish xmlns="urn:ietf:params:xml:ns:csb-publish" xmlns:xml="urn:x" version="1.0"/>`, 400, 0, "reserved namespace binding"},
	{"xml declaration late", ` <?xml version="1.0"?>` + pub(`<csbresponse status="200"/>`), 400, 0, "XML declaration not at the start"},
	{"xml 1.1", `<?xml version="1.1"?>` + pub(`<csbresponse status="200"/>`), 400, 0, "not well-formed"},

	// Root and version (400).
	{"no namespace", `<csbpublish version="1.0"><csbresponse status="200"/></csbpublish>`, 400, 0, "in no namespace"},
	{"missing version", `<csbpublish xmlns="urn:ietf:params:xml:ns:csb-publish"><csbresponse status="200"/></csbpublish>`, 400, 0, "missing attribute version"},
	{"version 2.0", `<csbpublish xmlns="urn:ietf:params:xml:ns:csb-publish" version="2.0"><csbresponse status="200"/></csbpublish>`, 400, 0, `"2.0" is not "1.0"`},
	{"version collapsed", `<csbpublish xmlns="urn:ietf:params:xml:ns:csb-publish" version=" 1.0"><csbresponse status="200"/></csbpublish>`, 200, 0, ""},

	// Exactly one child of the root.
	{"no child", pub(``), 400, 0, "missing <csbrequest>, <csbresponse> or <csbnotification>"},
	{"two children", pub(`<csbresponse status="200"/><csbresponse status="200"/>`), 400, 0, "may appear only once"},
	{"request and response", pub(`<csbrequest><subscription ` + okSub + `/></csbrequest><csbresponse status="200"/>`), 400, 0, "more than one of"},
	{"only a foreign child", pub(`<x:ext xmlns:x="urn:x"/>`), 420, 0, "element <ext> in namespace urn:x is not understood"},
	{"consumer: no child", con(``), 400, 0, "missing <CloudServiceRequest> or <CloudServiceResponse>"},
	{"consumer: missing version", `<csbconsumer xmlns="urn:ietf:params:xml:ns:csb-consumer"><CloudServiceRequest/></csbconsumer>`, 400, 0, "missing attribute version"},
	{"consumer: version 1.1", `<csbconsumer xmlns="urn:ietf:params:xml:ns:csb-consumer" version="1.1"><CloudServiceRequest/></csbconsumer>`, 400, 0, `"1.1" is not "1.0"`},
	{"consumer: two children", con(`<CloudServiceRequest/><CloudServiceResponse status="200"/>`), 400, 0, "more than one of"},

	// Required attributes and elements (400).
	{"subscription without id", sub(`seqnumber="1" action="create"`, ``), 400, 0, "missing attribute id"},
	{"subscription without seqnumber", sub(`id="s" action="create"`, ``), 400, 0, "missing attribute seqnumber"},
	{"subscription without action", sub(`id="s" seqnumber="1"`, ``), 400, 0, "missing attribute action"},
	{"request without subscription", pub(`<csbrequest/>`), 400, 0, "missing element <subscription>"},
	{"response without status", pub(`<csbresponse reason="x"/>`), 400, 0, "missing attribute status"},
	{"notification without provider", pub(`<csbnotification id="n" seqnumber="1">` + svc("") + `</csbnotification>`), 400, 0, "missing element <Cloud-Service-Provider>"},
	{"notification without service", notif(``), 400, 0, "missing element <Cloud-Service>"},
	{"service without status", notif(`<Cloud-Service><Cloud-Service-id>s</Cloud-Service-id></Cloud-Service>`), 400, 0, "missing element <Cloud-Service-status>"},
	{"job-info without action", creq(`<job-info><job-id>j</job-id></job-info>`), 400, 0, "missing element <action>"},
	{"response-job-info without expires", con(`<CloudServiceResponse status="200"><response-job-info><job-id>j</job-id><job-status>s</job-status></response-job-info></CloudServiceResponse>`), 400, 0, "missing element <expires>"},

	// Values (400).
	{"id not NMTOKEN", sub(`id="a b" seqnumber="1" action="create"`, ``), 400, 0, `attribute id: "a b" is not an NMTOKEN`},
	{"id collapsed", sub(`id=" a " seqnumber="1" action="create"`, ``), 200, 0, ""},
	{"seqnumber placeholder", sub(`id="s" seqnumber="......" action="create"`, ``), 400, 0, `attribute seqnumber: "......" is not a non-negative integer`},
	{"seqnumber with +", sub(`id="s" seqnumber="+1" action="create"`, ``), 400, 0, "not a non-negative integer"},
	{"seqnumber negative", sub(`id="s" seqnumber="-1" action="create"`, ``), 400, 0, "not a non-negative integer"},
	{"seqnumber 2^64", sub(`id="s" seqnumber="18446744073709551616" action="create"`, ``), 400, 0, "below 2^64"},
	{"seqnumber 2^64-1", sub(`id="s" seqnumber="18446744073709551615" action="create"`, ``), 200, 0, ""},
	{"expires leading zeros and spaces", sub(okSub, `<expires> 0600
	</expires>`), 200, 0, ""},
	{"expires empty", sub(okSub, `<expires/>`), 400, 0, `"" is not a non-negative integer`},
	{"expires decimal", sub(okSub, `<expires>1.5</expires>`), 400, 0, "not a non-negative integer"},
	{"action unknown", sub(`id="s" seqnumber="1" action="delete"`, ``), 400, 0, `"delete" is not one of "create", "update", "remove"`},
	{"action wrong case", sub(`id="s" seqnumber="1" action="Create"`, ``), 400, 0, "is not one of"},
	{"status two digits", pub(`<csbresponse status="20"/>`), 400, 0, "three-digit status code"},
	{"status 000", pub(`<csbresponse status="000"/>`), 400, 0, "three-digit status code"},
	{"status 001", pub(`<csbresponse status="001"/>`), 200, 0, ""},
	{"status unlisted 299", pub(`<csbresponse status="299"/>`), 200, 0, ""},
	{"provider status", notif(``)[:0] + pub(`<csbnotification id="n" seqnumber="1"><Cloud-Service-Provider><Cloud-Service-Provider-id>p</Cloud-Service-Provider-id><Cloud-Service-Provider-status>up</Cloud-Service-Provider-status></Cloud-Service-Provider>`+svc("")+`</csbnotification>`), 400, 0, `"up" is not one of "active", "deactivated", "unavailable"`},
	{"compute status placeholder", compute(`<status>......</status>`), 400, 0, `compute-support/status: "......" is not one of`},
	{"compute action", compute(`<action>reboot</action>`), 400, 0, "is not one of"},
	{"network allocation", notif(svc(`<IaaS-support><network-support><allocation>dhcp</allocation></network-support></IaaS-support>`)), 400, 0, "is not one of"},
	{"storage action", notif(svc(`<IaaS-support><storage-support><action>delete</action></storage-support></IaaS-support>`)), 400, 0, "is not one of"},
	{"encryption-support yes", notif(svc(``) + `<encryption-support>yes</encryption-support>`), 400, 0, `"yes" is not "true" or "false"`},
	{"encryption-support 1", notif(svc(``) + `<encryption-support>1</encryption-support>`), 400, 0, "is not \"true\""},
	{"label with space", notif(svc(``) + `<label>a b</label>`), 400, 0, "not an NMTOKEN"},
	{"enabled", notif(svc(`<DSaaS-support><DomainObject-support><enabled>TRUE</enabled></DomainObject-support></DSaaS-support>`)), 400, 0, "is not \"true\""},
	{"capability type", notif(svc(`<DSaaS-support><CapabilityObject-support><type>Disk Capabilities</type></CapabilityObject-support></DSaaS-support>`)), 400, 0, "is not one of"},
	{"capability type collapsed", notif(svc(`<DSaaS-support><CapabilityObject-support><type> Container
		Capabilities</type></CapabilityObject-support></DSaaS-support>`)), 200, 0, ""},
	{"bad URI", notif(svc(`<Cloud-Service-URI>http://[::1/</Cloud-Service-URI>`)), 400, 0, "is not a URI reference"},
	{"bad percent", notif(svc(`<Cloud-Service-URI>http://x/%zz</Cloud-Service-URI>`)), 400, 0, "is not a URI reference"},
	{"job action create", creq(`<job-info><job-id>j</job-id><action>create</action></job-info>`), 400, 0, `"create" is not one of "update", "remove"`},
	{"status in response-job-info not integer", con(`<CloudServiceResponse status="200"><response-job-info><job-id>j</job-id><job-status>s</job-status><expires>soon</expires></response-job-info></CloudServiceResponse>`), 400, 0, "not a non-negative integer"},

	// Structure (400).
	{"two computes", notif(svc(`<IaaS-support><compute-support/><compute-support/></IaaS-support>`)), 400, 0, "may appear only once"},
	{"two of the service choice", notif(svc(`<PaaS-support/><SaaS-support/>`)), 400, 0, "more than one of <IaaS-support>"},
	{"text in complex content", notif(svc(`<PaaS-support>hello</PaaS-support>`)), 400, 0, `text "hello" is not allowed`},
	{"element in simple content", sub(okSub, `<expires><b/>1</expires>`), 400, 0, "not allowed in simple content"},
	{"foreign element in simple content", sub(okSub, `<expires><x:b xmlns:x="urn:x"/>1</expires>`), 400, 0, "not allowed in simple content"},
	{"known element misplaced", compute(`<Cloud-Service-id>x</Cloud-Service-id>`), 400, 0, "element <Cloud-Service-id> is not allowed in <compute-support>"},
	{"notification inside request", pub(`<csbrequest><csbnotification id="n" seqnumber="1"/></csbrequest>`), 400, 0, "<csbnotification> is not allowed in <csbrequest>"},
	{"comments and PIs ignored", sub(okSub, `<!-- c --><?pi x?><expires>1<!-- c -->0</expires>`), 200, 0, ""},
	{"CDATA value", sub(okSub, `<expires><![CDATA[10]]></expires>`), 200, 0, ""},

	// Schema order: strict 400, lenient accepted.
	{"out of order", sub(okSub, `<frequency>1</frequency><expires>2</expires>`), 200, 400, ""},
	{"out of order in service", notif(`<Cloud-Service><Cloud-Service-status>active</Cloud-Service-status><Cloud-Service-id>s</Cloud-Service-id></Cloud-Service>`), 200, 400, ""},
	{"order of the choice", notif(svc(``)[:0] + `<Cloud-Service><Cloud-Service-id>s</Cloud-Service-id><Cloud-Service-status>active</Cloud-Service-status><PaaS-support/><Cloud-Service-URI>x</Cloud-Service-URI></Cloud-Service>`), 200, 400, ""},
	{"label before encryption", notif(svc(``) + `<label>l</label><encryption-support>true</encryption-support>`), 200, 400, ""},

	// Not understood (420).
	{"unknown element", sub(okSub, `<priority>1</priority>`), 420, 0, "element <priority> is not understood"},
	{"unknown attribute", sub(okSub+` priority="1"`, ``), 420, 0, "attribute priority is not understood"},
	{"foreign element", sub(okSub, `<x:ext xmlns:x="urn:example:ext">1</x:ext>`), 420, 0, "element <ext> in namespace urn:example:ext is not understood"},
	{"foreign element with bad content is skipped", sub(okSub, `<x:ext xmlns:x="urn:x"><expires>nope</expires></x:ext>`), 420, 0, ""},
	{"no-namespace element", sub(okSub, `<expires xmlns="">1</expires>`), 420, 0, "in no namespace is not understood"},
	{"foreign attribute", sub(okSub+` xmlns:x="urn:x" x:prio="1"`, ``), 420, 0, "attribute {urn:x}prio is not understood"},
	{"foreign attribute on a simple element", sub(okSub, `<expires xmlns:x="urn:x" x:unit="s">1</expires>`), 420, 0, "attribute {urn:x}unit"},
	{"csb-namespaced attribute", `<p:csbpublish xmlns:p="urn:ietf:params:xml:ns:csb-publish" p:version="1.0" version="1.0"><p:csbresponse status="200"/></p:csbpublish>`, 420, 0, "attribute {urn:ietf:params:xml:ns:csb-publish}version"},
	{"xsi:type", sub(okSub+` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="x"`, ``), 420, 0, "xsi:type"},
	{"xml:lang and xsi:schemaLocation ignored", sub(okSub+` xml:lang="en" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="a b"`, `<expires xml:space="preserve">1</expires>`), 200, 0, ""},
	{"capabilities (prose only)", notif(svc(`<DSaaS-support><CapabilityObject-support><capabilities>x</capabilities></CapabilityObject-support></DSaaS-support>`)), 420, 0, "element <capabilities> is listed by the draft's prose but not by its schema"},
	{"children in CapabilityObject (prose only)", creq(`<DSaaS><CapabilityObject><children>x</children></CapabilityObject></DSaaS>`), 420, 0, "element <children> is listed by the draft's prose"},
	{"children misplaced", notif(svc(`<DSaaS-support><QueueObject-support><children>x</children></QueueObject-support></DSaaS-support>`)), 400, 0, "<children> is not allowed in <QueueObject-support>"},
	{"PaaS prose example element", notif(svc(`<PaaS-support><Distributed-cache/></PaaS-support>`)), 420, 0, "<Distributed-cache> is not understood"},
	{"a 400 wins over an earlier 420", sub(okSub+` prio="1"`, `<expires>x</expires>`), 400, 0, "not a non-negative integer"},
	{"alias in the wrong place", compute(`<Network-support/>`), 420, 0, "<Network-support> is not understood"},
	{"consumer name in publish", notif(svc(`<IaaS/>`)), 420, 0, "<IaaS> is not understood"},

	// Aliases: lenient 200, strict 420.
	{"alias Network-support", notif(svc(`<IaaS-support><Network-support><vlan>1</vlan></Network-support></IaaS-support>`)), 200, 420, ""},
	{"alias response", pub(`<response status="200"/>`), 200, 420, ""},
	{"alias encryption", notif(svc(``) + `<encryption>true</encryption>`), 200, 420, ""},
	{"alias link", notif(svc(`<SaaS-support><link><rel>r</rel></link></SaaS-support>`)), 200, 420, ""},
	{"alias and schema name together", notif(svc(`<SaaS-support><link/><Link/></SaaS-support>`)), 400, 420, "may appear only once"},
	{"dropped Location", notif(svc(`<DSaaS-support><DomainObject-support><Location>x</Location></DomainObject-support></DSaaS-support>`)), 200, 420, ""},
	{"several services", notif(svc(``) + svc(``)), 200, 420, ""},
	{"alias CloudResourceRequest", con(`<CloudResourceRequest/>`), 200, 420, ""},
	{"alias CloudResourceResponse", con(`<CloudResourceResponse status="200"/>`), 200, 420, ""},
	{"alias Storage", creq(`<IaaS><Storage><size>1</size></Storage></IaaS>`), 200, 420, ""},
	{"consumer alias Container (symmetric)", creq(`<DSaaS><Container/></DSaaS>`), 200, 420, ""},
	{"strict: alias then a violation", notif(svc(`<IaaS-support><Network-support><vlan>a b</vlan></Network-support></IaaS-support>`)), 400, 420, ""},
}

func TestClassification(t *testing.T) {
	for _, c := range classifyCases {
		t.Run(c.name, func(t *testing.T) {
			strict := c.strict
			if strict == 0 {
				strict = c.lenient
			}
			for _, m := range []struct {
				mode Mode
				want Status
			}{{Lenient, c.lenient}, {Strict, strict}} {
				var err error
				if strings.HasPrefix(c.doc, "<csbconsumer") {
					_, err = ParseConsumer([]byte(c.doc), Options{Mode: m.mode})
				} else {
					_, err = ParsePublish([]byte(c.doc), Options{Mode: m.mode})
				}
				if got := statusOf(err); got != m.want {
					t.Fatalf("%s: status %d (%v), want %d", m.mode, got, err, m.want)
				}
				if m.mode == Lenient && c.reason != "" && !strings.Contains(err.Error(), c.reason) {
					t.Errorf("reason %q does not contain %q", err, c.reason)
				}
				if err != nil && !isXMLString((err.(*Error)).Reason) {
					t.Errorf("reason is not XML-safe: %q", err)
				}
			}
		})
	}
}

// TestStatusCoverage: the corpus and the table produce each of 200, 400
// and 420 in each mode.
func TestStatusCoverage(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range classifyCases {
		s := c.strict
		if s == 0 {
			s = c.lenient
		}
		seen[fmt.Sprint("lenient ", int(c.lenient))] = true
		seen[fmt.Sprint("strict ", int(s))] = true
	}
	for _, want := range []string{"lenient 200", "lenient 400", "lenient 420", "strict 200", "strict 400", "strict 420"} {
		if !seen[want] {
			t.Errorf("no case produces %s", want)
		}
	}
}

func TestErrorType(t *testing.T) {
	_, err := ParsePublish([]byte(pub(`<csbresponse/>`)), Options{})
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusSyntaxError || e.Err != nil {
		t.Fatalf("got %#v", err)
	}
	if !strings.HasPrefix(err.Error(), "csbmsg: 400: /csbpublish/csbresponse: missing attribute status") {
		t.Errorf("Error() = %q", err)
	}
}

func TestParsedValues(t *testing.T) {
	p, err := ParsePublish([]byte(sub(`id=" s1 " seqnumber="007" action=" update "`, `<expires>
	60 </expires><frequency>0</frequency>`)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := p.Request.Subscription
	if s.ID != "s1" || s.SeqNumber != 7 || s.Action != ActionUpdate || *s.Expires != 60 || *s.Frequency != 0 {
		t.Fatalf("got %+v", s)
	}
	p, err = ParsePublish([]byte(pub(`<csbresponse status="420" reason=" keep  spaces "/>`)), Options{})
	if err != nil || p.Response.Status != StatusUnsupported || p.Response.Reason != " keep  spaces " {
		t.Fatalf("got %+v, %v", p.Response, err)
	}
	c, err := ParseConsumer([]byte(creq(`<DSaaS><DataObject><value>  a
 b </value></DataObject></DSaaS>`)), Options{})
	if err != nil || *c.Request.DSaaS.DataObject.Value != "  a\n b " {
		t.Fatalf("xsd:string content must keep its whitespace: %+v, %v", c, err)
	}
}

// TestWrongRoot: a document that is not a csbpublish (or csbconsumer)
// document is a schema violation.
func TestWrongRoot(t *testing.T) {
	for _, c := range []struct{ doc, reason string }{
		{`<csbconsumer xmlns="urn:ietf:params:xml:ns:csb-publish" version="1.0"/>`, "root element must be <csbpublish>"},
		{con(`<CloudServiceRequest/>`), "not <csbconsumer> in namespace urn:ietf:params:xml:ns:csb-consumer"},
	} {
		_, err := ParsePublish([]byte(c.doc), Options{})
		if statusOf(err) != 400 || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: got %v", c.doc, err)
		}
	}
	_, err := ParseConsumer([]byte(pub(`<csbresponse status="200"/>`)), Options{})
	if statusOf(err) != 400 || !strings.Contains(err.Error(), "root element must be <csbconsumer>") {
		t.Errorf("got %v", err)
	}
}
