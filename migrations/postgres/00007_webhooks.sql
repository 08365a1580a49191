-- Webhooks: consent-change notifications to backends, through an outbox.
-- Events are written in the transaction of the change they report, so a
-- change and its notification commit together or not at all; deliveries
-- carry each subscription's progress. None of this is evidence (the audit
-- log is): delivery state changes as it is delivered. PostgreSQL dialect.

-- +goose Up
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    -- The event kinds wanted, space-separated.
    kinds       TEXT NOT NULL,
    -- The HMAC-SHA256 key deliveries are signed with: the service must
    -- hold it to sign, so it is stored as given and never returned.
    secret      TEXT NOT NULL,
    description TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    deleted_at  TIMESTAMPTZ
);

CREATE TABLE webhook_events (
    -- seq orders events as their changes committed (the audit log's
    -- writer inserts them in its own order).
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    -- Deliveries with the same order key are made one after another.
    order_key   TEXT NOT NULL,
    payload     TEXT NOT NULL,
    -- Set for events that several instances could emit (expiry): the
    -- first insert wins.
    dedupe_key  TEXT UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id),
    event_seq       BIGINT NOT NULL REFERENCES webhook_events (seq),
    order_key       TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_attempt_at TIMESTAMPTZ,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    delivered_at    TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (webhook_id, event_seq)
);
CREATE INDEX idx_webhook_deliveries_queue ON webhook_deliveries (webhook_id, state, event_seq);

-- One instance at a time delivers a webhook's events, so that events with
-- the same order key arrive in order.
CREATE TABLE webhook_leases (
    webhook_id TEXT PRIMARY KEY REFERENCES webhooks (id),
    owner      TEXT NOT NULL,
    until      TIMESTAMPTZ NOT NULL
);

-- How far the expiry scan has looked: consents that expired after this
-- time have not been announced yet.
CREATE TABLE webhook_cursors (
    name TEXT PRIMARY KEY,
    at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_consent_state_expiry ON consent_state (expires_at) WHERE granted AND kind = 'consent';

-- +goose Down
DROP INDEX idx_consent_state_expiry;
DROP TABLE webhook_cursors;
DROP TABLE webhook_leases;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhooks;
