-- The subject index is kept in runs. Keyed by (subject_hmac, seq), each
-- bulk of a slice (migration 00009) landed at random places of the whole
-- B-tree: about one page written per entry indexed, written again by each
-- checkpoint (docs/performance.md, "The subject index in runs"). Keyed by (run,
-- subject_hmac, seq), where a run is the mark its bulk moved the slice to,
-- every bulk is appended at the tree's end, its pages written once. A
-- search seeks once per run of its slice (the slice's marks). Rows already
-- indexed become one run per slice, at the slice's mark. PostgreSQL dialect.

-- +goose Up
CREATE TABLE audit_subject_runs (
    run           BIGINT NOT NULL,
    subject_hmac  TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    PRIMARY KEY (run, subject_hmac, seq)
);
-- Rows of subjects outside every slice (not an HMAC) were never read: no
-- slice's mark covers them.
INSERT INTO audit_subject_runs (run, subject_hmac, seq)
    SELECT m.upto, s.subject_hmac, s.seq
    FROM audit_subjects AS s JOIN (SELECT slice, MAX(upto) AS upto FROM audit_subjects_marks GROUP BY slice) AS m
        ON m.slice = substr(s.subject_hmac, 1, 1)
    WHERE s.seq < m.upto
    ORDER BY m.upto, s.subject_hmac, s.seq;
DROP TABLE audit_subjects;
ALTER TABLE audit_subject_runs RENAME TO audit_subjects;
ALTER INDEX audit_subject_runs_pkey RENAME TO audit_subjects_pkey;
CREATE TRIGGER audit_subjects_append_only BEFORE UPDATE OR DELETE ON audit_subjects
    FOR EACH ROW EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER audit_subjects_no_truncate BEFORE TRUNCATE ON audit_subjects
    FOR EACH STATEMENT EXECUTE FUNCTION consentry_append_only();

-- +goose Down
CREATE TABLE audit_subjects_by_subject (
    subject_hmac  TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    PRIMARY KEY (subject_hmac, seq)
);
INSERT INTO audit_subjects_by_subject (subject_hmac, seq)
    SELECT subject_hmac, seq FROM audit_subjects ORDER BY subject_hmac, seq;
DROP TABLE audit_subjects;
ALTER TABLE audit_subjects_by_subject RENAME TO audit_subjects;
ALTER INDEX audit_subjects_by_subject_pkey RENAME TO audit_subjects_pkey;
CREATE TRIGGER audit_subjects_append_only BEFORE UPDATE OR DELETE ON audit_subjects
    FOR EACH ROW EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER audit_subjects_no_truncate BEFORE TRUNCATE ON audit_subjects
    FOR EACH STATEMENT EXECUTE FUNCTION consentry_append_only();
