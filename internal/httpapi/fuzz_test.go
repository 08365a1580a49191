package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
)

// FuzzRequestBodies sends arbitrary bodies to every route that decodes
// one, as the role allowed to call it: bad input must be a 4xx problem
// document, never a 5xx or a panic.
func FuzzRequestBodies(f *testing.F) {
	e := MustOpenEnv(f)
	putPurpose(f, e, "navigation")
	putPurpose(f, e, "maintenance")
	notice := mustPublishedNotice(f, e, "cam")
	d := newDevice("fuzz-1")
	d["notice_key"], d["owner_subject"] = "cam", "alice"
	dev := mustCreateDevice(f, e, d)["id"].(string)
	routes := []struct {
		role         privacy.Role
		method, path string
	}{
		{privacy.RoleApp, http.MethodPost, "/v1/consents"},
		{privacy.RoleApp, http.MethodPost, "/v1/subjects/alice/withdraw"},
		{privacy.RoleService, http.MethodPost, "/v1/decisions"},
		{privacy.RoleService, http.MethodPost, "/v1/decisions/batch"},
		{privacy.RoleAdmin, http.MethodPost, "/v1/devices"},
		{privacy.RoleAdmin, http.MethodPut, "/v1/devices/" + dev + "/inventory"},
		{privacy.RoleAdmin, http.MethodPut, "/v1/purposes/fuzzed"},
		{privacy.RoleAdmin, http.MethodPost, "/v1/policies"},
		{privacy.RoleAdmin, http.MethodPost, "/v1/notices"},
		{privacy.RoleAdmin, http.MethodPost, "/v1/notices/cam/versions"},
		{privacy.RoleAdmin, http.MethodPost, "/v1/clients"},
		{privacy.RoleAdmin, http.MethodPost, "/v1/audit/hash"},
		{privacy.RoleAdmin, http.MethodPost, "/v1/findings/review_overdue/acknowledge"},
		{privacy.RoleAdmin, http.MethodPost, "/v1/webhooks"},
	}
	seeds := []any{
		consentBody(dev, notice, choice("navigation", true)),
		map[string]any{"subject": "alice", "device_id": dev, "element": "location", "purpose": "navigation", "action": "use"},
		map[string]any{"checks": []any{map[string]any{"subject": "alice", "device_id": dev, "element": "location", "purpose": "navigation", "action": "use"}}},
		newDevice("fuzz-2"), validInventory(),
		map[string]any{"subject": "svc", "category": "personal.location.*", "purpose": "navigation", "action": "use", "effect": "allow"},
		map[string]any{"key": "fuzz", "default_locale": "en"}, camVersion(),
		map[string]any{"name": "c", "role": "app"}, map[string]any{"value": "alice"}, map[string]any{"note": "reviewed"},
		map[string]any{"url": "https://backend.example/hook", "events": []string{"consent.withdrawn"}, "secret": "whsec_c3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3M="},
	}
	for i := range routes {
		for _, s := range seeds {
			b, _ := json.Marshal(s)
			f.Add(uint8(i), b)
		}
	}
	f.Add(uint8(0), []byte(`{"subject":"alice","choices":[{"purpose":"navigation","granted":true}]}{}`))
	f.Add(uint8(3), []byte(`{"checks":[`+strings.Repeat(`{},`, 50)+`{}]}`))
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := routes[int(route)%len(routes)]
		req := httptest.NewRequest(r.method, r.path, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.tokens[r.role])
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s answered %d to %q: %s", r.method, r.path, rec.Code, body, rec.Body.String())
		}
		if rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s %s answered %d without a problem document", r.method, r.path, rec.Code)
		}
	})
}
