-- The audit log's subject index moves out of audit_entries into a table
-- filled in bulk. An index on (subject_hmac, seq) took one insert at a
-- random place per entry, in every group commit: the costliest structure
-- of the write path (docs/performance.md). The writer now adds a few
-- thousand entries at a time, in key order, so each index page is written
-- once per bulk instead of once per commit. Entries at or past the newest
-- mark are not indexed yet; a search by subject reads them directly
-- (store.AuditEntries). Both tables are derived from audit_entries and,
-- like it, only ever appended to. SQLite dialect.

-- +goose Up
DROP INDEX audit_entries_subject;
CREATE TABLE audit_subjects (
    subject_hmac  TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    PRIMARY KEY (subject_hmac, seq)
) WITHOUT ROWID;
-- Every entry below the largest upto is in audit_subjects (if it names a
-- subject); a mark is written in the same transaction as the rows it
-- covers.
CREATE TABLE audit_subjects_marks (
    upto  INTEGER PRIMARY KEY CHECK (upto >= 0)
);
INSERT INTO audit_subjects (subject_hmac, seq)
    SELECT subject_hmac, seq FROM audit_entries WHERE subject_hmac <> '' ORDER BY subject_hmac, seq;
INSERT INTO audit_subjects_marks (upto) SELECT COALESCE(MAX(seq) + 1, 0) FROM audit_entries;

-- +goose StatementBegin
CREATE TRIGGER audit_subjects_no_update BEFORE UPDATE ON audit_subjects
BEGIN SELECT RAISE(ABORT, 'audit_subjects are append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_subjects_no_delete BEFORE DELETE ON audit_subjects
BEGIN SELECT RAISE(ABORT, 'audit_subjects are append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_subjects_marks_no_update BEFORE UPDATE ON audit_subjects_marks
BEGIN SELECT RAISE(ABORT, 'audit_subjects_marks are append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_subjects_marks_no_delete BEFORE DELETE ON audit_subjects_marks
BEGIN SELECT RAISE(ABORT, 'audit_subjects_marks are append-only'); END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_subjects_marks;
DROP TABLE audit_subjects;
CREATE INDEX audit_entries_subject ON audit_entries (subject_hmac, seq);
