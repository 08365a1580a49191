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

// ConsentRef names a purpose's current state through a consent record:
// the state, on Device for Purpose, of the subject Record belongs to.
type ConsentRef struct{ Record, Device, Purpose string }

// ConsentStatesOfRecords returns the current state each ref names, in one
// query per 500 records; a ref whose state there is none of is absent.
// Another instance's consents are read back with it, a batch at a time,
// holding the audit log's lock (docs/scaling.md).
func (r *Reader) ConsentStatesOfRecords(refs []ConsentRef) (map[ConsentRef]privacy.ConsentState, error) {
	wanted := make(map[ConsentRef]bool, len(refs))
	var ids []string
	seen := map[string]bool{}
	for _, ref := range refs {
		wanted[ref] = true
		if !seen[ref.Record] {
			seen[ref.Record] = true
			ids = append(ids, ref.Record)
		}
	}
	out := make(map[ConsentRef]privacy.ConsentState, len(refs))
	for start := 0; start < len(ids); start += 500 {
		cond, args := in("r.id", ids[start:min(start+500, len(ids))])
		err := r.each("consent state", `SELECT r.id, s.subject_id, s.device_id, s.purpose, s.record_id, s.kind, s.granted, s.expires_at,
			s.notice_key, s.notice_version, s.audit_seq, s.updated_at, s.proxy FROM consent_records AS r
			JOIN consent_state AS s ON s.subject_id = r.subject_id WHERE `+cond, args, func(sc rowScanner) error {
			var (
				record string
				st     consentStateRecord
			)
			if err := sc.Scan(append([]any{&record}, st.fields()...)...); err != nil {
				return err
			}
			if ref := (ConsentRef{Record: record, Device: st.DeviceID, Purpose: st.Purpose}); wanted[ref] {
				out[ref] = st.toDomain()
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
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
