package audit

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
)

// The canonical records: the form in which an audit entry commits to the
// record its change wrote (Entry.RecordSHA256, the hex SHA-256 of the
// record's RFC 8785 canonical JSON) and in which the evidence bundle
// carries it, so that a verifier holding the line recomputes the hash and
// any changed field shows. Subjects appear under the log's keyed
// pseudonym (Log.Pseudonym), receipts by their SHA-256: a line names no person.
// docs/evidence-bundle.md describes every field.

// ConsentLine is a consent or withdrawal record. Each of its choices has
// its own entry (consent.recorded or consent.withdrawn, at AuditSeq), and
// every one of them commits to the whole line; the choices are in the
// order of their entries.
type ConsentLine struct {
	ID            string `json:"id"`
	Kind          string `json:"kind"`
	Subject       string `json:"subject"`
	DeviceID      string `json:"device_id"`
	NoticeKey     string `json:"notice_key"`
	NoticeVersion int    `json:"notice_version"`
	NoticeSHA256  string `json:"notice_sha256"`
	Locale        string `json:"locale"`
	Method        string `json:"method"`
	ClientID      string `json:"client_id"`
	ClientTime    string `json:"client_time,omitempty"`
	CreatedAt     string `json:"created_at"`
	Withdraws     string `json:"withdraws,omitempty"`
	Reason        string `json:"reason,omitempty"`
	// Guardian is, for a proxy consent, the guardian's pseudonym.
	Guardian      string              `json:"guardian,omitempty"`
	ReceiptSHA256 string              `json:"receipt_sha256"`
	Choices       []ConsentLineChoice `json:"choices"`
}

// ConsentLineChoice is one purpose of a ConsentLine.
type ConsentLineChoice struct {
	Purpose   string `json:"purpose"`
	Granted   bool   `json:"granted"`
	ExpiresAt string `json:"expires_at,omitempty"`
	AuditSeq  int64  `json:"audit_seq"`
}

// NewConsentLine is rec's canonical line, its subject as its pseudonym,
// its guardian (for a proxy consent) as theirs, and its receipt as
// receiptSHA256.
func NewConsentLine(rec privacy.ConsentRecord, pseudonym, guardian, receiptSHA256 string) ConsentLine {
	l := ConsentLine{ID: rec.ID, Kind: rec.Kind, Subject: pseudonym, Guardian: guardian, DeviceID: rec.DeviceID, NoticeKey: rec.NoticeKey,
		NoticeVersion: rec.NoticeVersion, NoticeSHA256: rec.NoticeHash, Locale: rec.Locale, Method: string(rec.Method), ClientID: rec.ClientID,
		ClientTime: formatOptional(rec.ClientTime), CreatedAt: FormatTime(rec.CreatedAt), Withdraws: rec.Withdraws, Reason: rec.Reason, ReceiptSHA256: receiptSHA256,
		Choices: make([]ConsentLineChoice, len(rec.Choices))}
	for i, c := range rec.Choices {
		l.Choices[i] = ConsentLineChoice{Purpose: c.Purpose, Granted: c.Granted, ExpiresAt: formatOptional(c.ExpiresAt), AuditSeq: c.AuditSeq}
	}
	// In the order they were recorded, whatever order they are read in.
	slices.SortFunc(l.Choices, func(a, b ConsentLineChoice) int { return cmp.Compare(a.AuditSeq, b.AuditSeq) })
	return l
}

// formatOptional is FormatTime, or "" for the zero time.
func formatOptional(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return FormatTime(t)
}

// LineSHA256 is the commitment to a canonical record: the hex SHA-256 of
// its RFC 8785 JSON.
func LineSHA256(line any) (string, error) {
	// The consent writer commits to a line per record, thousands a
	// second: its line is written directly, without reflection.
	if l, ok := line.(ConsentLine); ok {
		if b, ok := l.canonical(); ok {
			sum := sha256.Sum256(b)
			return hex.EncodeToString(sum[:]), nil
		}
	}
	return PayloadHash(line)
}

// canonical writes l's RFC 8785 form, members in sorted order, as
// canonicalEntry does; false when a string is not valid UTF-8 (the
// general path then decides).
func (l ConsentLine) canonical() ([]byte, bool) {
	strs := []string{l.ID, l.Kind, l.Subject, l.DeviceID, l.NoticeKey, l.NoticeSHA256, l.Locale, l.Method, l.ClientID, l.ClientTime,
		l.CreatedAt, l.Withdraws, l.Reason, l.ReceiptSHA256, l.Guardian}
	for _, c := range l.Choices {
		strs = append(strs, c.Purpose, c.ExpiresAt)
	}
	for _, s := range strs {
		if !utf8.ValidString(s) {
			return nil, false
		}
	}
	b := make([]byte, 0, 512+96*len(l.Choices))
	b = append(b, `{"choices":[`...)
	for i, c := range l.Choices {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"audit_seq":`...)
		b = strconv.AppendInt(b, c.AuditSeq, 10)
		if c.ExpiresAt != "" {
			b = append(b, `,"expires_at":`...)
			b = appendString(b, c.ExpiresAt)
		}
		b = append(b, `,"granted":`...)
		b = strconv.AppendBool(b, c.Granted)
		b = append(b, `,"purpose":`...)
		b = appendString(b, c.Purpose)
		b = append(b, '}')
	}
	b = append(b, `],"client_id":`...)
	b = appendString(b, l.ClientID)
	if l.ClientTime != "" {
		b = append(b, `,"client_time":`...)
		b = appendString(b, l.ClientTime)
	}
	for _, m := range []struct{ name, value string }{{"created_at", l.CreatedAt}, {"device_id", l.DeviceID}, {"guardian", l.Guardian},
		{"id", l.ID}, {"kind", l.Kind}, {"locale", l.Locale}, {"method", l.Method}, {"notice_key", l.NoticeKey}, {"notice_sha256", l.NoticeSHA256}} {
		if m.name == "guardian" && m.value == "" {
			continue // omitted, as in every line written before guardians
		}
		b = append(b, ',', '"')
		b = append(b, m.name...)
		b = append(b, '"', ':')
		b = appendString(b, m.value)
	}
	b = append(b, `,"notice_version":`...)
	b = strconv.AppendInt(b, int64(l.NoticeVersion), 10)
	if l.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendString(b, l.Reason)
	}
	b = append(b, `,"receipt_sha256":`...)
	b = appendString(b, l.ReceiptSHA256)
	b = append(b, `,"subject":`...)
	b = appendString(b, l.Subject)
	if l.Withdraws != "" {
		b = append(b, `,"withdraws":`...)
		b = appendString(b, l.Withdraws)
	}
	return append(b, '}'), true
}

// DeviceLine is a device as a device.* entry leaves it: registered
// (status active), or after a change of status. Its identity never
// changes; the time of each change is its entry's.
type DeviceLine struct {
	ID           string `json:"id"`
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	Serial       string `json:"serial"`
	Firmware     string `json:"firmware"`
	NoticeKey    string `json:"notice_key"`
	Owner        string `json:"owner,omitempty"`
	Status       string `json:"status"`
	CreatedAt    string `json:"created_at"`
}

// NewDeviceLine is d's line, its owner (if any) by pseudonym.
func NewDeviceLine(d privacy.Device, owner string) DeviceLine {
	return DeviceLine{ID: d.ID, Manufacturer: d.Manufacturer, Model: d.Model, Serial: d.Serial, Firmware: d.Firmware, NoticeKey: d.NoticeKey,
		Owner: owner, Status: string(d.Status), CreatedAt: FormatTime(d.CreatedAt)}
}

// InventoryLine is one version of a device's data inventory, as its
// inventory.declared entry commits to it.
type InventoryLine struct {
	DeviceID  string                 `json:"device_id"`
	Version   int                    `json:"version"`
	CreatedBy string                 `json:"created_by"`
	CreatedAt string                 `json:"created_at"`
	Elements  []InventoryLineElement `json:"elements"`
}

// InventoryLineElement is one data element of an InventoryLine.
type InventoryLineElement struct {
	Key              string   `json:"key"`
	Description      string   `json:"description"`
	Category         string   `json:"category"`
	Sensitivity      string   `json:"sensitivity"`
	Purposes         []string `json:"purposes"`
	CollectionMethod string   `json:"collection_method"`
	Retention        string   `json:"retention"`
	Recipients       []string `json:"recipients"`
	StorageRegion    string   `json:"storage_region"`
}

// NewInventoryLine is inv's line.
func NewInventoryLine(inv privacy.Inventory) InventoryLine {
	l := InventoryLine{DeviceID: inv.DeviceID, Version: inv.Version, CreatedBy: inv.CreatedBy, CreatedAt: FormatTime(inv.CreatedAt),
		Elements: make([]InventoryLineElement, len(inv.Elements))}
	for i, e := range inv.Elements {
		l.Elements[i] = InventoryLineElement{Key: e.Key, Description: e.Description, Category: e.Category, Sensitivity: string(e.Sensitivity),
			Purposes: list(e.Purposes), CollectionMethod: string(e.CollectionMethod), Retention: e.Retention, Recipients: list(e.Recipients),
			StorageRegion: e.StorageRegion}
	}
	return l
}

// list is s, or [] for none: a line has one spelling of "no values".
func list(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// CheckConsent reports whether rec, as read from the database, is the
// record its entries committed to: the entry of its first choice must be
// its consent entry and hold the commitment to its line (every choice's
// entry holds the same). An entry from before records were bound holds
// none; then its receipt's hash is compared. Any difference is an error:
// the database was changed behind the log, and the record must not be
// served as evidence.
func (l *Log) CheckConsent(ctx context.Context, rec privacy.ConsentRecord) error {
	if len(rec.Choices) == 0 {
		return fmt.Errorf("audit: consent record %s has no choices: its consent entries' rows were removed", rec.ID)
	}
	seq := rec.Choices[0].AuditSeq
	leaves, err := l.Entries(ctx, Filter{From: seq, Limit: 1})
	if err != nil {
		return err
	}
	if len(leaves) == 0 || leaves[0].Seq != seq {
		return fmt.Errorf("audit: consent record %s names entry %d, which is not in the log", rec.ID, seq)
	}
	e, err := ParseLeaf(leaves[0].Leaf)
	if err != nil {
		return fmt.Errorf("audit: entry %d: %w", seq, err)
	}
	receipt := rec.ReceiptHash()
	subject, err := l.Pseudonym(l.db.Read(ctx), rec.SubjectID)
	if err != nil {
		return err
	}
	var guardian string
	if rec.Guardian != "" {
		if guardian, err = l.Pseudonym(l.db.Read(ctx), rec.Guardian); err != nil {
			return err
		}
	}
	line := NewConsentLine(rec, subject, guardian, receipt)
	want, err := LineSHA256(line)
	if err != nil {
		return err
	}
	switch {
	case e.Targets["record"] != rec.ID:
		return fmt.Errorf("audit: consent record %s names entry %d, which records %q", rec.ID, seq, e.Targets["record"])
	case e.RecordSHA256 != "" && e.RecordSHA256 != want, e.RecordSHA256 == "" && e.PayloadSHA256 != receipt:
		return fmt.Errorf("audit: consent record %s is not what entry %d recorded: the database was changed", rec.ID, seq)
	}
	return nil
}

// CheckEntry reports whether the entry at seq records ev as it stands
// now, as read from the database: the same action, outcome, reasons,
// reliance, targets (the subject under its pseudonym) and commitment. A difference is
// an error: the database was changed behind the log.
func (l *Log) CheckEntry(ctx context.Context, seq int64, ev event.Event) error {
	leaves, err := l.Entries(ctx, Filter{From: seq, Limit: 1})
	if err != nil {
		return err
	}
	if len(leaves) == 0 || leaves[0].Seq != seq {
		return fmt.Errorf("audit: entry %d is not in the log", seq)
	}
	got, err := ParseLeaf(leaves[0].Leaf)
	if err != nil {
		return fmt.Errorf("audit: entry %d: %w", seq, err)
	}
	want := ev.Entry()
	targets := maps.Clone(want.Targets)
	if want.Subject != "" {
		if targets == nil {
			targets = map[string]string{}
		}
		p, err := l.Pseudonym(l.db.Read(ctx), want.Subject)
		if err != nil {
			return err
		}
		targets["subject"] = p
	}
	// A decision entry written before records were bound names no service
	// and commits to no steps; a later one must do both.
	if got.RecordSHA256 == "" && ev.Action() == event.ActionDecision {
		delete(targets, "service_name")
	}
	outcome := want.Outcome
	if outcome == "" {
		outcome = event.OutcomeOK
	}
	// An entry written before records were bound commits to none.
	same := (got.RecordSHA256 == "" || got.RecordSHA256 == want.RecordSHA256) &&
		got.Action == ev.Action() && got.Outcome == outcome && slices.Equal(got.Reasons, want.Reasons) &&
		maps.Equal(got.Targets, targets) && (got.ReliesOn == nil) == (want.ReliesOn == nil) &&
		(got.ReliesOn == nil || *got.ReliesOn == *want.ReliesOn)
	if !same {
		return fmt.Errorf("audit: the %s recorded at entry %d is not what the database holds now: the database was changed", ev.Action(), seq)
	}
	return nil
}

// DecisionStep is one check of a decision as its entry commits to it: a
// decision entry's record_sha256 is DecisionStepsSHA256 of its steps (the
// entry itself holds the rest of the decision: targets, outcome, reasons,
// reliance).
type DecisionStep struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail"`
}

// DecisionStepsSHA256 is the hex SHA-256 of the steps' RFC 8785 JSON (an
// array of objects with check, detail, ok and, when set, reason). It is
// written directly: the writer computes it for every decision that is
// judged again in its transaction.
func DecisionStepsSHA256(steps []DecisionStep) (string, error) {
	_, h, err := DecisionSteps(steps)
	return h, err
}

// DecisionSteps is the steps' RFC 8785 JSON, which is how a decision's
// row stores them, and DecisionStepsSHA256 of them: one encoding serves
// both, thousands of times a second.
func DecisionSteps(steps []DecisionStep) ([]byte, string, error) {
	b := make([]byte, 0, 128*len(steps)+2)
	b = append(b, '[')
	for i, s := range steps {
		if !utf8.ValidString(s.Check) || !utf8.ValidString(s.Detail) || !utf8.ValidString(s.Reason) {
			// The canonical form of what encoding/json makes of them.
			h, err := PayloadHash(steps)
			if err != nil {
				return nil, "", err
			}
			raw, err := json.Marshal(steps)
			return raw, h, err
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"check":`...)
		b = appendString(b, s.Check)
		b = append(b, `,"detail":`...)
		b = appendString(b, s.Detail)
		b = append(b, `,"ok":`...)
		b = strconv.AppendBool(b, s.OK)
		if s.Reason != "" {
			b = append(b, `,"reason":`...)
			b = appendString(b, s.Reason)
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:]), nil
}
