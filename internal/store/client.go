package store

import (
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// clientRecord is a row of clients.
type clientRecord struct {
	ID        string `gorm:"primaryKey"`
	Name      string
	Role      string
	TokenHash string
	CreatedAt time.Time `gorm:"autoCreateTime:false"`
}

func (clientRecord) TableName() string { return "clients" }

func (r clientRecord) toDomain() privacy.Client {
	return privacy.Client{ID: r.ID, Name: r.Name, Role: privacy.Role(r.Role), CreatedAt: r.CreatedAt.UTC()}
}

// InsertClient stores a client with the hash of its token.
func (tx *Tx) InsertClient(c privacy.Client, tokenHash string) error {
	r := clientRecord{ID: c.ID, Name: c.Name, Role: string(c.Role), TokenHash: tokenHash, CreatedAt: c.CreatedAt}
	return formatError(tx.db.Create(&r).Error, "client")
}

// ClientByTokenHash finds the client holding a token, by the token's hash.
func (tx *Tx) ClientByTokenHash(tokenHash string) (privacy.Client, error) {
	var r clientRecord
	if err := tx.db.Where("token_hash = ?", tokenHash).Take(&r).Error; err != nil {
		return privacy.Client{}, formatError(err, "client")
	}
	return r.toDomain(), nil
}

// CountClients counts every client.
func (tx *Tx) CountClients() (int64, error) {
	var n int64
	err := tx.db.Model(&clientRecord{}).Count(&n).Error
	return n, formatError(err, "clients")
}
