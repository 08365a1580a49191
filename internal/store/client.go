package store

import (
	"strings"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"gorm.io/gorm"
)

// clientRecord is a row of clients.
type clientRecord struct {
	ID                string `gorm:"primaryKey"`
	Name              string
	Role              string
	TokenHash         string
	CreatedAt         time.Time `gorm:"autoCreateTime:false"`
	ExpiresAt         *time.Time
	RevokedAt         *time.Time
	RotatedAt         *time.Time
	PreviousTokenHash *string
	PreviousExpiresAt *time.Time
	// RedirectURIs, newline-separated.
	RedirectURIs string `gorm:"column:redirect_uris"`
}

func (clientRecord) TableName() string { return "clients" }

func (r clientRecord) toDomain() privacy.Client {
	return privacy.Client{ID: r.ID, Name: r.Name, Role: privacy.Role(r.Role), CreatedAt: r.CreatedAt.UTC(),
		ExpiresAt: timeVal(r.ExpiresAt), RevokedAt: timeVal(r.RevokedAt), RotatedAt: timeVal(r.RotatedAt),
		PreviousExpiresAt: timeVal(r.PreviousExpiresAt), RedirectURIs: redirectURIs(r.RedirectURIs)}
}

// redirectURIs splits the stored list; nil for none.
func redirectURIs(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// InsertClient stores a client with the hash of its token.
func (tx *Tx) InsertClient(c privacy.Client, tokenHash string) error {
	r := clientRecord{ID: c.ID, Name: c.Name, Role: string(c.Role), TokenHash: tokenHash, CreatedAt: c.CreatedAt, ExpiresAt: timePtr(c.ExpiresAt),
		RedirectURIs: strings.Join(c.RedirectURIs, "\n")}
	return formatError(tx.db.Create(&r).Error, "client")
}

// ClientByTokenHash finds the client holding a token, by the token's hash:
// its current token, or (previous true) the one its last rotation replaced.
// Whether the token still works is the caller's to judge.
func (r *Reader) ClientByTokenHash(tokenHash string) (c privacy.Client, previous bool, err error) {
	var rec clientRecord
	if err := r.db.Where("token_hash = ? OR previous_token_hash = ?", tokenHash, tokenHash).Take(&rec).Error; err != nil {
		return privacy.Client{}, false, formatError(err, "client")
	}
	return rec.toDomain(), rec.TokenHash != tokenHash, nil
}

// ClientByID finds a client.
func (r *Reader) ClientByID(id string) (privacy.Client, error) {
	var rec clientRecord
	if err := r.db.Where("id = ?", id).Take(&rec).Error; err != nil {
		return privacy.Client{}, formatError(err, "client")
	}
	return rec.toDomain(), nil
}

// ListClients returns up to limit clients after the id after, ordered by
// id (UUIDv7, so by creation); more says whether another page follows.
func (r *Reader) ListClients(after string, limit int) (clients []privacy.Client, more bool, err error) {
	q := r.db.Model(&clientRecord{})
	if after != "" {
		q = q.Where("id > ?", after)
	}
	var rs []clientRecord
	if err := q.Order("id").Limit(limit + 1).Find(&rs).Error; err != nil {
		return nil, false, formatError(err, "clients")
	}
	if len(rs) > limit {
		rs, more = rs[:limit], true
	}
	clients = make([]privacy.Client, len(rs))
	for i, rec := range rs {
		clients[i] = rec.toDomain()
	}
	return clients, more, nil
}

// RevokeClient marks a client revoked at at. A client already revoked is
// EInvalidTransition.
func (tx *Tx) RevokeClient(id string, at time.Time) error {
	res := tx.db.Model(&clientRecord{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", timePtr(at))
	if res.Error != nil {
		return formatError(res.Error, "client")
	}
	if res.RowsAffected == 0 {
		return tx.notChangeable(id)
	}
	return nil
}

// RotateClient gives a client the token whose hash is tokenHash; the token
// it had keeps working until previousExpires. A revoked client is
// EInvalidTransition.
func (tx *Tx) RotateClient(id, tokenHash string, at, previousExpires time.Time) error {
	res := tx.db.Model(&clientRecord{}).Where("id = ? AND revoked_at IS NULL", id).Updates(map[string]any{
		// Every right-hand side reads the row as it was: the old token.
		"previous_token_hash": gorm.Expr("token_hash"),
		"previous_expires_at": timePtr(previousExpires),
		"token_hash":          tokenHash,
		"rotated_at":          timePtr(at),
	})
	if res.Error != nil {
		return formatError(res.Error, "client")
	}
	if res.RowsAffected == 0 {
		return tx.notChangeable(id)
	}
	return nil
}

// notChangeable explains why an update of client id touched no row.
func (tx *Tx) notChangeable(id string) error {
	if _, err := tx.ClientByID(id); err != nil {
		return err
	}
	return privacy.Errorf(privacy.EInvalidTransition, "client %s is revoked", id)
}

// CountClients counts every client.
func (r *Reader) CountClients() (int64, error) {
	var n int64
	err := r.db.Model(&clientRecord{}).Count(&n).Error
	return n, formatError(err, "clients")
}
