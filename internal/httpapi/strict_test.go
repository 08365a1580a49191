package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStrictBodies: what encoding/json would accept silently (invalid
// UTF-8, lone surrogates, duplicate or differently cased names, another
// charset) is a 400 naming the field, and nothing is stored.
func TestStrictBodies(t *testing.T) {
	e := MustOpenEnv(t)
	d := mustCreateDevice(t, e, newDevice("strict-1"))
	inventory := "/v1/devices/" + d["id"].(string) + "/inventory"
	device := `{"manufacturer":"Acme Corp","model":"Tracker 2","serial":"strict-2","firmware_version":"1.0.0","notice_key":"tracker-notice"`
	for _, tc := range []struct {
		name, path, body, field, detail string
	}{
		{"invalid UTF-8 in a value", "/v1/devices", device + `,"owner_subject":"ab` + "\xff" + `"}`, "owner_subject", "invalid UTF-8"},
		{"a lone surrogate", "/v1/devices", device + `,"owner_subject":"ab\ud800"}`, "owner_subject", "surrogate"},
		{"a lone low surrogate", "/v1/devices", device + `,"owner_subject":"ab\udc00x"}`, "owner_subject", "surrogate"},
		{"invalid UTF-8 in a name", "/v1/devices", device + `,"own` + "\xfe" + `":"x"}`, "", "invalid UTF-8"},
		{"a duplicate name", "/v1/devices", device + `,"serial":"strict-3"}`, "serial", "duplicate"},
		{"a name in another case", "/v1/devices", device + `,"Serial":"strict-3"}`, "Serial", "unknown field"},
		{"a nested duplicate", inventory, `{"elements":[{"key":"a","key":"b"}]}`, "elements[0].key", "duplicate"},
		{"the wrong kind", "/v1/devices", `{"serial":[1,2,3]}`, "serial", "must be a JSON string, not array"},
		{"the wrong kind in an array", inventory, `{"elements":[1]}`, "elements[0]", "must be a JSON object, not number"},
		{"not an object", "/v1/devices", `[{}]`, "", "must be a JSON object"},
		{"trailing data", "/v1/devices", device + `}{}`, "", "exactly one JSON value"},
		{"trailing garbage", "/v1/devices", device + `} x`, "", "not valid JSON"},
		{"cut short", "/v1/devices", device, "", "ends in the middle"},
		{"empty", "/v1/devices", ``, "", "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodPost
			if tc.path == inventory {
				method = http.MethodPut
			}
			r := e.do(t, privacy.RoleAdmin, method, tc.path, []byte(tc.body))
			var p map[string]any
			if tc.field != "" {
				p = assertProblem(t, r, http.StatusBadRequest, "malformed", tc.field)
			} else {
				p = assertProblem(t, r, http.StatusBadRequest, "malformed")
			}
			assert.Contains(t, p["detail"], tc.detail)
		})
	}
	list := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/devices?manufacturer=Acme+Corp", nil).JSON(t)
	assert.Len(t, list["items"], 1, "nothing was stored: %v", list)

	// A body declared in another charset is refused, whatever its bytes.
	for _, ct := range []string{"application/json; charset=utf-16", "application/json; charset=latin1"} {
		req := httptest.NewRequest(http.MethodPost, "/v1/devices", strings.NewReader(device+"}"))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+e.tokens[privacy.RoleAdmin])
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		p := assertProblem(t, response{rec}, http.StatusBadRequest, "malformed", "Content-Type")
		assert.Contains(t, p["detail"], "UTF-8")
	}
	// UTF-8, named either way, is accepted.
	req := httptest.NewRequest(http.MethodPost, "/v1/devices", strings.NewReader(device+"}"))
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	req.Header.Set("Authorization", "Bearer "+e.tokens[privacy.RoleAdmin])
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
}

// TestArrayLimitsBeforeItems: an array past its route's limit is refused
// at the item that breaks it, before any item is judged, and a problem
// lists at most 100 field errors and counts the rest.
func TestArrayLimitsBeforeItems(t *testing.T) {
	e := MustOpenEnv(t)
	d := mustCreateDevice(t, e, newDevice("limits-1"))
	inventory := "/v1/devices/" + d["id"].(string) + "/inventory"
	many := func(n int, item string) string { return strings.TrimSuffix(strings.Repeat(item+",", n), ",") }
	for _, tc := range []struct {
		name, method, path string
		role               privacy.Role
		body, field        string
	}{
		{"inventory elements", http.MethodPut, inventory, privacy.RoleAdmin, `{"elements":[` + many(201, `{}`) + `]}`, "elements"},
		{"an element's purposes", http.MethodPut, inventory, privacy.RoleAdmin, `{"elements":[{"purposes":[` + many(51, `"p"`) + `]}]}`, "elements[0].purposes"},
		{"batch checks", http.MethodPost, "/v1/decisions/batch", privacy.RoleService, `{"checks":[` + many(1001, `{}`) + `]}`, "checks"},
		{"consent choices", http.MethodPost, "/v1/consents", privacy.RoleApp, `{"choices":[` + many(101, `{}`) + `]}`, "choices"},
		{"notice purposes", http.MethodPost, "/v1/notices/tracker-notice/versions", privacy.RoleAdmin, `{"purposes":[` + many(101, `{}`) + `]}`, "purposes"},
		{"notice texts", http.MethodPost, "/v1/notices/tracker-notice/versions", privacy.RoleAdmin,
			`{"texts":{` + manyKeys(51) + `}}`, "texts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, tc.role, tc.method, tc.path, []byte(tc.body))
			p := assertProblem(t, r, http.StatusUnprocessableEntity, "invalid", tc.field)
			assert.Contains(t, p["detail"], "at most")
			assert.Less(t, r.Body.Len(), 1000, "one error, not one per item")
		})
	}

	// 1,000 empty checks are within the limit: each breaks five rules, and
	// the answer lists 100 of the 5,000 errors.
	r := e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions/batch", []byte(`{"checks":[`+many(1000, `{}`)+`]}`))
	p := assertProblem(t, r, http.StatusUnprocessableEntity, "invalid")
	require.Len(t, p["errors"], privacy.MaxFieldErrors)
	assert.EqualValues(t, 5000-privacy.MaxFieldErrors, p["errors_omitted"])
	assert.Less(t, r.Body.Len(), 16<<10)
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"l` + strings.Repeat("x", i) + `":{}`)
	}
	return b.String()
}

// TestDeviceLookAlikes: each look-alike of a registered identity is a 409
// against it or a 422, never a second device (Control 35-1).
func TestDeviceLookAlikes(t *testing.T) {
	e := MustOpenEnv(t)
	mustCreateDevice(t, e, newDevice("SN-0042-AB"))
	for _, tc := range []struct {
		name, field, value string
		status             int
	}{
		{"fullwidth serial", "serial", "ＳＮ-0042-AB", http.StatusConflict},
		{"en-dash serial", "serial", "SN–0042–AB", http.StatusConflict},
		{"fullwidth manufacturer", "manufacturer", "Ａｃｍｅ Corp", http.StatusConflict},
		{"zero-width space in the model", "model", "Tracker\u200b 2", http.StatusUnprocessableEntity},
		{"Cyrillic A in Acme", "manufacturer", "\u0410cme Corp", http.StatusUnprocessableEntity},
		{"right-to-left override", "manufacturer", "Acme \u202eCorp", http.StatusUnprocessableEntity},
		{"emoji", "manufacturer", "Acme Corp \U0001F4F7", http.StatusUnprocessableEntity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDevice("SN-0042-AB")
			d[tc.field] = tc.value
			r := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices", d)
			if tc.status == http.StatusConflict {
				assertProblem(t, r, tc.status, "conflict")
			} else {
				assertProblem(t, r, tc.status, "invalid", tc.field)
			}
		})
	}
	list := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/devices?manufacturer=Ａｃｍｅ+Corp", nil).JSON(t)
	assert.Len(t, list["items"], 1, "one device, found by its folded manufacturer too")
}

// TestSubjectsAreBytes: a subject id in a path that is not valid UTF-8 is
// refused, so ab\xff and ab\xfe never meet as one subject.
func TestSubjectsAreBytes(t *testing.T) {
	e := MustOpenEnv(t)
	for _, path := range []string{"/v1/subjects/ab%FF/consents", "/v1/subjects/ab%FE/privacy"} {
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, path, nil), http.StatusUnprocessableEntity, "invalid", "subject")
	}
}
