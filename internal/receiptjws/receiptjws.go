// Package receiptjws signs and verifies consent receipts as compact JWS
// (RFC 7515) with Ed25519 keys. Receipts are signed with the
// fully-specified algorithm `Ed25519` of RFC 9864; receipts issued before
// it carry the polymorphic `EdDSA`, which is the same Ed25519 signature
// under its deprecated name, and keep verifying.
//
// It uses lestrrat-go/jwx because go-jose (which the rest of Consentry
// uses for JWTs and key sets) knows only `EdDSA`.
package receiptjws

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

const (
	// Alg is the algorithm receipts are signed with (RFC 9864 §2.2).
	Alg = "Ed25519"
	// LegacyAlg is the algorithm of receipts issued before Alg: the same
	// signature, named polymorphically (RFC 8037), deprecated by RFC 9864.
	LegacyAlg = "EdDSA"
	// Type is the receipts' `typ` header.
	Type = "consent-receipt+jws"
)

// Sign returns payload signed by key as a compact JWS with alg Ed25519,
// kid and typ in the protected header.
func Sign(key ed25519.PrivateKey, kid string, payload []byte) (string, error) {
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, kid); err != nil {
		return "", fmt.Errorf("receiptjws: %w", err)
	}
	if err := hdr.Set(jws.TypeKey, Type); err != nil {
		return "", fmt.Errorf("receiptjws: %w", err)
	}
	out, err := jws.Sign(payload, jws.WithKey(jwa.EdDSAEd25519(), key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("receiptjws: sign: %w", err)
	}
	return string(out), nil
}

// Header is what a receipt's protected header names.
type Header struct {
	Alg, KID string
}

// Parse reads a receipt's protected header without verifying it, so that
// the caller can find the key its kid names. It refuses anything but one
// compact signature with alg Ed25519 or EdDSA.
func Parse(compact string) (Header, error) {
	msg, err := jws.ParseString(compact, jws.WithCompact())
	if err != nil {
		return Header{}, errors.New("not a compact JWS")
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return Header{}, errors.New("must carry exactly one signature")
	}
	h := sigs[0].ProtectedHeaders()
	alg, _ := h.Algorithm()
	kid, _ := h.KeyID()
	if a := alg.String(); a != Alg && a != LegacyAlg {
		return Header{}, fmt.Errorf("signed with %q; receipts are signed with %s (or %s before RFC 9864)", a, Alg, LegacyAlg)
	}
	return Header{Alg: alg.String(), KID: kid}, nil
}

// Verify checks compact's Ed25519 signature with key and returns its
// payload. Either name of the algorithm is accepted; nothing else is.
func Verify(compact string, key ed25519.PublicKey) ([]byte, error) {
	if len(key) != ed25519.PublicKeySize {
		return nil, errors.New("not an Ed25519 public key")
	}
	if _, err := Parse(compact); err != nil {
		return nil, err
	}
	payload, err := jws.Verify([]byte(compact), jws.WithKey(jwa.EdDSAEd25519(), key), jws.WithKey(jwa.EdDSA(), key))
	if err != nil {
		return nil, errors.New("the signature does not verify")
	}
	return payload, nil
}
