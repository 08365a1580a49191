package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/consentry/consentry"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/webhook/webhooktest"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWebhooksAPI(t *testing.T) {
	e, deviceID, notice := consentEnv(t)
	const secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYtd2ViaG9vaw=="
	rx := webhooktest.New(t, secret, 1)

	var id string
	t.Run("create, read, list", func(t *testing.T) {
		r := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/webhooks", map[string]any{"url": rx.URL + "/events",
			"events": []string{"consent.granted", "consent.withdrawn"}, "secret": secret, "description": "tests"})
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		w := r.JSON(t)
		id = w["id"].(string)
		assert.Equal(t, secret, w["secret"], "the secret is shown in the answer that set it")
		assert.Equal(t, []any{"consent.granted", "consent.withdrawn"}, w["events"])
		assert.NotEmpty(t, w["created_by"])

		got := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/webhooks/"+id, nil)
		require.Equal(t, http.StatusOK, got.Code)
		assert.NotContains(t, got.Body.String(), secret, "never again")
		list := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/webhooks", nil)
		require.Equal(t, http.StatusOK, list.Code)
		assert.Len(t, list.JSON(t)["webhooks"], 1)
		assert.NotContains(t, list.Body.String(), secret)

		made := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/webhooks", map[string]any{"url": "https://backend.example/hook", "events": []string{"notice.published"}})
		require.Equal(t, http.StatusCreated, made.Code, made.Body.String())
		assert.Regexp(t, `^whsec_`, made.JSON(t)["secret"], "one is made when none is given")
		assert.Equal(t, http.StatusNoContent, e.do(t, privacy.RoleAdmin, http.MethodDelete, "/v1/webhooks/"+made.JSON(t)["id"].(string), nil).Code)
	})

	t.Run("bad input", func(t *testing.T) {
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/webhooks", map[string]any{"url": "http://backend.example/x", "events": []string{"consent.eaten"}, "secret": "short"}),
			422, "invalid", "url", "events[0]", "secret")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/webhooks", map[string]any{"url": rx.URL}), 422, "invalid", "events")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/webhooks", map[string]any{"url": rx.URL, "events": []string{"consent.granted"}, "headers": "x"}),
			400, "malformed", "headers")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/webhooks/nope", nil), 404, "not_found")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodDelete, "/v1/webhooks/0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e", nil), 404, "not_found")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/webhooks/"+id+"/deliveries?state=lost&limit=0&cursor=x", nil), 422, "invalid", "state", "limit", "cursor")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/webhooks/"+id+"/deliveries?page=2", nil), 400, "malformed", "page")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/webhooks/"+id+"/deliveries/x/retry", nil), 404, "not_found")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/webhooks/"+id+"/deliveries/999/retry", nil), 404, "not_found")
	})

	t.Run("a consent reaches the receiver, signed, after a refused first try", func(t *testing.T) {
		e.webhooks.Start()
		r := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(deviceID, notice, choice("navigation", true), choice("maintenance", false)))
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		rec := r.JSON(t)
		evs := rx.WaitFor(t, 1, 10*time.Second)
		assert.Equal(t, privacy.KindConsentGranted, evs[0].Kind)
		assert.Equal(t, "alice", evs[0].Subject)
		assert.Equal(t, []string{"navigation"}, evs[0].Purposes)
		assert.Equal(t, rec["id"], evs[0].ConsentID)
		_, _, bad := rx.Stats()
		assert.Empty(t, bad)
		// The body is what the contract's callback says it is.
		body, _ := rx.Delivery(evs[0].ID)
		doc, err := openapi3.NewLoader().LoadFromData(consentry.OpenAPI)
		require.NoError(t, err)
		var v any
		require.NoError(t, json.Unmarshal(body, &v))
		require.NoError(t, doc.Components.Schemas["WebhookEvent"].Value.VisitJSON(v), string(body))
		cb := doc.Paths.Find("/v1/webhooks").Post.Callbacks["event"].Value.Value("{$request.body#/url}")
		require.NotNil(t, cb, "openapi.yaml documents the delivery as a callback")
		assert.Equal(t, "#/components/schemas/WebhookEvent", cb.Post.RequestBody.Value.Content["application/json"].Schema.Ref)

		var d map[string]any
		require.Eventually(t, func() bool {
			r := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/webhooks/"+id+"/deliveries?state=delivered", nil)
			require.Equal(t, http.StatusOK, r.Code)
			ds := r.JSON(t)["deliveries"].([]any)
			if len(ds) == 1 {
				d = ds[0].(map[string]any)
			}
			return d != nil
		}, 5*time.Second, 20*time.Millisecond)
		assert.EqualValues(t, 2, d["attempts"])
		assert.EqualValues(t, 204, d["last_status"])
		assert.Equal(t, evs[0].ID, d["event"].(map[string]any)["id"])
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, fmt.Sprintf("/v1/webhooks/%s/deliveries/%v/retry", id, d["id"]), nil), 409, "conflict")
	})

	t.Run("paging", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			r := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(deviceID, notice, choice("navigation", true)))
			require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		}
		p1 := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/webhooks/"+id+"/deliveries?limit=2", nil).JSON(t)
		require.Len(t, p1["deliveries"], 2)
		p2 := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/webhooks/"+id+"/deliveries?limit=2&cursor="+p1["next_cursor"].(string), nil).JSON(t)
		require.Len(t, p2["deliveries"], 1)
		_, more := p2["next_cursor"]
		assert.False(t, more)
	})

	t.Run("delete", func(t *testing.T) {
		assert.Equal(t, http.StatusNoContent, e.do(t, privacy.RoleAdmin, http.MethodDelete, "/v1/webhooks/"+id, nil).Code)
		got := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/webhooks/"+id, nil).JSON(t)
		assert.NotEmpty(t, got["deleted_at"])
		assert.Empty(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/webhooks", nil).JSON(t)["webhooks"])
	})

	var checks []roleCheck
	for _, role := range []privacy.Role{privacy.RoleApp, privacy.RoleService, privacy.RoleAuditor} {
		checks = append(checks,
			roleCheck{role, http.MethodPost, "/v1/webhooks"},
			roleCheck{role, http.MethodGet, "/v1/webhooks"},
			roleCheck{role, http.MethodGet, "/v1/webhooks/" + id},
			roleCheck{role, http.MethodDelete, "/v1/webhooks/" + id},
			roleCheck{role, http.MethodGet, "/v1/webhooks/" + id + "/deliveries"},
			roleCheck{role, http.MethodPost, "/v1/webhooks/" + id + "/deliveries/1/retry"})
	}
	assertForbidden(t, e, checks)
}
