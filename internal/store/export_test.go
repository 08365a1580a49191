package store

import "context"

// MigrateDownTo undoes migrations down to version v, for tests of a
// migration over existing rows.
func (db *DB) MigrateDownTo(ctx context.Context, v int64) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, v)
	return err
}

// UnpackSteps is the steps a packed value holds, for the fuzz test.
func UnpackSteps(packed []byte) ([]byte, error) { return stepsPacker.unpack(packed) }

// SetAuditRunsPerQuery sets how many runs of the subject index one
// PostgreSQL search query reads; restore sets it back.
func SetAuditRunsPerQuery(n int) (restore func()) {
	before := auditRunsPerQuery
	auditRunsPerQuery = n
	return func() { auditRunsPerQuery = before }
}
