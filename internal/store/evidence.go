package store

import (
	"context"
	"errors"
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// The queries below page through whole tables in a stable order, for the
// evidence export: each page is a bounded read, so an export of any size
// runs in constant memory.

// ConsentRecordsPage returns up to limit records created in [from, to),
// after the record (afterTime, afterID), oldest first, with their choices.
func (tx *Tx) ConsentRecordsPage(from, to, afterTime time.Time, afterID string, limit int) ([]privacy.ConsentRecord, error) {
	q := tx.db.Where("created_at >= ? AND created_at < ?", from, to)
	if afterID != "" {
		q = q.Where("created_at > ? OR (created_at = ? AND id > ?)", afterTime, afterTime, afterID)
	}
	var rs []consentRecordRecord
	if err := q.Order("created_at, id").Limit(limit).Find(&rs).Error; err != nil {
		return nil, formatError(err, "consent records")
	}
	return tx.withChoices(rs)
}

// PublishedNoticeVersions returns every published version of every notice,
// by key and version. Notices are few and small; one read is enough.
func (tx *Tx) PublishedNoticeVersions() ([]privacy.NoticeVersion, error) {
	var rs []noticeVersionRecord
	if err := tx.db.Where("published_at IS NOT NULL").Order("notice_key, version").Find(&rs).Error; err != nil {
		return nil, formatError(err, "notice versions")
	}
	out := make([]privacy.NoticeVersion, len(rs))
	for i, r := range rs {
		v, err := r.toDomain()
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// InventoriesPage returns up to limit inventory versions after (afterDevice,
// afterVersion), by device id and version, with their elements.
func (tx *Tx) InventoriesPage(afterDevice string, afterVersion, limit int) ([]privacy.Inventory, error) {
	var hs []inventoryRecord
	err := tx.db.Where("device_id > ? OR (device_id = ? AND version > ?)", afterDevice, afterDevice, afterVersion).
		Order("device_id, version").Limit(limit).Find(&hs).Error
	if err != nil {
		return nil, formatError(err, "inventories")
	}
	if len(hs) == 0 {
		return nil, nil
	}
	devices := make([]string, 0, len(hs))
	for _, h := range hs {
		if len(devices) == 0 || devices[len(devices)-1] != h.DeviceID {
			devices = append(devices, h.DeviceID)
		}
	}
	var rs []elementRecord
	if err := tx.db.Where("device_id IN ?", devices).Order("device_id, version, position").Find(&rs).Error; err != nil {
		return nil, formatError(err, "inventory elements")
	}
	type key struct {
		device  string
		version int
	}
	elements := map[key][]privacy.DataElement{}
	for _, r := range rs {
		k := key{r.DeviceID, r.Version}
		elements[k] = append(elements[k], r.toDomain())
	}
	out := make([]privacy.Inventory, len(hs))
	for i, h := range hs {
		els := elements[key{h.DeviceID, h.Version}]
		if els == nil {
			els = []privacy.DataElement{}
		}
		out[i] = privacy.Inventory{DeviceID: h.DeviceID, Version: h.Version, CreatedBy: h.CreatedBy, CreatedAt: h.CreatedAt.UTC(), Elements: els}
	}
	return out, nil
}

// ConsentStateCount is one group of current consent states.
type ConsentStateCount struct {
	Purpose       string
	NoticeKey     string
	NoticeVersion int
	Kind          string
	Granted       bool
	Expired       bool
	Count         int
}

// ConsentStateCounts counts the current consent states by purpose, notice
// version, kind, choice and whether they had expired at now (a grant
// without an end counts as expired, as privacy.ConsentState.Status has
// it): a summary
// whose size does not grow with the number of subjects.
func (tx *Tx) ConsentStateCounts(now time.Time) ([]ConsentStateCount, error) {
	var out []ConsentStateCount
	err := tx.db.Raw(`SELECT purpose, notice_key, notice_version, kind, granted,
		CASE WHEN expires_at IS NULL OR expires_at <= ? THEN 1 ELSE 0 END AS expired, COUNT(*) AS count
		FROM consent_state GROUP BY purpose, notice_key, notice_version, kind, granted, 6 ORDER BY purpose`, now).Scan(&out).Error
	return out, formatError(err, "consent state")
}

// DeviceConsentStates returns the current consent states of every subject
// on one device.
func (tx *Tx) DeviceConsentStates(deviceID string) ([]privacy.ConsentState, error) {
	var rs []consentStateRecord
	if err := tx.db.Where("device_id = ?", deviceID).Order("subject_id, purpose").Find(&rs).Error; err != nil {
		return nil, formatError(err, "consent state")
	}
	out := make([]privacy.ConsentState, len(rs))
	for i, r := range rs {
		out[i] = r.toDomain()
	}
	return out, nil
}

// BackupTo writes a consistent copy of a SQLite database to path (which
// must not exist) while it keeps serving: VACUUM INTO reads one snapshot.
// PostgreSQL is backed up with its own tools (pg_dump).
func (db *DB) BackupTo(ctx context.Context, path string) error {
	if db.dialect != DialectSQLite {
		return errors.New("store: backups of PostgreSQL are taken with pg_dump (see README); this command copies SQLite")
	}
	return formatError(db.gorm.WithContext(ctx).Exec("VACUUM INTO ?", path).Error, "backup")
}

// IntegrityCheck runs SQLite's full integrity check; "ok" when sound.
func (db *DB) IntegrityCheck(ctx context.Context) (string, error) {
	if db.dialect != DialectSQLite {
		return "", errors.New("store: the integrity check is SQLite's")
	}
	var out string
	err := db.gorm.WithContext(ctx).Raw("PRAGMA integrity_check").Scan(&out).Error
	return out, formatError(err, "integrity check")
}
