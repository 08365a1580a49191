-- API clients can expire, be revoked and have their token rotated
-- (ISO/IEC 27400 Controls 16 and 27: a leaked token must not work forever).
-- A rotation keeps the previous token working until previous_expires_at
-- (the grace period given in the call); only the hashes are stored.

-- +goose Up
ALTER TABLE clients ADD COLUMN expires_at TIMESTAMP;
ALTER TABLE clients ADD COLUMN revoked_at TIMESTAMP;
ALTER TABLE clients ADD COLUMN rotated_at TIMESTAMP;
ALTER TABLE clients ADD COLUMN previous_token_hash TEXT;
ALTER TABLE clients ADD COLUMN previous_expires_at TIMESTAMP;
CREATE UNIQUE INDEX clients_previous_token ON clients (previous_token_hash);

-- +goose Down
DROP INDEX clients_previous_token;
ALTER TABLE clients DROP COLUMN previous_expires_at;
ALTER TABLE clients DROP COLUMN previous_token_hash;
ALTER TABLE clients DROP COLUMN rotated_at;
ALTER TABLE clients DROP COLUMN revoked_at;
ALTER TABLE clients DROP COLUMN expires_at;
