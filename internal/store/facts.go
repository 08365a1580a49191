package store

import (
	"database/sql"

	"github.com/consentry/consentry/internal/privacy"
	"gorm.io/gorm"
)

// narrowed restricts q to the rows whose col is only, when only is set.
func narrowed(q *gorm.DB, col, only string) *gorm.DB {
	if only == "" {
		return q
	}
	return q.Where(col+" = ?", only)
}

// DeviceStatuses returns every device's id, status and notice key, or
// those of the one device only names.
func (tx *Tx) DeviceStatuses(only string) ([]privacy.Device, error) {
	var devices []deviceRecord
	if err := narrowed(tx.db.Model(&deviceRecord{}).Select("id", "status", "notice_key"), "id", only).Find(&devices).Error; err != nil {
		return nil, formatError(err, "devices")
	}
	out := make([]privacy.Device, len(devices))
	for i, d := range devices {
		out[i] = privacy.Device{ID: d.ID, Status: privacy.DeviceStatus(d.Status), NoticeKey: d.NoticeKey}
	}
	return out, nil
}

// NewestInventories returns every device's newest inventory version, or
// the one device only names, with its elements' keys, categories,
// sensitivities and purposes.
func (tx *Tx) NewestInventories(only string) ([]privacy.Inventory, error) {
	newest := narrowed(tx.db.Model(&inventoryRecord{}).Select("device_id, MAX(version) AS version"), "device_id", only).Group("device_id")
	var versions []inventoryRecord
	if err := newest.Find(&versions).Error; err != nil {
		return nil, formatError(err, "inventories")
	}
	out := make([]privacy.Inventory, len(versions))
	at := make(map[string]int, len(versions))
	for i, v := range versions {
		out[i], at[v.DeviceID] = privacy.Inventory{DeviceID: v.DeviceID, Version: v.Version}, i
	}
	elements := tx.db.Table("inventory_elements AS e").Select("e.device_id, e.version, e.key, e.category, e.sensitivity, e.purposes").
		Where("e.version = (SELECT MAX(i.version) FROM inventories i WHERE i.device_id = e.device_id)")
	var es []elementRecord
	if err := narrowed(elements, "e.device_id", only).Find(&es).Error; err != nil {
		return nil, formatError(err, "inventory elements")
	}
	for _, e := range es {
		if i, ok := at[e.DeviceID]; ok && out[i].Version == e.Version {
			out[i].Elements = append(out[i].Elements, e.toDomain())
		}
	}
	return out, nil
}

// PublishedVersions returns every published notice version's key, number
// and materially changed purposes, or those of the one notice only names,
// oldest first per notice.
func (tx *Tx) PublishedVersions(only string) ([]privacy.NoticeVersion, error) {
	q := narrowed(tx.db.Select("notice_key", "version", "material_purposes").Where("published_at IS NOT NULL"), "notice_key", only)
	var rs []noticeVersionRecord
	if err := q.Order("notice_key, version").Find(&rs).Error; err != nil {
		return nil, formatError(err, "notice versions")
	}
	out := make([]privacy.NoticeVersion, len(rs))
	for i, r := range rs {
		out[i] = privacy.NoticeVersion{NoticeKey: r.NoticeKey, Version: r.Version, MaterialPurposes: r.MaterialPurposes}
	}
	return out, nil
}

// ConsentStateOfRecord returns the current state, for device and purpose,
// of the subject that consent record id belongs to; false when there is
// none.
func (tx *Tx) ConsentStateOfRecord(id, device, purpose string) (privacy.ConsentState, bool, error) {
	states, err := findStates(tx.db.Table("consent_state AS s").Select("s.*").
		Joins("JOIN consent_records AS r ON r.subject_id = s.subject_id").
		Where("r.id = ? AND s.device_id = ? AND s.purpose = ?", id, device, purpose))
	if err != nil || len(states) == 0 {
		return privacy.ConsentState{}, false, err
	}
	return states[0], true, nil
}

// CurrentConsentStates returns every current consent state, without its
// notice key and update time (the columns it does not scan), for loads of
// all of them at once: rows are scanned without gorm, and there is one per
// subject, device and purpose.
func (tx *Tx) CurrentConsentStates() ([]privacy.ConsentState, error) {
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
