package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func camVersion() map[string]any {
	return map[string]any{
		"controller": map[string]any{"name": "Acme Home Security Ltd", "contact": "privacy@acme.example"},
		"purposes": []map[string]any{{
			"purpose": "navigation", "legal_basis": "contract", "elements": []string{"location"}, "collection_methods": []string{"sensor"},
			"collection_scope": "During trips you start.", "retention": "P30D", "recipients": []string{"acme-cloud"},
		}, {
			"purpose": "maintenance", "legal_basis": "legitimate_interests", "elements": []string{"battery"}, "collection_methods": []string{"sensor"},
			"collection_scope": "Daily.", "retention": "P1Y", "recipients": []string{},
		}},
		"texts": map[string]any{
			"en": map[string]any{"title": "How your tracker uses your data", "body": "We **record** trips.\n\n<script>alert(1)</script>",
				"purposes": map[string]any{"navigation": map[string]string{"name": "Navigation", "collection_scope": "During trips you start."},
					"maintenance": map[string]string{"name": "Maintenance", "collection_scope": "Daily."}},
				"elements":   map[string]string{"location": "Where you are", "battery": "Battery level"},
				"recipients": map[string]string{"acme-cloud": "Acme Cloud (hosting)"}},
			"fr": map[string]any{"title": "Comment votre traceur utilise vos données", "body": "Nous enregistrons vos trajets.",
				"purposes": map[string]any{"navigation": map[string]string{"name": "Guidage", "collection_scope": "Pendant les trajets que vous lancez."},
					"maintenance": map[string]string{"name": "Entretien", "collection_scope": "Chaque jour."}},
				"elements":   map[string]string{"location": "Votre position", "battery": "Niveau de batterie"},
				"recipients": map[string]string{"acme-cloud": "Acme Cloud (hébergeur)"}},
		},
	}
}

// mustPublishedNotice creates notice key with a published first version.
func mustPublishedNotice(t testing.TB, e *env, key string) map[string]any {
	t.Helper()
	r := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/notices", map[string]string{"key": key, "default_locale": "en"})
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	r = e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/notices/"+key+"/versions", camVersion())
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	r = e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/notices/"+key+"/versions/1/publish", nil)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	return r.JSON(t)
}

func TestNotices(t *testing.T) {
	e := MustOpenEnv(t)
	putPurpose(t, e, "navigation")
	putPurpose(t, e, "maintenance")

	t.Run("create", func(t *testing.T) {
		r := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/notices", map[string]string{"key": "tracker-notice", "default_locale": "en-us"})
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		assert.Equal(t, "en-US", r.JSON(t)["default_locale"], "canonical BCP 47")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/notices", map[string]string{"key": "tracker-notice", "default_locale": "en"}), 409, "conflict")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/notices", map[string]string{"key": "Bad!", "default_locale": "??"}), 422, "invalid", "key", "default_locale")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/notices", map[string]string{"key": "x", "default_locale": "en", "owner": "me"}), 400, "malformed", "owner")
	})

	// A device names the notice and collects more than the draft states.
	dev := newDevice("notice-1")
	dev["notice_key"] = "cam"
	id := mustCreateDevice(t, e, dev)["id"].(string)
	inv := validInventory()
	inv["elements"].([]map[string]any)[0]["recipients"] = []string{"acme-cloud", "data-broker"}
	r := e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/devices/"+id+"/inventory", inv)
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/notices", map[string]string{"key": "cam", "default_locale": "en"}).Code)

	t.Run("draft, invalid draft, second draft", func(t *testing.T) {
		bad := camVersion()
		bad["purposes"].([]map[string]any)[0]["retention"] = "a month"
		bad["purposes"].([]map[string]any)[1]["purpose"] = "unknown"
		bad["texts"] = map[string]any{"fr": map[string]string{"title": "t", "body": "b"}}
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/notices/cam/versions", bad), 422, "invalid",
			"purposes[0].retention", "purposes[1].purpose", "texts")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/notices/nope/versions", camVersion()), 404, "not_found")
		r := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/notices/cam/versions", camVersion())
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		v := r.JSON(t)
		assert.Equal(t, "draft", v["status"])
		assert.EqualValues(t, 1, v["version"])
		assert.Len(t, v["content_hash"], 64)
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/notices/cam/versions", camVersion()), 409, "conflict")
	})

	t.Run("publish refused with every gap, then accepted", func(t *testing.T) {
		p := assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/notices/cam/versions/1/publish", nil), 422, "notice_uncovered")
		gaps := p["gaps"].([]any)
		require.Len(t, gaps, 1)
		g := gaps[0].(map[string]any)
		assert.Equal(t, id, g["device_id"])
		assert.Equal(t, "recipient_not_disclosed", g["kind"])
		assert.Equal(t, "location", g["element"])

		fixed := camVersion()
		fixed["purposes"].([]map[string]any)[0]["recipients"] = []string{"acme-cloud", "data-broker"}
		r := e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/notices/cam/versions/1", fixed)
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		// Every string a person reads, in every locale: the new recipient
		// has no label yet, in either.
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/notices/cam/versions/1/publish", nil), 422, "invalid",
			"texts.en.recipients.data-broker", "texts.fr.recipients.data-broker")
		for tag, label := range map[string]string{"en": "Data Broker Inc (resells data)", "fr": "Data Broker Inc (revend des données)"} {
			fixed["texts"].(map[string]any)[tag].(map[string]any)["recipients"].(map[string]string)["data-broker"] = label
		}
		r = e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/notices/cam/versions/1", fixed)
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		r = e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/notices/cam/versions/1/publish", nil)
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		v := r.JSON(t)
		assert.Equal(t, "published", v["status"])
		assert.NotEmpty(t, v["published_at"])
		assert.Equal(t, []any{"maintenance", "navigation"}, v["material_purposes"])
	})

	t.Run("a published version cannot change", func(t *testing.T) {
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/notices/cam/versions/1", camVersion()), 409, "conflict")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodDelete, "/v1/notices/cam/versions/1", nil), 409, "conflict")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodDelete, "/v1/notices/cam/versions/7", nil), 404, "not_found")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodDelete, "/v1/notices/cam/versions/1", nil), 403, "forbidden")
		// A draft can be discarded, and its number is reused.
		r := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/notices/cam/versions", camVersion())
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		assert.EqualValues(t, 2, r.JSON(t)["version"])
		require.Equal(t, http.StatusNoContent, e.do(t, privacy.RoleAdmin, http.MethodDelete, "/v1/notices/cam/versions/2", nil).Code)
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/notices/cam/versions/2", nil), 404, "not_found")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/notices/cam/versions/1/publish", nil), 409, "conflict")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/notices/cam/versions/9", camVersion()), 404, "not_found")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/notices/cam/versions/zero", nil), 422, "invalid", "version")
	})

	t.Run("read a version and the current one", func(t *testing.T) {
		for _, role := range []privacy.Role{privacy.RoleAdmin, privacy.RoleApp, privacy.RoleAuditor} {
			r := e.do(t, role, http.MethodGet, "/v1/notices/cam/versions/1", nil)
			require.Equal(t, http.StatusOK, r.Code)
		}
		for _, role := range []privacy.Role{privacy.RoleAdmin, privacy.RoleApp, privacy.RoleService, privacy.RoleAuditor} {
			r := e.do(t, role, http.MethodGet, "/v1/notices/cam/versions/current?locale=fr-CA", nil)
			require.Equal(t, http.StatusOK, r.Code, r.Body.String())
			cur := r.JSON(t)
			assert.Equal(t, "fr", cur["locale"])
			assert.Equal(t, "fr-CA", cur["requested_locale"])
			assert.Equal(t, true, cur["fallback"])
			assert.Equal(t, "Comment votre traceur utilise vos données", cur["title"])
			assert.Equal(t, []any{"en", "fr"}, cur["locales"])
			assert.Len(t, cur["purposes"], 2)
		}
		cur := e.do(t, privacy.RoleApp, http.MethodGet, "/v1/notices/cam/versions/current?locale=ja", nil).JSON(t)
		assert.Equal(t, "en", cur["locale"], "an unknown locale falls back to the default")
		assert.Equal(t, true, cur["fallback"])
		cur = e.do(t, privacy.RoleApp, http.MethodGet, "/v1/notices/cam/versions/current", nil).JSON(t)
		assert.Equal(t, "en", cur["locale"])
		assert.Equal(t, false, cur["fallback"])
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, "/v1/notices/cam/versions/current?locale=not_a_tag!", nil), 400, "malformed", "locale")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, "/v1/notices/cam/versions/current?lang=fr", nil), 400, "malformed", "lang")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, "/v1/notices/unknown/versions/current", nil), 404, "not_found")
	})

	t.Run("coverage after the inventory grows", func(t *testing.T) {
		grown := validInventory()
		grown["elements"].([]map[string]any)[0]["recipients"] = []string{"acme-cloud", "data-broker", "insurer"}
		r := e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/devices/"+id+"/inventory", grown)
		require.Equal(t, http.StatusCreated, r.Code)
		uncovered := r.JSON(t)["uncovered"].([]any)
		require.Len(t, uncovered, 1)
		assert.Contains(t, uncovered[0].(map[string]any)["detail"], "insurer")
		for _, role := range []privacy.Role{privacy.RoleAdmin, privacy.RoleAuditor} {
			cov := e.do(t, role, http.MethodGet, "/v1/notices/cam/coverage", nil)
			require.Equal(t, http.StatusOK, cov.Code)
			c := cov.JSON(t)
			assert.EqualValues(t, 1, c["version"])
			assert.Len(t, c["gaps"], 1)
		}
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/notices/unknown/coverage", nil), 404, "not_found")
	})

	t.Run("the notice as a page", func(t *testing.T) {
		r := e.do(t, "", http.MethodGet, "/notices/cam?locale=en", nil)
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		assert.Contains(t, r.Header().Get("Content-Type"), "text/html")
		assert.Contains(t, r.Header().Get("Content-Security-Policy"), "default-src 'none'")
		page := r.Body.String()
		for _, want := range []string{`<html lang="en">`, "How your tracker uses your data", "<strong>record</strong>", "Navigation", "Maintenance",
			"Where you are", "Data Broker Inc (resells data)", "Acme Cloud (hosting)", "30 days", "1 year", "a contract with you", "privacy@acme.example"} {
			assert.Contains(t, page, want)
		}
		for _, key := range []string{"data-broker", "acme-cloud", "location"} {
			assert.NotContains(t, page, key, "a person reads labels, not keys")
		}
		assert.NotContains(t, page, "<script>", "raw HTML in Markdown is dropped")
		fr := e.do(t, "", http.MethodGet, "/notices/cam?locale=fr-CA", nil).Body.String()
		assert.Contains(t, fr, `<html lang="fr">`)
		assert.Contains(t, fr, "30 jours")
		assert.Contains(t, fr, "fr-CA")

		req := e.do(t, "", http.MethodGet, "/notices/cam", nil)
		assert.Contains(t, req.Body.String(), `<html lang="en">`)
		assertProblem(t, e.do(t, "", http.MethodGet, "/notices/cam?locale=%%", nil), 400, "malformed")
		assertProblem(t, e.do(t, "", http.MethodGet, "/notices/cam?locale=no_such_tag!", nil), 400, "malformed", "locale")
		assertProblem(t, e.do(t, "", http.MethodGet, "/notices/unknown", nil), 404, "not_found")
	})

	var checks []roleCheck
	for _, role := range []privacy.Role{privacy.RoleApp, privacy.RoleService, privacy.RoleAuditor} {
		checks = append(checks,
			roleCheck{role, http.MethodPost, "/v1/notices"},
			roleCheck{role, http.MethodPost, "/v1/notices/cam/versions"},
			roleCheck{role, http.MethodPut, "/v1/notices/cam/versions/1"},
			roleCheck{role, http.MethodPost, "/v1/notices/cam/versions/1/publish"},
		)
	}
	checks = append(checks, roleCheck{privacy.RoleService, http.MethodGet, "/v1/notices/cam/versions/1"},
		roleCheck{privacy.RoleApp, http.MethodGet, "/v1/notices/cam/coverage"}, roleCheck{privacy.RoleService, http.MethodGet, "/v1/notices/cam/coverage"})
	assertForbidden(t, e, checks)
}

func TestNoticePageFollowsTheBrowserLanguage(t *testing.T) {
	e := MustOpenEnv(t)
	putPurpose(t, e, "navigation")
	putPurpose(t, e, "maintenance")
	mustPublishedNotice(t, e, "cam")
	req, err := http.NewRequest(http.MethodGet, "/notices/cam", nil)
	require.NoError(t, err)
	req.Header.Set("Accept-Language", "fr-FR,fr;q=0.9,en;q=0.5")
	rec := newRecorder()
	e.srv.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.True(t, strings.Contains(rec.Body.String(), `<html lang="fr">`))
	assert.Equal(t, "fr", rec.Header().Get("Content-Language"))
}
