package notice_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func shownWith(hash, body string) notice.Shown {
	text := privacy.NoticeText{Title: "How we use your data", Body: body}
	return notice.Shown{Locale: "en", Text: text, Version: privacy.NoticeVersion{Version: 1, ContentHash: hash, PublishedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		Content: privacy.NoticeContent{Controller: privacy.Controller{Name: "Acme", Contact: "privacy@acme.example"},
			Texts: map[string]privacy.NoticeText{"en": text}}}}
}

// TestPagesRenderAsRenderPage: a kept page is byte for byte the page
// RenderPage writes, on the first request and after.
func TestPagesRenderAsRenderPage(t *testing.T) {
	shown := shownWith("h1", "We **record** trips.\n\n<script>alert(1)</script>")
	var want bytes.Buffer
	require.NoError(t, notice.RenderPage(&want, shown))
	p := notice.NewPages(0)
	for range 2 {
		var got bytes.Buffer
		require.NoError(t, p.Render(&got, shown))
		assert.Equal(t, want.String(), got.String())
	}
	assert.NotContains(t, want.String(), "<script>")
}

// TestPagesStayWithinTheirBytes: many versions' pages keep at most the
// configured bytes of HTML, and a page larger than that is still served.
func TestPagesStayWithinTheirBytes(t *testing.T) {
	const max = 64 << 10
	p := notice.NewPages(max)
	for i := range 200 {
		var out bytes.Buffer
		require.NoError(t, p.Render(&out, shownWith(fmt.Sprint(i), strings.Repeat("word ", 1000))))
		assert.LessOrEqual(t, p.Bytes(), int64(max))
	}
	assert.Greater(t, p.Bytes(), int64(max/2), "the cache is used")
	var out bytes.Buffer
	require.NoError(t, p.Render(&out, shownWith("huge", strings.Repeat("word ", 20000))))
	assert.Contains(t, out.String(), "word word")
	assert.LessOrEqual(t, p.Bytes(), int64(max))
}

// BenchmarkNoticePagePathological: a published body of 49,000 nested
// quote markers costs its conversion once; every later request is the
// template alone. Run: make bench.
func BenchmarkNoticePagePathological(b *testing.B) {
	shown := shownWith("pathological", strings.Repeat("> ", 49000))
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			var out bytes.Buffer
			if err := notice.NewPages(0).Render(&out, shown); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		p := notice.NewPages(0)
		var out bytes.Buffer
		if err := p.Render(&out, shown); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			out.Reset()
			if err := p.Render(&out, shown); err != nil {
				b.Fatal(err)
			}
		}
	})
}
