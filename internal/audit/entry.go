// Package audit is Consentry's tamper-evident audit log (ISO/IEC 27400
// Controls 12, 13, 30, 32). Every change and every decision is an entry;
// each entry's RFC 8785 canonical JSON is a leaf of an RFC 6962 Merkle tree
// (golang.org/x/mod/sumdb/tlog) whose size and root the server signs as
// C2SP checkpoints (signed notes, Ed25519). Anyone holding the verifier key
// can check inclusion and consistency proofs and replay the log offline.
//
// Changes reach the database only through Log.Do: a single writer runs many
// callers' changes and their entries in one transaction (group commit), so
// an entry exists exactly when its change does, and a log that cannot be
// written refuses the change (fail closed).
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// Entry is one audit entry as it is hashed: its canonical JSON is the
// Merkle leaf. It holds no raw personal data: a subject appears only as
// a pseudonym (targets.subject, Log.Pseudonym), and the full payload only as its SHA-256.
type Entry struct {
	// The fields are in the sorted order of their JSON names, the order
	// canonicalEntry writes them in.

	// Action names the event, e.g. device.registered, consent.recorded, decision.
	Action string     `json:"action"`
	Actor  EntryActor `json:"actor"`
	// ExpiresAt is, for a granted consent, when it stops being valid.
	ExpiresAt string `json:"expires_at,omitempty"`
	// Outcome: ok, created, replaced, allow, deny, granted, denied, withdrawn...
	Outcome string `json:"outcome"`
	// PayloadSHA256 is the hex SHA-256 of the event's full payload in
	// canonical JSON, so an exported record can be matched to its entry.
	PayloadSHA256 string   `json:"payload_sha256,omitempty"`
	Reasons       []string `json:"reasons,omitempty"`
	// RecordSHA256 is the hex SHA-256 of the canonical record the change
	// wrote (records.go): the evidence bundle's line for that record, so
	// that a change to any of its fields is seen. Entries written before
	// records were bound have none.
	RecordSHA256 string `json:"record_sha256,omitempty"`
	// ReliesOn is, for an allow decision, the sequence number of the consent
	// entry it relied on.
	ReliesOn  *int64 `json:"relies_on,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	Seq       int64  `json:"seq"`
	// Targets are the ids the event is about: device, purpose, client,
	// element, inventory_version, subject (a pseudonym).
	Targets map[string]string `json:"targets,omitempty"`
	Time    string            `json:"time"`
}

// EntryActor is who caused the event.
type EntryActor struct {
	ClientID string `json:"client_id"`
	Role     string `json:"role"`
}

// TimeFormat is how entry times are written: UTC, microseconds, so that
// every dialect and every verifier reads back the same instant.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// FormatTime writes t as an entry time.
func FormatTime(t time.Time) string { return t.UTC().Truncate(time.Microsecond).Format(TimeFormat) }

// canonicalEntry is Canonical for an Entry, fast: it writes the RFC 8785
// form directly, members in sorted order (the struct's fields are declared
// alphabetically by JSON name), without reflection. The writer builds one
// per audit entry, thousands a second. RFC 8785 escapes only '"', '\\'
// and control characters, and writes integers as they are; seq and
// relies_on stay far below 2^53, where it would differ. Strings that are
// not valid UTF-8, and target names that are not ASCII (RFC 8785 sorts by
// UTF-16 code units, which agree with bytes on ASCII only), take the
// general path.
func canonicalEntry(e Entry) ([]byte, error) {
	if !plainEntry(e) {
		return Canonical(e)
	}
	keys := make([]string, 0, len(e.Targets))
	for k := range e.Targets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := make([]byte, 0, 512)
	b = append(b, `{"action":`...)
	b = appendString(b, e.Action)
	b = append(b, `,"actor":{"client_id":`...)
	b = appendString(b, e.Actor.ClientID)
	b = append(b, `,"role":`...)
	b = appendString(b, e.Actor.Role)
	b = append(b, '}')
	if e.ExpiresAt != "" {
		b = append(b, `,"expires_at":`...)
		b = appendString(b, e.ExpiresAt)
	}
	b = append(b, `,"outcome":`...)
	b = appendString(b, e.Outcome)
	if e.PayloadSHA256 != "" {
		b = append(b, `,"payload_sha256":`...)
		b = appendString(b, e.PayloadSHA256)
	}
	if len(e.Reasons) > 0 {
		b = append(b, `,"reasons":[`...)
		for i, r := range e.Reasons {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, r)
		}
		b = append(b, ']')
	}
	if e.RecordSHA256 != "" {
		b = append(b, `,"record_sha256":`...)
		b = appendString(b, e.RecordSHA256)
	}
	if e.ReliesOn != nil {
		b = append(b, `,"relies_on":`...)
		b = strconv.AppendInt(b, *e.ReliesOn, 10)
	}
	if e.RequestID != "" {
		b = append(b, `,"request_id":`...)
		b = appendString(b, e.RequestID)
	}
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	if len(keys) > 0 {
		b = append(b, `,"targets":{`...)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, e.Targets[k])
		}
		b = append(b, '}')
	}
	b = append(b, `,"time":`...)
	b = appendString(b, e.Time)
	return append(b, '}'), nil
}

// plainEntry reports whether canonicalEntry's direct form applies to e.
func plainEntry(e Entry) bool {
	for _, s := range []string{e.Action, e.Actor.ClientID, e.Actor.Role, e.ExpiresAt, e.Outcome, e.PayloadSHA256, e.RecordSHA256, e.RequestID, e.Time} {
		if !utf8.ValidString(s) {
			return false
		}
	}
	for _, r := range e.Reasons {
		if !utf8.ValidString(r) {
			return false
		}
	}
	for k, v := range e.Targets {
		for i := 0; i < len(k); i++ {
			if k[i] >= utf8.RuneSelf {
				return false
			}
		}
		if !utf8.ValidString(v) {
			return false
		}
	}
	return true
}

// appendString appends s as an RFC 8785 string: '"' and '\\' escaped,
// control characters as their short escapes or \u00xx, everything else
// (valid UTF-8) as it is.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\f':
			b = append(b, '\\', 'f')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Canonical returns v's RFC 8785 canonical JSON.
func Canonical(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("audit: encode: %w", err)
	}
	out, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("audit: canonicalize: %w", err)
	}
	return out, nil
}

// PayloadHash is the hex SHA-256 of v's canonical JSON.
func PayloadHash(v any) (string, error) {
	b, err := Canonical(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// ParseLeaf reads a leaf back into an Entry, refusing bytes that are not
// exactly the canonical form of a known entry shape: a leaf has one
// spelling, so nothing can be smuggled in alternative encodings.
func ParseLeaf(leaf []byte) (Entry, error) {
	canon, err := jcs.Transform(leaf)
	if err != nil {
		return Entry{}, fmt.Errorf("not JSON: %w", err)
	}
	if !bytes.Equal(canon, leaf) {
		return Entry{}, fmt.Errorf("not in RFC 8785 canonical form")
	}
	dec := json.NewDecoder(bytes.NewReader(leaf))
	dec.DisallowUnknownFields()
	var e Entry
	if err := dec.Decode(&e); err != nil {
		return Entry{}, fmt.Errorf("not an audit entry: %w", err)
	}
	return e, nil
}
