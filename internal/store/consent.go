package store

import (
	"time"

	"github.com/consentry/consentry/internal/privacy"
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
		Granted: r.Granted, ExpiresAt: timeVal(r.ExpiresAt), NoticeKey: r.NoticeKey, NoticeVersion: r.NoticeVersion, UpdatedAt: r.UpdatedAt.UTC()}
}

// stateRows are the state rows a record sets.
func stateRows(rec privacy.ConsentRecord) []consentStateRecord {
	rows := make([]consentStateRecord, len(rec.Choices))
	for i, c := range rec.Choices {
		rows[i] = consentStateRecord{SubjectID: rec.SubjectID, DeviceID: rec.DeviceID, Purpose: c.Purpose, RecordID: rec.ID, Kind: rec.Kind,
			Granted: c.Granted, ExpiresAt: timePtr(c.ExpiresAt), NoticeKey: rec.NoticeKey, NoticeVersion: rec.NoticeVersion, UpdatedAt: rec.CreatedAt}
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
		DoUpdates: clause.AssignmentColumns([]string{"record_id", "kind", "granted", "expires_at", "notice_key", "notice_version", "updated_at"}),
	}).Create(&rows).Error
	return formatError(err, "consent state")
}

// InsertConsentRecord appends a record and its events and moves the
// current state of every purpose it names.
func (tx *Tx) InsertConsentRecord(rec privacy.ConsentRecord) error {
	r := consentRecordRecord{ID: rec.ID, Kind: rec.Kind, SubjectID: rec.SubjectID, DeviceID: rec.DeviceID, NoticeKey: rec.NoticeKey,
		NoticeVersion: rec.NoticeVersion, NoticeHash: rec.NoticeHash, Locale: rec.Locale, Method: string(rec.Method),
		ClientTime: timePtr(rec.ClientTime), CreatedAt: rec.CreatedAt, ClientID: rec.ClientID, Withdraws: rec.Withdraws, Receipt: rec.Receipt}
	if err := tx.db.Create(&r).Error; err != nil {
		return formatError(err, "consent record")
	}
	events := make([]consentEventRecord, len(rec.Choices))
	for i, c := range rec.Choices {
		events[i] = consentEventRecord{RecordID: rec.ID, Purpose: c.Purpose, Granted: c.Granted, ExpiresAt: timePtr(c.ExpiresAt)}
	}
	if len(events) > 0 {
		if err := tx.db.Create(&events).Error; err != nil {
			return formatError(err, "consent events")
		}
	}
	return tx.upsertStates(stateRows(rec))
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
		byRecord[e.RecordID] = append(byRecord[e.RecordID], privacy.ConsentChoice{Purpose: e.Purpose, Granted: e.Granted, ExpiresAt: timeVal(e.ExpiresAt)})
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
	var rs []consentStateRecord
	if err := q.Order("device_id, purpose").Find(&rs).Error; err != nil {
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
	var rs []consentStateRecord
	if err := tx.db.Order("subject_id, device_id, purpose").Find(&rs).Error; err != nil {
		return nil, formatError(err, "consent state")
	}
	out := make([]privacy.ConsentState, len(rs))
	for i, r := range rs {
		out[i] = r.toDomain()
	}
	return out, nil
}

// RebuildConsentState recomputes the current state from the events alone,
// replaying every record in order, and replaces the table with it.
func (tx *Tx) RebuildConsentState() error {
	if err := tx.db.Where("1 = 1").Delete(&consentStateRecord{}).Error; err != nil {
		return formatError(err, "consent state")
	}
	const page = 1000
	var lastTime time.Time
	lastID := ""
	for {
		q := tx.db.Model(&consentRecordRecord{})
		if lastID != "" {
			q = q.Where("created_at > ? OR (created_at = ? AND id > ?)", lastTime, lastTime, lastID)
		}
		var rs []consentRecordRecord
		if err := q.Order("created_at, id").Limit(page).Find(&rs).Error; err != nil {
			return formatError(err, "consent records")
		}
		recs, err := tx.withChoices(rs)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if err := tx.upsertStates(stateRows(rec)); err != nil {
				return err
			}
		}
		if len(rs) < page {
			return nil
		}
		lastTime, lastID = rs[len(rs)-1].CreatedAt, rs[len(rs)-1].ID
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
