package csbcli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/svclink"
)

// jobView is what the CLI shows of one answer about a job (--json
// prints it as it is).
type jobView struct {
	// Status and Reason are the protocol status and reason of the answer.
	Status    csbmsg.Status `json:"status"`
	Reason    string        `json:"reason,omitempty"`
	JobID     string        `json:"job_id,omitempty"`
	JobStatus string        `json:"job_status,omitempty"`
	// ProviderID comes from the Csb-Provider-Id header.
	ProviderID string `json:"provider_id,omitempty"`
	// Expires is the lease seconds left (<expires>).
	Expires         *uint64 `json:"expires,omitempty"`
	CloudServiceURI string  `json:"cloud_service_uri,omitempty"`
	// Granted sums up the granted resources.
	Granted       string `json:"granted,omitempty"`
	IgnoredFields string `json:"ignored_fields,omitempty"`
	// Cost is what the job cost so far, from the Csb-Cost header (absent
	// for a job without a cost); CostDetail is the Csb-Cost-Detail header
	// (state=accruing|final, rate, price, unit, units; docs/costs.md) and
	// CostFinal whether its state is final.
	Cost       *float64 `json:"cost,omitempty"`
	CostFinal  bool     `json:"cost_final,omitempty"`
	CostDetail string   `json:"cost_detail,omitempty"`
}

func viewOf(a *answer) jobView {
	r := a.Resp
	v := jobView{Status: r.Status, Reason: r.Reason, ProviderID: a.Header.Get("Csb-Provider-Id"), IgnoredFields: a.Header.Get("Csb-Ignored-Fields")}
	if j := r.JobInfo; j != nil {
		exp := j.Expires
		v.JobID, v.JobStatus, v.Expires, v.CloudServiceURI = j.JobID, j.JobStatus, &exp, j.CloudServiceURI
	}
	v.Granted = granted(r)
	if c, err := strconv.ParseFloat(a.Header.Get("Csb-Cost"), 64); err == nil {
		v.Cost, v.CostDetail = &c, a.Header.Get("Csb-Cost-Detail")
		v.CostFinal = costState(v.CostDetail) == "final"
	}
	return v
}

// costState reads state=... from a Csb-Cost-Detail header.
func costState(detail string) string {
	for _, part := range strings.Split(detail, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && k == "state" {
			return v
		}
	}
	return ""
}

// money writes an amount of the cost as the broker does (up to six
// decimals).
func money(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// costText is the COST of a job for people: "0.0125 accruing (0.3 per
// hour)", "0.0125 final", "-" without a cost.
func costText(cost *float64, final bool, rate *float64) string {
	switch {
	case cost == nil:
		return "-"
	case final:
		return money(*cost) + " final"
	case rate != nil:
		return fmt.Sprintf("%s accruing (%s per hour)", money(*cost), money(*rate))
	}
	return money(*cost) + " accruing"
}

// detailRate reads rate=... from a Csb-Cost-Detail header.
func detailRate(detail string) *float64 {
	for _, part := range strings.Split(detail, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && k == "rate" {
			if r, err := strconv.ParseFloat(v, 64); err == nil {
				return &r
			}
		}
	}
	return nil
}

// granted sums up the resources of an answer in a few words.
func granted(r *csbmsg.ServiceResponse) string {
	var parts []string
	add := func(format string, args ...any) { parts = append(parts, fmt.Sprintf(format, args...)) }
	parts = append(parts, r.IaaS.Sizes()...)
	if d := r.DSaaS; d != nil {
		if c := d.ContainerObject; c != nil {
			name := "container"
			if c.ObjectID != nil {
				name += " " + *c.ObjectID
			}
			add("%s", name)
		}
		if o := d.DataObject; o != nil {
			name := "data object"
			if o.ObjectID != nil {
				name += " " + *o.ObjectID
			}
			add("%s", name)
		}
		for _, x := range []struct {
			set  bool
			name string
		}{{d.DomainObject != nil, "domain"}, {d.QueueObject != nil, "queue"}, {d.CapabilityObject != nil, "capabilities"}} {
			if x.set {
				add("%s", x.name)
			}
		}
	}
	for _, l := range []*csbmsg.Link{svclink.Of(r.SaaS), svclink.Of(r.PaaS)} {
		if l != nil {
			add("link rel=%s %s", l.Rel, l.Href)
		}
	}
	if r.Encryption != nil && *r.Encryption {
		add("encrypted")
	}
	return strings.TrimSpace(strings.Join(parts, ", "))
}

// lease shows lease seconds the way people read them ("59m59s"; "-" for none).
func lease(s uint64) string {
	if s == 0 {
		return "-"
	}
	return (time.Duration(s) * time.Second).String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return clean(s)
}

// clean makes text from the broker or a provider safe to print on a
// terminal: control characters (C0 with tab and newline, DEL, C1), the
// Unicode bidirectional controls and line separators, and bytes that are
// not UTF-8 are written as Go escapes (\x1b, \u202e). Otherwise a
// provider's reason, label or service id could move the cursor, clear
// the screen, retitle the window or reorder what is shown (terminal
// escapes; 0x9b is CSI to a Latin-1 terminal), or add columns and rows to
// a table with a tab or a newline.
func clean(s string) string {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !printable(r) {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case printable(r):
			b.WriteString(s[i : i+n])
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += n
	}
	return b.String()
}

// printable reports whether a terminal shows r rather than acting on it
// (see clean).
func printable(r rune) bool {
	return r >= 0x20 && r != 0x7f && (r < 0x80 || r >= 0xa0) && r != utf8.RuneError &&
		!unicode.Is(unicode.Bidi_Control, r) && r != '\u2028' && r != '\u2029'
}

// forTerminal rewrites what clean escapes in a JSON or XML document the
// CLI prints whole (--json, --xml), other than the tabs and newlines that
// lay it out, with esc(r) (utf8.RuneError for a byte that is not UTF-8):
// a provider's reason or label may hold a C1 control (U+009B is CSI),
// DEL or a bidirectional override, which JSON and XML both carry
// unescaped, and an XML comment, which the parser does not read, may
// hold any control. esc writes the character so that the document means
// the same (a JSON \u escape, an XML character reference); where the
// XML parser does not look (a comment), the reference is text.
func forTerminal(data []byte, esc func(r rune) string) []byte {
	var out []byte
	last := 0
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if printable(r) || r == '\n' || r == '\t' {
			i += n
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(data)+64)
		}
		out = append(append(out, data[last:i]...), esc(r)...)
		i += n
		last = i
	}
	if out == nil {
		return data
	}
	return append(out, data[last:]...)
}

// xmlForTerminal is the broker's XML answer as --xml prints it: the same
// document, with what would act on a terminal written as character
// references (forTerminal).
func xmlForTerminal(data []byte) []byte {
	return forTerminal(data, func(r rune) string { return fmt.Sprintf("&#x%X;", r) })
}

// printJob writes one job as aligned "NAME value" lines.
func printJob(w io.Writer, v jobView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, val string) {
		if val != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, clean(val))
		}
	}
	row("JOB", v.JobID)
	row("STATUS", v.JobStatus)
	row("PROVIDER", v.ProviderID)
	if v.Expires != nil {
		row("LEASE", lease(*v.Expires))
	}
	row("ENDPOINT", v.CloudServiceURI)
	row("GRANTED", v.Granted)
	if v.Cost != nil {
		row("COST", costText(v.Cost, v.CostFinal, detailRate(v.CostDetail)))
	}
	row("IGNORED", v.IgnoredFields)
	row("REASON", v.Reason)
	return tw.Flush()
}

func printJobs(w io.Writer, jobs []csbmsg.ListedJob) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTATUS\tKIND\tPROVIDER\tSERVICE\tLEASE\tCOST\tCREATED\tENDPOINT")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", clean(j.JobID), clean(j.JobStatus), dash(j.Kind), dash(j.ProviderID), dash(j.ServiceID),
			lease(j.Expires), costText(j.Cost, j.CostFinal, j.CostRate), j.Created.Local().Format("2006-01-02 15:04"), dash(j.CloudServiceURI))
	}
	return tw.Flush()
}

// explanation is the broker's answer to an explain.
type explanation struct {
	Status     csbmsg.Status `json:"status"`
	Reason     string        `json:"reason"`
	Kind       string        `json:"kind,omitempty"`
	Policy     string        `json:"policy,omitempty"`
	Version    uint64        `json:"catalog_version,omitempty"`
	Chosen     *candidate    `json:"chosen,omitempty"`
	Summary    string        `json:"summary,omitempty"`
	Candidates []candidate   `json:"candidates,omitempty"`
	Fields     []string      `json:"request_fields,omitempty"`
}

type candidate struct {
	ProviderID string   `json:"provider_id"`
	ServiceID  string   `json:"service_id,omitempty"`
	Matched    bool     `json:"matched"`
	Rank       int      `json:"rank"`
	Score      *float64 `json:"score,omitempty"`
	Note       string   `json:"note"`
	Unhonoured []string `json:"unhonoured_fields,omitempty"`
}

func printExplanation(w io.Writer, e explanation) error {
	if e.Policy != "" {
		fmt.Fprintf(w, "%s request, policy %s\n", clean(e.Kind), clean(e.Policy))
	}
	if len(e.Candidates) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tPROVIDER\tSERVICE\tSCORE\tNOTE")
	for _, c := range e.Candidates {
		rank, score := "-", "-"
		if c.Matched && c.Rank >= 0 {
			rank = strconv.Itoa(c.Rank + 1)
		}
		if c.Score != nil {
			score = strconv.FormatFloat(*c.Score, 'g', 6, 64)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", rank, clean(c.ProviderID), dash(c.ServiceID), score, clean(c.Note))
	}
	return tw.Flush()
}

// catalogue is the broker's consumer catalogue.
type catalogue struct {
	Version   uint64 `json:"version"`
	Providers []struct {
		ID                string `json:"id"`
		Status            string `json:"status"`
		EncryptionSupport *bool  `json:"encryption_support,omitempty"`
		Label             string `json:"label,omitempty"`
		Services          []struct {
			Kind    string          `json:"kind"`
			Expires time.Time       `json:"expires,omitzero"`
			Service json.RawMessage `json:"service"`
		} `json:"services"`
	} `json:"providers"`
}

// offer sums up a service of the catalogue (its snake_case JSON).
func offer(raw json.RawMessage) (id, text string) {
	var s struct {
		ID   string `json:"id"`
		IaaS *struct {
			Compute *struct {
				Architecture *string `json:"architecture"`
				Cores        *uint64 `json:"cores"`
				Memory       *uint64 `json:"memory"`
				Speed        *uint64 `json:"speed"`
			} `json:"compute"`
			Storage *struct {
				Size *uint64 `json:"size"`
			} `json:"storage"`
		} `json:"iaas"`
		DSaaS map[string]json.RawMessage `json:"dsaas"`
		SaaS  *struct {
			Link *csbmsg.Link `json:"link"`
		} `json:"saas"`
		PaaS *struct {
			Link *csbmsg.Link `json:"link"`
		} `json:"paas"`
	}
	if json.Unmarshal(raw, &s) != nil {
		return "", ""
	}
	resp := &csbmsg.ServiceResponse{}
	if s.IaaS != nil {
		resp.IaaS = &csbmsg.IaaS{}
		if c := s.IaaS.Compute; c != nil {
			resp.IaaS.Compute = &csbmsg.Compute{Architecture: c.Architecture, Cores: c.Cores, Memory: c.Memory, Speed: c.Speed}
		}
		if st := s.IaaS.Storage; st != nil {
			resp.IaaS.Storage = &csbmsg.Storage{Size: st.Size}
		}
	}
	if s.SaaS != nil {
		resp.SaaS = &csbmsg.SaaS{Link: s.SaaS.Link}
	}
	if s.PaaS != nil {
		resp.PaaS = &csbmsg.PaaS{Link: s.PaaS.Link}
	}
	text = granted(resp)
	if s.DSaaS != nil {
		var kinds []string
		for _, k := range []string{"data_object", "container_object", "domain_object", "queue_object", "capability_object"} {
			if _, ok := s.DSaaS[k]; ok {
				kinds = append(kinds, strings.TrimSuffix(k, "_object"))
			}
		}
		text = "objects: " + strings.Join(kinds, " ")
	}
	return s.ID, text
}

func printCatalogue(w io.Writer, c catalogue) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tSERVICE\tKIND\tOFFER\tLABEL")
	for _, p := range c.Providers {
		for _, s := range p.Services {
			id, text := offer(s.Service)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", clean(p.ID), dash(id), clean(s.Kind), dash(text), dash(p.Label))
		}
	}
	return tw.Flush()
}

// printJSON writes v as indented JSON; what would act on a terminal is
// written as \u escapes (forTerminal: encoding/json escapes C0 controls
// but not C1 ones, DEL or bidirectional overrides).
func printJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(forTerminal(b.Bytes(), func(r rune) string { return fmt.Sprintf(`\u%04x`, r) }))
	return err
}
