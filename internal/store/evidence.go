package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// The queries below page through whole tables in a stable order, for the
// evidence export: each page is a bounded read, so an export of any size
// runs in constant memory.

// FirstEntryAt is the sequence number of the first audit entry written
// at or after t; the log's size when there is none.
func (r *Reader) FirstEntryAt(t time.Time) (int64, error) {
	var n sql.NullInt64
	if err := r.row("audit entries", "SELECT MIN(seq) FROM audit_entries WHERE created_at >= ?", []any{t}, &n); err != nil || n.Valid {
		return n.Int64, err
	}
	return r.AuditSize()
}

// ConsentRecordsByEntry returns up to limit consent records, with their
// choices, whose choices' audit entries come after entry after and before
// entry before and were written in [from, to), in the order of those
// entries (a record's entries are consecutive). next is the entry to
// continue after.
func (r *Reader) ConsentRecordsByEntry(after, before int64, from, to time.Time, limit int) (recs []privacy.ConsentRecord, next int64, err error) {
	var (
		ids  []string
		last string
	)
	next = after
	err = r.each("consent events", `SELECT e.record_id, e.audit_seq FROM consent_events e JOIN audit_entries a ON a.seq = e.audit_seq
		WHERE e.audit_seq > ? AND e.audit_seq < ? AND a.created_at >= ? AND a.created_at < ? ORDER BY e.audit_seq LIMIT ?`,
		[]any{after, before, from, to, limit}, func(s rowScanner) error {
			var id string
			if err := s.Scan(&id, &next); err != nil {
				return err
			}
			if id != last {
				ids, last = append(ids, id), id
			}
			return nil
		})
	if err != nil || len(ids) == 0 {
		return nil, next, err
	}
	cond, args := in("id", ids)
	rs, err := selectAll[consentRecordRecord](r, "consent records", "SELECT "+consentRecordColumns+" FROM consent_records WHERE "+cond, args...)
	if err != nil {
		return nil, next, err
	}
	byID := make(map[string]consentRecordRecord, len(rs))
	for _, rec := range rs {
		byID[rec.ID] = rec
	}
	ordered := make([]consentRecordRecord, len(ids))
	for i, id := range ids {
		ordered[i] = byID[id]
	}
	recs, err = r.withChoices(ordered, nil)
	return recs, next, err
}

// PublishedNoticeVersions returns every published version of every notice,
// by key and version. Notices are few and small; one read is enough.
func (r *Reader) PublishedNoticeVersions() ([]privacy.NoticeVersion, error) {
	return noticeVersions(selectAll[noticeVersionRecord](r, "notice versions",
		selectNoticeVersions+" WHERE published_at IS NOT NULL ORDER BY notice_key, version"))
}

// InventoriesPage returns up to limit inventory versions after (afterDevice,
// afterVersion), by device id and version, with their elements.
func (r *Reader) InventoriesPage(afterDevice string, afterVersion, limit int) ([]privacy.Inventory, error) {
	hs, err := selectAll[inventoryRecord](r, "inventories", "SELECT "+inventoryColumns+
		" FROM inventories WHERE device_id > ? OR (device_id = ? AND version > ?) ORDER BY device_id, version LIMIT ?",
		afterDevice, afterDevice, afterVersion, limit)
	if err != nil || len(hs) == 0 {
		return nil, err
	}
	devices := make([]string, 0, len(hs))
	for _, h := range hs {
		if len(devices) == 0 || devices[len(devices)-1] != h.DeviceID {
			devices = append(devices, h.DeviceID)
		}
	}
	cond, args := in("device_id", devices)
	rs, err := selectAll[elementRecord](r, "inventory elements",
		"SELECT "+elementColumns+" FROM inventory_elements WHERE "+cond+" ORDER BY device_id, version, position", args...)
	if err != nil {
		return nil, err
	}
	type key struct {
		device  string
		version int
	}
	byVersion := map[key][]privacy.DataElement{}
	for _, e := range rs {
		k := key{e.DeviceID, e.Version}
		byVersion[k] = append(byVersion[k], e.toDomain())
	}
	out := make([]privacy.Inventory, len(hs))
	for i, h := range hs {
		out[i] = h.toDomain(byVersion[key{h.DeviceID, h.Version}])
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

func (c *ConsentStateCount) fields() []any {
	return []any{&c.Purpose, &c.NoticeKey, &c.NoticeVersion, &c.Kind, &c.Granted, &c.Expired, &c.Count}
}

// ConsentStateCounts counts the current consent states by purpose, notice
// version, kind, choice and whether they had expired at now (a grant
// without an end counts as expired, as privacy.ConsentState.Status has
// it): a summary whose size does not grow with the number of subjects.
func (r *Reader) ConsentStateCounts(now time.Time) ([]ConsentStateCount, error) {
	return selectAll[ConsentStateCount](r, "consent state", `SELECT purpose, notice_key, notice_version, kind, granted,
		CASE WHEN expires_at IS NULL OR expires_at <= ? THEN 1 ELSE 0 END AS expired, COUNT(*) AS count
		FROM consent_state GROUP BY purpose, notice_key, notice_version, kind, granted, 6 ORDER BY purpose`, now)
}

// DeviceConsentStates returns the current consent states of every subject
// on one device.
func (r *Reader) DeviceConsentStates(deviceID string) ([]privacy.ConsentState, error) {
	return r.states(selectStates+" WHERE device_id = ? ORDER BY subject_id, purpose", deviceID)
}

// BackupTo writes a consistent copy of a SQLite database to path (which
// must not exist) while it keeps serving: VACUUM INTO reads one snapshot.
// PostgreSQL is backed up with its own tools (pg_dump).
func (db *DB) BackupTo(ctx context.Context, path string) error {
	if db.dialect != DialectSQLite {
		return errors.New("store: backups of PostgreSQL are taken with pg_dump (see README); this command copies SQLite")
	}
	_, err := db.stmts.db.ExecContext(ctx, "VACUUM INTO ?", path)
	return formatError(err, "backup")
}

// IntegrityCheck runs SQLite's full integrity check; "ok" when sound.
func (db *DB) IntegrityCheck(ctx context.Context) (string, error) {
	if db.dialect != DialectSQLite {
		return "", errors.New("store: the integrity check is SQLite's")
	}
	var out string
	err := db.stmts.db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&out)
	return out, formatError(err, "integrity check")
}
