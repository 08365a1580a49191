package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/consentry/consentry/internal/store"
)

// AdoptLegacyPseudonyms brings subjects from before random pseudonyms
// under the scheme. Their entries name them by HMAC-SHA256 under the key
// in dir's audit-hmac.key; each subject that rows still hold gets that
// HMAC as its pseudonym (so its entries stay its own), then the key file
// is overwritten and removed (the SQLite file is vacuumed first, see
// below): with it gone, an erased subject's old
// entries can no more be traced back to them than its new ones. Without
// the file there is nothing to do. It returns how many subjects it
// adopted. Run it before the log starts; a second run after a crash
// between the two steps adopts nothing new and removes the file.
func AdoptLegacyPseudonyms(ctx context.Context, db *store.DB, dir string) (int, error) {
	path := filepath.Join(dir, legacyHMACKeyFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("audit: read %s: %w", path, err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(key) < 32 {
		return 0, fmt.Errorf("audit: %s is not a 32-byte hex key", path)
	}
	n := 0
	err = db.Transact(ctx, func(tx *store.Tx) error {
		subjects, err := tx.SubjectsWithoutPseudonym()
		if err != nil {
			return err
		}
		pairs := make(map[string]string, len(subjects))
		for _, s := range subjects {
			m := hmac.New(sha256.New, key)
			m.Write([]byte(s))
			pairs[s] = hex.EncodeToString(m.Sum(nil))
		}
		n, err = tx.AdoptPseudonyms(pairs)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("audit: adopt legacy pseudonyms: %w", err)
	}
	// Written before secure_delete, the database's free space may still
	// hold subject ids its rows no longer do: an erasure could not reach
	// them. Rewritten once, it holds only what its rows hold.
	if err := db.Vacuum(ctx); err != nil {
		return 0, err
	}
	if err := destroy(path, len(raw)); err != nil {
		return n, err
	}
	return n, nil
}

// destroy overwrites the file at path (size bytes) with zeros, syncs it,
// and removes it.
func destroy(path string, size int) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("audit: destroy %s: %w", path, err)
	}
	if _, err := f.Write(make([]byte, size)); err != nil {
		f.Close()
		return fmt.Errorf("audit: destroy %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("audit: destroy %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("audit: destroy %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("audit: destroy %s: %w", path, err)
	}
	return nil
}
