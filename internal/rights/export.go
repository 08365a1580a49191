package rights

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"golang.org/x/mod/sumdb/tlog"
)

// ExportFormat names the access export's format (docs/subject-rights.md).
const ExportFormat = "consentry-subject-export/1"

// The access export: one JSON object, streamed. Everything Consentry
// holds about the subject, and every audit entry that names them under
// their pseudonym, each with its exact bytes and its RFC 6962 inclusion
// proof against the signed checkpoint in "log": a consent entry carries
// its record (with the receipt), a decision entry its decision. Anyone
// holding the deployment's audit verifier key checks it offline
// (VerifyExport, `consentry evidence verify`), or with any RFC 6962
// verifier: the leaf hash is SHA-256(0x00 || leaf).

// ExportLog is the signed checkpoint the proofs lead to.
type ExportLog struct {
	Origin      string `json:"origin"`
	VerifierKey string `json:"verifier_key"`
	Checkpoint  string `json:"checkpoint"`
	Size        int64  `json:"size"`
	RootHash    string `json:"root_hash"`
}

// ExportEntry is one audit entry about the subject.
type ExportEntry struct {
	Seq int64 `json:"seq"`
	// Leaf is the entry's exact bytes (RFC 8785 JSON), as a string.
	Leaf     string   `json:"leaf"`
	LeafHash string   `json:"leaf_hash"`
	Proof    []string `json:"proof"`
	// ConsentRecord is the record a consent entry recorded (given with
	// the entry of its first choice); Decision, a decision entry's.
	ConsentRecord *ExportRecord   `json:"consent_record,omitempty"`
	Decision      *ExportDecision `json:"decision,omitempty"`
}

// ExportRecord is a consent record with its receipt.
type ExportRecord struct {
	ID            string `json:"id"`
	Kind          string `json:"kind"`
	DeviceID      string `json:"device_id"`
	NoticeKey     string `json:"notice_key"`
	NoticeVersion int    `json:"notice_version"`
	NoticeHash    string `json:"notice_hash"`
	Locale        string `json:"locale"`
	Method        string `json:"method"`
	ClientTime    string `json:"client_time,omitempty"`
	CreatedAt     string `json:"created_at"`
	ClientID      string `json:"client_id"`
	Withdraws     string `json:"withdraws,omitempty"`
	Reason        string `json:"reason,omitempty"`
	// Guardian is, for a proxy consent given with a guardian, the
	// guardian's subject id, and GuardianPseudonym theirs in the log.
	Guardian          string         `json:"guardian,omitempty"`
	GuardianPseudonym string         `json:"guardian_pseudonym,omitempty"`
	Choices           []ExportChoice `json:"choices"`
	// Receipt is the signed receipt (compact JWS, verify with
	// /.well-known/jwks.json).
	Receipt string `json:"receipt"`
}

// ExportChoice is one purpose's choice of a record.
type ExportChoice struct {
	Purpose   string `json:"purpose"`
	Granted   bool   `json:"granted"`
	ExpiresAt string `json:"expires_at,omitempty"`
	AuditSeq  int64  `json:"audit_seq"`
}

// ExportDecision is a decision made about the subject.
type ExportDecision struct {
	ID            string               `json:"id"`
	ServiceID     string               `json:"service_id"`
	ServiceName   string               `json:"service_name"`
	DeviceID      string               `json:"device_id"`
	Element       string               `json:"element"`
	Purpose       string               `json:"purpose"`
	Action        string               `json:"action"`
	Allow         bool                 `json:"allow"`
	Reasons       []string             `json:"reasons"`
	Steps         []audit.DecisionStep `json:"steps"`
	ConsentRecord string               `json:"consent_record,omitempty"`
	CreatedAt     string               `json:"created_at"`
}

// record is rec in the export's form.
func record(rec privacy.ConsentRecord) *ExportRecord {
	out := &ExportRecord{ID: rec.ID, Kind: rec.Kind, DeviceID: rec.DeviceID, NoticeKey: rec.NoticeKey, NoticeVersion: rec.NoticeVersion,
		NoticeHash: rec.NoticeHash, Locale: rec.Locale, Method: string(rec.Method), CreatedAt: audit.FormatTime(rec.CreatedAt), ClientID: rec.ClientID,
		Withdraws: rec.Withdraws, Reason: rec.Reason, Guardian: rec.Guardian, Receipt: rec.Receipt, Choices: make([]ExportChoice, len(rec.Choices))}
	if !rec.ClientTime.IsZero() {
		out.ClientTime = audit.FormatTime(rec.ClientTime)
	}
	for i, c := range rec.Choices {
		out.Choices[i] = ExportChoice{Purpose: c.Purpose, Granted: c.Granted, AuditSeq: c.AuditSeq}
		if !c.ExpiresAt.IsZero() {
			out.Choices[i].ExpiresAt = audit.FormatTime(c.ExpiresAt)
		}
	}
	return out
}

// domain is the export's record back as the record its line is made of.
func (r ExportRecord) domain(subject string) (privacy.ConsentRecord, error) {
	parse := func(s string) (time.Time, error) {
		if s == "" {
			return time.Time{}, nil
		}
		return time.Parse(audit.TimeFormat, s)
	}
	rec := privacy.ConsentRecord{ID: r.ID, Kind: r.Kind, SubjectID: subject, DeviceID: r.DeviceID, NoticeKey: r.NoticeKey,
		NoticeVersion: r.NoticeVersion, NoticeHash: r.NoticeHash, Locale: r.Locale, Method: privacy.ConsentMethod(r.Method), ClientID: r.ClientID,
		Withdraws: r.Withdraws, Reason: r.Reason, Receipt: r.Receipt, Guardian: r.Guardian}
	var err error
	if rec.ClientTime, err = parse(r.ClientTime); err != nil {
		return rec, err
	}
	if rec.CreatedAt, err = parse(r.CreatedAt); err != nil {
		return rec, err
	}
	for _, c := range r.Choices {
		ch := privacy.ConsentChoice{Purpose: c.Purpose, Granted: c.Granted, AuditSeq: c.AuditSeq}
		if ch.ExpiresAt, err = parse(c.ExpiresAt); err != nil {
			return rec, err
		}
		rec.Choices = append(rec.Choices, ch)
	}
	return rec, nil
}

// exportPage is how many rows the export reads at a time.
const exportPage = 500

// Exportable says why request q has no export, or nil: only an access
// request has one, and only while its subject is known.
func Exportable(q privacy.SubjectRequest) error {
	if q.Type != privacy.RequestAccess {
		return privacy.Errorf(privacy.EConflict, "request %s is an erasure: only an access request has an export", q.ID)
	}
	if q.SubjectID == "" {
		return privacy.Errorf(privacy.EGone, "the subject of request %s was erased since: there is nothing left to export", q.ID)
	}
	return nil
}

// Export writes the access export of request q (Exportable) to w,
// streaming: a history of any length holds one page in memory.
func (s *Service) Export(ctx context.Context, q privacy.SubjectRequest, w io.Writer) error {
	if err := Exportable(q); err != nil {
		return err
	}
	cp, err := s.log.Checkpoint(ctx)
	if err != nil {
		return err
	}
	r := s.db.Read(ctx)
	bw := bufio.NewWriterSize(w, 64<<10)
	x := &exporter{w: bw}
	x.raw(`{"format":`)
	x.value(ExportFormat)
	x.field("generated_at", audit.FormatTime(s.db.Now()))
	x.field("subject", q.SubjectID)
	x.field("pseudonym", q.Pseudonym)
	x.field("request", newExportRequest(q))
	x.field("log", ExportLog{Origin: s.log.Origin(), VerifierKey: s.log.VerifierKey(), Checkpoint: cp.Note, Size: cp.Size,
		RootHash: hex.EncodeToString(cp.Root)})
	states, err := r.ConsentStates(q.SubjectID, "")
	if err != nil {
		return err
	}
	x.field("consent_state", exportStates(states))
	devices, err := r.DevicesOwnedBy(q.SubjectID)
	if err != nil {
		return err
	}
	x.field("devices", exportDevices(devices))
	requests, err := r.SubjectRequests(q.Pseudonym)
	if err != nil {
		return err
	}
	reqs := make([]exportRequest, len(requests))
	for i, rq := range requests {
		reqs[i] = newExportRequest(rq)
	}
	x.field("requests", reqs)
	if err := x.deliveries(r, q.SubjectID); err != nil {
		return err
	}
	if err := x.entries(ctx, s, r, q, cp.Size); err != nil {
		return err
	}
	x.raw("}\n")
	if x.err != nil {
		return x.err
	}
	return bw.Flush()
}

// exporter writes the export's JSON, keeping the first write error.
type exporter struct {
	w   *bufio.Writer
	err error
}

func (x *exporter) raw(s string) {
	if x.err == nil {
		_, x.err = x.w.WriteString(s)
	}
}

func (x *exporter) value(v any) {
	if x.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		x.err = err
		return
	}
	_, x.err = x.w.Write(b)
}

// field writes a member of the document, one a line.
func (x *exporter) field(name string, v any) {
	x.raw(",\n")
	x.value(name)
	x.raw(":")
	x.value(v)
}

// deliveries writes the webhook deliveries about subject, a page at a time.
func (x *exporter) deliveries(r *store.Reader, subject string) error {
	x.raw(",\n" + `"webhook_deliveries":[`)
	after, first := int64(0), true
	for {
		page, err := r.DeliveriesAbout(subject, after, exportPage)
		if err != nil {
			return err
		}
		for _, d := range page {
			if !first {
				x.raw(",")
			}
			first = false
			x.raw("\n")
			x.value(exportDelivery{WebhookID: d.WebhookID, ID: d.ID, Event: d.Event, State: string(d.State), Attempts: d.Attempts,
				DeliveredAt: optionalTime(d.DeliveredAt)})
			after = d.ID
		}
		if len(page) < exportPage {
			x.raw("]")
			return nil
		}
	}
}

// entries writes every entry naming the subject, up to size, with its
// proof and record.
func (x *exporter) entries(ctx context.Context, s *Service, r *store.Reader, q privacy.SubjectRequest, size int64) error {
	x.raw(",\n" + `"entries":[`)
	first, seen := true, map[string]bool{}
	err := audit.EachEntry(r, audit.Filter{SubjectPseudonym: q.Pseudonym, Limit: exportPage}, func(leaf privacy.AuditLeaf, e audit.Entry) error {
		seq := leaf.Seq
		if seq >= size {
			return nil
		}
		lh, proof, err := s.log.InclusionProof(ctx, seq, size)
		if err != nil {
			return err
		}
		out := ExportEntry{Seq: seq, Leaf: string(leaf.Leaf), LeafHash: hex.EncodeToString(lh[:]), Proof: hexes(proof)}
		switch e.Action {
		case event.ActionConsentRecorded, event.ActionConsentWithdrawn:
			id := e.Targets["record"]
			if !seen[id] {
				seen[id] = true
				rec, err := r.ConsentRecord(id)
				if err != nil {
					return err
				}
				out.ConsentRecord = record(rec)
				if rec.Guardian != "" {
					if out.ConsentRecord.GuardianPseudonym, err = s.log.Pseudonym(r, rec.Guardian); err != nil {
						return err
					}
				}
			}
		case event.ActionDecision:
			d, err := r.Decision(e.Targets["decision"])
			if err != nil {
				return err
			}
			var steps []audit.DecisionStep
			if err := json.Unmarshal(d.Steps, &steps); err != nil {
				return fmt.Errorf("rights: steps of decision %s: %w", d.ID, err)
			}
			out.Decision = &ExportDecision{ID: d.ID, ServiceID: d.ServiceID, ServiceName: d.ServiceName, DeviceID: d.DeviceID, Element: d.Element,
				Purpose: d.Purpose, Action: d.Action, Allow: d.Allow, Reasons: d.Reasons, Steps: steps, ConsentRecord: d.ConsentRecord,
				CreatedAt: audit.FormatTime(d.CreatedAt)}
		}
		if !first {
			x.raw(",")
		}
		first = false
		x.raw("\n")
		x.value(out)
		return x.err
	})
	x.raw("]")
	return err
}

func hexes(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h[:])
	}
	return out
}

func optionalTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return audit.FormatTime(t)
}

// exportRequest is a request in the export.
type exportRequest struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	State       string `json:"state"`
	DueAt       string `json:"due_at"`
	CreatedAt   string `json:"created_at"`
	CompletedAt string `json:"completed_at,omitempty"`
}

func newExportRequest(q privacy.SubjectRequest) exportRequest {
	return exportRequest{ID: q.ID, Type: string(q.Type), State: string(q.State), DueAt: audit.FormatTime(q.DueAt), CreatedAt: audit.FormatTime(q.CreatedAt),
		CompletedAt: optionalTime(q.CompletedAt)}
}

// exportState is a current consent state.
type exportState struct {
	DeviceID      string `json:"device_id"`
	Purpose       string `json:"purpose"`
	RecordID      string `json:"record_id"`
	Kind          string `json:"kind"`
	Granted       bool   `json:"granted"`
	ExpiresAt     string `json:"expires_at,omitempty"`
	NoticeKey     string `json:"notice_key"`
	NoticeVersion int    `json:"notice_version"`
	AuditSeq      int64  `json:"audit_seq"`
}

func exportStates(states []privacy.ConsentState) []exportState {
	out := make([]exportState, len(states))
	for i, st := range states {
		out[i] = exportState{DeviceID: st.DeviceID, Purpose: st.Purpose, RecordID: st.RecordID, Kind: st.Kind, Granted: st.Granted,
			ExpiresAt: optionalTime(st.ExpiresAt), NoticeKey: st.NoticeKey, NoticeVersion: st.NoticeVersion, AuditSeq: st.AuditSeq}
	}
	return out
}

// exportDevice is a device the subject owns.
type exportDevice struct {
	ID           string `json:"id"`
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	Serial       string `json:"serial"`
	Firmware     string `json:"firmware_version"`
	NoticeKey    string `json:"notice_key"`
	Status       string `json:"status"`
	CreatedAt    string `json:"created_at"`
}

func exportDevices(ds []privacy.Device) []exportDevice {
	out := make([]exportDevice, len(ds))
	for i, d := range ds {
		out[i] = exportDevice{ID: d.ID, Manufacturer: d.Manufacturer, Model: d.Model, Serial: d.Serial, Firmware: d.Firmware, NoticeKey: d.NoticeKey,
			Status: string(d.Status), CreatedAt: audit.FormatTime(d.CreatedAt)}
	}
	return out
}

// exportDelivery is a webhook delivery about the subject.
type exportDelivery struct {
	WebhookID   string               `json:"webhook_id"`
	ID          int64                `json:"id"`
	Event       privacy.WebhookEvent `json:"event"`
	State       string               `json:"state"`
	Attempts    int                  `json:"attempts"`
	DeliveredAt string               `json:"delivered_at,omitempty"`
}
