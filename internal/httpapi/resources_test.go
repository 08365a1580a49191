package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// roleCheck is one (role, method, path) that must be refused with 403.
type roleCheck struct {
	role         privacy.Role
	method, path string
}

func assertForbidden(t *testing.T, e *env, checks []roleCheck) {
	t.Helper()
	for _, rc := range checks {
		t.Run(fmt.Sprintf("%s %s as %s", rc.method, rc.path, rc.role), func(t *testing.T) {
			var body any
			if rc.method != http.MethodGet {
				body = map[string]any{}
			}
			assertProblem(t, e.do(t, rc.role, rc.method, rc.path, body), 403, "forbidden")
		})
	}
}

func TestClients(t *testing.T) {
	e := MustOpenEnv(t)
	t.Run("admin creates a client whose token works", func(t *testing.T) {
		r := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients", map[string]string{"name": "svc", "role": "service"})
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		assert.Equal(t, "no-store", r.Header().Get("Cache-Control"))
		c := r.JSON(t)
		assert.Equal(t, "service", c["role"])
		tok := c["token"].(string)
		assert.True(t, strings.HasPrefix(tok, "cst_"))
		assert.Len(t, tok, 4+43, "256 bits in base64url")
		e.tokens["new"] = tok
		assert.Equal(t, http.StatusOK, e.do(t, "new", http.MethodGet, "/v1/purposes", nil).Code)
	})
	t.Run("bad input", func(t *testing.T) {
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients", map[string]string{"name": "x", "role": "root"}), 422, "invalid", "role")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients", map[string]string{"role": "app"}), 422, "invalid", "name")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients", map[string]string{"name": "x", "role": "app", "token": "mine"}), 400, "malformed", "token")
	})
	assertForbidden(t, e, []roleCheck{
		{privacy.RoleApp, http.MethodPost, "/v1/clients"},
		{privacy.RoleService, http.MethodPost, "/v1/clients"},
		{privacy.RoleAuditor, http.MethodPost, "/v1/clients"},
	})
}

func putPurpose(t testing.TB, e *env, key string) {
	t.Helper()
	r := e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/purposes/"+key,
		map[string]string{"name": key, "description": "why " + key, "legal_basis": "consent"})
	require.Contains(t, []int{200, 201}, r.Code, r.Body.String())
}

func TestPurposes(t *testing.T) {
	e := MustOpenEnv(t)
	t.Run("create, replace, list", func(t *testing.T) {
		body := map[string]string{"name": "Navigation", "description": "Route guidance", "legal_basis": "contract"}
		r := e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/purposes/navigation", body)
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		created := r.JSON(t)
		body["name"] = "Turn-by-turn navigation"
		r = e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/purposes/navigation", body)
		require.Equal(t, http.StatusOK, r.Code)
		replaced := r.JSON(t)
		assert.Equal(t, "Turn-by-turn navigation", replaced["name"])
		assert.Equal(t, created["created_at"], replaced["created_at"])
		for _, role := range privacy.Roles {
			list := e.do(t, role, http.MethodGet, "/v1/purposes", nil)
			require.Equal(t, http.StatusOK, list.Code)
			items := list.JSON(t)["items"].([]any)
			require.Len(t, items, 1)
			assert.Equal(t, "navigation", items[0].(map[string]any)["key"])
		}
	})
	t.Run("bad input lists each field and stores nothing", func(t *testing.T) {
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/purposes/Bad%20Key",
			map[string]string{"name": "n", "description": "d", "legal_basis": "because"}), 422, "invalid", "key", "legal_basis")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/purposes/ok",
			map[string]string{"description": "d"}), 422, "invalid", "name", "legal_basis")
		items := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/purposes", nil).JSON(t)["items"].([]any)
		assert.Len(t, items, 1)
	})
	assertForbidden(t, e, []roleCheck{
		{privacy.RoleApp, http.MethodPut, "/v1/purposes/x"},
		{privacy.RoleService, http.MethodPut, "/v1/purposes/x"},
		{privacy.RoleAuditor, http.MethodPut, "/v1/purposes/x"},
	})
}

func TestCategories(t *testing.T) {
	e := MustOpenEnv(t)
	for _, role := range privacy.Roles {
		r := e.do(t, role, http.MethodGet, "/v1/categories", nil)
		require.Equal(t, http.StatusOK, r.Code)
		items := r.JSON(t)["items"].([]any)
		assert.Len(t, items, len(privacy.Categories()))
	}
	assertProblem(t, e.do(t, "", http.MethodGet, "/v1/categories", nil), 401, "unauthorized")
}

func newDevice(serial string) map[string]string {
	return map[string]string{"manufacturer": "Acme Corp", "model": "Tracker 2", "serial": serial, "firmware_version": "1.0.0",
		"notice_key": "tracker-notice", "owner_subject": "subject-1"}
}

func mustCreateDevice(t testing.TB, e *env, body map[string]string) map[string]any {
	t.Helper()
	r := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices", body)
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	d := r.JSON(t)
	assert.Equal(t, "/v1/devices/"+d["id"].(string), r.Header().Get("Location"))
	return d
}

func TestDevices(t *testing.T) {
	e := MustOpenEnv(t)
	var id string
	t.Run("register, get", func(t *testing.T) {
		d := mustCreateDevice(t, e, newDevice("sn-0001 a"))
		id = d["id"].(string)
		assert.Equal(t, "SN0001A", d["serial"])
		assert.Equal(t, "active", d["status"])
		got := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/devices/"+id, nil)
		require.Equal(t, http.StatusOK, got.Code)
		assert.Equal(t, d, got.JSON(t))
	})
	t.Run("duplicate identity is 409 however it is typed", func(t *testing.T) {
		dup := newDevice("SN-0001-A")
		dup["manufacturer"], dup["model"] = "ACME  corp", "tracker 2"
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices", dup), 409, "conflict", "manufacturer", "model", "serial")
	})
	t.Run("invalid device lists each field", func(t *testing.T) {
		bad := map[string]string{"manufacturer": "Acme", "model": "M", "serial": "S", "firmware_version": "1", "notice_key": "Not A Key",
			"owner_subject": strings.Repeat("x", 201)}
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices", bad), 422, "invalid", "notice_key", "owner_subject")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices", map[string]string{"manufacturer": "Acme"}), 422, "invalid",
			"model", "serial", "firmware_version", "notice_key")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices", map[string]any{"manufacturer": "Acme", "colour": "red"}), 400, "malformed", "colour")
	})
	t.Run("unknown device is 404", func(t *testing.T) {
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/devices/0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e", nil), 404, "not_found")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/devices/not-a-uuid", nil), 404, "not_found")
	})
	t.Run("lifecycle goes forward only", func(t *testing.T) {
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices/"+id+"/dispose", nil), 409, "invalid_transition")
		r := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices/"+id+"/deactivate", nil)
		require.Equal(t, http.StatusOK, r.Code)
		assert.Equal(t, "deactivated", r.JSON(t)["status"])
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices/"+id+"/deactivate", nil), 409, "invalid_transition")
		r = e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices/"+id+"/dispose", nil)
		require.Equal(t, http.StatusOK, r.Code)
		assert.Equal(t, "disposed", r.JSON(t)["status"])
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices/"+id+"/deactivate", nil), 409, "invalid_transition")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices/"+id+"/dispose", nil), 409, "invalid_transition")
	})
	t.Run("incident search with cursor pagination", func(t *testing.T) {
		for i := range 5 {
			b := newDevice(fmt.Sprintf("search-%d", i))
			b["firmware_version"] = fmt.Sprintf("2.%d", i%2)
			b["owner_subject"] = fmt.Sprintf("s-%d", i%2)
			mustCreateDevice(t, e, b)
		}
		var seen []string
		path := "/v1/devices?manufacturer=acme+corp&model=TRACKER+2&firmware=2.0&limit=2"
		for range 5 {
			r := e.do(t, privacy.RoleAdmin, http.MethodGet, path, nil)
			require.Equal(t, http.StatusOK, r.Code, r.Body.String())
			page := r.JSON(t)
			for _, it := range page["items"].([]any) {
				d := it.(map[string]any)
				assert.Equal(t, "2.0", d["firmware_version"])
				seen = append(seen, d["serial"].(string))
			}
			next, ok := page["next_cursor"].(string)
			if !ok {
				break
			}
			path = "/v1/devices?manufacturer=acme+corp&model=TRACKER+2&firmware=2.0&limit=2&cursor=" + next
		}
		assert.Equal(t, []string{"SEARCH0", "SEARCH2", "SEARCH4"}, seen)

		bySubject := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/devices?subject=s-1", nil).JSON(t)["items"].([]any)
		assert.Len(t, bySubject, 2)
	})
	t.Run("bad search parameters", func(t *testing.T) {
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/devices?manufacter=acme", nil), 400, "malformed", "manufacter")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/devices?limit=0", nil), 422, "invalid", "limit")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/devices?limit=201", nil), 422, "invalid", "limit")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/devices?cursor=%%%", nil), 400, "malformed")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/devices?cursor=bm90LWEtdXVpZA", nil), 422, "invalid", "cursor")
	})
	var checks []roleCheck
	for _, role := range []privacy.Role{privacy.RoleApp, privacy.RoleService, privacy.RoleAuditor} {
		checks = append(checks,
			roleCheck{role, http.MethodPost, "/v1/devices"},
			roleCheck{role, http.MethodGet, "/v1/devices"},
			roleCheck{role, http.MethodGet, "/v1/devices/" + id},
			roleCheck{role, http.MethodPost, "/v1/devices/" + id + "/deactivate"},
			roleCheck{role, http.MethodPost, "/v1/devices/" + id + "/dispose"},
		)
	}
	assertForbidden(t, e, checks)
}

func validInventory() map[string]any {
	return map[string]any{"elements": []map[string]any{
		{"key": "location", "description": "GPS position", "category": "personal.location.precise", "sensitivity": "personal",
			"purposes": []string{"navigation"}, "collection_method": "sensor", "retention": "P30D", "recipients": []string{"acme-cloud"}, "storage_region": "EU"},
		{"key": "battery", "description": "Battery level", "category": "nonpersonal.device.status", "sensitivity": "none",
			"purposes": []string{"maintenance"}, "collection_method": "sensor", "retention": "P1Y", "storage_region": "EU"},
	}}
}

func TestInventories(t *testing.T) {
	e := MustOpenEnv(t)
	putPurpose(t, e, "navigation")
	putPurpose(t, e, "maintenance")
	id := mustCreateDevice(t, e, newDevice("inv-1"))["id"].(string)
	path := "/v1/devices/" + id + "/inventory"

	t.Run("no inventory yet is 404", func(t *testing.T) {
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, path, nil), 404, "not_found")
	})
	t.Run("each PUT is a new version; old ones stay", func(t *testing.T) {
		r := e.do(t, privacy.RoleAdmin, http.MethodPut, path, validInventory())
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		v1 := r.JSON(t)
		assert.EqualValues(t, 1, v1["version"])
		assert.Len(t, v1["uncovered"], 2, "no notice is published yet: both elements are uncovered")
		delete(v1, "uncovered")
		assert.Equal(t, []any{}, v1["elements"].([]any)[1].(map[string]any)["recipients"])

		inv := validInventory()
		inv["elements"].([]map[string]any)[0]["retention"] = "P90D"
		r = e.do(t, privacy.RoleAdmin, http.MethodPut, path, inv)
		require.Equal(t, http.StatusCreated, r.Code)
		assert.EqualValues(t, 2, r.JSON(t)["version"])

		for _, role := range []privacy.Role{privacy.RoleAdmin, privacy.RoleApp, privacy.RoleAuditor} {
			cur := e.do(t, role, http.MethodGet, path, nil)
			require.Equal(t, http.StatusOK, cur.Code)
			assert.EqualValues(t, 2, cur.JSON(t)["version"])
		}
		old := e.do(t, privacy.RoleApp, http.MethodGet, path+"?version=1", nil)
		require.Equal(t, http.StatusOK, old.Code)
		assert.Equal(t, v1, old.JSON(t))
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, path+"?version=3", nil), 404, "not_found")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, path+"?version=zero", nil), 422, "invalid", "version")
	})
	t.Run("an empty inventory declares that nothing is collected", func(t *testing.T) {
		other := mustCreateDevice(t, e, newDevice("inv-empty"))["id"].(string)
		r := e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/devices/"+other+"/inventory", map[string]any{"elements": []any{}})
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		assert.Equal(t, []any{}, r.JSON(t)["elements"])
	})
	t.Run("invalid inventory is 422 listing each bad field, and stores nothing", func(t *testing.T) {
		bad := map[string]any{"elements": []map[string]any{
			{"key": "Location!", "description": "x", "category": "personal.location.exact", "sensitivity": "personal",
				"purposes": []string{"navigation", "ads"}, "collection_method": "telepathy", "retention": "30 days", "storage_region": "EU"},
			{"key": "heart", "description": "bpm", "category": "personal.health.vitals", "sensitivity": "personal",
				"purposes": []string{}, "collection_method": "sensor", "retention": "P0D", "storage_region": "moon base"},
		}}
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPut, path, bad), 422, "invalid",
			"elements[0].key", "elements[0].category", "elements[0].purposes[1]", "elements[0].collection_method", "elements[0].retention",
			"elements[1].sensitivity", "elements[1].purposes", "elements[1].retention", "elements[1].storage_region")
		dup := validInventory()
		dup["elements"].([]map[string]any)[1]["key"] = "location"
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPut, path, dup), 422, "invalid", "elements[1].key")
		missing := map[string]any{"elements": []map[string]any{{"key": "x"}}}
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPut, path, missing), 422, "invalid",
			"elements[0].description", "elements[0].category", "elements[0].sensitivity", "elements[0].purposes",
			"elements[0].collection_method", "elements[0].retention", "elements[0].storage_region")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPut, path, map[string]any{}), 422, "invalid", "elements")
		unknown := validInventory()
		unknown["elements"].([]map[string]any)[0]["colour"] = "red"
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPut, path, unknown), 400, "malformed", "elements[0].colour")

		cur := e.do(t, privacy.RoleAdmin, http.MethodGet, path, nil).JSON(t)
		assert.EqualValues(t, 2, cur["version"], "no version was added by bad input")
	})
	t.Run("unknown device is 404", func(t *testing.T) {
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/devices/0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e/inventory", validInventory()), 404, "not_found")
	})
	t.Run("a disposed device's inventory is frozen", func(t *testing.T) {
		require.Equal(t, 200, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices/"+id+"/deactivate", nil).Code)
		require.Equal(t, 200, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices/"+id+"/dispose", nil).Code)
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPut, path, validInventory()), 409, "invalid_transition")
		assert.Equal(t, 200, e.do(t, privacy.RoleAuditor, http.MethodGet, path, nil).Code, "its history stays readable")
	})
	assertForbidden(t, e, []roleCheck{
		{privacy.RoleApp, http.MethodPut, path},
		{privacy.RoleService, http.MethodPut, path},
		{privacy.RoleAuditor, http.MethodPut, path},
		{privacy.RoleService, http.MethodGet, path},
	})
}
