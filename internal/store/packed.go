package store

import (
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/klauspost/compress/s2"
)

// What a decision writes is mostly the same phrases every time: its
// steps (about 575 of its row's 1,000 bytes) and its audit entry's JSON
// (650 bytes, half of them keys and words). Every byte is written twice
// (to the WAL, then by the checkpoint) and synced before the answer. Both
// are stored packed: an S2 block (github.com/klauspost/compress/s2)
// against a fixed dictionary of those phrases, after a version byte that
// names the dictionary. A dictionary is never changed once values were
// packed against it, only a new version added. Values written before
// packing are read as they are: steps as text in decisions.steps, entries
// as their JSON (which begins with "{", never a version byte).

// packer packs values of one kind against one dictionary.
type packer struct {
	version byte
	dict    *s2.Dict
	// max bounds what a value may unpack to: a value edited in the
	// database must not make a read allocate without bound. Nothing
	// longer is packed: it is stored as it is.
	max int
	// err is what a value that does not unpack is reported with.
	err error
}

// pack is b packed: the version byte, then the block.
func (p packer) pack(b []byte) []byte {
	buf := make([]byte, 1+s2.MaxEncodedLen(len(b)))
	buf[0] = p.version
	return buf[:1+len(p.dict.Encode(buf[1:], b))]
}

// unpack is the value packed holds.
func (p packer) unpack(packed []byte) ([]byte, error) {
	if len(packed) < 2 || packed[0] != p.version {
		return nil, fmt.Errorf("%w: unknown version", p.err)
	}
	n, err := s2.DecodedLen(packed[1:])
	if err != nil || n > p.max {
		return nil, fmt.Errorf("%w: a length of %d", p.err, n)
	}
	out, err := p.dict.Decode(make([]byte, n), packed[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", p.err, err)
	}
	return out, nil
}

// errPackedSteps is a packed value that does not unpack: the database was
// changed, or damaged. A read of it fails; nothing is served from it.
var errPackedSteps = errors.New("store: a decision's packed steps do not unpack")

// stepsPacker packs decisions' steps (their canonical JSON), version 1. A
// decision's steps are a few kilobytes at most.
var stepsPacker = packer{version: 1, dict: stepsDictV1, max: 1 << 20, err: errPackedSteps}

// stepsDictV1 holds what the steps of decide's decisions are made of, in
// their canonical JSON; the matches an S2 block refers to. Never edit it:
// rows packed against it must unpack to the bytes their entries commit to.
var stepsDictV1 = s2.MakeDict([]byte(`[{"check":"device","detail":"device is active","ok":true},`+
	`{"check":"device","detail":"no such device","ok":false,"reason":"device_inactive"},`+
	`{"check":"inventory","detail":"the device has no inventory","ok":false,"reason":"element_not_declared"},`+
	`{"check":"inventory","detail":" is not declared for purpose ","ok":false,"reason":"error"},`+
	`{"check":"notice","detail":"no version of notice  is published","ok":false,"reason":"not_in_notice"},`+
	`{"check":"notice","detail":"version 1 of notice  does not state  for ","ok":false,"reason":"not_in_notice"},`+
	`{"check":"policy","detail":"no category to judge: the element is not declared","ok":false,"reason":"policy_denied"},`+
	`{"check":"policy","detail":"no rule lets  use personal. for ","ok":false,"reason":"policy_denied"},`+
	`{"check":"consent","detail":"the subject has not granted this purpose on this device","ok":false,"reason":"no_consent"},`+
	`{"check":"consent","detail":"the consent expired at 20","ok":false,"reason":"consent_expired"},`+
	`{"check":"consent","detail":"consent was withdrawn by record ","ok":false,"reason":"consent_withdrawn"},`+
	`{"check":"consent","detail":"the notice changed this purpose materially since consent was given","ok":false,"reason":"reconsent_required"},`+
	`{"check":"guardian","detail":"the subject is a child; their consent was given with a guardian's","ok":true},`+
	`{"check":"guardian","detail":"the subject came of age and consented themself","ok":true},`+
	`{"check":"guardian","detail":"the subject is a child","ok":false,"reason":"guardian_consent_required"},`+
	`{"check":"device","detail":"device is active","ok":true},`+
	`{"check":"inventory","detail":"inventory version 1 declares  (personal.) for ","ok":true},`+
	`{"check":"notice","detail":"version 1 of notice  states  for ","ok":true},`+
	`{"check":"policy","detail":"the data policy lets  use personal. for ","ok":true},`+
	`{"check":"consent","detail":"consent record 0 (audit entry ) grants  until 20","ok":true}]`), []byte(`[{"check":"device","detail":"device is active","ok":true},`))

// PackSteps is steps (canonical JSON) as InsertDecisions stores them, for
// a caller that packs them away from the single writer
// (DecisionRecord.PackedSteps); nil for steps too long to pack, which are
// stored as text.
func PackSteps(b []byte) []byte {
	if len(b) > stepsPacker.max {
		return nil
	}
	return stepsPacker.pack(b)
}

// packedSteps scans decisions.steps_packed: NULL for a row whose steps
// are text, else unpacked as it is scanned, so that a value that does not
// unpack fails the read.
type packedSteps struct {
	steps []byte
	ok    bool
}

// Scan implements sql.Scanner.
func (p *packedSteps) Scan(src any) error {
	p.steps, p.ok = nil, false
	if src == nil {
		return nil
	}
	raw, err := scannedBytes(src, errPackedSteps)
	if err != nil {
		return err
	}
	unpacked, err := stepsPacker.unpack(raw)
	if err != nil {
		return err
	}
	p.steps, p.ok = unpacked, true
	return nil
}

// packedValue binds a row's packed steps: NULL when there are none.
func packedValue(b []byte) driver.Value {
	if len(b) == 0 {
		return nil
	}
	return b
}

// errPackedLeaf is a packed entry that does not unpack (UnpackLeaf).
var errPackedLeaf = errors.New("store: a packed audit entry does not unpack")

// leafPacker packs audit entries (their canonical JSON), version 1. An
// entry is under a kilobyte but for the rare one naming many reasons or
// targets; one longer than max is stored as it is.
var leafPacker = packer{version: 1, dict: leafDictV1, max: 1 << 20, err: errPackedLeaf}

// leafDictV1 holds what entries are made of: their keys in canonical
// order, actions, roles, outcomes, reasons. Never edit it.
var leafDictV1 = s2.MakeDict([]byte(`{"action":"policy.rule.added","actor":{"client_id":"cli","role":"operator"},"outcome":"ok",`+
	`"request_id":"","seq":1,"targets":{"action":"use","category":"personal.*","effect":"allow","purpose":"","service":""},"time":"20"}`+
	`{"action":"notice.version.published","actor":{"client_id":"","role":"admin"},"outcome":"ok","payload_sha256":"",`+
	`"reasons":["material_change:"],"seq":1,"targets":{"notice":"","version":"1"},"time":"20"}`+
	`{"action":"inventory.declared","actor":{"client_id":"","role":"admin"},"outcome":"ok","record_sha256":"","request_id":"",`+
	`"seq":1,"targets":{"device":"","inventory_version":"1"},"time":"20"}`+
	`{"action":"device.registered","actor":{"client_id":"","role":"admin"},"outcome":"ok","record_sha256":"","request_id":"","seq":1,`+
	`"targets":{"device":""},"time":"20"}`+
	`{"action":"consent.withdrawn","actor":{"client_id":"","role":"subject"},"expires_at":"20","outcome":"withdrawn","payload_sha256":"",`+
	`"record_sha256":"","relies_on":1,"request_id":"","seq":1,"targets":{"device":"","notice":"","notice_version":"1","purpose":"",`+
	`"record":"","subject":""},"time":"20"}`+
	`{"action":"consent.recorded","actor":{"client_id":"","role":"app"},"expires_at":"20","outcome":"granted","payload_sha256":"",`+
	`"record_sha256":"","request_id":"","seq":1,"targets":{"device":"","notice":"","notice_version":"1","purpose":"","record":"","subject":""},"time":"20"}`+
	`{"action":"decision","actor":{"client_id":"","role":"service"},"outcome":"deny","reasons":["no_consent"],"record_sha256":"",`+
	`"request_id":"","seq":1,"targets":{"action":"use","decision":"","device":"","element":"","purpose":"","service":"","service_name":"","subject":""},"time":"20"}`+
	`{"action":"decision","actor":{"client_id":"","role":"service"},"outcome":"allow","record_sha256":"","relies_on":1,`+
	`"request_id":"","seq":1,"targets":{"action":"use","decision":"","device":"","element":"","purpose":"","service":"","service_name":"","subject":""},"time":"20"}`),
	[]byte(`{"action":"decision","actor":{"client_id":"`))

// packLeaf is leaf as audit_entries stores it.
func packLeaf(leaf []byte) []byte {
	if len(leaf) > leafPacker.max {
		return leaf
	}
	return leafPacker.pack(leaf)
}

// storedLeafOf is l's entry as audit_entries stores it.
func storedLeafOf(l privacy.AuditLeaf) []byte {
	if l.Stored != nil {
		return l.Stored
	}
	return packLeaf(l.Leaf)
}

// PackLeaf is leaf as audit_entries stores it, and UnpackLeaf the entry a
// stored value holds: for the audit writer, which packs a batch's entries
// on several goroutines (privacy.AuditLeaf.Stored), and for tools that
// read or edit the table directly, as the tests that play an operator
// changing the log do.
func PackLeaf(leaf []byte) []byte { return packLeaf(leaf) }

// UnpackLeaf is the entry that stored, a value of audit_entries.leaf,
// holds; an error for a value that begins with the version byte and does
// not unpack.
func UnpackLeaf(stored []byte) ([]byte, error) {
	if len(stored) > 0 && stored[0] == leafPacker.version {
		return leafPacker.unpack(stored)
	}
	return append([]byte(nil), stored...), nil
}

// storedLeaf scans audit_entries.leaf: a packed entry is unpacked as it is
// scanned; any other value is an entry as written before packing, read as
// it is (its JSON begins with "{", never a version byte). A value that
// begins with the version byte but does not unpack is read as it is
// stored too: an entry edited into bytes that are not an entry is named
// by the log's verification (its form, its hash), as it was before
// entries were packed, rather than failing every read of its page.
type storedLeaf []byte

// Scan implements sql.Scanner.
func (l *storedLeaf) Scan(src any) error {
	raw, err := scannedBytes(src, errPackedLeaf)
	if err != nil {
		return err
	}
	if len(raw) > 0 && raw[0] == leafPacker.version {
		if unpacked, err := leafPacker.unpack(raw); err == nil {
			*l = unpacked
			return nil
		}
	}
	// The driver may reuse raw's memory once Scan returns.
	*l = append((*l)[:0:0], raw...)
	return nil
}

// scannedBytes is a BLOB or BYTEA column's value as the driver gave it
// (SQLite may give text); anything else is errKind.
func scannedBytes(src any, errKind error) ([]byte, error) {
	switch v := src.(type) {
	case []byte:
		return v, nil
	case string:
		return []byte(v), nil
	default:
		return nil, fmt.Errorf("%w: a %T", errKind, src)
	}
}
