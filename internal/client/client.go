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
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"
)

// tokenPrefix marks Consentry tokens so that secret scanners and people can
// recognise a leaked one.
const tokenPrefix = "cst_"

// tokenLen is the length of a token: the prefix and 32 random bytes
// (256 bits) in unpadded base64url.
var tokenLen = len(tokenPrefix) + base64.RawURLEncoding.EncodedLen(32)

// Service creates, authenticates, lists, revokes and rotates API clients.
type Service struct {
	db  *store.DB
	log *audit.Log
	// known keeps clients found by token hash (an LRU) for at most KnownFor, so
	// that a request costs no read while a revocation, a rotation or an
	// expiry made by another instance sharing the database takes effect
	// here within that time; this instance's own changes empty it at
	// once. An unknown token is never kept.
	known *lru.Cache[string, knownToken]
}

// knownToken is a client found by a token, until when the token works
// (zero: no end but revocation), and when it was read (wall clock, for
// KnownFor).
type knownToken struct {
	client privacy.Client
	until  time.Time
	read   time.Time
}

// KnownFor is how long a token found in the database is trusted without
// reading it again: the most a revocation on another instance takes to
// reach this one.
const KnownFor = 500 * time.Millisecond

// knownTokens bounds the tokens kept; the least recently used goes first.
const knownTokens = 10_000

// NewService returns a Service reading db and writing through log.
func NewService(db *store.DB, log *audit.Log) *Service {
	known, _ := lru.New[string, knownToken](knownTokens) // fails only for a size below one
	return &Service{db: db, log: log, known: known}
}

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

// Create makes a client with a new token, working until expires (zero:
// until revoked), and for an app the URIs the hosted consent flow may
// return people to. The token is returned once and never again.
func (s *Service) Create(ctx context.Context, name string, role privacy.Role, expires time.Time, redirectURIs ...string) (privacy.Client, string, error) {
	var (
		c     privacy.Client
		token string
	)
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		var err error
		c, token, err = create(tx.Tx, name, role, expires, redirectURIs)
		if err != nil {
			return nil, err
		}
		return []event.Event{event.ClientCreated{Client: c}}, nil
	})
	if err != nil {
		return privacy.Client{}, "", err
	}
	return c, token, nil
}

// create inserts a client in tx.
func create(tx *store.Tx, name string, role privacy.Role, expires time.Time, redirectURIs []string) (privacy.Client, string, error) {
	c := privacy.Client{Name: strings.TrimSpace(name), Role: role, CreatedAt: tx.Now(), ExpiresAt: expires.UTC().Truncate(time.Microsecond),
		RedirectURIs: redirectURIs}
	if err := c.Validate(); err != nil {
		return privacy.Client{}, "", err
	}
	if !c.ExpiresAt.IsZero() && !c.ExpiresAt.After(c.CreatedAt) {
		return privacy.Client{}, "", privacy.FieldErrorf(privacy.EInvalid, "expires_at", "must be in the future")
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
	_, err = s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		n, err := tx.CountClients()
		if err != nil || n > 0 {
			return nil, err
		}
		var token string
		c, token, err = create(tx.Tx, "bootstrap-admin", privacy.RoleAdmin, time.Time{}, nil)
		if err != nil {
			return nil, err
		}
		if err := deliver(token); err != nil {
			return nil, err
		}
		created = true
		return []event.Event{event.ClientCreated{Client: c}}, nil
	})
	if err != nil {
		return privacy.Client{}, false, err
	}
	return c, created, nil
}

// Authenticate returns the client holding token. Any token that is not one
// of ours, well-formed or not, is EUnauthorized; so is the token of a
// revoked or expired client, and a token replaced by a rotation once its
// grace period is over.
func (s *Service) Authenticate(ctx context.Context, token string) (privacy.Client, error) {
	if len(token) != tokenLen || !strings.HasPrefix(token, tokenPrefix) {
		return privacy.Client{}, privacy.Errorf(privacy.EUnauthorized, "the bearer token is not valid")
	}
	hash := HashToken(token)
	now := s.db.Now()
	k, ok := s.known.Get(hash)
	if !ok || time.Since(k.read) > KnownFor {
		s.known.Remove(hash)
		c, previous, err := s.db.Read(ctx).ClientByTokenHash(hash)
		if privacy.ErrorCode(err) == privacy.ENotFound {
			return privacy.Client{}, privacy.Errorf(privacy.EUnauthorized, "the bearer token is not valid")
		}
		if err != nil {
			return privacy.Client{}, err
		}
		if c.Status(now) == privacy.ClientRevoked {
			return privacy.Client{}, privacy.Errorf(privacy.EUnauthorized, "the bearer token's client is revoked")
		}
		k = knownToken{client: c, until: c.ExpiresAt, read: time.Now()}
		if previous {
			if c.PreviousExpiresAt.IsZero() {
				// A replaced token always has an end; none stored is a
				// row someone changed: refuse, never trust it forever.
				return privacy.Client{}, privacy.Errorf(privacy.EUnauthorized, "the bearer token has expired")
			}
			if k.until.IsZero() || c.PreviousExpiresAt.Before(k.until) {
				k.until = c.PreviousExpiresAt
			}
		}
		s.known.Add(hash, k)
	}
	if !k.until.IsZero() && !now.Before(k.until) {
		return privacy.Client{}, privacy.Errorf(privacy.EUnauthorized, "the bearer token has expired")
	}
	return k.client, nil
}

// List returns up to limit clients after the id after, oldest first, and
// whether more follow.
func (s *Service) List(ctx context.Context, after string, limit int) ([]privacy.Client, bool, error) {
	return s.db.Read(ctx).ListClients(after, limit)
}

// Get returns one client.
func (s *Service) Get(ctx context.Context, id string) (privacy.Client, error) {
	return s.db.Read(ctx).ClientByID(id)
}

// Revoke ends a client: its tokens stop working at once on this instance
// and within KnownFor on every other. Audited.
func (s *Service) Revoke(ctx context.Context, id string) (privacy.Client, error) {
	var c privacy.Client
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		if err := tx.RevokeClient(id, tx.Now()); err != nil {
			return nil, err
		}
		var err error
		if c, err = tx.ClientByID(id); err != nil {
			return nil, err
		}
		return []event.Event{event.ClientRevoked{Client: c}}, nil
	})
	// Emptied whether or not the change committed: a kept client is only
	// ever read again.
	s.known.Purge()
	if err != nil {
		return privacy.Client{}, err
	}
	return c, nil
}

// Rotate gives a client a new token, returned once; the token it had keeps
// working for grace (0: it stops at once), at most MaxRotationGrace, and
// never past the client's own expiry. Audited.
func (s *Service) Rotate(ctx context.Context, id string, grace time.Duration) (privacy.Client, string, error) {
	if grace < 0 || grace > privacy.MaxRotationGrace {
		return privacy.Client{}, "", privacy.FieldErrorf(privacy.EInvalid, "grace_seconds", "must be between 0 and %d seconds (30 days)", int64(privacy.MaxRotationGrace/time.Second))
	}
	var (
		c     privacy.Client
		token string
	)
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		var err error
		if token, err = NewToken(); err != nil {
			return nil, err
		}
		if err := tx.RotateClient(id, HashToken(token), tx.Now(), tx.Now().Add(grace)); err != nil {
			return nil, err
		}
		if c, err = tx.ClientByID(id); err != nil {
			return nil, err
		}
		return []event.Event{event.ClientRotated{Client: c}}, nil
	})
	s.known.Purge()
	if err != nil {
		return privacy.Client{}, "", err
	}
	return c, token, nil
}
