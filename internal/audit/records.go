package audit

import (
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// The canonical records: the form in which an audit entry commits to the
// record its change wrote (Entry.RecordSHA256, the hex SHA-256 of the
// record's RFC 8785 canonical JSON) and in which the evidence bundle
// carries it, so that a verifier holding the line recomputes the hash and
// any changed field shows. Subjects appear under the log's keyed
// pseudonym (Log.HMAC), receipts by their SHA-256: a line names no person.
// docs/evidence-bundle.md describes every field.

// ConsentLine is a consent or withdrawal record. Each of its choices has
// its own entry (consent.recorded or consent.withdrawn, at AuditSeq), and
// every one of them commits to the whole line.
type ConsentLine struct {
	ID            string              `json:"id"`
	Kind          string              `json:"kind"`
	Subject       string              `json:"subject"`
	DeviceID      string              `json:"device_id"`
	NoticeKey     string              `json:"notice_key"`
	NoticeVersion int                 `json:"notice_version"`
	NoticeSHA256  string              `json:"notice_sha256"`
	Locale        string              `json:"locale"`
	Method        string              `json:"method"`
	ClientID      string              `json:"client_id"`
	ClientTime    string              `json:"client_time,omitempty"`
	CreatedAt     string              `json:"created_at"`
	Withdraws     string              `json:"withdraws,omitempty"`
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

// NewConsentLine is rec's canonical line, its subject as subjectHMAC and
// its receipt as receiptSHA256.
func NewConsentLine(rec privacy.ConsentRecord, subjectHMAC, receiptSHA256 string) ConsentLine {
	l := ConsentLine{ID: rec.ID, Kind: rec.Kind, Subject: subjectHMAC, DeviceID: rec.DeviceID, NoticeKey: rec.NoticeKey,
		NoticeVersion: rec.NoticeVersion, NoticeSHA256: rec.NoticeHash, Locale: rec.Locale, Method: string(rec.Method), ClientID: rec.ClientID,
		ClientTime: formatOptional(rec.ClientTime), CreatedAt: FormatTime(rec.CreatedAt), Withdraws: rec.Withdraws, ReceiptSHA256: receiptSHA256,
		Choices: make([]ConsentLineChoice, len(rec.Choices))}
	for i, c := range rec.Choices {
		l.Choices[i] = ConsentLineChoice{Purpose: c.Purpose, Granted: c.Granted, ExpiresAt: formatOptional(c.ExpiresAt), AuditSeq: c.AuditSeq}
	}
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
func LineSHA256(line any) (string, error) { return PayloadHash(line) }
