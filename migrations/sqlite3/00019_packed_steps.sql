-- A decision's steps are stored packed (store/packed.go: an S2 block
-- against a fixed dictionary, after a version byte), about a third of
-- their text; rows written before keep theirs as text in steps. A row
-- holds one or the other: steps is '' where steps_packed is set.
-- The erasure trigger names every column an erasure must leave alone.
-- Audit entries are stored packed from this version on too (no column
-- changes: audit_entries.leaf holds either form).

-- +goose Up
ALTER TABLE decisions ADD COLUMN steps_packed BLOB;
DROP TRIGGER decisions_no_update;
-- +goose StatementBegin
CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
WHEN NOT (substr(OLD.subject_id, 1, 7) <> 'erased:' AND substr(NEW.subject_id, 1, 7) = 'erased:'
    AND NEW.id = OLD.id AND NEW.service_id = OLD.service_id AND NEW.service_name = OLD.service_name
    AND NEW.device_id = OLD.device_id AND NEW.element = OLD.element AND NEW.purpose = OLD.purpose AND NEW.action = OLD.action
    AND NEW.allow = OLD.allow AND NEW.reasons = OLD.reasons AND NEW.steps = OLD.steps AND NEW.steps_packed IS OLD.steps_packed
    AND NEW.consent_record = OLD.consent_record
    AND NEW.consent_seq IS OLD.consent_seq AND NEW.notice_version IS OLD.notice_version AND NEW.audit_seq = OLD.audit_seq
    AND NEW.created_at = OLD.created_at)
BEGIN SELECT RAISE(ABORT, 'decisions are append-only; only an erasure replaces the subject id'); END;
-- +goose StatementEnd

-- +goose Down
-- Packed steps and entries cannot be unpacked in SQL, and a binary of
-- the version before does not read them: going back is refused while any
-- are stored, rather than losing what a decision's entry commits to.
CREATE TEMP TABLE packed_guard (n INTEGER);
-- +goose StatementBegin
CREATE TEMP TRIGGER packed_guard_refuse BEFORE INSERT ON packed_guard WHEN NEW.n > 0
BEGIN SELECT RAISE(ABORT, 'decisions or audit entries are stored packed; this version cannot be undone'); END;
-- +goose StatementEnd
INSERT INTO packed_guard SELECT (SELECT COUNT(*) FROM decisions WHERE steps_packed IS NOT NULL)
    + (SELECT COUNT(*) FROM audit_entries WHERE substr(leaf, 1, 1) = X'01');
DROP TABLE packed_guard;
DROP TRIGGER decisions_no_update;
-- +goose StatementBegin
CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
WHEN NOT (substr(OLD.subject_id, 1, 7) <> 'erased:' AND substr(NEW.subject_id, 1, 7) = 'erased:'
    AND NEW.id = OLD.id AND NEW.service_id = OLD.service_id AND NEW.service_name = OLD.service_name
    AND NEW.device_id = OLD.device_id AND NEW.element = OLD.element AND NEW.purpose = OLD.purpose AND NEW.action = OLD.action
    AND NEW.allow = OLD.allow AND NEW.reasons = OLD.reasons AND NEW.steps = OLD.steps AND NEW.consent_record = OLD.consent_record
    AND NEW.consent_seq IS OLD.consent_seq AND NEW.notice_version IS OLD.notice_version AND NEW.audit_seq = OLD.audit_seq
    AND NEW.created_at = OLD.created_at)
BEGIN SELECT RAISE(ABORT, 'decisions are append-only; only an erasure replaces the subject id'); END;
-- +goose StatementEnd
ALTER TABLE decisions DROP COLUMN steps_packed;
