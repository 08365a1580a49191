// Package purpose keeps the purpose catalogue: the list of reasons for
// processing (name, description, legal basis) that data elements, notices
// and consents refer to by key.
package purpose

import (
	"context"
	"strings"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
)

// Service reads and writes the catalogue.
type Service struct {
	db *store.DB
}

// NewService returns a Service over db.
func NewService(db *store.DB) *Service { return &Service{db: db} }

// Put creates or replaces the purpose p.Key. created says which.
func (s *Service) Put(ctx context.Context, p privacy.Purpose) (out privacy.Purpose, created bool, err error) {
	p.Name = strings.TrimSpace(p.Name)
	p.Description = strings.TrimSpace(p.Description)
	if err := p.Validate(); err != nil {
		return privacy.Purpose{}, false, err
	}
	err = s.db.Transact(ctx, func(tx *store.Tx) error {
		old, err := tx.PurposeByKey(p.Key)
		switch privacy.ErrorCode(err) {
		case "":
			p.CreatedAt = old.CreatedAt
		case privacy.ENotFound:
			p.CreatedAt, created = tx.Now(), true
		default:
			return err
		}
		p.UpdatedAt = tx.Now()
		return tx.UpsertPurpose(p)
	})
	if err != nil {
		return privacy.Purpose{}, false, err
	}
	return p, created, nil
}

// List returns the whole catalogue, by key.
func (s *Service) List(ctx context.Context) ([]privacy.Purpose, error) {
	return s.db.Read(ctx).ListPurposes()
}
