package store

import (
	"database/sql"

	"github.com/consentry/consentry/internal/privacy"
	"gorm.io/gorm"
)

// DeviceFacts is what an access decision reads about a device: its
// status, the notice that governs it and its newest inventory.
type DeviceFacts struct {
	Status    string
	NoticeKey string
	// Inventory is the newest inventory version; 0: none declared.
	Inventory int
	// Elements are that version's elements by key, with the fields
	// InventoryElement reads.
	Elements map[string]privacy.DataElement
}

// DecisionElement is the part of a data element that decisions read,
// the same whether it was read from the database or kept in memory.
func DecisionElement(e privacy.DataElement) privacy.DataElement {
	return privacy.DataElement{Key: e.Key, Category: e.Category, Sensitivity: e.Sensitivity, Purposes: e.Purposes}
}

// DecisionConsent is a consent state with the fields DecisionFacts reads
// (NoticeKey left to the device's), the same whether it was read from the
// database or kept in memory.
func DecisionConsent(st privacy.ConsentState) privacy.ConsentState {
	out := privacy.ConsentState{SubjectID: st.SubjectID, DeviceID: st.DeviceID, Purpose: st.Purpose, RecordID: st.RecordID, Kind: st.Kind,
		Granted: st.Granted, NoticeVersion: st.NoticeVersion, AuditSeq: st.AuditSeq}
	if !st.ExpiresAt.IsZero() {
		out.ExpiresAt = st.ExpiresAt.UTC()
	}
	return out
}

// NoticeFacts is what an access decision reads about a notice with a
// published version: the version in force and the purposes each
// published version changed materially, by version.
type NoticeFacts struct {
	InForce  privacy.NoticeVersion
	Material map[int][]string
}

// narrowed restricts q to the rows whose col is only, when only is set.
func narrowed(q *gorm.DB, col, only string) *gorm.DB {
	if only == "" {
		return q
	}
	return q.Where(col+" = ?", only)
}

// AllDeviceFacts reads the facts of every device, or of the one device
// only names.
func (tx *Tx) AllDeviceFacts(only string) (map[string]DeviceFacts, error) {
	var devices []deviceRecord
	if err := narrowed(tx.db.Model(&deviceRecord{}).Select("id", "status", "notice_key"), "id", only).Find(&devices).Error; err != nil {
		return nil, formatError(err, "devices")
	}
	out := make(map[string]DeviceFacts, len(devices))
	for _, d := range devices {
		out[d.ID] = DeviceFacts{Status: d.Status, NoticeKey: d.NoticeKey, Elements: map[string]privacy.DataElement{}}
	}
	newest := narrowed(tx.db.Model(&inventoryRecord{}).Select("device_id, MAX(version) AS version"), "device_id", only).Group("device_id")
	var versions []inventoryRecord
	if err := newest.Find(&versions).Error; err != nil {
		return nil, formatError(err, "inventories")
	}
	for _, v := range versions {
		if d, ok := out[v.DeviceID]; ok {
			d.Inventory = v.Version
			out[v.DeviceID] = d
		}
	}
	elements := tx.db.Table("inventory_elements AS e").Select("e.device_id, e.version, e.key, e.category, e.sensitivity, e.purposes").
		Where("e.version = (SELECT MAX(i.version) FROM inventories i WHERE i.device_id = e.device_id)")
	var es []elementRecord
	if err := narrowed(elements, "e.device_id", only).Find(&es).Error; err != nil {
		return nil, formatError(err, "inventory elements")
	}
	for _, e := range es {
		if d, ok := out[e.DeviceID]; ok && d.Inventory == e.Version {
			d.Elements[e.Key] = DecisionElement(e.toDomain())
		}
	}
	return out, nil
}

// AllNoticeFacts reads the facts of every notice with a published
// version, or of the one notice only names.
func (tx *Tx) AllNoticeFacts(only string) (map[string]NoticeFacts, error) {
	q := narrowed(tx.db.Select("notice_key", "version", "material_purposes").Where("published_at IS NOT NULL"), "notice_key", only)
	var rs []noticeVersionRecord
	if err := q.Order("notice_key, version").Find(&rs).Error; err != nil {
		return nil, formatError(err, "notice versions")
	}
	out := map[string]NoticeFacts{}
	for _, r := range rs {
		n, ok := out[r.NoticeKey]
		if !ok {
			n.Material = map[int][]string{}
		}
		n.Material[r.Version] = r.MaterialPurposes
		n.InForce.Version = r.Version // ordered: the last is the newest
		out[r.NoticeKey] = n
	}
	for key, n := range out {
		v, err := tx.PublishedNoticeVersion(key, n.InForce.Version)
		if err != nil {
			return nil, err
		}
		n.InForce = v
		out[key] = n
	}
	return out, nil
}

// ConsentStateOfRecord returns the current state (as DecisionConsent
// shapes it), for device and purpose, of the subject that consent record
// id belongs to; false when there is none.
func (tx *Tx) ConsentStateOfRecord(id, device, purpose string) (privacy.ConsentState, bool, error) {
	states, err := findStates(tx.db.Table("consent_state AS s").Select("s.*").
		Joins("JOIN consent_records AS r ON r.subject_id = s.subject_id").
		Where("r.id = ? AND s.device_id = ? AND s.purpose = ?", id, device, purpose))
	if err != nil || len(states) == 0 {
		return privacy.ConsentState{}, false, err
	}
	return DecisionConsent(states[0]), true, nil
}

// DecisionConsentStates returns every current consent state, shaped as
// DecisionConsent shapes it (these are the only columns it scans), for
// the full load of decision facts. Rows are scanned without gorm: there is
// one per subject, device and purpose.
func (tx *Tx) DecisionConsentStates() ([]privacy.ConsentState, error) {
	rows, err := tx.db.Raw(`SELECT subject_id, device_id, purpose, record_id, kind, granted, expires_at, notice_version, audit_seq
		FROM consent_state`).Rows()
	if err != nil {
		return nil, formatError(err, "consent state")
	}
	defer rows.Close()
	var out []privacy.ConsentState
	for rows.Next() {
		var (
			st      privacy.ConsentState
			expires sql.NullTime
		)
		if err := rows.Scan(&st.SubjectID, &st.DeviceID, &st.Purpose, &st.RecordID, &st.Kind, &st.Granted, &expires, &st.NoticeVersion,
			&st.AuditSeq); err != nil {
			return nil, formatError(err, "consent state")
		}
		if expires.Valid {
			st.ExpiresAt = expires.Time.UTC()
		}
		out = append(out, st)
	}
	return out, formatError(rows.Err(), "consent state")
}
