-- A decision's steps are stored packed (store/packed.go: an S2 block
-- against a fixed dictionary, after a version byte), about a third of
-- their text; rows written before keep theirs as text in steps. A row
-- holds one or the other: steps is '' where steps_packed is set.
-- decisions_erasure_only compares whole rows but for the subject id, so
-- it covers the new column. Audit entries are stored packed from this
-- version on too (no column changes: audit_entries.leaf holds either form).

-- +goose Up
ALTER TABLE decisions ADD COLUMN steps_packed BYTEA;

-- +goose Down
-- Packed steps and entries cannot be unpacked in SQL, and a binary of
-- the version before does not read them: going back is refused while any
-- are stored, rather than losing what a decision's entry commits to.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM decisions WHERE steps_packed IS NOT NULL)
        OR EXISTS (SELECT 1 FROM audit_entries WHERE get_byte(leaf, 0) = 1) THEN
        RAISE EXCEPTION 'decisions or audit entries are stored packed; this version cannot be undone';
    END IF;
END $$;
-- +goose StatementEnd
ALTER TABLE decisions DROP COLUMN steps_packed;
