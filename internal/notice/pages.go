package notice

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Pages renders notice pages, keeping each published version's Markdown,
// converted to HTML, per locale: a version never changes once published,
// and a hostile body (tens of thousands of nested quotes) costs a second
// to convert, so it is converted once. The kept HTML is bounded in bytes;
// the least recently shown goes first.
type Pages struct {
	mu       sync.Mutex
	cache    *lru.Cache[pageKey, template.HTML]
	size     int64
	maxBytes int64
}

type pageKey struct{ hash, locale string }

// DefaultPageCacheBytes is how much converted Markdown Pages keeps.
const DefaultPageCacheBytes = 32 << 20

// NewPages returns Pages keeping up to maxBytes of converted Markdown
// (DefaultPageCacheBytes when maxBytes <= 0).
func NewPages(maxBytes int64) *Pages {
	if maxBytes <= 0 {
		maxBytes = DefaultPageCacheBytes
	}
	p := &Pages{maxBytes: maxBytes}
	// The entry count is not the bound (bytes are); it only has to be
	// larger than any number of pages that fit.
	// NewWithEvict fails only for a size <= 0. The callback runs inside
	// Add and RemoveOldest, which are called with mu held.
	p.cache, _ = lru.NewWithEvict(1<<16, func(_ pageKey, v template.HTML) { p.size -= int64(len(v)) })
	return p
}

// Render writes shown as RenderPage does, converting its Markdown at most
// once per version and locale while it stays in the cache.
func (p *Pages) Render(w io.Writer, shown Shown) error {
	body, err := p.body(shown)
	if err != nil {
		return err
	}
	return renderPage(w, shown, body)
}

func (p *Pages) body(shown Shown) (template.HTML, error) {
	k := pageKey{hash: shown.Version.ContentHash, locale: shown.Locale}
	p.mu.Lock()
	body, ok := p.cache.Get(k)
	p.mu.Unlock()
	if ok {
		return body, nil
	}
	body, err := convert(shown.Text.Body)
	if err != nil {
		return "", err
	}
	if int64(len(body)) > p.maxBytes {
		return body, nil // larger than the whole cache: served, not kept
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cache.Contains(k) {
		return body, nil
	}
	p.cache.Add(k, body)
	p.size += int64(len(body))
	for p.size > p.maxBytes {
		p.cache.RemoveOldest()
	}
	return body, nil
}

// convert turns a notice body's Markdown into HTML.
func convert(md string) (template.HTML, error) {
	var b bytes.Buffer
	if err := markdown.Convert([]byte(md), &b); err != nil {
		return "", fmt.Errorf("notice: render page: %w", err)
	}
	return template.HTML(b.String()), nil
}

// Bytes is how much converted HTML is kept now.
func (p *Pages) Bytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.size
}
