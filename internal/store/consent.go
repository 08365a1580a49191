package store

import (
	"database/sql"
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// consentRecordRecord is a row of consent_records.
type consentRecordRecord struct {
	ID            string
	Kind          string
	SubjectID     string
	DeviceID      string
	NoticeKey     string
	NoticeVersion int
	NoticeHash    string
	Locale        string
	Method        string
	ClientTime    *time.Time
	CreatedAt     time.Time
	ClientID      string
	Withdraws     string
	Receipt       string
	ReceiptSHA256 string
	Reason        string
	Guardian      string
}

// consentRecordColumns are consentRecordRecord's columns, in fields' order.
const consentRecordColumns = `id, kind, subject_id, device_id, notice_key, notice_version, notice_hash, locale, method, client_time,
	created_at, client_id, withdraws, receipt, receipt_sha256, reason, guardian_subject`

func (r *consentRecordRecord) fields() []any {
	return []any{&r.ID, &r.Kind, &r.SubjectID, &r.DeviceID, &r.NoticeKey, &r.NoticeVersion, &r.NoticeHash, &r.Locale, &r.Method,
		&r.ClientTime, &r.CreatedAt, &r.ClientID, &r.Withdraws, &r.Receipt, &r.ReceiptSHA256, &r.Reason, &r.Guardian}
}

func (r consentRecordRecord) toDomain(choices []privacy.ConsentChoice) privacy.ConsentRecord {
	return privacy.ConsentRecord{ID: r.ID, Kind: r.Kind, SubjectID: r.SubjectID, DeviceID: r.DeviceID, NoticeKey: r.NoticeKey,
		NoticeVersion: r.NoticeVersion, NoticeHash: r.NoticeHash, Locale: r.Locale, Method: privacy.ConsentMethod(r.Method),
		ClientTime: timeVal(r.ClientTime), CreatedAt: r.CreatedAt.UTC(), ClientID: r.ClientID, Withdraws: r.Withdraws,
		Choices: choices, Receipt: r.Receipt, ReceiptSHA256: r.ReceiptSHA256, Reason: r.Reason, Guardian: r.Guardian}
}

// consentEventRecord is a row of consent_events.
type consentEventRecord struct {
	RecordID  string
	Purpose   string
	Granted   bool
	ExpiresAt *time.Time
	AuditSeq  int64
}

func (r *consentEventRecord) fields() []any {
	return []any{&r.RecordID, &r.Purpose, &r.Granted, &r.ExpiresAt, &r.AuditSeq}
}

// consentStateRecord is a row of consent_state.
type consentStateRecord struct {
	SubjectID     string
	DeviceID      string
	Purpose       string
	RecordID      string
	Kind          string
	Granted       bool
	ExpiresAt     *time.Time
	NoticeKey     string
	NoticeVersion int
	AuditSeq      int64
	UpdatedAt     time.Time
	Proxy         bool
}

// consentStateColumns are consentStateRecord's columns, in fields' order.
const consentStateColumns = "subject_id, device_id, purpose, record_id, kind, granted, expires_at, notice_key, notice_version, audit_seq, updated_at, proxy"

func (r *consentStateRecord) fields() []any {
	return []any{&r.SubjectID, &r.DeviceID, &r.Purpose, &r.RecordID, &r.Kind, &r.Granted, &r.ExpiresAt, &r.NoticeKey, &r.NoticeVersion,
		&r.AuditSeq, &r.UpdatedAt, &r.Proxy}
}

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
		UpdatedAt: r.UpdatedAt.UTC(), Proxy: r.Proxy}
}

// upsertStates writes a record's choices as the current state of its
// subject, device and purposes: records come in commit order, so the
// newest always wins.
func (tx *Tx) upsertStates(rec privacy.ConsentRecord) error {
	if len(rec.Choices) == 0 {
		return nil
	}
	states := make([]any, 0, 12*len(rec.Choices))
	for _, c := range rec.Choices {
		states = append(states, rec.SubjectID, rec.DeviceID, c.Purpose, rec.ID, rec.Kind, tx.boolValue(c.Granted), timePtr(c.ExpiresAt),
			rec.NoticeKey, rec.NoticeVersion, c.AuditSeq, rec.CreatedAt, tx.boolValue(rec.Guardian != ""))
	}
	_, err := tx.exec("consent state", `INSERT INTO consent_state (`+consentStateColumns+`) VALUES `+placeholders(len(rec.Choices), 12)+
		upsertState, states...)
	return err
}

// upsertState ends an insert into consent_state: a newer state replaces
// the one there.
const upsertState = `
	ON CONFLICT (subject_id, device_id, purpose) DO UPDATE SET record_id = excluded.record_id, kind = excluded.kind,
		granted = excluded.granted, expires_at = excluded.expires_at, notice_key = excluded.notice_key,
		notice_version = excluded.notice_version, audit_seq = excluded.audit_seq, updated_at = excluded.updated_at, proxy = excluded.proxy`

// recordArgs are rec's values in consentRecordColumns' order.
func recordArgs(rec privacy.ConsentRecord) []any {
	return []any{rec.ID, rec.Kind, rec.SubjectID, rec.DeviceID, rec.NoticeKey, rec.NoticeVersion, rec.NoticeHash, rec.Locale, string(rec.Method),
		timePtr(rec.ClientTime), rec.CreatedAt, rec.ClientID, rec.Withdraws, rec.Receipt, "", rec.Reason, rec.Guardian}
}

// InsertConsentRecord appends a record and its events and moves the
// current state of every purpose it names. Three statements on SQLite,
// whatever the number of purposes: this is the consent hot path. One on
// PostgreSQL (the events and states as arrays, unnested), where each is a
// round trip made holding the audit log's lock (docs/scaling.md).
func (tx *Tx) InsertConsentRecord(rec privacy.ConsentRecord) error {
	if tx.postgres && len(rec.Choices) > 0 {
		return tx.insertConsentRecordPostgres(rec)
	}
	_, err := tx.exec("consent record", `INSERT INTO consent_records (`+consentRecordColumns+`) VALUES `+placeholders(1, 17), recordArgs(rec)...)
	if err != nil || len(rec.Choices) == 0 {
		return err
	}
	events := make([]any, 0, 5*len(rec.Choices))
	for _, c := range rec.Choices {
		events = append(events, rec.ID, c.Purpose, tx.boolValue(c.Granted), timePtr(c.ExpiresAt), c.AuditSeq)
	}
	if _, err := tx.exec("consent events", `INSERT INTO consent_events (record_id, purpose, granted, expires_at, audit_seq) VALUES `+
		placeholders(len(rec.Choices), 5), events...); err != nil {
		return err
	}
	return tx.upsertStates(rec)
}

// insertConsentRecordPostgres is InsertConsentRecord in one statement.
func (tx *Tx) insertConsentRecordPostgres(rec privacy.ConsentRecord) error {
	n := len(rec.Choices)
	purposes, granted, expires, seqs := make([]string, n), make([]bool, n), make([]*time.Time, n), make([]int64, n)
	for i, c := range rec.Choices {
		purposes[i], granted[i], expires[i], seqs[i] = c.Purpose, c.Granted, timePtr(c.ExpiresAt), c.AuditSeq
	}
	args := append(recordArgs(rec), purposes, granted, expires, seqs, rec.ID,
		rec.SubjectID, rec.DeviceID, rec.ID, rec.Kind, rec.NoticeKey, rec.NoticeVersion, rec.CreatedAt, rec.Guardian != "")
	_, err := tx.exec("consent record", insertConsentRecordPostgres, args...)
	return err
}

// insertConsentRecordPostgres writes the record, an event per choice and
// the state of each purpose it names; the events' foreign key to the
// record is checked at the statement's end, once the record is in.
var insertConsentRecordPostgres = `WITH r AS (INSERT INTO consent_records (` + consentRecordColumns + `) VALUES ` + placeholders(1, 17) + `),
	c AS (SELECT * FROM unnest(?::text[], ?::boolean[], ?::timestamptz[], ?::bigint[]) AS c (purpose, granted, expires_at, audit_seq)),
	e AS (INSERT INTO consent_events (record_id, purpose, granted, expires_at, audit_seq)
		SELECT ?::text, purpose, granted, expires_at, audit_seq FROM c)
	INSERT INTO consent_state (` + consentStateColumns + `)
	SELECT ?::text, ?::text, purpose, ?::text, ?::text, granted, expires_at, ?::text, ?::integer, audit_seq, ?::timestamptz, ?::boolean FROM c` +
	upsertState

// ConsentRecord loads one record with its choices.
func (r *Reader) ConsentRecord(id string) (privacy.ConsentRecord, error) {
	rec, err := selectOne[consentRecordRecord](r, "consent record", "SELECT "+consentRecordColumns+" FROM consent_records WHERE id = ?", id)
	if err != nil {
		return privacy.ConsentRecord{}, err
	}
	recs, err := r.withChoices([]consentRecordRecord{rec}, nil)
	if err != nil {
		return privacy.ConsentRecord{}, err
	}
	return recs[0], nil
}

// withChoices loads the events of records and returns them as domain
// records; err is a failure to read the records, passed on.
func (r *Reader) withChoices(rs []consentRecordRecord, err error) ([]privacy.ConsentRecord, error) {
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	ids := make([]string, len(rs))
	for i, rec := range rs {
		ids[i] = rec.ID
	}
	cond, args := in("record_id", ids)
	evs, err := selectAll[consentEventRecord](r, "consent events",
		"SELECT record_id, purpose, granted, expires_at, audit_seq FROM consent_events WHERE "+cond+" ORDER BY record_id, purpose", args...)
	if err != nil {
		return nil, err
	}
	byRecord := map[string][]privacy.ConsentChoice{}
	for _, e := range evs {
		byRecord[e.RecordID] = append(byRecord[e.RecordID], privacy.ConsentChoice{Purpose: e.Purpose, Granted: e.Granted, ExpiresAt: timeVal(e.ExpiresAt),
			AuditSeq: e.AuditSeq})
	}
	out := make([]privacy.ConsentRecord, len(rs))
	for i, rec := range rs {
		out[i] = rec.toDomain(byRecord[rec.ID])
	}
	return out, nil
}

// ConsentHistory pages a subject's records, newest first, before the
// record (time, id) given by the cursor.
func (r *Reader) ConsentHistory(subject string, beforeTime time.Time, beforeID string, limit int) ([]privacy.ConsentRecord, error) {
	q, args := "SELECT "+consentRecordColumns+" FROM consent_records WHERE subject_id = ?", []any{subject}
	if beforeID != "" {
		q, args = q+" AND (created_at < ? OR (created_at = ? AND id < ?))", append(args, beforeTime, beforeTime, beforeID)
	}
	return r.withChoices(selectAll[consentRecordRecord](r, "consent records", q+" ORDER BY created_at DESC, id DESC LIMIT ?", append(args, limit)...))
}

// states runs a query of consent_state rows.
func (r *Reader) states(q string, args ...any) ([]privacy.ConsentState, error) {
	return selectDomain[consentStateRecord, privacy.ConsentState](r, "consent state", q, args...)
}

// selectStates is the start of every query of whole consent_state rows.
const selectStates = "SELECT " + consentStateColumns + " FROM consent_state"

// ConsentStates returns the current state rows of a subject, optionally
// for one device.
func (r *Reader) ConsentStates(subject, device string) ([]privacy.ConsentState, error) {
	if device != "" {
		return r.states(selectStates+" WHERE subject_id = ? AND device_id = ? ORDER BY device_id, purpose", subject, device)
	}
	return r.states(selectStates+" WHERE subject_id = ? ORDER BY device_id, purpose", subject)
}

// AllConsentStates returns every state row, in key order.
func (r *Reader) AllConsentStates() ([]privacy.ConsentState, error) {
	return r.states(selectStates + " ORDER BY subject_id, device_id, purpose")
}

// RebuildConsentState recomputes the current state from the events alone,
// replaying every record in commit order, and replaces the table with it.
func (tx *Tx) RebuildConsentState() error {
	if _, err := tx.exec("consent state", "DELETE FROM consent_state"); err != nil {
		return err
	}
	order := "pos" // PostgreSQL: a sequence filled inside the audit log's lock
	if !tx.postgres {
		order = "rowid" // SQLite: rows are only ever appended, by one writer
	}
	const page = 1000
	var last int64 = -1
	for {
		var (
			rs  []consentRecordRecord
			pos int64
		)
		err := tx.each("consent records", "SELECT "+consentRecordColumns+", "+order+" FROM consent_records WHERE "+order+" > ? ORDER BY "+order+" LIMIT ?",
			[]any{last, page}, func(s rowScanner) error {
				var rec consentRecordRecord
				err := s.Scan(append(rec.fields(), &pos)...)
				rs = append(rs, rec)
				return err
			})
		recs, err := tx.withChoices(rs, err)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if err := tx.upsertStates(rec); err != nil {
				return err
			}
		}
		if len(rs) < page {
			return nil
		}
		last = pos
	}
}

// MaterialChanges returns, for a notice, the purposes each published
// version changed materially, by version.
func (r *Reader) MaterialChanges(key string) (map[int][]string, error) {
	lists, err := selectMap[int, stringList](r, "notice versions",
		"SELECT version, material_purposes FROM notice_versions WHERE notice_key = ? AND published_at IS NOT NULL", key)
	out := make(map[int][]string, len(lists))
	for v, l := range lists {
		out[v] = l
	}
	return out, err
}

// DevicesOwnedBy lists the devices whose owner is subject.
func (r *Reader) DevicesOwnedBy(subject string) ([]privacy.Device, error) {
	return selectDomain[deviceRecord, privacy.Device](r, "devices", selectDevices+" WHERE owner_subject = ? ORDER BY id", subject)
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
	// Pseudonym is the subject's pseudonym, "" when it has none yet.
	Pseudonym string
	// Owner is the device's owner subject ("" for none; an erased owner's
	// marker after an erasure).
	Owner string
	// Member says the subject shares the device with its owner, until
	// MemberUntil for a guest (zero for a member).
	Member      bool
	MemberUntil time.Time
	// Child says the subject is declared a child, until ChildMajority
	// (zero: not known); Guardian that the guardian asked about is one of
	// theirs.
	Child         bool
	ChildMajority time.Time
	Guardian      bool
}

// ConsentPrecheck reads, in one query, what must still hold when a consent
// is written, the subject's grants in force for the device, which a
// denial takes back, and the subject's pseudonym. It runs in the writer for every consent. Any
// failure, including an unknown device, is an error.
func (r *Reader) ConsentPrecheck(subject, deviceID, noticeKey, guardian string) (ConsentCheck, error) {
	var (
		c    ConsentCheck
		seen bool
	)
	// The membership, the declaration as a child and the guardian are one
	// row each at most: joined, not asked in subqueries of their own (the
	// writer runs this for every consent).
	err := r.each("consent precheck", `SELECT d.status, d.owner_subject,
		(SELECT MAX(v.version) FROM notice_versions v WHERE v.notice_key = ? AND v.published_at IS NOT NULL),
		(SELECT MAX(i.version) FROM inventories i WHERE i.device_id = d.id),
		(SELECT p.pseudonym FROM subject_pseudonyms p WHERE p.subject_id = ?),
		m.role, m.until, c.subject_id, c.majority_at, g.guardian_id,
		s.purpose
		FROM devices d
		LEFT JOIN device_members m ON m.device_id = d.id AND m.subject = ?
		LEFT JOIN subject_children c ON c.subject_id = ?
		LEFT JOIN subject_guardians g ON g.child_id = c.subject_id AND g.guardian_id = ?
		LEFT JOIN consent_state s ON s.subject_id = ? AND s.device_id = d.id AND s.kind = 'consent'
			AND s.granted = ? AND s.expires_at > ?
		WHERE d.id = ?`, []any{noticeKey, subject, subject, subject, guardian, subject, r.boolValue(true), r.now, deviceID},
		func(s rowScanner) error {
			var (
				n, i                                     sql.NullInt64
				pseudonym, role, purpose, child, isGuard sql.NullString
				until, majority                          sql.NullTime
			)
			err := s.Scan(&c.Status, &c.Owner, &n, &i, &pseudonym, &role, &until, &child, &majority, &isGuard, &purpose)
			c.Child, c.Guardian = child.Valid, isGuard.Valid
			if majority.Valid {
				c.ChildMajority = majority.Time.UTC()
			}
			seen, c.Notice, c.Inventory, c.Pseudonym = true, int(n.Int64), int(i.Int64), pseudonym.String
			c.Member = role.Valid
			if until.Valid {
				c.MemberUntil = until.Time.UTC()
			}
			if purpose.Valid {
				c.Granted = append(c.Granted, purpose.String)
			}
			return err
		})
	if err != nil {
		return ConsentCheck{}, err
	}
	if !seen {
		return ConsentCheck{}, privacy.Errorf(privacy.ENotFound, "device not found")
	}
	return c, nil
}

// CurrentNoticeRef returns the version number and content hash of the
// notice version in force, without loading its content.
func (r *Reader) CurrentNoticeRef(key string) (version int, hash string, err error) {
	err = r.row("published version of notice "+key, `SELECT version, content_hash FROM notice_versions
		WHERE notice_key = ? AND published_at IS NOT NULL ORDER BY version DESC LIMIT 1`, []any{key}, &version, &hash)
	return version, hash, err
}

// MaterialJudge answers privacy.ConsentState.Status's question "did a
// later notice version change this purpose materially?" from the stored
// material changes, reading each notice once. It fails closed: when the
// changes cannot be read, the answer is yes (the consent is not in force)
// and Err says why.
type MaterialJudge struct {
	r       *Reader
	changes map[string]map[int][]string
	Err     error
}

// MaterialJudge returns a judge reading through r.
func (r *Reader) MaterialJudge() *MaterialJudge {
	return &MaterialJudge{r: r, changes: map[string]map[int][]string{}}
}

// Since is the materialSince function of privacy.ConsentState.Status.
func (m *MaterialJudge) Since(noticeKey, purpose string, version int) bool {
	changes, ok := m.changes[noticeKey]
	if !ok {
		var err error
		if changes, err = m.r.MaterialChanges(noticeKey); err != nil {
			if m.Err == nil {
				m.Err = err
			}
			return true
		}
		m.changes[noticeKey] = changes
	}
	return privacy.ChangedAfter(changes, version, purpose)
}
