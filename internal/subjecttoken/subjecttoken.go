// Package subjecttoken issues and checks the short-lived tokens an app
// mints for one subject (OWASP API1, Control 33): a mobile app then calls
// Consentry as that person, and can reach that person's consents and
// privacy view only.
package subjecttoken

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// MaxTTL is the longest a subject token lives.
const MaxTTL = time.Hour

// keyFile holds the HMAC key in the data directory (mode 0600). Every
// instance of a deployment shares it, as they share the audit keys.
const keyFile = "subject-token.key"

// Issuer mints and checks subject tokens for one deployment.
type Issuer struct {
	signer   jose.Signer
	key      []byte
	audience string
}

// Claims are what a valid token says.
type Claims struct {
	Subject string
	// AppID is the app client that minted the token.
	AppID   string
	Expires time.Time
}

// New returns an Issuer signing with key (32 bytes or more) for audience:
// the deployment's name, so a token from another deployment is refused.
func New(key []byte, audience string) (*Issuer, error) {
	if len(key) < 32 {
		return nil, errors.New("subjecttoken: the key must be at least 32 bytes")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("subjecttoken: %w", err)
	}
	return &Issuer{signer: signer, key: key, audience: audience}, nil
}

// LoadOrCreate reads the key from dir, creating it on first use.
func LoadOrCreate(dir, audience string) (*Issuer, error) {
	path := filepath.Join(dir, keyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("subjecttoken: %w", err)
		}
		if _, err := f.Write(key); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("subjecttoken: %w", err)
	}
	return New(key, audience)
}

// Mint returns a token for subject, minted by app, valid for ttl from now.
func (i *Issuer) Mint(appID, subject string, now time.Time, ttl time.Duration) (string, time.Time, error) {
	if ttl <= 0 || ttl > MaxTTL {
		return "", time.Time{}, fmt.Errorf("subjecttoken: ttl must be in (0, %s]", MaxTTL)
	}
	exp := now.Add(ttl).Truncate(time.Second)
	claims := jwt.Claims{Subject: subject, Issuer: appID, Audience: jwt.Audience{i.audience}, Expiry: jwt.NewNumericDate(exp),
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), ID: uuid.Must(uuid.NewV7()).String()}
	tok, err := jwt.Signed(i.signer).Claims(claims).Serialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("subjecttoken: %w", err)
	}
	return tok, exp.UTC(), nil
}

// Principal is the caller a valid token makes: the subject, acting
// through the app that minted the token.
func (c Claims) Principal() privacy.Client {
	return privacy.Client{ID: c.AppID, Name: "subject-token", Role: privacy.RoleSubject, Subject: c.Subject}
}

// LooksLike reports whether a bearer token is a subject token (a JWT)
// rather than a client token (cst_...).
func LooksLike(token string) bool {
	return strings.Count(token, ".") == 2 && !strings.HasPrefix(token, "cst_")
}

// Check verifies a token's signature, audience and lifetime at now.
func (i *Issuer) Check(token string, now time.Time) (Claims, error) {
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return Claims{}, errors.New("not a subject token")
	}
	var c jwt.Claims
	if err := parsed.Claims(i.key, &c); err != nil {
		return Claims{}, errors.New("the subject token's signature does not verify")
	}
	if err := c.ValidateWithLeeway(jwt.Expected{AnyAudience: jwt.Audience{i.audience}, Time: now}, 0); err != nil {
		return Claims{}, fmt.Errorf("the subject token is not valid here or now: %v", err)
	}
	if c.Subject == "" || c.Issuer == "" || c.Expiry == nil || c.Expiry.Time().Sub(now) > MaxTTL+time.Minute {
		return Claims{}, errors.New("the subject token lacks a subject, an issuer or a short expiry")
	}
	return Claims{Subject: c.Subject, AppID: c.Issuer, Expires: c.Expiry.Time().UTC()}, nil
}

// Bind returns a MAC of token under this deployment's key, for purpose:
// the hosted consent flow's forms carry Bind(session, "csrf") and a post
// whose value does not match its session's is refused.
func (i *Issuer) Bind(token, purpose string) string {
	m := hmac.New(sha256.New, i.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckBound reports whether mac is Bind(token, purpose), in constant time.
func (i *Issuer) CheckBound(token, purpose, mac string) bool {
	return hmac.Equal([]byte(i.Bind(token, purpose)), []byte(mac))
}
