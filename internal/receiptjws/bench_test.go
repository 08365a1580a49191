package receiptjws_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/consentry/consentry/internal/receiptjws"
	"github.com/go-jose/go-jose/v4"
)

// BenchmarkSign is what signing a receipt costs with jwx (alg Ed25519)
// beside go-jose (alg EdDSA, what signed receipts before), on a payload
// of a receipt's size. Run: go test -run '^$' -bench Sign -benchmem ./internal/receiptjws/
func BenchmarkSign(b *testing.B) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 2500)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	b.Run("jwx-Ed25519", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := receiptjws.Sign(key, "kid", payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-jose-EdDSA", func(b *testing.B) {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: key, KeyID: "kid"}}, (&jose.SignerOptions{}).WithType("consent-receipt+jws"))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			obj, err := signer.Sign(payload)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := obj.CompactSerialize(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
