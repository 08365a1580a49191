package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// DecisionFacts is everything about one device, subject and purpose that
// an access decision reads from the database, in one query.
type DecisionFacts struct {
	DeviceStatus     string
	NoticeKey        string
	InventoryVersion int // 0: no inventory
	NoticeVersion    int // 0: no notice published
	Consent          privacy.ConsentState
	HasConsent       bool
}

// DecisionFacts reads the facts of a decision. An unknown device is
// ENotFound.
func (tx *Tx) DecisionFacts(deviceID, subject, purpose string) (DecisionFacts, error) {
	var (
		f                   DecisionFacts
		inv, nv, cver, cseq sql.NullInt64
		rec, kind           sql.NullString
		granted             sql.NullBool
		expires             sql.NullTime
	)
	err := tx.query(`SELECT d.status, d.notice_key,
		(SELECT MAX(i.version) FROM inventories i WHERE i.device_id = d.id),
		(SELECT MAX(v.version) FROM notice_versions v WHERE v.notice_key = d.notice_key AND v.published_at IS NOT NULL),
		s.record_id, s.kind, s.granted, s.expires_at, s.notice_version, s.audit_seq
		FROM devices d LEFT JOIN consent_state s ON s.subject_id = ? AND s.device_id = d.id AND s.purpose = ?
		WHERE d.id = ?`, []any{subject, purpose, deviceID},
		&f.DeviceStatus, &f.NoticeKey, &inv, &nv, &rec, &kind, &granted, &expires, &cver, &cseq)
	if errors.Is(err, sql.ErrNoRows) {
		return DecisionFacts{}, privacy.Errorf(privacy.ENotFound, "device not found")
	}
	if err != nil {
		return DecisionFacts{}, formatError(err, "decision facts")
	}
	f.InventoryVersion, f.NoticeVersion = int(inv.Int64), int(nv.Int64)
	if rec.Valid {
		f.HasConsent = true
		f.Consent = privacy.ConsentState{SubjectID: subject, DeviceID: deviceID, Purpose: purpose, RecordID: rec.String, Kind: kind.String,
			Granted: granted.Bool, NoticeKey: f.NoticeKey, NoticeVersion: int(cver.Int64), AuditSeq: cseq.Int64}
		if expires.Valid {
			f.Consent.ExpiresAt = expires.Time.UTC()
		}
	}
	return f, nil
}

// InventoryElement reads one element of one inventory version.
func (tx *Tx) InventoryElement(deviceID string, version int, key string) (privacy.DataElement, error) {
	var (
		category, sensitivity, purposes string
	)
	err := tx.query(`SELECT category, sensitivity, purposes FROM inventory_elements WHERE device_id = ? AND version = ? AND key = ?`,
		[]any{deviceID, version, key}, &category, &sensitivity, &purposes)
	if errors.Is(err, sql.ErrNoRows) {
		return privacy.DataElement{}, privacy.Errorf(privacy.ENotFound, "element not declared")
	}
	if err != nil {
		return privacy.DataElement{}, formatError(err, "inventory element")
	}
	e := privacy.DataElement{Key: key, Category: category, Sensitivity: privacy.Sensitivity(sensitivity)}
	if err := json.Unmarshal([]byte(purposes), &e.Purposes); err != nil {
		return privacy.DataElement{}, formatError(err, "inventory element purposes")
	}
	return e, nil
}

// DecisionRecord is a stored decision.
type DecisionRecord struct {
	ID, ServiceID, ServiceName, SubjectID, DeviceID, Element, Purpose, Action string
	Allow                                                                     bool
	Reasons                                                                   []string
	Steps                                                                     json.RawMessage
	ConsentRecord                                                             string
	ConsentSeq                                                                int64 // 0 with ConsentRecord "": none
	NoticeVersion                                                             int
	AuditSeq                                                                  int64
	CreatedAt                                                                 time.Time
}

// InsertDecisions appends decisions, many per statement.
func (tx *Tx) InsertDecisions(ds []DecisionRecord) error {
	const cols, chunk = 16, 100
	for start := 0; start < len(ds); start += chunk {
		part := ds[start:min(start+chunk, len(ds))]
		args := make([]any, 0, cols*len(part))
		for _, d := range part {
			reasons, err := json.Marshal(d.Reasons)
			if err != nil {
				return err
			}
			var consentSeq, noticeVersion any
			if d.ConsentRecord != "" {
				consentSeq = d.ConsentSeq
			}
			if d.NoticeVersion > 0 {
				noticeVersion = d.NoticeVersion
			}
			args = append(args, d.ID, d.ServiceID, d.ServiceName, d.SubjectID, d.DeviceID, d.Element, d.Purpose, d.Action, tx.boolValue(d.Allow),
				string(reasons), string(d.Steps), d.ConsentRecord, consentSeq, noticeVersion, d.AuditSeq, d.CreatedAt)
		}
		err := tx.rawExec(`INSERT INTO decisions (id, service_id, service_name, subject_id, device_id, element, purpose, action, allow, reasons,
			steps, consent_record, consent_seq, notice_version, audit_seq, created_at) VALUES `+placeholders(len(part), cols), args...)
		if err != nil {
			return formatError(translate(tx, err), "decisions")
		}
	}
	return nil
}

// Decision loads one decision.
func (tx *Tx) Decision(id string) (DecisionRecord, error) {
	var (
		d                         DecisionRecord
		reasons, steps            string
		consentSeq, noticeVersion sql.NullInt64
	)
	err := tx.query(`SELECT id, service_id, service_name, subject_id, device_id, element, purpose, action, allow, reasons, steps,
		consent_record, consent_seq, notice_version, audit_seq, created_at FROM decisions WHERE id = ?`, []any{id},
		&d.ID, &d.ServiceID, &d.ServiceName, &d.SubjectID, &d.DeviceID, &d.Element, &d.Purpose, &d.Action, &d.Allow, &reasons, &steps,
		&d.ConsentRecord, &consentSeq, &noticeVersion, &d.AuditSeq, &d.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return DecisionRecord{}, privacy.Errorf(privacy.ENotFound, "decision not found")
	}
	if err != nil {
		return DecisionRecord{}, formatError(err, "decision")
	}
	if err := json.Unmarshal([]byte(reasons), &d.Reasons); err != nil {
		return DecisionRecord{}, formatError(err, "decision reasons")
	}
	d.Steps, d.ConsentSeq, d.NoticeVersion, d.CreatedAt = json.RawMessage(steps), consentSeq.Int64, int(noticeVersion.Int64), d.CreatedAt.UTC()
	return d, nil
}
