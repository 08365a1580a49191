package store

import (
	"database/sql"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// consentRecordRecord is a row of consent_records.
type consentRecordRecord struct {
	ID            string `gorm:"primaryKey"`
	Kind          string
	SubjectID     string
	DeviceID      string
	NoticeKey     string
	NoticeVersion int
	NoticeHash    string
	Locale        string
	Method        string
	ClientTime    *time.Time
	CreatedAt     time.Time `gorm:"autoCreateTime:false"`
	ClientID      string
	Withdraws     string
	Receipt       string
}

func (consentRecordRecord) TableName() string { return "consent_records" }

// consentEventRecord is a row of consent_events.
type consentEventRecord struct {
	RecordID  string `gorm:"primaryKey"`
	Purpose   string `gorm:"primaryKey"`
	Granted   bool
	ExpiresAt *time.Time
	AuditSeq  int64
}

func (consentEventRecord) TableName() string { return "consent_events" }

// consentStateRecord is a row of consent_state.
type consentStateRecord struct {
	SubjectID     string `gorm:"primaryKey"`
	DeviceID      string `gorm:"primaryKey"`
	Purpose       string `gorm:"primaryKey"`
	RecordID      string
	Kind          string
	Granted       bool
	ExpiresAt     *time.Time
	NoticeKey     string
	NoticeVersion int
	AuditSeq      int64
	UpdatedAt     time.Time `gorm:"autoUpdateTime:false"`
}

func (consentStateRecord) TableName() string { return "consent_state" }

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func timeVal(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func (r consentStateRecord) toDomain() privacy.ConsentState {
	return privacy.ConsentState{SubjectID: r.SubjectID, DeviceID: r.DeviceID, Purpose: r.Purpose, RecordID: r.RecordID, Kind: r.Kind,
		Granted: r.Granted, ExpiresAt: timeVal(r.ExpiresAt), NoticeKey: r.NoticeKey, NoticeVersion: r.NoticeVersion, AuditSeq: r.AuditSeq,
		UpdatedAt: r.UpdatedAt.UTC()}
}

// stateRows are the state rows a record sets.
func stateRows(rec privacy.ConsentRecord) []consentStateRecord {
	rows := make([]consentStateRecord, len(rec.Choices))
	for i, c := range rec.Choices {
		rows[i] = consentStateRecord{SubjectID: rec.SubjectID, DeviceID: rec.DeviceID, Purpose: c.Purpose, RecordID: rec.ID, Kind: rec.Kind,
			Granted: c.Granted, ExpiresAt: timePtr(c.ExpiresAt), NoticeKey: rec.NoticeKey, NoticeVersion: rec.NoticeVersion, AuditSeq: c.AuditSeq,
			UpdatedAt: rec.CreatedAt}
	}
	return rows
}

// upsertStates writes rows as the current state. Records come in commit
// order, so the newest always wins.
func (tx *Tx) upsertStates(rows []consentStateRecord) error {
	if len(rows) == 0 {
		return nil
	}
	err := tx.db.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "subject_id"}, {Name: "device_id"}, {Name: "purpose"}},
		DoUpdates: clause.AssignmentColumns([]string{"record_id", "kind", "granted", "expires_at", "notice_key", "notice_version", "audit_seq", "updated_at"}),
	}).Create(&rows).Error
	return formatError(err, "consent state")
}

// InsertConsentRecord appends a record and its events and moves the
// current state of every purpose it names. Three statements, whatever the
// number of purposes: this is the consent hot path.
func (tx *Tx) InsertConsentRecord(rec privacy.ConsentRecord) error {
	err := tx.rawExec(`INSERT INTO consent_records (id, kind, subject_id, device_id, notice_key, notice_version, notice_hash, locale,
		method, client_time, created_at, client_id, withdraws, receipt) VALUES `+placeholders(1, 14),
		rec.ID, rec.Kind, rec.SubjectID, rec.DeviceID, rec.NoticeKey, rec.NoticeVersion, rec.NoticeHash, rec.Locale, string(rec.Method),
		timePtr(rec.ClientTime), rec.CreatedAt, rec.ClientID, rec.Withdraws, rec.Receipt)
	if err != nil {
		return formatError(translate(tx, err), "consent record")
	}
	if len(rec.Choices) == 0 {
		return nil
	}
	events := make([]any, 0, 4*len(rec.Choices))
	states := make([]any, 0, 10*len(rec.Choices))
	for _, c := range rec.Choices {
		events = append(events, rec.ID, c.Purpose, tx.boolValue(c.Granted), timePtr(c.ExpiresAt), c.AuditSeq)
		states = append(states, rec.SubjectID, rec.DeviceID, c.Purpose, rec.ID, rec.Kind, tx.boolValue(c.Granted), timePtr(c.ExpiresAt),
			rec.NoticeKey, rec.NoticeVersion, c.AuditSeq, rec.CreatedAt)
	}
	if err := tx.rawExec(`INSERT INTO consent_events (record_id, purpose, granted, expires_at, audit_seq) VALUES `+placeholders(len(rec.Choices), 5), events...); err != nil {
		return formatError(translate(tx, err), "consent events")
	}
	err = tx.rawExec(`INSERT INTO consent_state (subject_id, device_id, purpose, record_id, kind, granted, expires_at, notice_key, notice_version, audit_seq, updated_at)
		VALUES `+placeholders(len(rec.Choices), 11)+`
		ON CONFLICT (subject_id, device_id, purpose) DO UPDATE SET record_id = excluded.record_id, kind = excluded.kind,
		granted = excluded.granted, expires_at = excluded.expires_at, notice_key = excluded.notice_key,
		notice_version = excluded.notice_version, audit_seq = excluded.audit_seq, updated_at = excluded.updated_at`, states...)
	return formatError(translate(tx, err), "consent state")
}

// ConsentRecord loads one record with its choices.
func (tx *Tx) ConsentRecord(id string) (privacy.ConsentRecord, error) {
	var r consentRecordRecord
	if err := tx.db.Where("id = ?", id).Take(&r).Error; err != nil {
		return privacy.ConsentRecord{}, formatError(err, "consent record")
	}
	recs, err := tx.withChoices([]consentRecordRecord{r})
	if err != nil {
		return privacy.ConsentRecord{}, err
	}
	return recs[0], nil
}

// withChoices loads the events of records and returns them as domain records.
func (tx *Tx) withChoices(rs []consentRecordRecord) ([]privacy.ConsentRecord, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	var evs []consentEventRecord
	if err := tx.db.Where("record_id IN ?", ids).Order("record_id, purpose").Find(&evs).Error; err != nil {
		return nil, formatError(err, "consent events")
	}
	byRecord := map[string][]privacy.ConsentChoice{}
	for _, e := range evs {
		byRecord[e.RecordID] = append(byRecord[e.RecordID], privacy.ConsentChoice{Purpose: e.Purpose, Granted: e.Granted, ExpiresAt: timeVal(e.ExpiresAt),
			AuditSeq: e.AuditSeq})
	}
	out := make([]privacy.ConsentRecord, len(rs))
	for i, r := range rs {
		out[i] = privacy.ConsentRecord{ID: r.ID, Kind: r.Kind, SubjectID: r.SubjectID, DeviceID: r.DeviceID, NoticeKey: r.NoticeKey,
			NoticeVersion: r.NoticeVersion, NoticeHash: r.NoticeHash, Locale: r.Locale, Method: privacy.ConsentMethod(r.Method),
			ClientTime: timeVal(r.ClientTime), CreatedAt: r.CreatedAt.UTC(), ClientID: r.ClientID, Withdraws: r.Withdraws,
			Choices: byRecord[r.ID], Receipt: r.Receipt}
	}
	return out, nil
}

// ConsentHistory pages a subject's records, newest first, before the
// record (time, id) given by the cursor.
func (tx *Tx) ConsentHistory(subject string, beforeTime time.Time, beforeID string, limit int) ([]privacy.ConsentRecord, error) {
	q := tx.db.Where("subject_id = ?", subject)
	if beforeID != "" {
		q = q.Where("created_at < ? OR (created_at = ? AND id < ?)", beforeTime, beforeTime, beforeID)
	}
	var rs []consentRecordRecord
	if err := q.Order("created_at DESC, id DESC").Limit(limit).Find(&rs).Error; err != nil {
		return nil, formatError(err, "consent records")
	}
	return tx.withChoices(rs)
}

// ConsentStates returns the current state rows of a subject, optionally
// for one device.
func (tx *Tx) ConsentStates(subject, device string) ([]privacy.ConsentState, error) {
	q := tx.db.Where("subject_id = ?", subject)
	if device != "" {
		q = q.Where("device_id = ?", device)
	}
	return findStates(q.Order("device_id, purpose"))
}

// findStates runs a query of consent_state rows.
func findStates(q *gorm.DB) ([]privacy.ConsentState, error) {
	var rs []consentStateRecord
	if err := q.Find(&rs).Error; err != nil {
		return nil, formatError(err, "consent state")
	}
	out := make([]privacy.ConsentState, len(rs))
	for i, r := range rs {
		out[i] = r.toDomain()
	}
	return out, nil
}

// AllConsentStates returns every state row, in key order.
func (tx *Tx) AllConsentStates() ([]privacy.ConsentState, error) {
	return findStates(tx.db.Order("subject_id, device_id, purpose"))
}

// RebuildConsentState recomputes the current state from the events alone,
// replaying every record in commit order, and replaces the table with it.
func (tx *Tx) RebuildConsentState() error {
	if err := tx.db.Where("1 = 1").Delete(&consentStateRecord{}).Error; err != nil {
		return formatError(err, "consent state")
	}
	order := "pos" // PostgreSQL: a sequence filled inside the audit log's lock
	if tx.db.Dialector.Name() != "postgres" {
		order = "rowid" // SQLite: rows are only ever appended, by one writer
	}
	const page = 1000
	var last int64 = -1
	for {
		var keys []struct {
			ID  string
			Pos int64
		}
		err := tx.db.Model(&consentRecordRecord{}).Select("id, "+order+" AS pos").Where(order+" > ?", last).Order(order).Limit(page).Scan(&keys).Error
		if err != nil {
			return formatError(err, "consent records")
		}
		ids := make([]string, len(keys))
		for i, k := range keys {
			ids[i] = k.ID
		}
		var found []consentRecordRecord
		if err := tx.db.Where("id IN ?", ids).Find(&found).Error; err != nil {
			return formatError(err, "consent records")
		}
		byID := make(map[string]consentRecordRecord, len(found))
		for _, r := range found {
			byID[r.ID] = r
		}
		plain := make([]consentRecordRecord, len(keys))
		for i, k := range keys {
			plain[i] = byID[k.ID]
		}
		recs, err := tx.withChoices(plain)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if err := tx.upsertStates(stateRows(rec)); err != nil {
				return err
			}
		}
		if len(keys) < page {
			return nil
		}
		last = keys[len(keys)-1].Pos
	}
}

// MaterialChanges returns, for a notice, the purposes each published
// version changed materially, by version.
func (tx *Tx) MaterialChanges(key string) (map[int][]string, error) {
	var rs []noticeVersionRecord
	if err := tx.db.Select("version", "material_purposes").Where("notice_key = ? AND published_at IS NOT NULL", key).Find(&rs).Error; err != nil {
		return nil, formatError(err, "notice versions")
	}
	out := make(map[int][]string, len(rs))
	for _, r := range rs {
		out[r.Version] = r.MaterialPurposes
	}
	return out, nil
}

// DevicesOwnedBy lists the devices whose owner is subject.
func (tx *Tx) DevicesOwnedBy(subject string) ([]privacy.Device, error) {
	var rs []deviceRecord
	if err := tx.db.Where("owner_subject = ?", subject).Order("id").Find(&rs).Error; err != nil {
		return nil, formatError(err, "devices")
	}
	out := make([]privacy.Device, len(rs))
	for i, r := range rs {
		out[i] = r.toDomain()
	}
	return out, nil
}

// ConsentCheck is what must still hold when a consent is written, read by
// ConsentPrecheck.
type ConsentCheck struct {
	// Status is the device's status.
	Status string
	// Notice is the version in force of the notice asked about (0: none).
	Notice int
	// Inventory is the device's inventory version (0: none).
	Inventory int
	// Granted lists the purposes the subject has granted for the device
	// and not yet seen expire at the transaction's time.
	Granted []string
}

// ConsentPrecheck reads, in one query, what must still hold when a consent
// is written, and the subject's grants in force for the device, which a
// denial takes back. It runs in the writer for every consent, so it skips
// gorm. Any failure, including an unknown device, is an error.
func (tx *Tx) ConsentPrecheck(subject, deviceID, noticeKey string) (ConsentCheck, error) {
	stmt, err := tx.stmt(`SELECT d.status,
		(SELECT MAX(v.version) FROM notice_versions v WHERE v.notice_key = ? AND v.published_at IS NOT NULL),
		(SELECT MAX(i.version) FROM inventories i WHERE i.device_id = d.id),
		s.purpose
		FROM devices d LEFT JOIN consent_state s ON s.subject_id = ? AND s.device_id = d.id AND s.kind = 'consent'
			AND s.granted = ? AND s.expires_at > ?
		WHERE d.id = ?`)
	if err != nil {
		return ConsentCheck{}, err
	}
	rows, err := stmt.QueryContext(tx.ctx(), noticeKey, subject, tx.boolValue(true), tx.now, deviceID)
	if err != nil {
		return ConsentCheck{}, formatError(err, "consent precheck")
	}
	defer rows.Close()
	var (
		c    ConsentCheck
		seen bool
	)
	for rows.Next() {
		var (
			n, i    sql.NullInt64
			purpose sql.NullString
		)
		if err := rows.Scan(&c.Status, &n, &i, &purpose); err != nil {
			return ConsentCheck{}, formatError(err, "consent precheck")
		}
		seen, c.Notice, c.Inventory = true, int(n.Int64), int(i.Int64)
		if purpose.Valid {
			c.Granted = append(c.Granted, purpose.String)
		}
	}
	if err := rows.Err(); err != nil {
		return ConsentCheck{}, formatError(err, "consent precheck")
	}
	if !seen {
		return ConsentCheck{}, privacy.Errorf(privacy.ENotFound, "device not found")
	}
	return c, nil
}

// CurrentNoticeRef returns the version number and content hash of the
// notice version in force, without loading its content.
func (tx *Tx) CurrentNoticeRef(key string) (int, string, error) {
	var r noticeVersionRecord
	if err := tx.db.Select("version", "content_hash").Where("notice_key = ? AND published_at IS NOT NULL", key).
		Order("version DESC").Take(&r).Error; err != nil {
		return 0, "", formatError(err, "published version of notice "+key)
	}
	return r.Version, r.ContentHash, nil
}

// MaterialJudge answers privacy.ConsentState.Status's question "did a
// later notice version change this purpose materially?" from the stored
// material changes, reading each notice once. It fails closed: when the
// changes cannot be read, the answer is yes (the consent is not in force)
// and Err says why.
type MaterialJudge struct {
	tx      *Tx
	changes map[string]map[int][]string
	Err     error
}

// MaterialJudge returns a judge reading through tx.
func (tx *Tx) MaterialJudge() *MaterialJudge {
	return &MaterialJudge{tx: tx, changes: map[string]map[int][]string{}}
}

// Since is the materialSince function of privacy.ConsentState.Status.
func (m *MaterialJudge) Since(noticeKey, purpose string, version int) bool {
	changes, ok := m.changes[noticeKey]
	if !ok {
		var err error
		if changes, err = m.tx.MaterialChanges(noticeKey); err != nil {
			if m.Err == nil {
				m.Err = err
			}
			return true
		}
		m.changes[noticeKey] = changes
	}
	return privacy.ChangedAfter(changes, version, purpose)
}
