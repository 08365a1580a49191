package receiptjws_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/receiptjws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// compact builds a compact JWS by hand with header hdr, signed by sign.
func compact(t *testing.T, hdr map[string]any, payload string, sign func([]byte) []byte) string {
	t.Helper()
	raw, err := json.Marshal(hdr)
	require.NoError(t, err)
	input := b64(raw) + "." + b64([]byte(payload))
	return input + "." + b64(sign([]byte(input)))
}

// TestSignIsRFC9864 checks what Sign writes with crypto/ed25519 alone:
// the header is alg Ed25519 with kid and typ, the signature is Ed25519
// over the first two parts.
func TestSignIsRFC9864(t *testing.T) {
	pub, private, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	jws, err := receiptjws.Sign(private, "k1", []byte(`{"a":1}`))
	require.NoError(t, err)
	parts := strings.Split(jws, ".")
	require.Len(t, parts, 3)
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	require.NoError(t, err)
	assert.JSONEq(t, `{"alg":"Ed25519","kid":"k1","typ":"consent-receipt+jws"}`, string(hdr))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	require.NoError(t, err)
	assert.True(t, ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig))

	payload, err := receiptjws.Verify(jws, pub)
	require.NoError(t, err)
	assert.Equal(t, `{"a":1}`, string(payload))
	h, err := receiptjws.Parse(jws)
	require.NoError(t, err)
	assert.Equal(t, receiptjws.Header{Alg: "Ed25519", KID: "k1"}, h)
}

// TestVerifyRefuses: only an Ed25519 signature by the key, under either
// name of the algorithm, verifies.
func TestVerifyRefuses(t *testing.T) {
	pub, private, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	otherPub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	ed := func(b []byte) []byte { return ed25519.Sign(private, b) }

	legacy := compact(t, map[string]any{"alg": "EdDSA", "kid": "k1"}, `{"x":1}`, ed)
	payload, err := receiptjws.Verify(legacy, pub)
	require.NoError(t, err, "receipts issued with alg EdDSA keep verifying")
	assert.Equal(t, `{"x":1}`, string(payload))

	good, err := receiptjws.Sign(private, "k1", []byte(`{"x":1}`))
	require.NoError(t, err)
	parts := strings.Split(good, ".")
	for name, jws := range map[string]string{
		// The public key used as an HMAC secret: the classic confusion.
		"HS256 with the public key": compact(t, map[string]any{"alg": "HS256", "kid": "k1"}, `{"x":1}`, func(b []byte) []byte {
			m := hmac.New(sha256.New, pub)
			m.Write(b)
			return m.Sum(nil)
		}),
		"alg none": compact(t, map[string]any{"alg": "none", "kid": "k1"}, `{"x":1}`, func([]byte) []byte { return nil }),
		"an Ed25519 signature under another alg name": compact(t, map[string]any{"alg": "ES256", "kid": "k1"}, `{"x":1}`, ed),
		"another payload":    parts[0] + "." + b64([]byte(`{"x":2}`)) + "." + parts[2],
		"no signature":       parts[0] + "." + parts[1] + ".",
		"JSON serialization": `{"payload":"` + parts[1] + `","signatures":[{"protected":"` + parts[0] + `","signature":"` + parts[2] + `"},{"protected":"` + parts[0] + `","signature":"` + parts[2] + `"}]}`,
		"not a JWS":          "receipt",
	} {
		_, perr := receiptjws.Parse(jws)
		_, verr := receiptjws.Verify(jws, pub)
		assert.Error(t, verr, name)
		if name != "another payload" && name != "no signature" {
			assert.Error(t, perr, "%s: refused before any key is looked up", name)
		}
	}
	_, err = receiptjws.Verify(good, otherPub)
	assert.Error(t, err, "another key")
	_, err = receiptjws.Verify(good, ed25519.PublicKey("short"))
	assert.Error(t, err, "not a key")
}
