package store

import (
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/klauspost/compress/s2"
)

// A decision's steps are most of its row (about 575 of 1,000 bytes), and
// they are the same phrases every time: each decision's row stores them
// packed, an S2 block (github.com/klauspost/compress/s2) against a fixed
// dictionary of those phrases, about a third of their size. Every byte a
// decision writes is written twice (to the WAL, then by the checkpoint)
// and synced before its answer. The packed form starts with a version
// byte, which names the dictionary: a dictionary is never changed once
// rows were packed against it, only a new version added. Rows written
// before hold their steps as text in decisions.steps; both are read.

// stepsPackedV1 is the version byte of steps packed against stepsDictV1.
const stepsPackedV1 byte = 1

// maxUnpackedSteps bounds what a packed value may unpack to: a decision's
// steps are a few kilobytes at most, and a value edited in the database
// must not make a read allocate without bound.
const maxUnpackedSteps = 1 << 20

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

// packSteps is steps, a decision's canonical JSON steps, packed.
func packSteps(steps []byte) []byte {
	buf := make([]byte, 1+s2.MaxEncodedLen(len(steps)))
	buf[0] = stepsPackedV1
	return buf[:1+len(stepsDictV1.Encode(buf[1:], steps))]
}

// errPackedSteps is a packed value that does not unpack: the database was
// changed, or damaged. A read of it fails; nothing is served from it.
var errPackedSteps = errors.New("store: a decision's packed steps do not unpack")

// unpackSteps is the canonical JSON steps that packed holds.
func unpackSteps(packed []byte) ([]byte, error) {
	if len(packed) < 2 || packed[0] != stepsPackedV1 {
		return nil, fmt.Errorf("%w: unknown version", errPackedSteps)
	}
	n, err := s2.DecodedLen(packed[1:])
	if err != nil || n > maxUnpackedSteps {
		return nil, fmt.Errorf("%w: a length of %d", errPackedSteps, n)
	}
	out, err := stepsDictV1.Decode(make([]byte, n), packed[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPackedSteps, err)
	}
	return out, nil
}

// PackSteps is steps (canonical JSON) as InsertDecisions stores them, for
// a caller that packs them away from the single writer
// (DecisionRecord.PackedSteps).
func PackSteps(steps []byte) []byte { return packSteps(steps) }

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
	var raw []byte
	switch v := src.(type) {
	case nil:
		return nil
	case []byte:
		raw = v
	case string:
		raw = []byte(v)
	default:
		return fmt.Errorf("%w: a %T", errPackedSteps, src)
	}
	steps, err := unpackSteps(raw)
	if err != nil {
		return err
	}
	p.steps, p.ok = steps, true
	return nil
}

// packedValue binds a row's packed steps: NULL when there are none.
func packedValue(b []byte) driver.Value {
	if len(b) == 0 {
		return nil
	}
	return b
}
