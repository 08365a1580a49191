// Package purpose keeps the purpose catalogue: the list of reasons for
// processing (name, description, legal basis) that data elements, notices
// and consents refer to by key.
package purpose

import (
	"context"
	"strings"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
)

// Service reads and writes the catalogue.
type Service struct {
	db  *store.DB
	log *audit.Log
}

// NewService returns a Service reading db and writing through log.
func NewService(db *store.DB, log *audit.Log) *Service { return &Service{db: db, log: log} }

// Put creates or replaces the purpose p.Key. created says which.
func (s *Service) Put(ctx context.Context, p privacy.Purpose) (out privacy.Purpose, created bool, err error) {
	p.Name = strings.TrimSpace(p.Name)
	p.Description = strings.TrimSpace(p.Description)
	if err := p.Validate(); err != nil {
		return privacy.Purpose{}, false, err
	}
	_, err = s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		old, err := tx.PurposeByKey(p.Key)
		switch privacy.ErrorCode(err) {
		case "":
			p.CreatedAt, created = old.CreatedAt, false
		case privacy.ENotFound:
			p.CreatedAt, created = tx.Now(), true
		default:
			return nil, err
		}
		p.UpdatedAt = tx.Now()
		if err := tx.UpsertPurpose(p); err != nil {
			return nil, err
		}
		return []event.Event{event.PurposePut{Purpose: p, Created: created}}, nil
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
