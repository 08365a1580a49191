package decide

import (
	"context"

	"github.com/consentry/consentry/internal/store"
)

// Prepared is a batch evaluated, not yet recorded.
type Prepared = prepared

// Prepare evaluates rs on read as DecideBatch does before the writer,
// so a test can evaluate at a chosen moment and record later.
func (s *Service) Prepare(read *store.Tx, rs []Request) (Prepared, error) { return s.prepare(read, rs) }

// Record appends a prepared batch as DecideBatch does.
func (s *Service) Record(ctx context.Context, rs []Request, p Prepared) ([]Decision, error) {
	return s.record(ctx, rs, p)
}
