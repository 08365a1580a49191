package notice_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/privacy"
)

// FuzzLoadDir feeds the notice file loader arbitrary notice.yaml and
// Markdown bodies: it must refuse or load, never panic, and whatever it
// loads must render.
func FuzzLoadDir(f *testing.F) {
	for _, dir := range []string{"acme-cam", "acme-speaker", "acme-band"} {
		yaml, err := os.ReadFile(filepath.Join("..", "..", "notices", dir, "notice.yaml"))
		if err != nil {
			f.Fatal(err)
		}
		body, err := os.ReadFile(filepath.Join("..", "..", "notices", dir, "en.md"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(yaml, body)
	}
	f.Add([]byte("key: x\ntitles: {en: T}\n"), []byte("<script>alert(1)</script>"))
	f.Fuzz(func(t *testing.T, yaml, body []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "notice.yaml"), yaml, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "en.md"), body, 0o600); err != nil {
			t.Fatal(err)
		}
		file, err := notice.LoadDir(dir)
		if err != nil {
			return
		}
		v := privacy.NoticeVersion{NoticeKey: file.Key, Version: 1, Content: file.Content}
		for locale, text := range file.Content.Texts {
			if err := notice.RenderPage(io.Discard, notice.Shown{Version: v, Locale: locale, Text: text}); err != nil {
				t.Fatalf("a loaded notice does not render: %v", err)
			}
		}
	})
}
