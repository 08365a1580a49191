package webhooksig_test

import (
	"testing"
	"time"

	"github.com/consentry/consentry/api/webhooksig"
	"github.com/stretchr/testify/assert"
)

func TestSignAndVerify(t *testing.T) {
	secret, body := []byte("a-secret-of-32-characters-or-more!"), []byte(`{"id":"e1","kind":"consent.withdrawn"}`)
	at := time.Unix(1_800_000_000, 0)
	h := webhooksig.Sign(secret, at, body)
	assert.Regexp(t, `^t=1800000000,v1=[0-9a-f]{64}$`, h)

	assert.NoError(t, webhooksig.Verify(secret, h, body, at.Add(4*time.Minute), webhooksig.DefaultTolerance))
	// A second signature (made with a rotated secret) is accepted alongside.
	other := webhooksig.Sign([]byte("the-new-secret-of-32-characters-or-more"), at, body)
	assert.NoError(t, webhooksig.Verify(secret, other+","+h[len("t=1800000000,"):], body, at, webhooksig.DefaultTolerance))

	for name, c := range map[string]struct {
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		"altered body":       {h, []byte(`{"id":"e1","kind":"consent.granted"}`), at, webhooksig.ErrMismatch},
		"replayed later":     {h, body, at.Add(6 * time.Minute), webhooksig.ErrStale},
		"from the future":    {h, body, at.Add(-6 * time.Minute), webhooksig.ErrStale},
		"no header":          {"", body, at, webhooksig.ErrMissing},
		"no signature":       {"t=1800000000", body, at, webhooksig.ErrMalformed},
		"no timestamp":       {"v1=00", body, at, webhooksig.ErrMalformed},
		"garbage":            {"hello", body, at, webhooksig.ErrMalformed},
		"timestamp moved on": {"t=1800000001," + h[len("t=1800000000,"):], body, at, webhooksig.ErrMismatch},
	} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, webhooksig.Verify(secret, c.header, c.body, c.now, webhooksig.DefaultTolerance), c.want)
		})
	}
	assert.ErrorIs(t, webhooksig.Verify([]byte("another-secret-of-32-characters-or-more"), h, body, at, webhooksig.DefaultTolerance), webhooksig.ErrMismatch)
}
