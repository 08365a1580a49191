-- The action index no longer holds decisions. They are most of the log and
-- are appended thousands of times a second, each paying an index insert;
-- listing decisions scans the log in sequence order and finds them at
-- once, because nearly every entry is one. Other actions are rare and keep
-- their index; a query for one must repeat the index's condition
-- (store.AuditEntries does). PostgreSQL dialect.

-- +goose Up
DROP INDEX audit_entries_action;
CREATE INDEX audit_entries_action ON audit_entries (action, seq) WHERE action <> 'decision';

-- +goose Down
DROP INDEX audit_entries_action;
CREATE INDEX audit_entries_action ON audit_entries (action, seq);
