package httpapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/stretchr/testify/require"
)

// TestGoldenProblems: the problem+json bodies a client gets for each kind
// of refusal, whole, as the client reads them (request ids, which differ
// on every run, are replaced by "REQUEST-ID").
func TestGoldenProblems(t *testing.T) {
	e := MustOpenEnv(t)
	device := map[string]any{"manufacturer": "Acme Corp", "model": "Tracker 2", "serial": "SN-0042", "firmware_version": "1.4.2",
		"notice_key": "tracker"}
	require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices", device).Code)
	ids := regexp.MustCompile(`"request_id":"[^"]*"`)
	var out bytes.Buffer
	for _, c := range []struct {
		name         string
		role         privacy.Role
		method, path string
		body         any
	}{
		{"malformed JSON", privacy.RoleAdmin, http.MethodPost, "/v1/devices", `{"manufacturer":`},
		{"unknown field", privacy.RoleAdmin, http.MethodPost, "/v1/devices", `{"manufacturer":"a","colour":"red"}`},
		{"invalid fields", privacy.RoleAdmin, http.MethodPost, "/v1/devices", map[string]any{"manufacturer": "", "model": "M",
			"serial": "S\u202e1", "firmware_version": "1", "notice_key": "Not A Key"}},
		{"no token", "", http.MethodGet, "/v1/devices", nil},
		{"wrong role", privacy.RoleApp, http.MethodPost, "/v1/devices", device},
		{"not found", privacy.RoleAdmin, http.MethodGet, "/v1/devices/01936f5e-0000-7000-8000-000000000000", nil},
		{"duplicate identity", privacy.RoleAdmin, http.MethodPost, "/v1/devices", map[string]any{"manufacturer": "ACME corp",
			"model": "tracker 2", "serial": "sn0042", "firmware_version": "1.4.2", "notice_key": "tracker"}},
	} {
		r := e.do(t, c.role, c.method, c.path, c.body)
		fmt.Fprintf(&out, "# %s: %s %s → %d %s\n", c.name, c.method, c.path, r.Code, r.Header().Get("Content-Type"))
		out.WriteString(ids.ReplaceAllString(strings.TrimSpace(r.Body.String()), `"request_id":"REQUEST-ID"`))
		out.WriteString("\n\n")
	}
	testkit.Golden(t, "problems.golden", out.Bytes())
}
