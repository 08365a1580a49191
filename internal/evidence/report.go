package evidence

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
)

// Report is what the data shows, for a person: the HTML page in every
// bundle and at GET /v1/evidence/report. Every number is computed from
// the data exported with it.
type Report struct {
	Origin      string
	GeneratedAt time.Time
	From, To    time.Time
	AuditSize   int64
	// Profile is what the bundle holds of personal data (ProfilePseudonymous,
	// ProfileWithReceipts); "" for a report without a bundle.
	Profile string

	DevicesByStatus   map[string]int
	Devices           int
	WithoutInventory  int
	WithoutNotice     int
	InventoryVersions int
	Notices           []NoticeSummary

	// Consents in the period, from the audit entries, by purpose.
	ConsentEvents map[string]*ConsentEvents
	// ConsentState now, by purpose.
	ConsentState map[string]*ConsentStateSummary

	// Decisions in the period.
	Allowed, Denied int
	DeniedByReason  map[string]int
	Days            []DayCount
	// AllowsWithoutConsent counts allow decisions in the period that the
	// verifier's replay finds without a consent in force: the property
	// Control 30 asks for is that it is 0.
	AllowsWithoutConsent int

	// ReadsByClient counts, per API client, the reads of a subject's
	// personal data in the period (personal_data.read entries).
	ReadsByClient map[string]int

	// Requests are the data-subject requests received or completed in the
	// period, by month, with the time each took to complete.
	Requests []RequestMonth

	// Reviewed says the continuous review ran for the report; OpenFindings
	// are its unacknowledged findings.
	Reviewed     bool
	OpenFindings []privacy.Finding
}

// NoticeSummary is one notice: the version in force and what it misses.
type NoticeSummary struct {
	Key      string
	Version  int
	Versions int
	Locales  []string
	Gaps     int
}

// ConsentEvents counts consent entries of one purpose.
type ConsentEvents struct{ Given, Refused, Withdrawn int }

// ConsentStateSummary counts the current states of one purpose.
type ConsentStateSummary struct{ Granted, Refused, Withdrawn, Expired, AwaitingReconsent int }

// RequestMonth is one month's data-subject requests: received, by type;
// completed (or failed), and the time from receipt to completion of
// those.
type RequestMonth struct {
	Month             string
	Access, Erasure   int
	Completed, Failed int
	// Median and Longest are the time to complete, as text ("" when none
	// completed that month).
	Median, Longest string
	took            []time.Duration
}

// DayCount is one day's decisions.
type DayCount struct {
	Day           string
	Allow, Deny   int
	AllowH, DenyH int // bar heights in the chart, in pixels
}

// collector gathers the report while the export streams.
type collector struct {
	from, to time.Time
	replay   *audit.Replay
	r        *Report
	days     map[string]*DayCount
	noticed  map[string]bool // notice keys with a published version
	withInv  int
	lastInv  string
	// status is every device's status as its last device.* entry below
	// the checkpoint left it, declared its newest inventory version
	// declared there: what the bundle's device and inventory lines show,
	// even if the database moved on while the export ran.
	status   map[string]privacy.DeviceStatus
	declared map[string]int
	// deviceSeq is the sequence number of each device's last device.*
	// entry below the checkpoint.
	deviceSeq map[string]int64
	// policy is the data policy the entries leave at the checkpoint.
	policy *policyState
	// received is when each request was received (any time before the
	// checkpoint: one received before the period may complete in it);
	// months, the period's requests per month.
	received map[string]time.Time
	months   map[string]*RequestMonth
}

func newCollector(from, to time.Time) *collector {
	return &collector{from: from, to: to, replay: audit.NewReplay(), days: map[string]*DayCount{}, noticed: map[string]bool{},
		status: map[string]privacy.DeviceStatus{}, declared: map[string]int{}, deviceSeq: map[string]int64{}, policy: newPolicyState(),
		received: map[string]time.Time{}, months: map[string]*RequestMonth{},
		r: &Report{From: from, To: to, DevicesByStatus: map[string]int{}, ConsentEvents: map[string]*ConsentEvents{},
			ConsentState: map[string]*ConsentStateSummary{}, DeniedByReason: map[string]int{}, ReadsByClient: map[string]int{}}}
}

func (c *collector) entry(seq int64, leaf []byte) error {
	e, err := audit.ParseLeaf(leaf)
	if err != nil {
		return err
	}
	violation := false
	if err := c.replay.Apply(e); err != nil {
		if !audit.IsFailure(err) {
			return err
		}
		violation = true
	}
	switch {
	case e.Action == event.ActionInventoryDeclared:
		c.declared[e.Targets["device"]], _ = strconv.Atoi(e.Targets["inventory_version"])
	case strings.HasPrefix(e.Action, "device."):
		c.status[e.Targets["device"]], c.deviceSeq[e.Targets["device"]] = deviceStatus(e), seq
	case strings.HasPrefix(e.Action, "policy."):
		c.policy.apply(event.Decode(e.Action, e.Targets, e.Reasons))
	}
	t, err := time.Parse(audit.TimeFormat, e.Time)
	if err == nil && e.Action == event.ActionRequestReceived {
		c.received[e.Targets["request"]] = t
	}
	if err != nil || t.Before(c.from) || !t.Before(c.to) {
		return nil
	}
	switch e.Action {
	case event.ActionRequestReceived, event.ActionRequestCompleted:
		c.request(e, t)
	case event.ActionPersonalDataRead:
		c.r.ReadsByClient[e.Actor.ClientID]++
	case event.ActionDecision:
		day := t.Format("2006-01-02")
		d := c.days[day]
		if d == nil {
			d = &DayCount{Day: day}
			c.days[day] = d
		}
		if e.Outcome == event.OutcomeAllow {
			c.r.Allowed++
			d.Allow++
			if violation {
				c.r.AllowsWithoutConsent++
			}
		} else {
			c.r.Denied++
			d.Deny++
			for _, reason := range e.Reasons {
				c.r.DeniedByReason[reason]++
			}
		}
	case event.ActionConsentRecorded, event.ActionConsentWithdrawn:
		p := c.r.ConsentEvents[e.Targets["purpose"]]
		if p == nil {
			p = &ConsentEvents{}
			c.r.ConsentEvents[e.Targets["purpose"]] = p
		}
		switch {
		case e.Action == event.ActionConsentWithdrawn:
			p.Withdrawn++
		case e.Outcome == event.OutcomeGranted:
			p.Given++
		default:
			p.Refused++
		}
	}
	return nil
}

func (c *collector) device(d privacy.Device) {
	c.r.Devices++
	c.r.DevicesByStatus[string(d.Status)]++
	if d.Status == privacy.DeviceActive && !c.noticed[d.NoticeKey] {
		c.r.WithoutNotice++
	}
}

func (c *collector) inventory(inv privacy.Inventory) {
	c.r.InventoryVersions++
	if inv.DeviceID != c.lastInv {
		c.withInv++
		c.lastInv = inv.DeviceID
	}
}

// finish adds what is read at the end: coverage and consent state.
func (c *collector) finish(ctx context.Context, db *store.DB, versions []privacy.NoticeVersion, now time.Time) error {
	c.r.WithoutInventory = c.r.Devices - c.withInv
	tx := db.Read(ctx)
	byKey := map[string][]privacy.NoticeVersion{}
	for _, v := range versions {
		byKey[v.NoticeKey] = append(byKey[v.NoticeKey], v)
	}
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		vs := byKey[key]
		cur := vs[len(vs)-1]
		invs, err := tx.GovernedInventories(key)
		if err != nil {
			return err
		}
		gaps := 0
		for _, inv := range invs {
			gaps += len(cur.Content.Gaps(inv))
		}
		c.r.Notices = append(c.r.Notices, NoticeSummary{Key: key, Version: cur.Version, Versions: len(vs),
			Locales: slices.Sorted(maps.Keys(cur.Content.Texts)), Gaps: gaps})
	}
	counts, err := tx.ConsentStateCounts(now)
	if err != nil {
		return err
	}
	judge := tx.MaterialJudge()
	for _, n := range counts {
		s := c.r.ConsentState[n.Purpose]
		if s == nil {
			s = &ConsentStateSummary{}
			c.r.ConsentState[n.Purpose] = s
		}
		// A group stands for its states: judged as privacy.ConsentState
		// judges one, with an end before or after now as the query found.
		st := privacy.ConsentState{Purpose: n.Purpose, Kind: n.Kind, Granted: n.Granted, NoticeKey: n.NoticeKey, NoticeVersion: n.NoticeVersion}
		if !n.Expired {
			st.ExpiresAt = now.Add(time.Hour)
		}
		switch st.Status(now, judge.Since) {
		case privacy.StatusWithdrawn:
			s.Withdrawn += n.Count
		case privacy.StatusDenied:
			s.Refused += n.Count
		case privacy.StatusReconsentRequired:
			s.AwaitingReconsent += n.Count
		case privacy.StatusExpired:
			s.Expired += n.Count
		default:
			s.Granted += n.Count
		}
	}
	if judge.Err != nil {
		return judge.Err
	}
	c.r.Days = make([]DayCount, 0, len(c.days))
	peak := 1
	for _, day := range slices.Sorted(maps.Keys(c.days)) {
		d := *c.days[day]
		peak = max(peak, d.Allow+d.Deny)
		c.r.Days = append(c.r.Days, d)
	}
	// The chart shows the most recent days that fit.
	if len(c.r.Days) > maxChartDays {
		c.r.Days = c.r.Days[len(c.r.Days)-maxChartDays:]
	}
	for i := range c.r.Days {
		c.r.Days[i].AllowH = c.r.Days[i].Allow * chartHeight / peak
		c.r.Days[i].DenyH = c.r.Days[i].Deny * chartHeight / peak
	}
	c.requests()
	return nil
}

const (
	maxChartDays = 92
	chartHeight  = 160
)

// request counts a request's receipt or completion at t.
func (c *collector) request(e audit.Entry, t time.Time) {
	month := t.Format("2006-01")
	m := c.months[month]
	if m == nil {
		m = &RequestMonth{Month: month}
		c.months[month] = m
	}
	if e.Action == event.ActionRequestReceived {
		if e.Targets["type"] == string(privacy.RequestErasure) {
			m.Erasure++
		} else {
			m.Access++
		}
		return
	}
	if e.Targets["state"] == string(privacy.RequestFailed) {
		m.Failed++
	} else {
		m.Completed++
	}
	if at, ok := c.received[e.Targets["request"]]; ok {
		m.took = append(m.took, t.Sub(at))
	}
}

// requests orders the months and their times to complete.
func (c *collector) requests() {
	for _, month := range slices.Sorted(maps.Keys(c.months)) {
		m := c.months[month]
		if len(m.took) > 0 {
			slices.Sort(m.took)
			m.Median, m.Longest = roundDuration(m.took[len(m.took)/2]), roundDuration(m.took[len(m.took)-1])
		}
		c.r.Requests = append(c.r.Requests, *m)
	}
}

// roundDuration is d for a person: days past two days, else to the second.
func roundDuration(d time.Duration) string {
	if d >= 48*time.Hour {
		return strconv.FormatFloat(d.Hours()/24, 'f', 1, 64) + " days"
	}
	return d.Round(time.Second).String()
}

// WriteHTML writes the report page: plain HTML and inline SVG, no script.
func (r *Report) WriteHTML(w io.Writer) error {
	if err := reportTemplate.Execute(w, r); err != nil {
		return fmt.Errorf("evidence: render report: %w", err)
	}
	return nil
}

// ClientReads is one row of the reads table.
type ClientReads struct {
	ClientID string
	Reads    int
}

// Reads lists the reads of personal data per client, most first.
func (r *Report) Reads() []ClientReads {
	out := make([]ClientReads, 0, len(r.ReadsByClient))
	for id, n := range r.ReadsByClient {
		out = append(out, ClientReads{ClientID: id, Reads: n})
	}
	slices.SortFunc(out, func(a, b ClientReads) int {
		if a.Reads != b.Reads {
			return b.Reads - a.Reads
		}
		return strings.Compare(a.ClientID, b.ClientID)
	})
	return out
}

// PurposeRow is one purpose of the consent tables and chart.
type PurposeRow struct {
	Purpose string
	Events  ConsentEvents
	State   ConsentStateSummary
	// Bar widths, in pixels, of the state chart.
	GrantedW, RefusedW, WithdrawnW, ExpiredW, ReconsentW int
}

// Purposes joins the consent events and states by purpose, sorted.
func (r *Report) Purposes() []PurposeRow {
	keys := map[string]bool{}
	for k := range r.ConsentEvents {
		keys[k] = true
	}
	for k := range r.ConsentState {
		keys[k] = true
	}
	var rows []PurposeRow
	peak := 1
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		row := PurposeRow{Purpose: k}
		if e := r.ConsentEvents[k]; e != nil {
			row.Events = *e
		}
		if s := r.ConsentState[k]; s != nil {
			row.State = *s
		}
		s := row.State
		peak = max(peak, s.Granted+s.Refused+s.Withdrawn+s.Expired+s.AwaitingReconsent)
		rows = append(rows, row)
	}
	const width = 520
	for i := range rows {
		s := rows[i].State
		rows[i].GrantedW, rows[i].RefusedW, rows[i].WithdrawnW = s.Granted*width/peak, s.Refused*width/peak, s.Withdrawn*width/peak
		rows[i].ExpiredW, rows[i].ReconsentW = s.Expired*width/peak, s.AwaitingReconsent*width/peak
	}
	return rows
}

// Reasons lists the deny reasons, most frequent first.
func (r *Report) Reasons() []ReasonCount {
	out := make([]ReasonCount, 0, len(r.DeniedByReason))
	for k, n := range r.DeniedByReason {
		out = append(out, ReasonCount{k, n})
	}
	slices.SortFunc(out, func(a, b ReasonCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		if a.Reason < b.Reason {
			return -1
		}
		return 1
	})
	return out
}

// ReasonCount is one deny reason.
type ReasonCount struct {
	Reason string
	Count  int
}

// Statuses lists devices by status, sorted.
func (r *Report) Statuses() []ReasonCount {
	out := make([]ReasonCount, 0, len(r.DevicesByStatus))
	for _, k := range slices.Sorted(maps.Keys(r.DevicesByStatus)) {
		out = append(out, ReasonCount{k, r.DevicesByStatus[k]})
	}
	return out
}

// Period says which time the report covers, in words.
func (r *Report) Period() string {
	from := "the beginning"
	if !r.From.IsZero() {
		from = r.From.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("from %s to %s", from, r.To.UTC().Format(time.RFC3339))
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"x":   func(i int) int { return 40 + i*barStep },
	"y":   func(h int) int { return 10 + chartHeight - h },
	"sub": func(a, b int) int { return a - b },
	"add": func(xs ...int) int {
		sum := 0
		for _, x := range xs {
			sum += x
		}
		return sum
	},
	"rows":       func(n int) int { return n * 12 },
	"chartWidth": func(n int) int { return max(240, 60+n*barStep) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Consentry evidence report: {{.Origin}}</title>
<style>
body{font:1rem/1.5 system-ui,sans-serif;max-width:60rem;margin:0 auto;padding:1.5rem;color:#1b1b1b;background:#fff}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.75rem 0}th,td{border:1px solid #767676;padding:.35rem .6rem;text-align:left}
th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1a6b2a;font-weight:700}.bad{color:#b00020;font-weight:700}
figure{margin:1rem 0}figcaption{font-size:.9rem;color:#454545}
</style>
</head>
<body>
<main>
<h1>Evidence report</h1>
<p>Deployment <code>{{.Origin}}</code>, generated {{.GeneratedAt.UTC.Format "2006-01-02 15:04:05"}} UTC. Period: {{.Period}}.
The audit log holds <strong id="audit-size">{{.AuditSize}}</strong> entries up to the signed checkpoint in this bundle.
{{if eq .Profile "with-receipts"}}Profile <strong id="profile">with-receipts</strong>: the bundle holds the signed receipts, which name their subjects.
{{else}}Profile <strong id="profile">pseudonymous</strong>: subjects appear only under the log's keyed pseudonym, receipts by their hash.{{end}}
Every number below is computed from the data in the bundle; <code>consentry evidence verify</code> checks that data.</p>

<h2>Control 29: privacy built in</h2>
<p>Every device declares a data inventory: each element with its category, sensitivity, purposes, retention, recipients and region. Nothing undeclared can be allowed.</p>
<table><tbody>
<tr><th scope="row">Devices</th><td class="n" id="devices">{{.Devices}}</td></tr>
{{range .Statuses}}<tr><th scope="row">&nbsp;&nbsp;{{.Reason}}</th><td class="n">{{.Count}}</td></tr>
{{end}}<tr><th scope="row">Inventory versions</th><td class="n" id="inventory-versions">{{.InventoryVersions}}</td></tr>
<tr><th scope="row">Devices without an inventory</th><td class="n" id="without-inventory">{{.WithoutInventory}}</td></tr>
</tbody></table>

<h2>Control 30: privacy by default</h2>
<p>Default deny: no consent, no policy rule, an inactive device or an undeclared element each mean deny. Every decision is audited.</p>
<table><tbody>
<tr><th scope="row">Decisions allowed</th><td class="n" id="allowed">{{.Allowed}}</td></tr>
<tr><th scope="row">Decisions denied</th><td class="n" id="denied">{{.Denied}}</td></tr>
{{range .Reasons}}<tr><th scope="row">&nbsp;&nbsp;{{.Reason}}</th><td class="n">{{.Count}}</td></tr>
{{end}}<tr><th scope="row">Allows without a consent in force</th><td class="n {{if .AllowsWithoutConsent}}bad{{else}}ok{{end}}" id="allows-without-consent">{{.AllowsWithoutConsent}}</td></tr>
</tbody></table>
{{if .Days}}<figure>
<svg role="img" aria-labelledby="days-title" width="{{chartWidth (len .Days)}}" height="200" viewBox="0 0 {{chartWidth (len .Days)}} 200" xmlns="http://www.w3.org/2000/svg">
<title id="days-title">Decisions per day: allowed (green) and denied (red)</title>
<line x1="36" y1="170" x2="{{chartWidth (len .Days)}}" y2="170" stroke="#767676"/>
{{range $i, $d := .Days}}<g><title>{{$d.Day}}: {{$d.Allow}} allowed, {{$d.Deny}} denied</title>
<rect x="{{x $i}}" y="{{y $d.AllowH}}" width="8" height="{{$d.AllowH}}" fill="#1a6b2a"/>
<rect x="{{x $i}}" y="{{sub (y $d.AllowH) $d.DenyH}}" width="8" height="{{$d.DenyH}}" fill="#b00020"/></g>
{{end}}<text x="40" y="190" font-size="11">{{(index .Days 0).Day}}</text>
</svg>
<figcaption>Decisions per day in the period, allowed (green) and denied (red){{if gt (len .Days) 91}}; the most recent 92 days{{end}}.</figcaption>
</figure>{{end}}

<h2>Control 31-1: privacy notice</h2>
<p>Notices are versioned, localized and immutable once published; publication is refused while a notice does not cover the inventory of every device it governs.</p>
<table><thead><tr><th scope="col">Notice</th><th scope="col">Version in force</th><th scope="col">Versions</th><th scope="col">Locales</th><th scope="col">Coverage gaps now</th></tr></thead><tbody>
{{range .Notices}}<tr><th scope="row">{{.Key}}</th><td class="n">{{.Version}}</td><td class="n">{{.Versions}}</td><td>{{range $i, $l := .Locales}}{{if $i}}, {{end}}{{$l}}{{end}}</td><td class="n {{if .Gaps}}bad{{end}}">{{.Gaps}}</td></tr>
{{else}}<tr><td colspan="5">No notice is published.</td></tr>
{{end}}</tbody></table>
<p>Active devices naming no published notice: <strong id="without-notice">{{.WithoutNotice}}</strong>.</p>

<h2>Control 31-2: consent before collection or a change of purpose</h2>
<p>Consent is recorded per purpose against the exact notice version shown, with a signed receipt; a material change puts the purpose back to deny until re-consent.</p>
<table id="consents"><thead><tr><th scope="col">Purpose</th><th scope="col">Given</th><th scope="col">Refused</th><th scope="col">Withdrawn</th><th scope="col">In force now</th><th scope="col">Expired</th><th scope="col">Awaiting re-consent</th></tr></thead><tbody>
{{range .Purposes}}<tr><th scope="row">{{.Purpose}}</th><td class="n">{{.Events.Given}}</td><td class="n">{{.Events.Refused}}</td><td class="n">{{.Events.Withdrawn}}</td><td class="n">{{.State.Granted}}</td><td class="n">{{.State.Expired}}</td><td class="n">{{.State.AwaitingReconsent}}</td></tr>
{{end}}</tbody></table>
<p>Given, refused and withdrawn count the consent events in the period; the last three columns are the state of every subject's choice now.</p>
{{with .Purposes}}<figure>
<svg role="img" aria-labelledby="state-title" width="700" height="{{rows (len .)}}" viewBox="0 0 700 {{rows (len .)}}" xmlns="http://www.w3.org/2000/svg" style="height:auto">
<title id="state-title">Consent state per purpose: in force (green), awaiting re-consent (orange), expired (grey), refused (red), withdrawn (purple)</title>
{{range $i, $p := .}}<g transform="translate(0,{{rows $i}})"><text x="0" y="7" font-size="9">{{$p.Purpose}}</text>
<rect x="150" y="0" width="{{$p.GrantedW}}" height="8" fill="#1a6b2a"/>
<rect x="{{add 150 $p.GrantedW}}" y="0" width="{{$p.ReconsentW}}" height="8" fill="#c05a00"/>
<rect x="{{add 150 $p.GrantedW $p.ReconsentW}}" y="0" width="{{$p.ExpiredW}}" height="8" fill="#767676"/>
<rect x="{{add 150 $p.GrantedW $p.ReconsentW $p.ExpiredW}}" y="0" width="{{$p.RefusedW}}" height="8" fill="#b00020"/>
<rect x="{{add 150 $p.GrantedW $p.ReconsentW $p.ExpiredW $p.RefusedW}}" y="0" width="{{$p.WithdrawnW}}" height="8" fill="#5b2a86"/></g>
{{end}}</svg>
<figcaption>Consent state per purpose now: in force (green), awaiting re-consent (orange), expired (grey), refused (red), withdrawn (purple).</figcaption>
</figure>{{end}}

<h2>Control 32: independent verification</h2>
<p>The audit log is a Merkle tree with signed checkpoints. This bundle holds the log up to its checkpoint, every consent record of the period in the form its audit entries commit to, and the public keys; <code>consentry evidence verify</code> checks them offline, with no server and no database: any changed, missing, added or reordered record is named, and every allow is replayed against the consent in force.</p>

<h2>Control 33: consideration of IoT users</h2>
<p>Each subject sees every device, element, purpose and recipient that concerns them, in plain language, with their history, and withdraws everything in one call (<code>GET /v1/subjects/{subject}/privacy</code>, <code>POST /v1/subjects/{subject}/withdraw</code>). They ask for a copy of everything held about them, or for its erasure (<code>POST /v1/subjects/{subject}/requests</code>); an erasure leaves every proof in this bundle valid.</p>
{{with .Requests}}<table id="requests"><thead><tr><th scope="col">Month</th><th scope="col">Access requests</th><th scope="col">Erasure requests</th><th scope="col">Completed</th><th scope="col">Failed</th><th scope="col">Median time to complete</th><th scope="col">Longest</th></tr></thead><tbody>
{{range .}}<tr><th scope="row">{{.Month}}</th><td class="n">{{.Access}}</td><td class="n">{{.Erasure}}</td><td class="n">{{.Completed}}</td><td class="n">{{.Failed}}</td><td class="n">{{.Median}}</td><td class="n">{{.Longest}}</td></tr>
{{end}}</tbody></table>{{else}}<p>No data-subject request in the period.</p>{{end}}

<h2>Control 34: management of privacy controls</h2>
<p>A findings engine reruns after every relevant change and every minute, and lists where the controls have weakened; a person acknowledges each finding with what was decided. The data policy in force is <code>policies.json</code> in this bundle.</p>
{{if .Reviewed}}<p>Open findings: <strong id="findings-open">{{len .OpenFindings}}</strong>.</p>
{{if .OpenFindings}}<table id="findings"><thead><tr><th scope="col">Severity</th><th scope="col">Control</th><th scope="col">Finding</th><th scope="col">Remedy</th></tr></thead><tbody>
{{range .OpenFindings}}<tr><td>{{.Severity}}</td><td>{{.Control}}</td><th scope="row">{{.Detail}}</th><td>{{.Remedy}}</td></tr>
{{end}}</tbody></table>{{end}}{{else}}<p>The continuous review did not run for this export (exported from the command line without it).</p>{{end}}

<h2>Control 35-1: unique device identity</h2>
<p>Each device has a unique, immutable identity (manufacturer, model and normalized serial), listed in <code>devices.ndjson</code> with its status; its lifecycle is in the audit entries named <code>device.*</code>.</p>

<h2>Control 12: monitoring and logging of reads</h2>
<p>Every read of a subject's personal data through the API (consent records, a subject's consents and privacy view, decisions, devices with their owner, incident lists, webhook deliveries) is an audit entry <code>personal_data.read</code> naming the client, the route and the subject's pseudonym.</p>
{{with .Reads}}<table id="reads"><thead><tr><th scope="col">Client</th><th scope="col">Reads in the period</th></tr></thead><tbody>
{{range .}}<tr><th scope="row"><code>{{.ClientID}}</code></th><td class="n">{{.Reads}}</td></tr>
{{end}}</tbody></table>{{else}}<p>No read of personal data in the period.</p>{{end}}
</main>
</body>
</html>
`))

// barStep is the distance between two day bars.
const barStep = 10
