package store

import (
	"database/sql"
	"encoding/json"
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// DecisionFacts reads, in one query, what an access decision needs of the
// database: the device's status and notice key, its newest inventory
// version and the version in force of its notice (0: none), and subject's
// current consent state for purpose on the device (RecordID "": none; its
// NoticeKey is the device's). An unknown device is ENotFound.
// The subject's declaration as a child is read too: child.Subject is ""
// when they are none, and child.Guardians is not read.
func (r *Reader) DecisionFacts(deviceID, subject, purpose string) (device privacy.Device, inventory, notice int,
	consent privacy.ConsentState, child privacy.Child, err error) {
	var (
		inv, nv, cver, cseq sql.NullInt64
		rec, kind, declared sql.NullString
		granted, proxy      sql.NullBool
		expires, majority   sql.NullTime
		status              string
	)
	err = r.row("device", `SELECT d.status, d.notice_key,
		(SELECT MAX(i.version) FROM inventories i WHERE i.device_id = d.id),
		(SELECT MAX(v.version) FROM notice_versions v WHERE v.notice_key = d.notice_key AND v.published_at IS NOT NULL),
		s.record_id, s.kind, s.granted, s.expires_at, s.notice_version, s.audit_seq, s.proxy, c.subject_id, c.majority_at
		FROM devices d LEFT JOIN consent_state s ON s.subject_id = ? AND s.device_id = d.id AND s.purpose = ?
		LEFT JOIN subject_children c ON c.subject_id = ?
		WHERE d.id = ?`, []any{subject, purpose, subject, deviceID},
		&status, &device.NoticeKey, &inv, &nv, &rec, &kind, &granted, &expires, &cver, &cseq, &proxy, &declared, &majority)
	if err != nil {
		return privacy.Device{}, 0, 0, privacy.ConsentState{}, privacy.Child{}, err
	}
	device.ID, device.Status = deviceID, privacy.DeviceStatus(status)
	if rec.Valid {
		consent = privacy.ConsentState{SubjectID: subject, DeviceID: deviceID, Purpose: purpose, RecordID: rec.String, Kind: kind.String,
			Granted: granted.Bool, NoticeKey: device.NoticeKey, NoticeVersion: int(cver.Int64), AuditSeq: cseq.Int64, Proxy: proxy.Bool}
		if expires.Valid {
			consent.ExpiresAt = expires.Time.UTC()
		}
	}
	if declared.Valid {
		child.Subject = subject
		if majority.Valid {
			child.MajorityAt = majority.Time.UTC()
		}
	}
	return device, int(inv.Int64), int(nv.Int64), consent, child, nil
}

// InventoryElement reads one element of one inventory version.
func (r *Reader) InventoryElement(deviceID string, version int, key string) (privacy.DataElement, error) {
	e := privacy.DataElement{Key: key}
	var (
		sensitivity string
		purposes    stringList
	)
	err := r.row("element", `SELECT category, sensitivity, purposes FROM inventory_elements WHERE device_id = ? AND version = ? AND key = ?`,
		[]any{deviceID, version, key}, &e.Category, &sensitivity, &purposes)
	if privacy.ErrorCode(err) == privacy.ENotFound {
		return privacy.DataElement{}, privacy.Errorf(privacy.ENotFound, "element not declared")
	}
	e.Sensitivity, e.Purposes = privacy.Sensitivity(sensitivity), purposes
	return e, err
}

// DecisionRecord is a stored decision.
type DecisionRecord struct {
	ID, ServiceID, ServiceName, SubjectID, DeviceID, Element, Purpose, Action string
	Allow                                                                     bool
	Reasons                                                                   []string
	Steps                                                                     json.RawMessage
	// PackedSteps is Steps packed (PackSteps), made away from the single
	// writer; nil, InsertDecisions packs them.
	PackedSteps   []byte
	ConsentRecord string
	ConsentSeq    int64 // 0 with ConsentRecord "": none
	NoticeVersion int
	AuditSeq      int64
	CreatedAt     time.Time
}

// InsertDecisions appends decisions, many per statement.
func (tx *Tx) InsertDecisions(ds []DecisionRecord) error {
	const cols, chunk = 17, 100
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
			text, packed := d.stored()
			args = append(args, d.ID, d.ServiceID, d.ServiceName, d.SubjectID, d.DeviceID, d.Element, d.Purpose, d.Action, tx.boolValue(d.Allow),
				string(reasons), text, packedValue(packed), d.ConsentRecord, consentSeq, noticeVersion, d.AuditSeq, d.CreatedAt)
		}
		if _, err := tx.exec("decisions", `INSERT INTO decisions (`+decisionColumns+`) VALUES `+placeholders(len(part), cols), args...); err != nil {
			return err
		}
	}
	return nil
}

// stored is d's steps as its row stores them: packed, or as text when too
// long to pack.
func (d DecisionRecord) stored() (text string, packed []byte) {
	if d.PackedSteps != nil {
		return "", d.PackedSteps
	}
	if packed = PackSteps(d.Steps); packed == nil {
		return string(d.Steps), nil
	}
	return "", packed
}

// decisionColumns are a decision's columns, in the order Decision scans
// them and InsertDecisions binds them. A row stores its steps in steps
// (as text: rows written before steps were packed, and steps too long to
// pack) or in steps_packed (packed.go), never both.
const decisionColumns = `id, service_id, service_name, subject_id, device_id, element, purpose, action, allow, reasons, steps, steps_packed,
	consent_record, consent_seq, notice_version, audit_seq, created_at`

// decisionRow is a decisions row as scanned.
type decisionRow struct {
	d                         DecisionRecord
	reasons                   stringList
	steps                     string
	packed                    packedSteps
	consentSeq, noticeVersion sql.NullInt64
}

func (r *decisionRow) fields() []any {
	d := &r.d
	return []any{&d.ID, &d.ServiceID, &d.ServiceName, &d.SubjectID, &d.DeviceID, &d.Element, &d.Purpose, &d.Action, &d.Allow, &r.reasons, &r.steps, &r.packed,
		&d.ConsentRecord, &r.consentSeq, &r.noticeVersion, &d.AuditSeq, &d.CreatedAt}
}

func (r decisionRow) toDomain() DecisionRecord {
	d := r.d
	d.Reasons, d.Steps, d.ConsentSeq, d.NoticeVersion, d.CreatedAt = r.reasons, json.RawMessage(r.steps), r.consentSeq.Int64, int(r.noticeVersion.Int64),
		d.CreatedAt.UTC()
	if r.packed.ok {
		d.Steps = r.packed.steps
	}
	return d
}

// Decision loads one decision.
func (r *Reader) Decision(id string) (DecisionRecord, error) {
	row, err := selectOne[decisionRow](r, "decision", "SELECT "+decisionColumns+" FROM decisions WHERE id = ?", id)
	return row.toDomain(), err
}

// DecisionsPage returns up to limit decisions after the id after, by id.
func (r *Reader) DecisionsPage(after string, limit int) ([]DecisionRecord, error) {
	return selectDomain[decisionRow, DecisionRecord](r, "decisions", "SELECT "+decisionColumns+" FROM decisions WHERE id > ? ORDER BY id LIMIT ?",
		after, limit)
}
