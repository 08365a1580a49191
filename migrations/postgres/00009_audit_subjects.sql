-- The audit log's subject index moves out of audit_entries into a table
-- filled in bulk. An index on (subject_hmac, seq) took one insert at a
-- random place per entry, in every group commit: the costliest structure
-- of the write path (docs/performance.md). The writer now adds entries a
-- few thousand at a time, in key order, so that an index page is written
-- once per bulk rather than once per commit; entries past a mark are not
-- indexed yet, and a search by subject reads them directly
-- (store.AuditEntries). Both tables are derived from audit_entries and,
-- like it, only ever appended to. PostgreSQL dialect.

-- +goose Up
DROP INDEX audit_entries_subject;
CREATE TABLE audit_subjects (
    subject_hmac  TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    PRIMARY KEY (subject_hmac, seq)
);
-- The index is kept in 16 slices, by the first hex digit of the subject
-- HMAC, each extended on its own so that no one bulk holds the writer
-- long. Every entry below a slice's largest upto whose subject HMAC
-- begins with that digit is in audit_subjects; a mark is written in the
-- same transaction as the rows it covers.
CREATE TABLE audit_subjects_marks (
    slice  TEXT NOT NULL CHECK (length(slice) = 1),
    upto   BIGINT NOT NULL CHECK (upto >= 0),
    PRIMARY KEY (slice, upto)
);
INSERT INTO audit_subjects (subject_hmac, seq)
    SELECT subject_hmac, seq FROM audit_entries WHERE subject_hmac <> '' ORDER BY subject_hmac, seq;
INSERT INTO audit_subjects_marks (slice, upto)
    SELECT digits.d, (SELECT COALESCE(MAX(seq) + 1, 0) FROM audit_entries)
    FROM (SELECT '0' AS d UNION ALL SELECT '1' UNION ALL SELECT '2' UNION ALL SELECT '3'
        UNION ALL SELECT '4' UNION ALL SELECT '5' UNION ALL SELECT '6' UNION ALL SELECT '7'
        UNION ALL SELECT '8' UNION ALL SELECT '9' UNION ALL SELECT 'a' UNION ALL SELECT 'b'
        UNION ALL SELECT 'c' UNION ALL SELECT 'd' UNION ALL SELECT 'e' UNION ALL SELECT 'f') AS digits;

CREATE TRIGGER audit_subjects_append_only BEFORE UPDATE OR DELETE ON audit_subjects
    FOR EACH ROW EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER audit_subjects_no_truncate BEFORE TRUNCATE ON audit_subjects
    FOR EACH STATEMENT EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER audit_subjects_marks_append_only BEFORE UPDATE OR DELETE ON audit_subjects_marks
    FOR EACH ROW EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER audit_subjects_marks_no_truncate BEFORE TRUNCATE ON audit_subjects_marks
    FOR EACH STATEMENT EXECUTE FUNCTION consentry_append_only();

-- +goose Down
DROP TABLE audit_subjects_marks;
DROP TABLE audit_subjects;
CREATE INDEX audit_entries_subject ON audit_entries (subject_hmac, seq);
