// Package webhooksig signs and verifies Consentry webhook deliveries in
// the Standard Webhooks format (https://www.standardwebhooks.com), so that
// a receiver can use that specification's libraries or this package. The
// service signs every delivery with the webhook's secret; a receiver calls
// Verify before it trusts a body, then de-duplicates on webhook-id.
//
// Every delivery carries
//
//	webhook-id: <the event's id, the same on every retry>
//	webhook-timestamp: <unix seconds>
//	webhook-signature: v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>
//
// where key is the secret's bytes: a secret "whsec_<base64>" is the
// base64-decoded bytes after the prefix. The id and timestamp are inside
// the MAC, so a captured delivery replayed later fails the tolerance check
// and one with a changed byte fails the MAC; a replay inside the window
// carries an id the receiver has seen.
package webhooksig

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names set on every delivery. HeaderID, HeaderTimestamp and
// HeaderSignature are Standard Webhooks'; the others are Consentry's.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
	// HeaderEventID repeats webhook-id under its earlier name.
	HeaderEventID   = "Consentry-Event-Id"
	HeaderEventKind = "Consentry-Event-Kind"
	HeaderDelivery  = "Consentry-Delivery-Id"
	HeaderAttempt   = "Consentry-Delivery-Attempt"
	// HeaderLegacySignature is the signature of versions before Standard
	// Webhooks ("t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>"),
	// still sent for receivers written against it. Deprecated: verify
	// webhook-signature.
	HeaderLegacySignature = "Consentry-Signature"
)

// SecretPrefix starts a Standard Webhooks secret.
const SecretPrefix = "whsec_"

// Secret sizes, in bytes of key: the specification asks for 24 to 64.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

// DefaultTolerance is the replay window receivers should use (the
// specification's libraries use the same).
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns.
var (
	ErrMissing   = errors.New("webhooksig: a webhook-id, webhook-timestamp or webhook-signature header is missing")
	ErrMalformed = errors.New("webhooksig: malformed webhook-timestamp or webhook-signature header")
	ErrStale     = errors.New("webhooksig: timestamp outside the tolerance (a replay, or a clock off)")
	ErrMismatch  = errors.New("webhooksig: signature does not match the body")
)

// NewSecret returns a new secret: "whsec_" and the standard base64 of 32
// random bytes.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// IsStandardSecret reports whether secret is "whsec_" and the standard
// base64 of 24 to 64 bytes, as the specification's libraries take it.
func IsStandardSecret(secret string) bool {
	rest, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(rest)
	return err == nil && len(b) >= MinSecretBytes && len(b) <= MaxSecretBytes
}

// Key is the HMAC key of secret: the decoded bytes of a standard secret;
// any other secret (one chosen before Consentry followed Standard
// Webhooks) is used as its own bytes, which the specification's libraries
// take as a raw key (Go: NewWebhookRaw; JavaScript: {format: "raw"}).
func Key(secret string) []byte {
	if IsStandardSecret(secret) {
		b, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
		return b
	}
	return []byte(secret)
}

// Sign returns the webhook-signature value of body with id, sent at t.
func Sign(secret, id string, t time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(Key(secret), id, strconv.FormatInt(t.Unix(), 10), body))
}

// SetHeaders sets the three Standard Webhooks headers of a delivery.
func SetHeaders(h http.Header, secret, id string, t time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(t.Unix(), 10))
	h.Set(HeaderSignature, Sign(secret, id, t, body))
}

func mac(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a delivery's headers against body: webhook-timestamp must
// be within tolerance of now and one v1 signature of webhook-signature
// (space-separated; several while a secret is rotated) must be the HMAC of
// webhook-id, the timestamp and the exact bytes received.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissing
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrMalformed
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	want := mac(Key(secret), id, ts, body)
	seen := false
	for _, s := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(s, ",")
		if !ok {
			return ErrMalformed
		}
		if version != "v1" {
			continue // another scheme (v1a: asymmetric), not ours
		}
		seen = true
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	if !seen {
		return ErrMalformed
	}
	return ErrMismatch
}

// SignLegacy returns the Consentry-Signature value of body sent at t, as
// versions before Standard Webhooks signed it (the secret's bytes as the
// key). Deprecated: use Sign.
func SignLegacy(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}
