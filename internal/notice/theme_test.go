package notice_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/consentry/consentry/internal/notice"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func themeDir(t *testing.T, theme string, logo []byte) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "theme.json"), []byte(theme), 0o644))
	if logo != nil {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "logo.png"), logo, 0o644))
	}
	return dir
}

func pngLogo(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	return b.Bytes()
}

// TestLoadTheme: an operator's colors and logo dress the pages; colors
// people could not read (under WCAG AA's 4.5:1), a logo that is not a
// PNG, and anything theme.json does not define are refused at start.
func TestLoadTheme(t *testing.T) {
	logo := pngLogo(t)
	th, err := notice.LoadTheme(themeDir(t, `{"name":"Acme Trackers","primary":"#7a1f00","background":"#fffdf7","text":"#202020"}`, logo))
	require.NoError(t, err)
	assert.True(t, th.HasLogo())
	assert.Equal(t, logo, th.Logo)
	css := string(th.CSS())
	assert.Contains(t, css, "--primary:#7a1f00")
	assert.Contains(t, css, "--bg:#fffdf7")
	assert.Contains(t, css, "--text:#202020")

	th, err = notice.LoadTheme(themeDir(t, `{"name":"Plain"}`, nil))
	require.NoError(t, err)
	assert.False(t, th.HasLogo())
	assert.Contains(t, string(th.CSS()), "--primary:#005ea2", "the default colors where the theme says none")

	for name, c := range map[string]struct {
		theme string
		logo  []byte
		want  string
	}{
		"grey on white":      {`{"text":"#999999","background":"#ffffff"}`, nil, "contrast"},
		"pale buttons":       {`{"primary":"#9ecbff"}`, nil, "contrast"},
		"not a color":        {`{"primary":"red"}`, nil, "#rrggbb"},
		"an unknown setting": {`{"css":"body{display:none}"}`, nil, "unknown field"},
		"an SVG as logo":     {`{}`, []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), "not a PNG"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := notice.LoadTheme(themeDir(t, c.theme, c.logo))
			require.ErrorContains(t, err, c.want)
		})
	}
	_, err = notice.LoadTheme(t.TempDir())
	require.Error(t, err, "no theme.json")
}
