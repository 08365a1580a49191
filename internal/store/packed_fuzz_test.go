package store_test

import (
	"bytes"
	"testing"

	"github.com/consentry/consentry/internal/store"
)

// FuzzPacked: any bytes, packed as steps or as an entry, unpack to
// themselves; any bytes unpacked as either never panic, and a stored
// entry that does not unpack is refused by UnpackLeaf only when it
// begins with the version byte.
func FuzzPacked(f *testing.F) {
	f.Add([]byte(allowSteps))
	f.Add(store.PackLeaf([]byte(`{"action":"purpose.put","seq":1}`)))
	f.Add(store.PackSteps([]byte(allowSteps)))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, err := store.UnpackLeaf(store.PackLeaf(b)); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("an entry packed did not unpack to itself: %v", err)
		}
		if got, err := store.UnpackSteps(store.PackSteps(b)); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("steps packed did not unpack to themselves: %v", err)
		}
		_, _ = store.UnpackSteps(b)
		if _, err := store.UnpackLeaf(b); err != nil && (len(b) == 0 || b[0] != 1) {
			t.Fatalf("a value without the version byte was refused: %v", err)
		}
	})
}
