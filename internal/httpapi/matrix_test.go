package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuthorizationMatrix calls every route of the router with every role,
// with subject tokens, and with no token. A caller the route policy does
// not name must never get a 2xx. Alice's token must never get a 2xx on
// bob's data, nor any body that carries bob's id; nor may the tokens of
// the people around bob: his device's previous owner, a member and a
// guest of his household, who see no more of bob than who shares the
// device, and his guardian, who consents with him but reads nothing of
// his through these routes.
func TestAuthorizationMatrix(t *testing.T) {
	e, aliceDevice, notice := consentEnv(t) // alice owns aliceDevice
	const bob = "bob-subject-9"
	d := newDevice("matrix-bob")
	d["notice_key"], d["owner_subject"] = "cam", "dave-previous-owner"
	bobDevice := mustCreateDevice(t, e, d)["id"].(string)
	require.Equal(t, http.StatusOK, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices/"+bobDevice+"/transfer", map[string]any{"to": bob}).Code)
	require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices/"+bobDevice+"/members",
		map[string]any{"subject": "carol-member", "role": "member"}).Code)
	require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices/"+bobDevice+"/members",
		map[string]any{"subject": "gina-guest", "role": "guest", "until": time.Now().Add(time.Hour).UTC()}).Code)
	require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/devices/"+bobDevice+"/inventory", validInventory()).Code)
	bobBody := consentBody(bobDevice, notice, choice("navigation", true))
	bobBody["subject"] = bob
	r := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", bobBody)
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	bobRecord := r.JSON(t)["id"].(string)
	require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(aliceDevice, notice, choice("navigation", true))).Code)
	decision := e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions", map[string]any{"subject": bob, "device_id": bobDevice,
		"element": "location", "purpose": "navigation", "action": "use"}).JSON(t)["id"].(string)
	// bob is a child; hank is his guardian.
	require.Equal(t, http.StatusOK, e.do(t, privacy.RoleApp, http.MethodPut, "/v1/subjects/"+bob+"/child",
		map[string]any{"age_band": "16_17", "guardians": []string{"hank-guardian"}}).Code)
	r = e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subjects/"+bob+"/requests", map[string]any{"type": "access"})
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	bobRequest := r.JSON(t)["request"].(map[string]any)["id"].(string)
	r = e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subject-tokens", map[string]any{"subject": "alice", "ttl_seconds": 600})
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	aliceToken := r.JSON(t)["token"].(string)

	params := map[string]string{":key": "cam", ":version": "1", ":seq": "0", ":subject": bob, ":member": bob, ":file": "index.html"}
	idFor := func(path string) string {
		switch {
		case strings.HasPrefix(path, "/v1/devices/"):
			return bobDevice
		case strings.HasPrefix(path, "/v1/consents/"):
			return bobRecord
		case strings.HasPrefix(path, "/v1/decisions/"):
			return decision
		case strings.HasPrefix(path, "/v1/subjects/requests/"):
			return bobRequest
		case strings.HasPrefix(path, "/v1/findings/"):
			return "review_overdue"
		}
		return "x"
	}
	policy, err := authz.NewRoutes()
	require.NoError(t, err)
	type caller struct {
		name  string
		role  privacy.Role
		token string
	}
	callers := []caller{{name: "anonymous"}, {name: "subject alice", role: privacy.RoleSubject, token: aliceToken}}
	for _, who := range []string{"dave-previous-owner", "carol-member", "gina-guest", "hank-guardian"} {
		callers = append(callers, caller{name: "subject " + who, role: privacy.RoleSubject, token: subjectToken(t, e, who)})
	}
	for _, role := range privacy.Roles {
		callers = append(callers, caller{name: string(role), role: role, token: e.tokens[role]})
	}
	routes := e.srv.Engine().Routes()
	require.Greater(t, len(routes), 50)
	calls := 0
	for _, rt := range routes {
		if !strings.HasPrefix(rt.Path, "/v1/") {
			continue // public: health, docs, notices as pages, JWKS
		}
		path := rt.Path
		for p, v := range params {
			path = strings.ReplaceAll(path, p, v)
		}
		path = strings.ReplaceAll(path, ":id", idFor(rt.Path))
		for _, c := range callers {
			req := httptest.NewRequest(rt.Method, path, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			rec := httptest.NewRecorder()
			e.srv.ServeHTTP(rec, req)
			calls++
			ok := rec.Code >= 200 && rec.Code < 300
			allowed := false
			if c.role != "" {
				allowed, err = policy.Allowed(string(c.role), rt.Path, rt.Method)
				require.NoError(t, err)
			}
			if !allowed {
				assert.False(t, ok, "%s got %d on %s %s, which the route policy does not give it", c.name, rec.Code, rt.Method, rt.Path)
				assert.Contains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, rec.Code, "%s on %s %s", c.name, rt.Method, rt.Path)
			}
			if c.role == privacy.RoleSubject {
				// Who shares bob's device sees who else does; nothing else.
				shared := (c.name == "subject carol-member" || c.name == "subject gina-guest") &&
					rt.Method == http.MethodGet && rt.Path == "/v1/devices/:id/members"
				assert.False(t, ok && !shared && (strings.Contains(rt.Path, ":subject") || strings.Contains(rt.Path, ":id") ||
					strings.Contains(rt.Path, ":member")), "%s's token got %d on bob's %s %s", c.name, rec.Code, rt.Method, path)
				assert.NotContains(t, rec.Body.String(), bob, "%s's token saw bob's data on %s %s", c.name, rt.Method, rt.Path)
				assert.NotContains(t, rec.Body.String(), bobRecord, "%s's token saw bob's record on %s %s", c.name, rt.Method, rt.Path)
				assert.NotContains(t, rec.Body.String(), bobRequest, "%s's token saw bob's request on %s %s", c.name, rt.Method, rt.Path)
			}
		}
	}
	t.Logf("%d calls over %d routes", calls, len(routes))

	// And what alice's token may do, it does for alice.
	call := func(method, path string, body any) response {
		req := httptest.NewRequest(method, path, strings.NewReader(""))
		if body != nil {
			req = httptest.NewRequest(method, path, strings.NewReader(body.(string)))
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		return response{rec}
	}
	r = call(http.MethodGet, "/v1/subjects/alice/consents", nil)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	assert.Contains(t, r.Body.String(), "navigation")
	assert.Equal(t, http.StatusOK, call(http.MethodGet, "/v1/subjects/alice/privacy", nil).Code)
	r = call(http.MethodPost, "/v1/subjects/alice/requests", `{"type":"access"}`)
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	own := r.JSON(t)["request"].(map[string]any)
	assert.Equal(t, http.StatusOK, call(http.MethodGet, "/v1/subjects/requests/"+own["id"].(string), nil).Code)
	ex := call(http.MethodGet, own["export_url"].(string), nil)
	require.Equal(t, http.StatusOK, ex.Code)
	assert.NotContains(t, ex.Body.String(), bob, "alice's export holds nothing of bob's")
	assert.Equal(t, http.StatusOK, call(http.MethodGet, "/v1/notices/cam/versions/current", nil).Code)
	assertProblem(t, call(http.MethodPost, "/v1/subject-tokens", `{"subject":"alice"}`), http.StatusForbidden, "forbidden")
	// A token from another deployment, a tampered one, or one past its
	// hour is refused.
	foreign, _, err := mustSubjectTokens(t).Mint("app-1", "alice", time.Now(), time.Hour)
	require.NoError(t, err)
	for _, tok := range []string{foreign, aliceToken[:len(aliceToken)-3] + "AAA"} {
		req := httptest.NewRequest(http.MethodGet, "/v1/subjects/alice/consents", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		assertProblem(t, response{rec}, http.StatusUnauthorized, "unauthorized")
	}
	_, _, err = mustSubjectTokens(t).Mint("app-1", "alice", time.Now(), 2*time.Hour)
	assert.Error(t, err, "no token lives more than an hour")
	assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subject-tokens", map[string]any{"subject": "alice", "ttl_seconds": 7200}),
		http.StatusUnprocessableEntity, "invalid", "ttl_seconds")
	assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subject-tokens", map[string]any{}), http.StatusUnprocessableEntity, "invalid", "subject")
	assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subject-tokens", map[string]any{"subject": "a", "role": "admin"}), http.StatusBadRequest, "malformed", "role")
}
