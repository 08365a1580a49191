-- Children and guardians (ISO/IEC 27400 Control 31-2): a subject declared
-- a child consents only together with a guardian, in one proxy consent
-- naming both; at majority the person confirms for themself.

-- +goose Up
-- The subjects declared children: until majority_at (NULL: not known; the
-- declaration is ended by declaring the majority). The current state; the
-- declarations are in the audit log.
CREATE TABLE subject_children (
    subject_id   TEXT PRIMARY KEY,
    age_band     TEXT NOT NULL DEFAULT '',
    majority_at  TIMESTAMP,
    declared_at  TIMESTAMP NOT NULL,
    declared_by  TEXT NOT NULL,
    audit_seq    BIGINT NOT NULL
);
CREATE TABLE subject_guardians (
    child_id     TEXT NOT NULL REFERENCES subject_children (subject_id),
    guardian_id  TEXT NOT NULL,
    PRIMARY KEY (child_id, guardian_id)
);
CREATE INDEX subject_guardians_guardian ON subject_guardians (guardian_id);

-- A proxy consent names the guardian who gave it with the child.
ALTER TABLE consent_records ADD COLUMN guardian_subject TEXT NOT NULL DEFAULT '';
ALTER TABLE consent_state ADD COLUMN proxy BOOLEAN NOT NULL DEFAULT 0;

-- Records stay append-only, but for an erasure: of the subject, or of the
-- guardian a proxy consent names; each replaces the id with its erased
-- marker and drops the receipt, which names both (its hash stays).
DROP TRIGGER consent_records_no_update;
-- +goose StatementBegin
CREATE TRIGGER consent_records_no_update BEFORE UPDATE ON consent_records
WHEN NOT (NEW.receipt = ''
    AND ((OLD.receipt_sha256 = '' AND length(NEW.receipt_sha256) = 64) OR (OLD.receipt = '' AND NEW.receipt_sha256 = OLD.receipt_sha256))
    AND ((substr(OLD.subject_id, 1, 7) <> 'erased:' AND substr(NEW.subject_id, 1, 7) = 'erased:' AND NEW.guardian_subject = OLD.guardian_subject)
        OR (OLD.guardian_subject <> '' AND substr(OLD.guardian_subject, 1, 7) <> 'erased:' AND substr(NEW.guardian_subject, 1, 7) = 'erased:'
            AND NEW.subject_id = OLD.subject_id))
    AND NEW.id = OLD.id AND NEW.kind = OLD.kind AND NEW.device_id = OLD.device_id AND NEW.notice_key = OLD.notice_key
    AND NEW.notice_version = OLD.notice_version AND NEW.notice_hash = OLD.notice_hash AND NEW.locale = OLD.locale
    AND NEW.method = OLD.method AND NEW.client_time IS OLD.client_time AND NEW.created_at = OLD.created_at
    AND NEW.client_id = OLD.client_id AND NEW.withdraws = OLD.withdraws AND NEW.reason = OLD.reason)
BEGIN SELECT RAISE(ABORT, 'consent_records are append-only; only an erasure replaces the subject or guardian id'); END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER consent_records_no_update;
-- +goose StatementBegin
CREATE TRIGGER consent_records_no_update BEFORE UPDATE ON consent_records
WHEN NOT (substr(OLD.subject_id, 1, 7) <> 'erased:' AND substr(NEW.subject_id, 1, 7) = 'erased:'
    AND NEW.receipt = '' AND OLD.receipt_sha256 = '' AND length(NEW.receipt_sha256) = 64
    AND NEW.id = OLD.id AND NEW.kind = OLD.kind AND NEW.device_id = OLD.device_id AND NEW.notice_key = OLD.notice_key
    AND NEW.notice_version = OLD.notice_version AND NEW.notice_hash = OLD.notice_hash AND NEW.locale = OLD.locale
    AND NEW.method = OLD.method AND NEW.client_time IS OLD.client_time AND NEW.created_at = OLD.created_at
    AND NEW.client_id = OLD.client_id AND NEW.withdraws = OLD.withdraws AND NEW.reason = OLD.reason)
BEGIN SELECT RAISE(ABORT, 'consent_records are append-only; only an erasure replaces the subject id'); END;
-- +goose StatementEnd
ALTER TABLE consent_state DROP COLUMN proxy;
ALTER TABLE consent_records DROP COLUMN guardian_subject;
DROP TABLE subject_guardians;
DROP TABLE subject_children;
