package csbconsole

// The placement explain: every provider with its score or the reason it
// is rejected, and the bar chart (server-rendered SVG) that draws it.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/caddymodule"
)

// explanation is a placement dry run as the pages show it.
type explanation struct {
	Kind       string
	Policy     string
	Summary    string
	Chosen     string // provider id; "" when none matches
	Candidates []candidate
	Chart      chart
	// Status and Reason are the protocol answer a create would get when
	// placement refuses the request outright (400 or 420); zero otherwise.
	Status int
	Reason string
}

// candidate is one provider of an explanation.
type candidate struct {
	Provider   string
	Service    string
	Matched    bool
	Chosen     bool
	Rank       int // 1-based rank among the matching; 0 when rejected
	Score      string
	score      float64
	hasScore   bool
	Note       string
	Unhonoured []string
}

// chart is the SVG bar chart's geometry: one row per candidate.
type chart struct {
	Width, Height int
	LabelWidth    int // where bars start
	BarMax        int // the longest bar
	Rows          []chartRow
	Title         string
	Desc          string
}

type chartRow struct {
	Y, TextY  int
	Label     string
	BarWidth  int
	Class     string // bar-chosen, bar-match, bar-rejected
	Text      string // score or "rejected: reason", shortened
	TextX     int
	FullText  string
	Candidate candidate
}

const (
	chartRowHeight = 36
	chartBarHeight = 22
	chartWidth     = 720
	chartLabel     = 150
	chartBarMax    = 300
	chartTextMax   = 64 // characters of a rejection reason in the chart
)

// explain dry-runs req for user and returns what the page shows.
func explain(ctx context.Context, app *caddymodule.App, user string, req *csbmsg.ServiceRequest) (*explanation, error) {
	req, err := app.ExpandForExplain(ctx, req)
	if err != nil {
		return &explanation{Status: int(csbmsg.StatusSyntaxError), Reason: fmt.Sprintf("expanding the OVF link: %v", err)}, nil
	}
	d, err := app.ExplainPlacement(user, req)
	if err != nil {
		var re *placement.RequestError
		if errors.As(err, &re) {
			return &explanation{Status: int(re.Status), Reason: re.Reason}, nil
		}
		return nil, err
	}
	defer d.Release()
	out := &explanation{Kind: string(d.Kind), Policy: d.Policy, Summary: d.Summary()}
	if c := d.Chosen(); c != nil {
		out.Chosen = c.ProviderID
	}
	seen := map[string]bool{}
	for _, x := range d.Explain() {
		c := candidate{Provider: x.ProviderID, Service: x.ServiceID, Matched: x.Matched, Note: x.Note, Unhonoured: x.Unhonoured}
		if x.Matched {
			c.Rank = x.Rank + 1
			c.Chosen = x.ProviderID == out.Chosen
			score := x.Score
			if i := slices.IndexFunc(d.Candidates, func(c placement.Candidate) bool { return c.ProviderID == x.ProviderID }); i >= 0 {
				score = d.Candidates[i].Score
			}
			if !math.IsInf(score, 0) && !math.IsNaN(score) {
				c.score, c.hasScore = score, true
				c.Score = strconv.FormatFloat(score, 'g', 6, 64)
			}
		}
		seen[x.ProviderID] = true
		out.Candidates = append(out.Candidates, c)
	}
	for _, p := range app.Providers {
		if !seen[p.ID] {
			out.Candidates = append(out.Candidates, candidate{Provider: p.ID, Note: app.PlacementNotConsidered(p.ID, d.Kind)})
		}
	}
	out.Chart = drawChart(out)
	return out, nil
}

// drawChart lays the candidates out as horizontal bars: a matching
// candidate's bar is as long as its score relative to the others (the
// policy ranks lower scores first, and the chosen one is highlighted); a
// rejected one has no bar, only its reason.
func drawChart(e *explanation) chart {
	ch := chart{Width: chartWidth, LabelWidth: chartLabel, BarMax: chartBarMax,
		Title: "Placement of the " + e.Kind + " request by policy " + e.Policy}
	lo, hi := 0.0, 0.0
	for _, c := range e.Candidates {
		if c.hasScore {
			lo, hi = min(lo, c.score), max(hi, c.score)
		}
	}
	matched := 0
	for i, c := range e.Candidates {
		row := chartRow{Y: 8 + i*chartRowHeight, Label: shorten(c.Provider, 18), Candidate: c}
		row.TextY = row.Y + chartBarHeight/2 + 5
		switch {
		case c.Matched:
			matched++
			row.Class = "bar-match"
			if c.Chosen {
				row.Class = "bar-chosen"
			}
			w := 4
			if c.hasScore && hi > lo {
				w = max(4, int(math.Round((c.score-lo)/(hi-lo)*chartBarMax)))
			}
			row.BarWidth = w
			score := c.Score
			if score == "" {
				score = "no score"
			}
			row.FullText = fmt.Sprintf("rank %d, score %s", c.Rank, score)
			if c.Chosen {
				row.FullText += " (chosen)"
			}
			row.Text = row.FullText
			row.TextX = chartLabel + w + 8
		default:
			row.Class = "bar-rejected"
			row.BarWidth = 0
			row.FullText = "rejected: " + c.Note
			row.Text = shorten(row.FullText, chartTextMax)
			row.TextX = chartLabel + 8
		}
		ch.Rows = append(ch.Rows, row)
	}
	ch.Height = 16 + len(e.Candidates)*chartRowHeight
	ch.Desc = fmt.Sprintf("%d of %d providers match; shorter bars rank first.", matched, len(e.Candidates))
	return ch
}

// shorten cuts s to n characters with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
