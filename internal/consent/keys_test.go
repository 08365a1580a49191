package consent_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/consent"
	"github.com/consentry/consentry/internal/receiptjws"
	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jwksAlgs lists the JWKS's entries as kid/alg.
func jwksAlgs(t *testing.T, k *consent.Keys) []string {
	t.Helper()
	var out []string
	for _, key := range k.JWKS().Keys {
		out = append(out, key.KeyID+"/"+key.Algorithm)
	}
	return out
}

// TestKeysFromBeforeRFC9864 opens a key file written before receipts were
// signed with alg Ed25519 (its entry names no algs): the key now signs
// Ed25519, the JWKS lists it under both names so that its old EdDSA
// receipts keep verifying with verifiers that match alg, and a rotation
// keeps that while the new key is listed as Ed25519 only.
func TestKeysFromBeforeRFC9864(t *testing.T) {
	_, private, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	tp, err := (&jose.JSONWebKey{Key: private.Public()}).Thumbprint(crypto.SHA256)
	require.NoError(t, err)
	kid := base64.RawURLEncoding.EncodeToString(tp)
	path := filepath.Join(t.TempDir(), "receipt-keys.json")
	legacy := map[string]any{"keys": []map[string]any{{"kid": kid, "created": time.Now().Add(-time.Hour), "seed": base64.StdEncoding.EncodeToString(private.Seed())}}}
	raw, err := json.Marshal(legacy)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, raw, 0o600))

	keys, err := consent.OpenKeys(path)
	require.NoError(t, err)
	assert.Equal(t, []string{kid + "/Ed25519", kid + "/EdDSA"}, jwksAlgs(t, keys))

	// A receipt signed before, by go-jose with alg EdDSA, still verifies.
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: private, KeyID: kid}}, (&jose.SignerOptions{}).WithType("consent-receipt+jws"))
	require.NoError(t, err)
	obj, err := signer.Sign([]byte(`{"old":true}`))
	require.NoError(t, err)
	old, err := obj.CompactSerialize()
	require.NoError(t, err)
	hdr, err := receiptjws.Parse(old)
	require.NoError(t, err)
	assert.Equal(t, receiptjws.Header{Alg: "EdDSA", KID: kid}, hdr)
	payload, err := receiptjws.Verify(old, private.Public().(ed25519.PublicKey))
	require.NoError(t, err)
	assert.JSONEq(t, `{"old":true}`, string(payload))

	// What it signs now is Ed25519.
	now, err := keys.Sign([]byte(`{"new":true}`))
	require.NoError(t, err)
	hdr, err = receiptjws.Parse(now)
	require.NoError(t, err)
	assert.Equal(t, receiptjws.Header{Alg: "Ed25519", KID: kid}, hdr)

	newKID, err := keys.Rotate()
	require.NoError(t, err)
	reopened, err := consent.OpenKeys(path)
	require.NoError(t, err)
	want := []string{newKID + "/Ed25519", kid + "/Ed25519", kid + "/EdDSA"}
	assert.Equal(t, want, jwksAlgs(t, keys))
	assert.Equal(t, want, jwksAlgs(t, reopened), "the file keeps which key signed EdDSA")
}

// TestKeysRefuseAnotherAlgorithm: a key file naming an algorithm receipts
// are not signed with is refused, not half-used.
func TestKeysRefuseAnotherAlgorithm(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receipt-keys.json")
	keys, err := consent.OpenKeys(path)
	require.NoError(t, err)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var f map[string][]map[string]any
	require.NoError(t, json.Unmarshal(raw, &f))
	assert.Equal(t, []any{"Ed25519"}, f["keys"][0]["algs"], "a new key signs Ed25519 only")
	assert.Equal(t, []string{keys.CurrentKID() + "/Ed25519"}, jwksAlgs(t, keys))
	f["keys"][0]["algs"] = []string{"HS256"}
	raw, err = json.Marshal(f)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, raw, 0o600))
	_, err = consent.OpenKeys(path)
	require.ErrorContains(t, err, `names algorithm "HS256"`)
}
