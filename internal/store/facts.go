package store

import (
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// The reads below load what decisions keep in memory, for every device,
// notice and consent at once, or narrowed to the one device or notice
// only names ("" for all).

// narrowed adds "AND col = ?" to q when only is set.
func narrowed(q, col, only string) (string, []any) {
	if only == "" {
		return q, nil
	}
	return q + " AND " + col + " = ?", []any{only}
}

// DeviceStatuses returns every device's id, status and notice key, or
// those of the one device only names.
func (r *Reader) DeviceStatuses(only string) ([]privacy.Device, error) {
	q, args := narrowed("SELECT id, status, notice_key FROM devices WHERE 1 = 1", "id", only)
	var out []privacy.Device
	err := r.each("devices", q, args, func(s rowScanner) error {
		var d privacy.Device
		err := s.Scan(&d.ID, &d.Status, &d.NoticeKey)
		out = append(out, d)
		return err
	})
	return out, err
}

// NewestInventories returns every device's newest inventory version, or
// the one device only names, with its elements' keys, categories,
// sensitivities and purposes.
func (r *Reader) NewestInventories(only string) ([]privacy.Inventory, error) {
	q, args := narrowed("SELECT device_id, MAX(version) FROM inventories WHERE 1 = 1", "device_id", only)
	var out []privacy.Inventory
	at := map[string]int{}
	err := r.each("inventories", q+" GROUP BY device_id", args, func(s rowScanner) error {
		var inv privacy.Inventory
		err := s.Scan(&inv.DeviceID, &inv.Version)
		at[inv.DeviceID] = len(out)
		out = append(out, inv)
		return err
	})
	if err != nil {
		return nil, err
	}
	q, args = narrowed(`SELECT e.device_id, e.version, e.key, e.category, e.sensitivity, e.purposes FROM inventory_elements AS e
		WHERE e.version = (SELECT MAX(i.version) FROM inventories i WHERE i.device_id = e.device_id)`, "e.device_id", only)
	err = r.each("inventory elements", q, args, func(s rowScanner) error {
		var (
			device, sensitivity string
			version             int
			purposes            stringList
			e                   privacy.DataElement
		)
		if err := s.Scan(&device, &version, &e.Key, &e.Category, &sensitivity, &purposes); err != nil {
			return err
		}
		e.Sensitivity, e.Purposes = privacy.Sensitivity(sensitivity), purposes
		if i, ok := at[device]; ok && out[i].Version == version {
			out[i].Elements = append(out[i].Elements, e)
		}
		return nil
	})
	return out, err
}

// PublishedVersions returns every published notice version's key, number
// and materially changed purposes, or those of the one notice only names,
// oldest first per notice.
func (r *Reader) PublishedVersions(only string) ([]privacy.NoticeVersion, error) {
	q, args := narrowed("SELECT notice_key, version, material_purposes FROM notice_versions WHERE published_at IS NOT NULL", "notice_key", only)
	var out []privacy.NoticeVersion
	err := r.each("notice versions", q+" ORDER BY notice_key, version", args, func(s rowScanner) error {
		var (
			v        privacy.NoticeVersion
			material stringList
		)
		err := s.Scan(&v.NoticeKey, &v.Version, &material)
		v.MaterialPurposes = material
		out = append(out, v)
		return err
	})
	return out, err
}

// ConsentStateOfRecord returns the current state, for device and purpose,
// of the subject that consent record id belongs to; false when there is
// none.
func (r *Reader) ConsentStateOfRecord(id, device, purpose string) (privacy.ConsentState, bool, error) {
	states, err := r.states(`SELECT s.subject_id, s.device_id, s.purpose, s.record_id, s.kind, s.granted, s.expires_at, s.notice_key,
		s.notice_version, s.audit_seq, s.updated_at, s.proxy FROM consent_state AS s JOIN consent_records AS r ON r.subject_id = s.subject_id
		WHERE r.id = ? AND s.device_id = ? AND s.purpose = ?`, id, device, purpose)
	if err != nil || len(states) == 0 {
		return privacy.ConsentState{}, false, err
	}
	return states[0], true, nil
}

// CurrentConsentStates returns every current consent state, without its
// notice key and update time, for loads of all of them at once: there is
// one per subject, device and purpose.
func (r *Reader) CurrentConsentStates() ([]privacy.ConsentState, error) {
	var out []privacy.ConsentState
	err := r.each("consent state", `SELECT subject_id, device_id, purpose, record_id, kind, granted, expires_at, notice_version, audit_seq, proxy
		FROM consent_state`, nil, func(s rowScanner) error {
		var (
			st      privacy.ConsentState
			expires *time.Time
		)
		err := s.Scan(&st.SubjectID, &st.DeviceID, &st.Purpose, &st.RecordID, &st.Kind, &st.Granted, &expires, &st.NoticeVersion, &st.AuditSeq,
			&st.Proxy)
		st.ExpiresAt = timeVal(expires)
		out = append(out, st)
		return err
	})
	return out, err
}
