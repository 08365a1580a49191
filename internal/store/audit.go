package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
)

// auditLockKey is the PostgreSQL advisory lock that makes the audit log one
// sequence across every instance sharing its schema. The lock is taken
// with the schema's hash as its second key: deployments (and test runs)
// in other schemas of the same database each have a log of their own and
// must not wait for one another's lock.
const auditLockKey = 0x636f6e73 // "cons"

// auditEntryRecord is a row of audit_entries.
type auditEntryRecord struct {
	Seq              int64
	Leaf             storedLeaf
	Action           string
	SubjectPseudonym string
	CreatedAt        time.Time
}

// auditEntryColumns are auditEntryRecord's columns, in fields' order.
const auditEntryColumns = "seq, leaf, action, subject_hmac, created_at"

func (r *auditEntryRecord) fields() []any {
	return []any{&r.Seq, &r.Leaf, &r.Action, &r.SubjectPseudonym, &r.CreatedAt}
}

func (r auditEntryRecord) toDomain() privacy.AuditLeaf {
	return privacy.AuditLeaf{Seq: r.Seq, Leaf: []byte(r.Leaf), Action: r.Action, SubjectPseudonym: r.SubjectPseudonym, CreatedAt: r.CreatedAt.UTC()}
}

// auditHashRecord is a row of audit_hashes.
type auditHashRecord struct {
	Idx  int64
	Hash []byte
}

func (r *auditHashRecord) fields() []any { return []any{&r.Idx, &r.Hash} }

// checkpointRecord is a row of audit_checkpoints.
type checkpointRecord struct {
	Size     int64 `gorm:"primaryKey;autoIncrement:false"`
	Root     []byte
	Note     string
	SignedAt time.Time
}

func (checkpointRecord) TableName() string { return "audit_checkpoints" }

// LockAudit serializes audit appends across instances for the rest of the
// transaction. SQLite's BEGIN IMMEDIATE already holds the only write lock.
func (tx *Tx) LockAudit() error {
	if !tx.postgres {
		return nil
	}
	_, err := tx.exec("audit lock", "SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))", int32(auditLockKey))
	return err
}

// AuditSize is the number of audit entries: the next sequence number.
func (r *Reader) AuditSize() (int64, error) {
	var n sql.NullInt64
	if err := r.row("audit size", "SELECT MAX(seq) FROM audit_entries", nil, &n); err != nil {
		return 0, err
	}
	if !n.Valid {
		return 0, nil
	}
	return n.Int64 + 1, nil
}

// InsertBatch appends what one batch of the audit writer adds: its
// decision rows, its entries and their tree hashes. On PostgreSQL that is
// one statement whatever the batch's size (the rows as arrays, unnested):
// the writer holds the log's lock for each round trip to the database,
// and every instance waits for that lock (docs/scaling.md). SQLite, in
// the process, takes the rows a few hundred per statement.
func (tx *Tx) InsertBatch(ds []DecisionRecord, leaves []privacy.AuditLeaf, hashes map[int64][]byte) error {
	if !tx.postgres {
		if err := tx.InsertDecisions(ds); err != nil {
			return err
		}
		return tx.InsertAudit(leaves, hashes)
	}
	if len(ds) == 0 && len(leaves) == 0 && len(hashes) == 0 {
		return nil // a batch that appended nothing (a refresh)
	}
	var (
		id, service, serviceName, subject, device, element, purpose, action = make([]string, len(ds)), make([]string, len(ds)),
			make([]string, len(ds)), make([]string, len(ds)), make([]string, len(ds)), make([]string, len(ds)), make([]string, len(ds)),
			make([]string, len(ds))
		allow                         = make([]bool, len(ds))
		reasons, steps, consentRecord = make([]string, len(ds)), make([]string, len(ds)), make([]string, len(ds))
		packed                        = make([][]byte, len(ds))
		consentSeq, auditSeq          = make([]*int64, len(ds)), make([]int64, len(ds))
		noticeVersion                 = make([]*int32, len(ds))
		decided                       = make([]time.Time, len(ds))
		seq                           = make([]int64, len(leaves))
		leaf                          = make([][]byte, len(leaves))
		entryAction, pseudonym        = make([]string, len(leaves)), make([]string, len(leaves))
		written                       = make([]time.Time, len(leaves))
		idx                           = make([]int64, 0, len(hashes))
		hash                          = make([][]byte, 0, len(hashes))
	)
	for i, d := range ds {
		r, err := json.Marshal(d.Reasons)
		if err != nil {
			return err
		}
		id[i], service[i], serviceName[i], subject[i], device[i], element[i], purpose[i], action[i] = d.ID, d.ServiceID, d.ServiceName,
			d.SubjectID, d.DeviceID, d.Element, d.Purpose, d.Action
		steps[i], packed[i] = d.stored()
		allow[i], reasons[i], consentRecord[i], auditSeq[i], decided[i] = d.Allow, string(r), d.ConsentRecord, d.AuditSeq, d.CreatedAt
		if d.ConsentRecord != "" {
			consentSeq[i] = &d.ConsentSeq
		}
		if d.NoticeVersion > 0 {
			v := int32(d.NoticeVersion)
			noticeVersion[i] = &v
		}
	}
	for i, l := range leaves {
		seq[i], leaf[i], entryAction[i], pseudonym[i], written[i] = l.Seq, storedLeafOf(l), l.Action, l.SubjectPseudonym, l.CreatedAt
	}
	for _, i := range slices.Sorted(maps.Keys(hashes)) { // in index order, as InsertAudit
		idx, hash = append(idx, i), append(hash, hashes[i])
	}
	_, err := tx.exec("audit batch", insertBatchPostgres, id, service, serviceName, subject, device, element, purpose, action, allow,
		reasons, steps, packed, consentRecord, consentSeq, noticeVersion, auditSeq, decided, seq, leaf, entryAction, pseudonym, written, idx, hash)
	return err
}

// insertBatchPostgres is InsertBatch's one statement: each table's rows
// as one array per column, in decisionColumns' and auditEntryColumns'
// order.
const insertBatchPostgres = `WITH d AS (INSERT INTO decisions (` + decisionColumns + `)
	SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::boolean[],
		?::text[], ?::text[], ?::bytea[], ?::text[], ?::bigint[], ?::integer[], ?::bigint[], ?::timestamptz[])),
	e AS (INSERT INTO audit_entries (` + auditEntryColumns + `)
	SELECT * FROM unnest(?::bigint[], ?::bytea[], ?::text[], ?::text[], ?::timestamptz[]))
	INSERT INTO audit_hashes (idx, hash) SELECT * FROM unnest(?::bigint[], ?::bytea[])`

// InsertAudit appends entries and the tree hashes they add, a few hundred
// rows per statement.
func (tx *Tx) InsertAudit(leaves []privacy.AuditLeaf, hashes map[int64][]byte) error {
	for start := 0; start < len(leaves); start += 200 {
		batch := leaves[start:min(start+200, len(leaves))]
		args := make([]any, 0, 5*len(batch))
		for _, l := range batch {
			args = append(args, l.Seq, storedLeafOf(l), l.Action, l.SubjectPseudonym, l.CreatedAt)
		}
		if _, err := tx.exec("audit entries", "INSERT INTO audit_entries ("+auditEntryColumns+") VALUES "+placeholders(len(batch), 5), args...); err != nil {
			return err
		}
	}
	// In index order: each row then lands at the table's end, where the
	// database appends without searching the tree.
	idx := slices.Sorted(maps.Keys(hashes))
	for start := 0; start < len(idx); start += 400 {
		batch := idx[start:min(start+400, len(idx))]
		args := make([]any, 0, 2*len(batch))
		for _, i := range batch {
			args = append(args, i, hashes[i])
		}
		if _, err := tx.exec("audit hashes", "INSERT INTO audit_hashes (idx, hash) VALUES "+placeholders(len(batch), 2), args...); err != nil {
			return err
		}
	}
	return nil
}

// AuditHashes reads stored tree hashes by index, in the order asked. A
// missing hash is an error: the tree is incomplete.
func (r *Reader) AuditHashes(indexes []int64) ([][]byte, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	cond, args := in("idx", indexes)
	rs, err := selectAll[auditHashRecord](r, "audit hashes", "SELECT idx, hash FROM audit_hashes WHERE "+cond, args...)
	if err != nil {
		return nil, err
	}
	byIdx := make(map[int64][]byte, len(rs))
	for _, r := range rs {
		byIdx[r.Idx] = r.Hash
	}
	out := make([][]byte, len(indexes))
	for i, idx := range indexes {
		h, ok := byIdx[idx]
		if !ok {
			return nil, fmt.Errorf("store: audit hash %d is missing", idx)
		}
		out[i] = h
	}
	return out, nil
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	From             int64
	Limit            int
	Action           string
	SubjectPseudonym string
}

// AuditEntries lists entries from f.From on, in sequence order. A search
// by subject reads the subject index below its mark and the entries past
// it directly (migration 00009): the two parts together are every entry
// naming the subject, whenever the index was last extended.
func (r *Reader) AuditEntries(f AuditFilter) ([]privacy.AuditLeaf, error) {
	if f.SubjectPseudonym == "" {
		return r.auditEntries(f)
	}
	mark, err := r.AuditSubjectsIndexed(auditSubjectSlice(f.SubjectPseudonym))
	if err != nil {
		return nil, err
	}
	var out []privacy.AuditLeaf
	if f.From < mark {
		if out, err = r.auditIndexedSubject(f, mark); err != nil {
			return nil, err
		}
	}
	if len(out) < f.Limit {
		tail := f
		tail.From, tail.Limit = max(f.From, mark), f.Limit-len(out)
		more, err := r.auditEntries(tail)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

// auditEntries is AuditEntries' query over the entries themselves: the
// whole log, or by subject the part the index does not cover.
func (r *Reader) auditEntries(f AuditFilter) ([]privacy.AuditLeaf, error) {
	q, args := auditEntriesSQL(f)
	return selectDomain[auditEntryRecord, privacy.AuditLeaf](r, "audit entries", q, args...)
}

func auditEntriesSQL(f AuditFilter) (string, []any) {
	q, args := "SELECT "+auditEntryColumns+" FROM audit_entries WHERE seq >= ?", []any{f.From}
	if cond, a := auditActionCondition(f.Action, "action"); cond != "" {
		q, args = q+" AND "+cond, append(args, a...)
	}
	if f.SubjectPseudonym != "" {
		q, args = q+" AND subject_hmac = ?", append(args, f.SubjectPseudonym)
	}
	return q + " ORDER BY seq LIMIT ?", append(args, f.Limit)
}

// auditIndexedSubject is the subject's entries below the index's mark,
// found through audit_subjects: one seek per run of the subject's slice
// that may hold entries from f.From on (a run holds entries below its
// mark, from the slice's mark before it), runs in order and each in
// sequence order. An entry is returned only if it names the subject
// itself: a row added to the index by hand cannot put another subject's
// entry in a search.
//
// SQLite reads the runs in order and stops at the page's end, with no
// sort (TestAuditSubjectQueriesUseTheIndex). PostgreSQL's plan for the
// same query sorts every row of the subject from f.From on before the
// LIMIT, page after page: there a query takes a few runs, each read in
// order up to the rows the page still needs: one run, then two, four, up
// to auditRunsPerQuery, so that a subject with many entries fills a page
// from the first run or two and one with few seeks the runs in a few
// queries.
func (r *Reader) auditIndexedSubject(f AuditFilter, mark int64) ([]privacy.AuditLeaf, error) {
	if !r.postgres {
		q, args := auditIndexedSubjectSQL(f, mark)
		return selectDomain[auditEntryRecord, privacy.AuditLeaf](r, "audit entries", q, args...)
	}
	runs, err := selectColumn[int64](r, "audit subject index runs", "SELECT upto FROM audit_subjects_marks WHERE slice = ? AND upto > ? AND upto <= ? ORDER BY upto",
		auditSubjectSlice(f.SubjectPseudonym), f.From, mark)
	if err != nil {
		return nil, err
	}
	var out []privacy.AuditLeaf
	for start, n := 0, 1; start < len(runs) && len(out) < f.Limit; start, n = start+n, min(2*n, auditRunsPerQuery) {
		page := f
		page.Limit = f.Limit - len(out)
		q, args := auditSubjectRunsSQL(page, mark, runs[start:min(start+n, len(runs))])
		more, err := selectDomain[auditEntryRecord, privacy.AuditLeaf](r, "audit entries", q, args...)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

// auditRunsPerQuery is the most runs of the subject index one PostgreSQL
// query of auditIndexedSubject reads: a page reads at most this many times
// its rows, and a subject with few entries takes one query per this many
// runs (after the first few).
var auditRunsPerQuery = 16

// auditSubjectRunsSQL is auditIndexedSubject's PostgreSQL query over
// runs: each run's rows in its key order up to f.Limit (a LIMIT inside
// the LATERAL join, so each stops early), the runs in turn.
func auditSubjectRunsSQL(f AuditFilter, mark int64, runs []int64) (string, []any) {
	q := `SELECT x.seq, x.leaf, x.action, x.subject_hmac, x.created_at FROM unnest(?::bigint[]) AS m(run)
		CROSS JOIN LATERAL (SELECT e.seq, e.leaf, e.action, e.subject_hmac, e.created_at
			FROM audit_subjects AS s JOIN audit_entries AS e ON e.seq = s.seq
			WHERE s.run = m.run AND s.subject_hmac = ? AND s.seq >= ? AND s.seq < ? AND e.subject_hmac = s.subject_hmac`
	args := []any{runs, f.SubjectPseudonym, f.From, mark}
	if cond, a := auditActionCondition(f.Action, "e.action"); cond != "" {
		q, args = q+" AND "+cond, append(args, a...)
	}
	return q + " ORDER BY s.seq LIMIT ?) AS x ORDER BY m.run, x.seq LIMIT ?", append(args, f.Limit, f.Limit)
}

func auditIndexedSubjectSQL(f AuditFilter, mark int64) (string, []any) {
	q := `SELECT e.seq, e.leaf, e.action, e.subject_hmac, e.created_at FROM audit_subjects AS s JOIN audit_entries AS e ON e.seq = s.seq
		WHERE s.run IN (SELECT upto FROM audit_subjects_marks WHERE slice = ? AND upto > ? AND upto <= ?)
		AND s.subject_hmac = ? AND s.seq >= ? AND s.seq < ? AND e.subject_hmac = s.subject_hmac`
	args := []any{auditSubjectSlice(f.SubjectPseudonym), f.From, mark, f.SubjectPseudonym, f.From, mark}
	if cond, a := auditActionCondition(f.Action, "e.action"); cond != "" {
		q, args = q+" AND "+cond, append(args, a...)
	}
	return q + " ORDER BY s.run, s.seq LIMIT ?", append(args, f.Limit)
}

// auditActionCondition selects an action on column col.
func auditActionCondition(action, col string) (string, []any) {
	switch action {
	case "":
		return "", nil
	case event.ActionDecision:
		// Not in the action index (migration 00008): nearly every entry is
		// a decision, so scanning by sequence finds them at once.
		return col + " = ?", []any{action}
	default:
		// The index's own condition, word for word, lets the database use
		// the partial index.
		return col + " = ? AND " + col + " <> 'decision'", []any{action}
	}
}

// AuditSubjectSlices are the subject index's slices: the first hex digit
// of the subject HMACs each holds (migration 00009).
const AuditSubjectSlices = "0123456789abcdef"

// auditSubjectSlice is the slice of the index that holds subjectHMAC.
func auditSubjectSlice(subjectHMAC string) string {
	if subjectHMAC == "" {
		return ""
	}
	return subjectHMAC[:1]
}

// AuditSubjectsIndexed is a slice's mark: every entry below it whose
// subject HMAC begins with the slice's digit is in audit_subjects. A
// subject outside every slice (not an HMAC) has mark 0: its entries are
// always read directly.
func (r *Reader) AuditSubjectsIndexed(slice string) (int64, error) {
	var n sql.NullInt64
	err := r.row("audit subject index mark", "SELECT MAX(upto) FROM audit_subjects_marks WHERE slice = ?", []any{slice}, &n)
	return n.Int64, err
}

// AuditSubjectMarks is every slice's mark.
func (r *Reader) AuditSubjectMarks() (map[string]int64, error) {
	return selectMap[string, int64](r, "audit subject index marks", "SELECT slice, MAX(upto) FROM audit_subjects_marks GROUP BY slice")
}

// CheckAuditSubjects checks the subject index against the log, for
// `audit verify --database`: every row names an entry of the row's subject
// below the row's run, the run is a mark of the subject's slice, no entry
// is named twice, and each slice holds as many rows as it has entries
// below its mark. Together these make the index exactly the entries below
// the marks, so a search by subject (an access export) finds every entry
// of the subject: a row removed, added or moved by hand is named. It
// returns the rows checked. It runs beside a writer that goes on
// extending the index: what that adds meanwhile passes every check.
func (r *Reader) CheckAuditSubjects() (int64, error) {
	// firstRow is the first row (run, subject, entry) q finds, if any.
	firstRow := func(q string) (run int64, subject string, seq int64, found bool, err error) {
		err = r.each("audit subject index", q, nil, func(s rowScanner) error {
			found = true
			return s.Scan(&run, &subject, &seq)
		})
		return run, subject, seq, found, err
	}
	run, subject, seq, found, err := firstRow(`SELECT s.run, s.subject_hmac, s.seq FROM audit_subjects AS s LEFT JOIN audit_entries AS e ON e.seq = s.seq
		WHERE e.seq IS NULL OR e.subject_hmac <> s.subject_hmac OR s.seq >= s.run
		OR NOT EXISTS (SELECT 1 FROM audit_subjects_marks AS m WHERE m.slice = substr(s.subject_hmac, 1, 1) AND m.upto = s.run)
		ORDER BY s.seq LIMIT 1`)
	if err != nil {
		return 0, err
	}
	if found {
		return 0, fmt.Errorf("the audit subject index's row (run %d, subject %s, entry %d) is not an entry of that subject below a mark of its slice",
			run, subject, seq)
	}
	_, subject, seq, found, err = firstRow(`SELECT MIN(run), subject_hmac, seq FROM audit_subjects GROUP BY subject_hmac, seq HAVING COUNT(*) > 1 ORDER BY seq LIMIT 1`)
	if err != nil {
		return 0, err
	}
	if found {
		return 0, fmt.Errorf("the audit subject index names entry %d of subject %s more than once", seq, subject)
	}
	// The counts as of the marks read first: a bulk the writer commits
	// meanwhile adds its rows in a run past its slice's mark here, and
	// entries are only ever appended, so neither count moves.
	marks, err := r.AuditSubjectMarks()
	if err != nil {
		return 0, err
	}
	markOf, args := "CASE substr(subject_hmac, 1, 1)", make([]any, 0, len(AuditSubjectSlices))
	for _, c := range AuditSubjectSlices {
		markOf, args = markOf+" WHEN '"+string(c)+"' THEN CAST(? AS BIGINT)", append(args, marks[string(c)])
	}
	markOf += " END"
	entries, err := selectMap[string, int64](r, "audit subject index",
		"SELECT substr(subject_hmac, 1, 1), COUNT(*) FROM audit_entries WHERE seq < "+markOf+" GROUP BY substr(subject_hmac, 1, 1)", args...)
	if err != nil {
		return 0, err
	}
	rows, err := selectMap[string, int64](r, "audit subject index",
		"SELECT substr(subject_hmac, 1, 1), COUNT(*) FROM audit_subjects WHERE run <= "+markOf+" GROUP BY substr(subject_hmac, 1, 1)", args...)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, c := range AuditSubjectSlices {
		slice := string(c)
		switch {
		case rows[slice] < entries[slice]:
			return 0, fmt.Errorf("the audit subject index's slice %s holds %d of the %d entries below its mark: the others are missing from searches by subject",
				slice, rows[slice], entries[slice])
		case rows[slice] > entries[slice]:
			return 0, fmt.Errorf("the audit subject index's slice %s holds %d rows for the %d entries below its mark", slice, rows[slice], entries[slice])
		}
		n += rows[slice]
	}
	return n, nil
}

// AuditSubject is one row of the subject index: an entry naming a subject.
type AuditSubject struct {
	Pseudonym string
	Seq       int64
}

// InsertAuditSubjects adds rows, a slice's entries from its mark to upto
// in key order, to the subject index as the run upto, and moves the
// slice's mark to upto: IndexAuditSubjects for a caller that has the rows
// at hand. Callers hold the audit lock.
func (tx *Tx) InsertAuditSubjects(slice string, upto int64, rows []AuditSubject) error {
	if err := checkSlice(slice); err != nil {
		return err
	}
	for start := 0; start < len(rows); start += 400 {
		batch := rows[start:min(start+400, len(rows))]
		args := make([]any, 0, 2*len(batch))
		for _, r := range batch {
			if r.Pseudonym[:1] != slice {
				return fmt.Errorf("store: subject %s is not in slice %q", r.Pseudonym, slice)
			}
			args = append(args, upto, r.Pseudonym, r.Seq)
		}
		if _, err := tx.exec("audit subject index", "INSERT INTO audit_subjects (run, subject_hmac, seq) VALUES "+placeholders(len(batch), 3), args...); err != nil {
			return err
		}
	}
	return tx.markAuditSubjects(slice, upto)
}

func checkSlice(slice string) error {
	if len(slice) != 1 || !strings.Contains(AuditSubjectSlices, slice) {
		return fmt.Errorf("store: %q is not a slice of the audit subject index", slice)
	}
	return nil
}

// markAuditSubjects moves a slice's mark to upto, in the transaction that
// indexed its entries.
func (tx *Tx) markAuditSubjects(slice string, upto int64) error {
	_, err := tx.exec("audit subject index mark", "INSERT INTO audit_subjects_marks (slice, upto) VALUES (?, ?)", slice, upto)
	return err
}

// IndexAuditSubjects adds a slice's entries from its mark, from, to upto
// to the subject index as the run upto, in key order, and moves its mark
// to upto. Callers hold the audit lock, so no one else indexes the same
// entries. A run's key begins with its mark, larger than every run's
// before it: the rows go at the end of the index, written once each
// (migration 00020).
func (tx *Tx) IndexAuditSubjects(slice string, from, upto int64) error {
	if upto <= from {
		return nil
	}
	if err := checkSlice(slice); err != nil {
		return err
	}
	// The first character compared exactly: a range would depend on the
	// database's collation.
	if _, err := tx.exec("audit subject index", "INSERT INTO audit_subjects (run, subject_hmac, seq) SELECT ?, subject_hmac, seq FROM audit_entries"+
		" WHERE seq >= ? AND seq < ? AND substr(subject_hmac, 1, 1) = ? ORDER BY subject_hmac, seq", upto, from, upto, slice); err != nil {
		return err
	}
	return tx.markAuditSubjects(slice, upto)
}

// LatestCheckpoint returns the largest signed checkpoint; ENotFound when
// none was signed yet.
func (r *Reader) LatestCheckpoint() (privacy.Checkpoint, error) {
	var c checkpointRecord
	if err := r.db.Order("size DESC").Take(&c).Error; err != nil {
		return privacy.Checkpoint{}, formatError(err, "checkpoint")
	}
	return privacy.Checkpoint{Size: c.Size, Root: c.Root, Note: c.Note, SignedAt: c.SignedAt.UTC()}, nil
}

// InsertCheckpoint stores a signed checkpoint.
func (tx *Tx) InsertCheckpoint(c privacy.Checkpoint) error {
	r := checkpointRecord{Size: c.Size, Root: c.Root, Note: c.Note, SignedAt: c.SignedAt}
	return formatError(tx.db.Create(&r).Error, "checkpoint")
}

// SavePoint marks a point the transaction can roll back to without
// abandoning the rest of it. name must be a plain identifier.
func (tx *Tx) SavePoint(name string) error {
	_, err := tx.exec("savepoint", "SAVEPOINT "+name)
	return err
}

// RollbackTo undoes everything since SavePoint(name) and ends it (ROLLBACK
// TO alone would leave it open, and every later savepoint nested in it).
func (tx *Tx) RollbackTo(name string) error {
	if _, err := tx.exec("rollback to savepoint", "ROLLBACK TO SAVEPOINT "+name); err != nil {
		return err
	}
	return tx.Release(name)
}

// Release ends SavePoint(name), keeping its changes in the transaction.
func (tx *Tx) Release(name string) error {
	_, err := tx.exec("release savepoint", "RELEASE SAVEPOINT "+name)
	return err
}

// AuditChanges returns the entries from (inclusive) to to (exclusive)
// other than decisions and reads, in order: what another instance changed.
func (r *Reader) AuditChanges(from, to int64) ([]privacy.AuditLeaf, error) {
	return selectDomain[auditEntryRecord, privacy.AuditLeaf](r, "audit entries",
		"SELECT "+auditEntryColumns+" FROM audit_entries WHERE seq >= ? AND seq < ? AND action NOT IN (?, ?) ORDER BY seq", from, to,
		event.ActionDecision, event.ActionPersonalDataRead)
}
