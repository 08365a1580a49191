-- Devices as they live (ISO/IEC 27400 Controls 31-2, 35-1): firmware and
-- an owner-visible label change with their history kept, so incident
-- search can ask what a device ran at a time; a refurbished unit is a new
-- device linked to the disposed one, under the same identity; households
-- share a device with members and guests.
--
-- SQLite cannot drop the identity's unique constraint: the table is
-- rebuilt, with foreign keys off on goose's one connection (outside a
-- transaction, as SQLite requires), inside a transaction of its own.
-- Each step can run again after a crash before goose recorded the
-- version.

-- +goose NO TRANSACTION
-- +goose Up
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
DROP TABLE IF EXISTS devices_rebuilt;
CREATE TABLE devices_rebuilt (
    id                TEXT PRIMARY KEY,
    manufacturer      TEXT NOT NULL,
    model             TEXT NOT NULL,
    serial            TEXT NOT NULL,
    manufacturer_key  TEXT NOT NULL,
    model_key         TEXT NOT NULL,
    firmware          TEXT NOT NULL,
    notice_key        TEXT NOT NULL,
    owner_subject     TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL CHECK (status IN ('active', 'deactivated', 'disposed')),
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    -- What the owner calls the device ("kitchen camera"); '' for none.
    label             TEXT NOT NULL DEFAULT '',
    -- The disposed device this unit was refurbished from; '' for none.
    refurbished_from  TEXT NOT NULL DEFAULT ''
);
INSERT INTO devices_rebuilt (id, manufacturer, model, serial, manufacturer_key, model_key, firmware, notice_key, owner_subject,
    status, created_at, updated_at)
    SELECT id, manufacturer, model, serial, manufacturer_key, model_key, firmware, notice_key, owner_subject,
    status, created_at, updated_at FROM devices;
DROP TABLE devices;
ALTER TABLE devices_rebuilt RENAME TO devices;
-- One identity, one device in service: a disposed identity stays disposed
-- and may be registered again only as a refurbished unit.
CREATE UNIQUE INDEX devices_identity ON devices (manufacturer_key, model_key, serial) WHERE status <> 'disposed';
CREATE INDEX devices_identity_all ON devices (manufacturer_key, model_key, serial);
CREATE INDEX devices_model ON devices (model_key);
CREATE INDEX devices_firmware ON devices (firmware);
CREATE INDEX devices_owner_subject ON devices (owner_subject);

-- Every firmware and label a device had, from the audit entry that set
-- them (audit_seq -1: as registered, for devices registered before this
-- history was kept).
CREATE TABLE IF NOT EXISTS device_attributes (
    device_id     TEXT NOT NULL REFERENCES devices (id),
    audit_seq     BIGINT NOT NULL,
    since         TIMESTAMP NOT NULL,
    firmware      TEXT NOT NULL,
    label         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (device_id, audit_seq)
);
INSERT INTO device_attributes (device_id, audit_seq, since, firmware, label)
    SELECT id, -1, created_at, firmware, '' FROM devices d
    WHERE NOT EXISTS (SELECT 1 FROM device_attributes a WHERE a.device_id = d.id);

-- Who shares a device with its owner: members, and guests until their
-- end. The current state; joins and departures are in the audit log.
CREATE TABLE IF NOT EXISTS device_members (
    device_id   TEXT NOT NULL REFERENCES devices (id),
    subject     TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('member', 'guest')),
    until       TIMESTAMP,
    added_at    TIMESTAMP NOT NULL,
    added_by    TEXT NOT NULL,
    audit_seq   BIGINT NOT NULL,
    PRIMARY KEY (device_id, subject)
);
CREATE INDEX IF NOT EXISTS device_members_subject ON device_members (subject);
CREATE INDEX IF NOT EXISTS device_members_until ON device_members (until) WHERE until IS NOT NULL;
COMMIT;
PRAGMA foreign_keys = ON;

-- +goose Down
DROP TABLE device_members;
DROP TABLE device_attributes;
DROP INDEX devices_identity;
DROP INDEX devices_identity_all;
CREATE UNIQUE INDEX devices_identity ON devices (manufacturer_key, model_key, serial);
