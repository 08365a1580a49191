package httpapi_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/httpapi"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/consentry/consentry/internal/webhook/webhooktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLogsHoldNoSecretsOrSubjects drives the API through consents,
// decisions, withdrawals, subject views, errors and the evidence export,
// at debug level, and scans everything logged: no token, no subject id,
// no receipt, no key.
func TestLogsHoldNoSecretsOrSubjects(t *testing.T) {
	e, logged := loggingEnv(t, slog.LevelDebug)
	_, deviceID, notice := consentEnvOn(t, e)
	// A webhook whose receiver refuses everything: deliveries are tried, retried and die.
	const hookSecret = "whsec_d2ViaG9vay1zZWNyZXQtdGhhdC1tdXN0LW5ldmVyLWJlLWxvZ2dlZA=="
	rx := webhooktest.New(t, hookSecret, 1000)
	require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/webhooks",
		map[string]any{"url": rx.URL, "events": []string{"consent.granted", "consent.withdrawn"}, "secret": hookSecret}).Code)
	e.webhooks.Start()
	rule := map[string]any{"subject": "service-client", "category": "personal.location.*", "purpose": "navigation", "action": "use", "effect": "allow"}
	require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/policies", rule).Code)
	r := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(deviceID, notice, choice("navigation", true)))
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	receipt := r.JSON(t)["receipt"].(string)
	require.Equal(t, "allow", e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions", decisionBody(deviceID, "location", "navigation", "use")).JSON(t)["decision"])
	e.do(t, privacy.RoleApp, http.MethodGet, "/v1/subjects/alice/consents", nil)
	e.do(t, privacy.RoleApp, http.MethodGet, "/v1/subjects/alice/privacy", nil)
	e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/audit/hash", map[string]any{"value": "alice"})
	e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subjects/alice/withdraw", nil)
	// Refusals that name the subject in the request.
	bob := consentBody(deviceID, notice, choice("navigation", true))
	bob["subject"] = "bob-the-subject"
	assert.Equal(t, http.StatusForbidden, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", bob).Code)
	e.do(t, privacy.RoleApp, http.MethodGet, "/v1/subjects/bob-the-subject/consents?cursor=bad", nil)
	req := decisionBody(deviceID, "location", "navigation", "use")
	req["subject"] = "carol-the-subject"
	e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions", req)
	e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/evidence", nil)
	e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/incidents/devices?manufacturer=acme%20corp", nil)
	// A wrong token.
	e.do(t, "", http.MethodGet, "/v1/purposes?token=cst_leaked", nil)
	require.Eventually(t, func() bool { n, _, _ := rx.Stats(); return n >= 4 }, 10*time.Second, 10*time.Millisecond, "deliveries were tried")
	e.webhooks.Stop()

	out := logged.String()
	require.NotEmpty(t, out)
	for what, secret := range map[string]string{"admin token": e.tokens[privacy.RoleAdmin], "app token": e.tokens[privacy.RoleApp],
		"service token": e.tokens[privacy.RoleService], "auditor token": e.tokens[privacy.RoleAuditor], "query token": "cst_leaked",
		"subject": "alice", "refused subject": "bob-the-subject", "decided subject": "carol-the-subject", "receipt": receipt[:40],
		"webhook secret": hookSecret} {
		assert.False(t, strings.Contains(out, secret), "the log holds the %s", what)
	}
	assert.NotContains(t, out, "-----BEGIN", "no key material")
}

// loggingEnv is an env whose log, at level and above, is JSON in the
// returned buffer.
func loggingEnv(t *testing.T, level slog.Level) (*env, *testkit.SyncBuffer) {
	t.Helper()
	logged := &testkit.SyncBuffer{}
	e := mustOpenEnvWith(t, func(d *httpapi.Deps) {
		d.Log = slog.New(slog.NewJSONHandler(logged, &slog.HandlerOptions{Level: level}))
	})
	return e, logged
}
