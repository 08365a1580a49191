-- Subject rights (ISO/IEC 27400 Control 33): requests, and erasure that
-- keeps every proof. PostgreSQL dialect.
--
-- The audit log names a subject by a pseudonym: 64 random hex digits
-- drawn when the subject is first seen, held only in subject_pseudonyms.
-- Erasure deletes that row and puts "erased:<pseudonym>" in place of the
-- subject id in every row that held it; nothing left can be traced back
-- to the id, and every entry, line and proof stays as it was committed.

-- +goose Up
CREATE TABLE subject_pseudonyms (
    subject_id  TEXT PRIMARY KEY,
    -- Not indexed: 256 random bits do not collide, and only a start after
    -- a restore looks subjects up by pseudonym (one scan, rights.Reapply).
    -- An index would cost every new subject a write at a random place.
    pseudonym   TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE subject_requests (
    id              TEXT PRIMARY KEY,
    type            TEXT NOT NULL CHECK (type IN ('access', 'erasure')),
    pseudonym       TEXT NOT NULL,
    -- The subject id, held while the request runs: an erasure's webhook
    -- events still carry it until every subscriber has it. '' afterwards.
    subject_id      TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL CHECK (state IN ('received', 'in_progress', 'completed', 'failed')),
    client_id       TEXT NOT NULL,
    due_at          TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    completed_at    TIMESTAMPTZ,
    -- SHA-256 of the request's receipt; the receipt itself is the
    -- subject's (it names them) and is not kept.
    receipt_sha256  TEXT NOT NULL,
    -- What an erasure erased (JSON counts), and why an operator closed it.
    erased          TEXT NOT NULL DEFAULT '',
    close_reason    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX subject_requests_pseudonym ON subject_requests (pseudonym, created_at);
CREATE INDEX subject_requests_open ON subject_requests (state, due_at);

-- Each backend subscribed to erasures when one was requested confirms it
-- has erased too.
CREATE TABLE subject_request_confirmations (
    request_id    TEXT NOT NULL REFERENCES subject_requests (id),
    webhook_id    TEXT NOT NULL REFERENCES webhooks (id),
    confirmed_by  TEXT NOT NULL DEFAULT '',
    confirmed_at  TIMESTAMPTZ,
    PRIMARY KEY (request_id, webhook_id)
);

-- A record's receipt names its subject: erasure drops it and keeps its
-- hash, which the record's audit line commits to.
ALTER TABLE consent_records ADD COLUMN receipt_sha256 TEXT NOT NULL DEFAULT '';

CREATE INDEX webhook_events_order_key ON webhook_events (order_key);

-- Records and decisions stay append-only, but for one change: an erasure
-- replaces the subject id with its erased marker (and drops the receipt).
-- +goose StatementBegin
CREATE FUNCTION consentry_erasure_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF left(OLD.subject_id, 7) <> 'erased:' AND left(NEW.subject_id, 7) = 'erased:'
        AND (to_jsonb(NEW) - 'subject_id' - 'receipt' - 'receipt_sha256') = (to_jsonb(OLD) - 'subject_id' - 'receipt' - 'receipt_sha256')
        AND (TG_TABLE_NAME <> 'consent_records'
            OR (to_jsonb(NEW)->>'receipt' = '' AND to_jsonb(OLD)->>'receipt_sha256' = '' AND length(to_jsonb(NEW)->>'receipt_sha256') = 64)) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only; only an erasure replaces the subject id', TG_TABLE_NAME;
END;
$$;
-- +goose StatementEnd
DROP TRIGGER consent_records_append_only ON consent_records;
CREATE TRIGGER consent_records_no_delete BEFORE DELETE ON consent_records
    FOR EACH ROW EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER consent_records_erasure_only BEFORE UPDATE ON consent_records
    FOR EACH ROW EXECUTE FUNCTION consentry_erasure_only();
DROP TRIGGER decisions_append_only ON decisions;
CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
    FOR EACH ROW EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER decisions_erasure_only BEFORE UPDATE ON decisions
    FOR EACH ROW EXECUTE FUNCTION consentry_erasure_only();

-- +goose Down
DROP TRIGGER decisions_erasure_only ON decisions;
DROP TRIGGER decisions_no_delete ON decisions;
CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON decisions
    FOR EACH ROW EXECUTE FUNCTION consentry_append_only();
DROP TRIGGER consent_records_erasure_only ON consent_records;
DROP TRIGGER consent_records_no_delete ON consent_records;
CREATE TRIGGER consent_records_append_only BEFORE UPDATE OR DELETE ON consent_records
    FOR EACH ROW EXECUTE FUNCTION consentry_append_only();
DROP FUNCTION consentry_erasure_only();
DROP INDEX webhook_events_order_key;
ALTER TABLE consent_records DROP COLUMN receipt_sha256;
DROP TABLE subject_request_confirmations;
DROP TABLE subject_requests;
DROP TABLE subject_pseudonyms;
