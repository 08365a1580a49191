package audit

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Key files in the data directory.
const (
	signerKeyFile   = "audit-signer.key"
	verifierKeyFile = "audit-verifier.key"
	// legacyHMACKeyFile keyed subject pseudonyms before they were drawn
	// at random: AdoptLegacyPseudonyms consumes and destroys it.
	legacyHMACKeyFile = "audit-hmac.key"
)

// Keys are the audit log's secrets and its public verifier key.
type Keys struct {
	// Signer signs checkpoints; its name is the log's origin line.
	Signer note.Signer
	// VerifierKey is the public key in note text form (name+hash+base64).
	VerifierKey string
}

// Origin is the checkpoint origin line: the signer's name.
func (k Keys) Origin() string { return k.Signer.Name() }

// LoadOrCreateKeys reads the keys from dir, creating any that are missing
// (the signing key named origin). Secrets are written with mode 0600.
// Subjects are named by pseudonyms drawn at random (Log.Pseudonym), never
// by a keyed hash: no key can recompute an erased subject's pseudonym.
func LoadOrCreateKeys(dir, origin string) (Keys, error) {
	skeyPath, vkeyPath := filepath.Join(dir, signerKeyFile), filepath.Join(dir, verifierKeyFile)
	skey, err := os.ReadFile(skeyPath)
	if errors.Is(err, fs.ErrNotExist) {
		s, v, err := note.GenerateKey(rand.Reader, origin)
		if err != nil {
			return Keys{}, fmt.Errorf("audit: generate signing key for origin %q: %w", origin, err)
		}
		if err := writeFile(skeyPath, s+"\n", 0o600); err != nil {
			return Keys{}, err
		}
		if err := writeFile(vkeyPath, v+"\n", 0o644); err != nil {
			return Keys{}, err
		}
		skey = []byte(s)
	} else if err != nil {
		return Keys{}, fmt.Errorf("audit: read signing key: %w", err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return Keys{}, fmt.Errorf("audit: signing key %s: %w", skeyPath, err)
	}
	vkey, err := os.ReadFile(vkeyPath)
	if err != nil {
		return Keys{}, fmt.Errorf("audit: read verifier key: %w", err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil || verifier.Name() != signer.Name() || verifier.KeyHash() != signer.KeyHash() {
		return Keys{}, fmt.Errorf("audit: %s does not belong to %s", vkeyPath, skeyPath)
	}

	return Keys{Signer: signer, VerifierKey: strings.TrimSpace(string(vkey))}, nil
}

// writeFile creates path with content and mode, refusing to overwrite: a
// key is never silently replaced.
func writeFile(path, content string, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("audit: create %s: %w", path, err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return fmt.Errorf("audit: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("audit: write %s: %w", path, err)
	}
	return f.Close()
}
