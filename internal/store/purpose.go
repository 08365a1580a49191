package store

import (
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"gorm.io/gorm/clause"
)

// purposeRecord is a row of purposes.
type purposeRecord struct {
	Key         string `gorm:"primaryKey"`
	Name        string
	Description string
	LegalBasis  string
	CreatedAt   time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt   time.Time `gorm:"autoUpdateTime:false"`
}

func (purposeRecord) TableName() string { return "purposes" }

func (r purposeRecord) toDomain() privacy.Purpose {
	return privacy.Purpose{Key: r.Key, Name: r.Name, Description: r.Description, LegalBasis: privacy.LegalBasis(r.LegalBasis),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// PurposeByKey finds one purpose.
func (r *Reader) PurposeByKey(key string) (privacy.Purpose, error) {
	var rec purposeRecord
	if err := r.db.Where("key = ?", key).Take(&rec).Error; err != nil {
		return privacy.Purpose{}, formatError(err, "purpose "+key)
	}
	return rec.toDomain(), nil
}

// UpsertPurpose creates the purpose or replaces its name, description and
// legal basis, keeping its creation time.
func (tx *Tx) UpsertPurpose(p privacy.Purpose) error {
	r := purposeRecord{Key: p.Key, Name: p.Name, Description: p.Description, LegalBasis: string(p.LegalBasis),
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
	err := tx.db.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "key"}},
		DoUpdates: clause.AssignmentColumns([]string{"name", "description", "legal_basis", "updated_at"}),
	}).Create(&r).Error
	return formatError(err, "purpose")
}

// ListPurposes returns the whole catalogue, by key. The catalogue is small
// (tens of purposes), so it is not paginated.
func (r *Reader) ListPurposes() ([]privacy.Purpose, error) {
	var rs []purposeRecord
	if err := r.db.Order("key").Find(&rs).Error; err != nil {
		return nil, formatError(err, "purposes")
	}
	out := make([]privacy.Purpose, len(rs))
	for i, rec := range rs {
		out[i] = rec.toDomain()
	}
	return out, nil
}

// PurposeKeys returns the set of catalogue keys.
func (r *Reader) PurposeKeys() (map[string]bool, error) {
	var keys []string
	if err := r.db.Model(&purposeRecord{}).Pluck("key", &keys).Error; err != nil {
		return nil, formatError(err, "purposes")
	}
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	return set, nil
}
