-- Devices as they live (ISO/IEC 27400 Controls 31-2, 35-1): firmware and
-- an owner-visible label change with their history kept, so incident
-- search can ask what a device ran at a time; a refurbished unit is a new
-- device linked to the disposed one, under the same identity; households
-- share a device with members and guests.

-- +goose Up
ALTER TABLE devices ADD COLUMN label TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN refurbished_from TEXT NOT NULL DEFAULT '';
-- One identity, one device in service: a disposed identity stays disposed
-- and may be registered again only as a refurbished unit.
ALTER TABLE devices DROP CONSTRAINT devices_identity;
CREATE UNIQUE INDEX devices_identity ON devices (manufacturer_key, model_key, serial) WHERE status <> 'disposed';
CREATE INDEX devices_identity_all ON devices (manufacturer_key, model_key, serial);

-- Every firmware and label a device had, from the audit entry that set
-- them (audit_seq -1: as registered, for devices registered before this
-- history was kept).
CREATE TABLE device_attributes (
    device_id     TEXT NOT NULL REFERENCES devices (id),
    audit_seq     BIGINT NOT NULL,
    since         TIMESTAMPTZ NOT NULL,
    firmware      TEXT NOT NULL,
    label         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (device_id, audit_seq)
);
INSERT INTO device_attributes (device_id, audit_seq, since, firmware, label)
    SELECT id, -1, created_at, firmware, '' FROM devices d
    WHERE NOT EXISTS (SELECT 1 FROM device_attributes a WHERE a.device_id = d.id);

-- Who shares a device with its owner: members, and guests until their
-- end. The current state; joins and departures are in the audit log.
CREATE TABLE device_members (
    device_id   TEXT NOT NULL REFERENCES devices (id),
    subject     TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('member', 'guest')),
    until       TIMESTAMPTZ,
    added_at    TIMESTAMPTZ NOT NULL,
    added_by    TEXT NOT NULL,
    audit_seq   BIGINT NOT NULL,
    PRIMARY KEY (device_id, subject)
);
CREATE INDEX device_members_subject ON device_members (subject);
CREATE INDEX device_members_until ON device_members (until) WHERE until IS NOT NULL;

-- +goose Down
DROP TABLE device_members;
DROP TABLE device_attributes;
DROP INDEX devices_identity_all;
DROP INDEX devices_identity;
ALTER TABLE devices ADD CONSTRAINT devices_identity UNIQUE (manufacturer_key, model_key, serial);
ALTER TABLE devices DROP COLUMN refurbished_from;
ALTER TABLE devices DROP COLUMN label;
