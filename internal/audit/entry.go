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
	"time"

	"github.com/consentry/consentry/internal/store"
	"github.com/gowebpki/jcs"
)

// Entry is one audit entry as it is hashed: its canonical JSON is the
// Merkle leaf. It holds no raw personal data: a subject appears only as
// an HMAC (targets.subject), and the full payload only as its SHA-256.
type Entry struct {
	// The fields are in the sorted order of their JSON names, which lets
	// canonicalEntry use encoding/json as is.

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
	// ReliesOn is, for an allow decision, the sequence number of the consent
	// entry it relied on.
	ReliesOn  *int64 `json:"relies_on,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	Seq       int64  `json:"seq"`
	// Targets are the ids the event is about: device, purpose, client,
	// element, inventory_version, subject (an HMAC).
	Targets map[string]string `json:"targets,omitempty"`
	Time    string            `json:"time"`
}

// EntryActor is who caused the event.
type EntryActor struct {
	ClientID string `json:"client_id"`
	Role     string `json:"role"`
}

// Entry actions and outcomes that the verifier's replay understands.
const (
	ActionConsentRecorded  = "consent.recorded"
	ActionConsentWithdrawn = "consent.withdrawn"
	ActionDecision         = store.AuditActionDecision
	ActionNoticePublished  = "notice.version.published"
	OutcomeAllow           = "allow"
	OutcomeGranted         = "granted"
)

// TimeFormat is how entry times are written: UTC, microseconds, so that
// every dialect and every verifier reads back the same instant.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// FormatTime writes t as an entry time.
func FormatTime(t time.Time) string { return t.UTC().Truncate(time.Microsecond).Format(TimeFormat) }

// canonicalEntry is Canonical for an Entry, fast: encoding/json already
// writes an Entry's members in sorted order (the struct's fields are
// declared alphabetically by JSON name, map keys are sorted) with integers
// only, so without HTML escaping its output is RFC 8785 canonical, except
// that it escapes U+2028 and U+2029, which RFC 8785 writes as they are:
// such an entry takes the general path.
func canonicalEntry(e Entry) ([]byte, error) {
	for k := range e.Targets {
		// encoding/json sorts keys by UTF-8 bytes, RFC 8785 by UTF-16 code
		// units; they agree on ASCII, which all our target names are.
		for i := 0; i < len(k); i++ {
			if k[i] >= 0x80 {
				return Canonical(e)
			}
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("audit: encode: %w", err)
	}
	out := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	if bytes.Contains(out, []byte(`\u2028`)) || bytes.Contains(out, []byte(`\u2029`)) || bytes.Contains(out, []byte(`\ufffd`)) {
		return Canonical(e)
	}
	return out, nil
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
