package consent

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/consentry/consentry/internal/receiptjws"
	"github.com/go-jose/go-jose/v4"
)

// Keys are the receipt signing keys: Ed25519, kept in a file outside the
// database (mode 0600). The newest signs; every older one stays in the
// JWKS so that receipts signed before a rotation still verify. Receipts
// are signed with alg Ed25519 (RFC 9864); a key from a file written before
// that (its entry names no algs) also signed receipts with alg EdDSA, and
// the JWKS lists it once under each name.
type Keys struct {
	path  string
	mu    sync.RWMutex
	keys  []signingKey // oldest first
	mtime time.Time
}

type signingKey struct {
	kid     string
	created time.Time
	private ed25519.PrivateKey
	// algs are the algorithms the key has signed receipts with.
	algs []string
}

// keyFile is the file's shape.
type keyFile struct {
	Keys []fileKey `json:"keys"`
}

type fileKey struct {
	KID     string    `json:"kid"`
	Created time.Time `json:"created"`
	Seed    string    `json:"seed"`
	// Algs is absent in files written before receipts were signed with
	// Ed25519: such a key signed with EdDSA, and with Ed25519 since.
	Algs []string `json:"algs,omitempty"`
}

// legacyAlgs are the algorithms of a key whose entry names none.
var legacyAlgs = []string{receiptjws.LegacyAlg, receiptjws.Alg}

// OpenKeys loads the key file at path, creating it with one key if missing.
func OpenKeys(path string) (*Keys, error) {
	k := &Keys{path: path}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if _, err := k.Rotate(); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err := k.load(); err != nil {
		return nil, err
	}
	return k, nil
}

// newSigningKey names private by its RFC 7638 thumbprint, which covers
// the key alone (not its alg), so a kid never changes.
func newSigningKey(private ed25519.PrivateKey, created time.Time, algs []string) (signingKey, error) {
	jwk := jose.JSONWebKey{Key: private.Public(), Use: "sig"}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return signingKey{}, fmt.Errorf("consent: key thumbprint: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	return signingKey{kid: kid, created: created.UTC(), private: private, algs: algs}, nil
}

func (k *Keys) load() error {
	raw, err := os.ReadFile(k.path)
	if err != nil {
		return fmt.Errorf("consent: receipt keys: %w", err)
	}
	st, err := os.Stat(k.path)
	if err != nil {
		return fmt.Errorf("consent: receipt keys: %w", err)
	}
	var f keyFile
	if err := json.Unmarshal(raw, &f); err != nil || len(f.Keys) == 0 {
		return fmt.Errorf("consent: %s is not a receipt key file", k.path)
	}
	keys := make([]signingKey, 0, len(f.Keys))
	for _, fk := range f.Keys {
		seed, err := base64.StdEncoding.DecodeString(fk.Seed)
		if err != nil || len(seed) != ed25519.SeedSize {
			return fmt.Errorf("consent: %s: key %s is not an Ed25519 seed", k.path, fk.KID)
		}
		algs := fk.Algs
		if len(algs) == 0 {
			algs = legacyAlgs
		}
		for _, a := range algs {
			if a != receiptjws.Alg && a != receiptjws.LegacyAlg {
				return fmt.Errorf("consent: %s: key %s names algorithm %q; receipts use %s", k.path, fk.KID, a, receiptjws.Alg)
			}
		}
		sk, err := newSigningKey(ed25519.NewKeyFromSeed(seed), fk.Created, algs)
		if err != nil {
			return err
		}
		if sk.kid != fk.KID {
			return fmt.Errorf("consent: %s: key %s does not match its kid", k.path, fk.KID)
		}
		keys = append(keys, sk)
	}
	k.mu.Lock()
	k.keys, k.mtime = keys, st.ModTime()
	k.mu.Unlock()
	return nil
}

// Reload reads the file again if it changed since it was read (a rotation
// by another process, `consentry keys rotate`).
func (k *Keys) Reload() error {
	st, err := os.Stat(k.path)
	if err != nil {
		return fmt.Errorf("consent: receipt keys: %w", err)
	}
	k.mu.RLock()
	same := st.ModTime().Equal(k.mtime)
	k.mu.RUnlock()
	if same {
		return nil
	}
	return k.load()
}

// Rotate adds a new signing key, which signs from now on, and returns its
// kid. The file is replaced atomically.
func (k *Keys) Rotate() (string, error) {
	_, private, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("consent: generate key: %w", err)
	}
	sk, err := newSigningKey(private, time.Now(), []string{receiptjws.Alg})
	if err != nil {
		return "", err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	keys := append(append([]signingKey(nil), k.keys...), sk)
	var f keyFile
	for _, key := range keys {
		f.Keys = append(f.Keys, fileKey{KID: key.kid, Created: key.created, Seed: base64.StdEncoding.EncodeToString(key.private.Seed()), Algs: key.algs})
	}
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return "", fmt.Errorf("consent: receipt keys: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(k.path), ".receipt-keys-*")
	if err != nil {
		return "", fmt.Errorf("consent: receipt keys: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return "", fmt.Errorf("consent: receipt keys: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("consent: receipt keys: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("consent: receipt keys: %w", err)
	}
	if err := os.Rename(tmp.Name(), k.path); err != nil {
		return "", fmt.Errorf("consent: receipt keys: %w", err)
	}
	st, err := os.Stat(k.path)
	if err != nil {
		return "", fmt.Errorf("consent: receipt keys: %w", err)
	}
	k.keys, k.mtime = keys, st.ModTime()
	return sk.kid, nil
}

// current is the signing key.
func (k *Keys) current() signingKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys[len(k.keys)-1]
}

// CurrentKID is the kid that signs now.
func (k *Keys) CurrentKID() string { return k.current().kid }

// CurrentCreated is when the current signing key was made, to know when
// it is due for rotation.
func (k *Keys) CurrentCreated() time.Time { return k.current().created }

// Sign signs payload as a compact JWS (alg Ed25519) with the current
// key's kid.
func (k *Keys) Sign(payload []byte) (string, error) {
	cur := k.current()
	jws, err := receiptjws.Sign(cur.private, cur.kid, payload)
	if err != nil {
		return "", fmt.Errorf("consent: sign receipt: %w", err)
	}
	return jws, nil
}

// JWKS is every public key, newest first, once for each algorithm it
// signed with (Ed25519 first): verifiers that match a JWK's alg to the
// receipt's (as RFC 7517 lets them) find the key for old EdDSA receipts
// too. The entries of one key share its kid and key material.
func (k *Keys) JWKS() jose.JSONWebKeySet {
	k.mu.RLock()
	defer k.mu.RUnlock()
	set := jose.JSONWebKeySet{}
	for i := len(k.keys) - 1; i >= 0; i-- {
		key := k.keys[i]
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: key.private.Public(), KeyID: key.kid, Algorithm: receiptjws.Alg, Use: "sig"})
		if slices.Contains(key.algs, receiptjws.LegacyAlg) {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: key.private.Public(), KeyID: key.kid, Algorithm: receiptjws.LegacyAlg, Use: "sig"})
		}
	}
	return set
}
