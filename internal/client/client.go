// Package client manages API clients: creating them with a role, issuing
// their bearer tokens (shown once, stored only as a hash) and recognising a
// token on each request (ISO/IEC 27400 Controls 15 and 16).
package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/google/uuid"
)

// tokenPrefix marks Consentry tokens so that secret scanners and people can
// recognise a leaked one.
const tokenPrefix = "cst_"

// tokenLen is the length of a token: the prefix and 32 random bytes
// (256 bits) in unpadded base64url.
var tokenLen = len(tokenPrefix) + base64.RawURLEncoding.EncodedLen(32)

// Service creates and authenticates API clients.
type Service struct {
	db  *store.DB
	log *audit.Log
	// known caches clients found by token hash. Clients are never changed
	// or removed, so a cached client is always right; an unknown token is
	// never cached and is looked up every time.
	known sync.Map // token hash → privacy.Client
}

// NewService returns a Service reading db and writing through log.
func NewService(db *store.DB, log *audit.Log) *Service { return &Service{db: db, log: log} }

// NewToken returns a fresh random token.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("client: token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken is how a token is stored and looked up. A plain SHA-256 is
// enough: the token has 256 bits of entropy, so there is nothing to
// brute-force that a slow hash would protect.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Create makes a client with a new token. The token is returned once and
// never again.
func (s *Service) Create(ctx context.Context, name string, role privacy.Role) (privacy.Client, string, error) {
	var (
		c     privacy.Client
		token string
	)
	_, err := s.log.Do(ctx, func(tx *store.Tx) ([]audit.Event, error) {
		var err error
		c, token, err = create(tx, name, role)
		if err != nil {
			return nil, err
		}
		return []audit.Event{createdEvent(c)}, nil
	})
	if err != nil {
		return privacy.Client{}, "", err
	}
	return c, token, nil
}

// created is the audit event of a new client. The token is not in it.
func createdEvent(c privacy.Client) audit.Event {
	return audit.Event{Action: "client.created", Targets: map[string]string{"client": c.ID, "role": string(c.Role)}, Payload: c}
}

// create inserts a client in tx.
func create(tx *store.Tx, name string, role privacy.Role) (privacy.Client, string, error) {
	c := privacy.Client{Name: strings.TrimSpace(name), Role: role, CreatedAt: tx.Now()}
	if err := c.Validate(); err != nil {
		return privacy.Client{}, "", err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return privacy.Client{}, "", fmt.Errorf("client: id: %w", err)
	}
	c.ID = id.String()
	token, err := NewToken()
	if err != nil {
		return privacy.Client{}, "", err
	}
	if err := tx.InsertClient(c, HashToken(token)); err != nil {
		return privacy.Client{}, "", err
	}
	return c, token, nil
}

// Bootstrap creates the first admin client when there is no client at all,
// and hands its token to deliver before the creation commits: if deliver
// fails (the token file cannot be written), no client is created, so an
// operator is never left with an admin whose token nobody has. created is
// false when clients already existed.
func (s *Service) Bootstrap(ctx context.Context, deliver func(token string) error) (c privacy.Client, created bool, err error) {
	_, err = s.log.Do(ctx, func(tx *store.Tx) ([]audit.Event, error) {
		n, err := tx.CountClients()
		if err != nil || n > 0 {
			return nil, err
		}
		var token string
		c, token, err = create(tx, "bootstrap-admin", privacy.RoleAdmin)
		if err != nil {
			return nil, err
		}
		if err := deliver(token); err != nil {
			return nil, err
		}
		created = true
		return []audit.Event{createdEvent(c)}, nil
	})
	if err != nil {
		return privacy.Client{}, false, err
	}
	return c, created, nil
}

// Authenticate returns the client holding token. Any token that is not one
// of ours, well-formed or not, is EUnauthorized.
func (s *Service) Authenticate(ctx context.Context, token string) (privacy.Client, error) {
	if len(token) != tokenLen || !strings.HasPrefix(token, tokenPrefix) {
		return privacy.Client{}, privacy.Errorf(privacy.EUnauthorized, "the bearer token is not valid")
	}
	hash := HashToken(token)
	if c, ok := s.known.Load(hash); ok {
		return c.(privacy.Client), nil
	}
	c, err := s.db.Read(ctx).ClientByTokenHash(hash)
	if privacy.ErrorCode(err) == privacy.ENotFound {
		return privacy.Client{}, privacy.Errorf(privacy.EUnauthorized, "the bearer token is not valid")
	}
	if err != nil {
		return privacy.Client{}, err
	}
	s.known.Store(hash, c)
	return c, nil
}
