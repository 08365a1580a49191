-- Ownership transfer (ISO/IEC 27400 Controls 31-2, 35-1): a device changes
-- owner when it is sold or given on; who owned it when is kept.

-- +goose Up
-- Every owner a device had, from the audit entry that made them owner
-- (audit_seq -1: the owner at registration, for devices registered before
-- this history was kept). owner_subject is '' for none, and an erased
-- owner's marker after an erasure.
CREATE TABLE device_owners (
    device_id      TEXT NOT NULL REFERENCES devices (id),
    owner_subject  TEXT NOT NULL,
    since          TIMESTAMPTZ NOT NULL,
    audit_seq      BIGINT NOT NULL,
    PRIMARY KEY (device_id, audit_seq)
);
CREATE INDEX device_owners_subject ON device_owners (owner_subject);
INSERT INTO device_owners (device_id, owner_subject, since, audit_seq)
    SELECT id, owner_subject, created_at, -1 FROM devices WHERE owner_subject <> '';

-- A transfer the owner offered, waiting for the new owner to accept.
CREATE TABLE device_transfer_offers (
    device_id     TEXT PRIMARY KEY REFERENCES devices (id),
    from_subject  TEXT NOT NULL,
    to_subject    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE device_transfer_offers;
DROP TABLE device_owners;
