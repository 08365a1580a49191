package webhooksig_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/api/webhooksig"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTheSpecificationsExample signs the Standard Webhooks example (the
// specification's libraries test the same vector) and gets its signature.
func TestTheSpecificationsExample(t *testing.T) {
	got := webhooksig.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	assert.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", got)
}

func headers(secret, id string, at time.Time, body []byte) http.Header {
	h := http.Header{}
	webhooksig.SetHeaders(h, secret, id, at, body)
	return h
}

func TestSignAndVerify(t *testing.T) {
	secret, err := webhooksig.NewSecret()
	require.NoError(t, err)
	require.True(t, webhooksig.IsStandardSecret(secret), secret)
	body := []byte(`{"id":"e1","kind":"consent.withdrawn"}`)
	at := time.Unix(1_800_000_000, 0)
	h := headers(secret, "e1", at, body)
	assert.Equal(t, "e1", h.Get("webhook-id"))
	assert.Equal(t, "1800000000", h.Get("webhook-timestamp"))
	assert.Regexp(t, `^v1,[A-Za-z0-9+/]{43}=$`, h.Get("webhook-signature"))

	assert.NoError(t, webhooksig.Verify(secret, h, body, at.Add(4*time.Minute), webhooksig.DefaultTolerance))
	// While a secret is rotated, signatures by both are sent, space-separated;
	// a scheme this package does not know (v1a) is passed over.
	other, err := webhooksig.NewSecret()
	require.NoError(t, err)
	rotated := h.Clone()
	rotated.Set("webhook-signature", "v1a,AAAA "+webhooksig.Sign(other, "e1", at, body)+" "+h.Get("webhook-signature"))
	assert.NoError(t, webhooksig.Verify(secret, rotated, body, at, webhooksig.DefaultTolerance))

	with := func(k, v string) http.Header {
		c := h.Clone()
		if v == "" {
			c.Del(k)
		} else {
			c.Set(k, v)
		}
		return c
	}
	for name, c := range map[string]struct {
		h    http.Header
		body []byte
		now  time.Time
		want error
	}{
		"altered body":           {h, []byte(`{"id":"e1","kind":"consent.granted"}`), at, webhooksig.ErrMismatch},
		"replayed later":         {h, body, at.Add(6 * time.Minute), webhooksig.ErrStale},
		"from the future":        {h, body, at.Add(-6 * time.Minute), webhooksig.ErrStale},
		"another id":             {with("webhook-id", "e2"), body, at, webhooksig.ErrMismatch},
		"timestamp moved on":     {with("webhook-timestamp", "1800000001"), body, at, webhooksig.ErrMismatch},
		"no id":                  {with("webhook-id", ""), body, at, webhooksig.ErrMissing},
		"no timestamp":           {with("webhook-timestamp", ""), body, at, webhooksig.ErrMissing},
		"no signature":           {with("webhook-signature", ""), body, at, webhooksig.ErrMissing},
		"timestamp not a number": {with("webhook-timestamp", "soon"), body, at, webhooksig.ErrMalformed},
		"garbage signature":      {with("webhook-signature", "hello"), body, at, webhooksig.ErrMalformed},
		"only another scheme":    {with("webhook-signature", "v1a,AAAA"), body, at, webhooksig.ErrMalformed},
		"another secret":         {headers(other, "e1", at, body), body, at, webhooksig.ErrMismatch},
	} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, webhooksig.Verify(secret, c.h, c.body, c.now, webhooksig.DefaultTolerance), c.want)
		})
	}
}

// TestTheSpecificationsLibraryAgrees: what Sign writes, the Standard
// Webhooks Go library verifies, and what that library signs, Verify
// accepts; for a secret from before Consentry followed the specification
// too, which the library takes as a raw key.
func TestTheSpecificationsLibraryAgrees(t *testing.T) {
	standard, err := webhooksig.NewSecret()
	require.NoError(t, err)
	legacy := "whsec_q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c" // base64url without padding: not standard
	require.False(t, webhooksig.IsStandardSecret(legacy))
	body := []byte(`{"id":"0193a4f2-0000-7000-8000-000000000001","kind":"consent.granted"}`)
	now := time.Now()
	for name, c := range map[string]struct {
		secret string
		lib    func() (*standardwebhooks.Webhook, error)
	}{
		"standard": {standard, func() (*standardwebhooks.Webhook, error) { return standardwebhooks.NewWebhook(standard) }},
		"legacy":   {legacy, func() (*standardwebhooks.Webhook, error) { return standardwebhooks.NewWebhookRaw([]byte(legacy)) }},
	} {
		t.Run(name, func(t *testing.T) {
			lib, err := c.lib()
			require.NoError(t, err)
			h := headers(c.secret, "0193a4f2-0000-7000-8000-000000000001", now, body)
			require.NoError(t, lib.Verify(body, h))
			require.Error(t, lib.Verify(append([]byte(" "), body...), h), "one more byte")

			theirs, err := lib.Sign("msg_1", now, body)
			require.NoError(t, err)
			h = http.Header{}
			h.Set("webhook-id", "msg_1")
			h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
			h.Set("webhook-signature", theirs)
			assert.NoError(t, webhooksig.Verify(c.secret, h, body, now, webhooksig.DefaultTolerance))
		})
	}
}

// TestSecrets: a standard secret is "whsec_" and the standard base64 of 24
// to 64 bytes; its key is those bytes. Anything else is its own key.
func TestSecrets(t *testing.T) {
	assert.True(t, webhooksig.IsStandardSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
	assert.Len(t, webhooksig.Key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), 24)
	assert.False(t, webhooksig.IsStandardSecret("whsec_"+strings.Repeat("A", 88)), "66 bytes: more than the specification's 64")
	assert.False(t, webhooksig.IsStandardSecret("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "21 bytes: fewer than 24")
	assert.False(t, webhooksig.IsStandardSecret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "no prefix")
	assert.False(t, webhooksig.IsStandardSecret("whsec_q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c"), "base64url without padding")
	assert.Equal(t, []byte("an old secret of 32 characters!!"), webhooksig.Key("an old secret of 32 characters!!"))
}

// TestLegacySignature: the deprecated Consentry-Signature header keeps its
// format for receivers written against it.
func TestLegacySignature(t *testing.T) {
	// printf '1800000000.{}' | openssl dgst -sha256 -hmac a-secret
	assert.Equal(t, "t=1800000000,v1=51a702777521fdb998fe027a043594fc3d1622670a609ae3202b988cc08bf2c1",
		webhooksig.SignLegacy("a-secret", time.Unix(1_800_000_000, 0), []byte(`{}`)))
}
