-- Devices as they live (ISO/IEC 27400 Controls 31-2, 35-1): disposal ends
-- every consent on the device with a withdrawal the service makes, whose
-- reason the record keeps; the sanitization of a disposed device's data is
-- attested (NIST SP 800-88: clear, purge or destroy).

-- +goose Up
ALTER TABLE consent_records ADD COLUMN reason TEXT NOT NULL DEFAULT '';
-- The one change an erasure may make leaves the reason as it was, too.
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

CREATE TABLE device_sanitizations (
    device_id    TEXT NOT NULL REFERENCES devices (id),
    method       TEXT NOT NULL CHECK (method IN ('clear', 'purge', 'destroy')),
    note         TEXT NOT NULL DEFAULT '',
    attested_by  TEXT NOT NULL,
    attested_at  TIMESTAMP NOT NULL,
    audit_seq    BIGINT NOT NULL,
    PRIMARY KEY (device_id, audit_seq)
);

-- An attestation is evidence: never changed.
-- +goose StatementBegin
CREATE TRIGGER device_sanitizations_no_update BEFORE UPDATE ON device_sanitizations
BEGIN SELECT RAISE(ABORT, 'device_sanitizations are append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER device_sanitizations_no_delete BEFORE DELETE ON device_sanitizations
BEGIN SELECT RAISE(ABORT, 'device_sanitizations are append-only'); END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE device_sanitizations;
DROP TRIGGER consent_records_no_update;
-- +goose StatementBegin
CREATE TRIGGER consent_records_no_update BEFORE UPDATE ON consent_records
WHEN NOT (substr(OLD.subject_id, 1, 7) <> 'erased:' AND substr(NEW.subject_id, 1, 7) = 'erased:'
    AND NEW.receipt = '' AND OLD.receipt_sha256 = '' AND length(NEW.receipt_sha256) = 64
    AND NEW.id = OLD.id AND NEW.kind = OLD.kind AND NEW.device_id = OLD.device_id AND NEW.notice_key = OLD.notice_key
    AND NEW.notice_version = OLD.notice_version AND NEW.notice_hash = OLD.notice_hash AND NEW.locale = OLD.locale
    AND NEW.method = OLD.method AND NEW.client_time IS OLD.client_time AND NEW.created_at = OLD.created_at
    AND NEW.client_id = OLD.client_id AND NEW.withdraws = OLD.withdraws)
BEGIN SELECT RAISE(ABORT, 'consent_records are append-only; only an erasure replaces the subject id'); END;
-- +goose StatementEnd
ALTER TABLE consent_records DROP COLUMN reason;
