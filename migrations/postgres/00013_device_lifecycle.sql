-- Devices as they live (ISO/IEC 27400 Controls 31-2, 35-1): disposal ends
-- every consent on the device with a withdrawal the service makes, whose
-- reason the record keeps; the sanitization of a disposed device's data is
-- attested (NIST SP 800-88: clear, purge or destroy).

-- +goose Up
ALTER TABLE consent_records ADD COLUMN reason TEXT NOT NULL DEFAULT '';

CREATE TABLE device_sanitizations (
    device_id    TEXT NOT NULL REFERENCES devices (id),
    method       TEXT NOT NULL CHECK (method IN ('clear', 'purge', 'destroy')),
    note         TEXT NOT NULL DEFAULT '',
    attested_by  TEXT NOT NULL,
    attested_at  TIMESTAMPTZ NOT NULL,
    audit_seq    BIGINT NOT NULL,
    PRIMARY KEY (device_id, audit_seq)
);

-- An attestation is evidence: never changed.
CREATE TRIGGER device_sanitizations_append_only BEFORE UPDATE OR DELETE ON device_sanitizations
    FOR EACH ROW EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER device_sanitizations_no_truncate BEFORE TRUNCATE ON device_sanitizations
    FOR EACH STATEMENT EXECUTE FUNCTION consentry_append_only();

-- +goose Down
DROP TABLE device_sanitizations;
ALTER TABLE consent_records DROP COLUMN reason;
