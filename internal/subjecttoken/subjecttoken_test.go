package subjecttoken_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/subjecttoken"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMintAndCheck(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	i, err := subjecttoken.New(key, "consentry/a")
	require.NoError(t, err)
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	tok, exp, err := i.Mint("app-1", "alice", now, 10*time.Minute)
	require.NoError(t, err)
	assert.True(t, subjecttoken.LooksLike(tok))
	assert.False(t, subjecttoken.LooksLike("cst_abc.def.ghi"))
	c, err := i.Check(tok, now.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, subjecttoken.Claims{Subject: "alice", AppID: "app-1", Expires: exp}, c)

	_, err = i.Check(tok, exp.Add(time.Second))
	assert.Error(t, err, "expired")
	other, err := subjecttoken.New(key, "consentry/b")
	require.NoError(t, err)
	_, err = other.Check(tok, now)
	assert.Error(t, err, "another deployment's audience")
	otherKey, err := subjecttoken.New(bytes.Repeat([]byte{8}, 32), "consentry/a")
	require.NoError(t, err)
	_, err = otherKey.Check(tok, now)
	assert.Error(t, err, "another key")
	_, _, err = i.Mint("app-1", "alice", now, time.Hour+time.Second)
	assert.Error(t, err)
	_, err = subjecttoken.New([]byte("short"), "x")
	assert.Error(t, err)

	dir := t.TempDir()
	a, err := subjecttoken.LoadOrCreate(dir, "consentry/a")
	require.NoError(t, err)
	b, err := subjecttoken.LoadOrCreate(dir, "consentry/a")
	require.NoError(t, err)
	tok, _, err = a.Mint("app-1", "bob", time.Now(), time.Minute)
	require.NoError(t, err)
	_, err = b.Check(tok, time.Now())
	assert.NoError(t, err, "instances sharing the data directory share the key")
}
