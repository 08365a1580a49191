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
    majority_at  TIMESTAMPTZ,
    declared_at  TIMESTAMPTZ NOT NULL,
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
ALTER TABLE consent_state ADD COLUMN proxy BOOLEAN NOT NULL DEFAULT false;

-- Records stay append-only, but for an erasure: of the subject, or of the
-- guardian a proxy consent names; each replaces the id with its erased
-- marker and drops the receipt, which names both (its hash stays).
-- +goose StatementBegin
CREATE FUNCTION consentry_consent_record_erasure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.receipt = ''
        AND ((OLD.receipt_sha256 = '' AND length(NEW.receipt_sha256) = 64) OR (OLD.receipt = '' AND NEW.receipt_sha256 = OLD.receipt_sha256))
        AND ((left(OLD.subject_id, 7) <> 'erased:' AND left(NEW.subject_id, 7) = 'erased:' AND NEW.guardian_subject = OLD.guardian_subject)
            OR (OLD.guardian_subject <> '' AND left(OLD.guardian_subject, 7) <> 'erased:' AND left(NEW.guardian_subject, 7) = 'erased:'
                AND NEW.subject_id = OLD.subject_id))
        AND (to_jsonb(NEW) - 'subject_id' - 'guardian_subject' - 'receipt' - 'receipt_sha256')
            = (to_jsonb(OLD) - 'subject_id' - 'guardian_subject' - 'receipt' - 'receipt_sha256') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'consent_records are append-only; only an erasure replaces the subject or guardian id';
END;
$$;
-- +goose StatementEnd
DROP TRIGGER consent_records_erasure_only ON consent_records;
CREATE TRIGGER consent_records_erasure_only BEFORE UPDATE ON consent_records
    FOR EACH ROW EXECUTE FUNCTION consentry_consent_record_erasure();

-- +goose Down
DROP TRIGGER consent_records_erasure_only ON consent_records;
CREATE TRIGGER consent_records_erasure_only BEFORE UPDATE ON consent_records
    FOR EACH ROW EXECUTE FUNCTION consentry_erasure_only();
DROP FUNCTION consentry_consent_record_erasure();
ALTER TABLE consent_state DROP COLUMN proxy;
ALTER TABLE consent_records DROP COLUMN guardian_subject;
DROP TABLE subject_guardians;
DROP TABLE subject_children;
