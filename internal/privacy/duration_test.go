package privacy_test

import (
	"testing"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want privacy.Duration
	}{
		{"P30D", privacy.Duration{Days: 30}},
		{"P1Y", privacy.Duration{Years: 1}},
		{"P1M", privacy.Duration{Months: 1}},
		{"PT1M", privacy.Duration{Minutes: 1}},
		{"P1Y2M3DT4H5M6S", privacy.Duration{Years: 1, Months: 2, Days: 3, Hours: 4, Minutes: 5, Seconds: 6}},
		{"P1Y6M", privacy.Duration{Years: 1, Months: 6}},
		{"P4W", privacy.Duration{Weeks: 4}},
		{"P0D", privacy.Duration{}},
		{"PT36H", privacy.Duration{Hours: 36}},
		{"P1DT12H", privacy.Duration{Days: 1, Hours: 12}},
		{"PT0.5S", privacy.Duration{Seconds: 0.5}},
		{"PT1,5S", privacy.Duration{Seconds: 1.5}},
		{"P0.5Y", privacy.Duration{Years: 0.5}},
		{"P3650D", privacy.Duration{Days: 3650}},
		{"P999999999D", privacy.Duration{Days: 999999999}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := privacy.ParseDuration(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	for _, in := range []string{
		"", "P", "PT", "P1DT", "T1H", "30D", "p30d", "P30d", "-P1D", "P-1D", "P+1D",
		"P3650D1D", "P1D1D", "P1D2Y", "P1M1Y", "PT1S1H", "PT1H1H", "P1Y1Y", "P1H", "PT1D", "PT1Y",
		"P1W1D", "P1Y1W", "PT1W", "P1WT1H", "PW", "PD", "PTS", "P.5D", "P1.D", "P1.5DT1H", "P0.5Y1M",
		"P1..5D", "P1.5.5D", "P 1D", "P1D ", " P1D", "P1DX", "P1", "PT1", "P1000000000D", "P1DT1H1M1S1S",
		"P1D\x00", "P１D", "P1,5,5D", "P1e3D", "PT1.5H30M",
	} {
		t.Run("refuses "+in, func(t *testing.T) {
			_, err := privacy.ParseDuration(in)
			assert.Error(t, err)
		})
	}
}

// FuzzParseDuration: whatever it reads, it reads as the strict grammar
// says: a value it accepts formats back to the same components.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"P30D", "P1Y2M3DT4H5M6S", "P4W", "PT0.5S", "P3650D1D", "PT", "P1DT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := privacy.ParseDuration(s)
		if err != nil {
			return
		}
		if s[0] != 'P' || len(s) < 3 {
			t.Fatalf("accepted %q", s)
		}
		again, err := privacy.ParseDuration(d.String())
		require.NoError(t, err, "%q formats as %q", s, d.String())
		assert.Equal(t, d, again, "%q formats as %q", s, d.String())
		assert.False(t, d.Years < 0 || d.Months < 0 || d.Weeks < 0 || d.Days < 0 || d.Hours < 0 || d.Minutes < 0 || d.Seconds < 0)
	})
}
