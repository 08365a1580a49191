// Package webhooksig signs and verifies Consentry webhook deliveries. The
// service signs every delivery with the webhook's secret; a receiver calls
// Verify before it trusts a body, then de-duplicates on the event id.
//
// The signature header is
//
//	Consentry-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>
//
// The timestamp is inside the MAC, so a captured delivery replayed later
// fails the tolerance check, and one with a changed byte fails the MAC.
// A replay inside the window carries an event id the receiver has seen.
package webhooksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Header names set on every delivery.
const (
	HeaderSignature = "Consentry-Signature"
	HeaderEventID   = "Consentry-Event-Id"
	HeaderEventKind = "Consentry-Event-Kind"
	HeaderDelivery  = "Consentry-Delivery-Id"
	HeaderAttempt   = "Consentry-Delivery-Attempt"
)

// DefaultTolerance is the replay window receivers should use.
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns.
var (
	ErrMissing   = errors.New("webhooksig: no signature header")
	ErrMalformed = errors.New("webhooksig: malformed signature header")
	ErrStale     = errors.New("webhooksig: timestamp outside the tolerance (a replay, or a clock off)")
	ErrMismatch  = errors.New("webhooksig: signature does not match the body")
)

// Sign returns the signature header value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks header (the Consentry-Signature value) against body: the
// timestamp must be within tolerance of now and one v1 signature must be
// the HMAC of the timestamp and the exact bytes received.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if header == "" {
		return ErrMissing
	}
	var (
		ts   string
		sigs []string
	)
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrMalformed
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrMalformed
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return ErrMismatch
}
