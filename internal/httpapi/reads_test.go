package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/webhook/webhooktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadsOfPersonalDataAreAudited: each read of a subject's personal
// data is a personal_data.read entry naming the client's role, the route
// and the subject's pseudonym; queued, it is written with the next change.
func TestReadsOfPersonalDataAreAudited(t *testing.T) {
	e, deviceID, notice := consentEnv(t)
	const secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYtd2ViaG9vaw=="
	rx := webhooktest.New(t, secret, 1)
	r := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/webhooks", map[string]any{"url": rx.URL + "/events",
		"events": []string{"consent.granted"}, "secret": secret})
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	hook := r.JSON(t)["id"].(string)
	r = e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(deviceID, notice, choice("navigation", true)))
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	id := r.JSON(t)["id"].(string)

	for _, read := range []struct {
		role privacy.Role
		path string
	}{
		{privacy.RoleApp, "/v1/consents/" + id},
		{privacy.RoleApp, "/v1/subjects/alice/consents"},
		{privacy.RoleApp, "/v1/subjects/alice/privacy"},
		{privacy.RoleAdmin, "/v1/devices/" + deviceID},
		{privacy.RoleAdmin, "/v1/devices?subject=alice"},
		{privacy.RoleAdmin, "/v1/webhooks/" + hook + "/deliveries"},
	} {
		require.Equal(t, http.StatusOK, e.do(t, read.role, http.MethodGet, read.path, nil).Code, read.path)
	}
	// Nothing read: no entry.
	require.Equal(t, http.StatusOK, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/devices?subject=nobody", nil).Code)
	putPurpose(t, e, "ads") // a change: the queued reads are written with it

	r = e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries?action=personal_data.read", nil)
	require.Equal(t, http.StatusOK, r.Code)
	var page struct {
		Items []struct {
			Entry struct {
				Actor   struct{ Role string }
				Targets map[string]string
			}
		}
	}
	require.NoError(t, json.Unmarshal(r.Body.Bytes(), &page))
	var routes []string
	for _, it := range page.Items {
		routes = append(routes, it.Entry.Actor.Role+" "+it.Entry.Targets["route"])
		assert.Len(t, it.Entry.Targets["subject"], 64, "the subject's pseudonym, never the id")
		assert.NotContains(t, it.Entry.Targets, "alice")
	}
	assert.Equal(t, []string{"app /v1/consents/:id", "app /v1/subjects/:subject/consents", "app /v1/subjects/:subject/privacy",
		"admin /v1/devices/:id", "admin /v1/devices", "admin /v1/webhooks/:id/deliveries"}, routes)
}

// TestARecordOfSeveralPurposesIsServed: a record's choices are read back
// in purpose order but were recorded in the order given; the record still
// matches the entries that committed to it.
func TestARecordOfSeveralPurposesIsServed(t *testing.T) {
	e, deviceID, notice := consentEnv(t)
	r := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(deviceID, notice, choice("navigation", true), choice("maintenance", false)))
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	got := e.do(t, privacy.RoleApp, http.MethodGet, "/v1/consents/"+r.JSON(t)["id"].(string), nil)
	assert.Equal(t, http.StatusOK, got.Code, got.Body.String())
}
