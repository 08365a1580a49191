package authz_test

import (
	"testing"

	"github.com/consentry/consentry/internal/authz"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShippedRoutePolicy(t *testing.T) {
	r, err := authz.NewRoutes()
	require.NoError(t, err)
	tests := []struct {
		sub, obj, act string
		want          bool
	}{
		{"admin", "/v1/clients", "POST", true},
		{"app", "/v1/clients", "POST", false},
		{"service", "/v1/clients", "POST", false},
		{"auditor", "/v1/clients", "POST", false},
		{"admin", "/v1/purposes/:key", "PUT", true},
		{"app", "/v1/purposes/:key", "PUT", false},
		{"app", "/v1/purposes", "GET", true},
		{"service", "/v1/purposes", "GET", true},
		{"auditor", "/v1/categories", "GET", true},
		{"admin", "/v1/devices", "POST", true},
		{"app", "/v1/devices", "POST", false},
		{"app", "/v1/devices/:id", "GET", false},
		{"service", "/v1/devices", "GET", false},
		{"admin", "/v1/devices/:id/deactivate", "POST", true},
		{"auditor", "/v1/devices/:id/dispose", "POST", false},
		{"admin", "/v1/devices/:id/inventory", "PUT", true},
		{"app", "/v1/devices/:id/inventory", "PUT", false},
		{"app", "/v1/devices/:id/inventory", "GET", true},
		{"auditor", "/v1/devices/:id/inventory", "GET", true},
		{"service", "/v1/devices/:id/inventory", "GET", false},
		// Default deny: no rule, unknown role, a concrete path instead of the template, another method.
		{"admin", "/v1/unlisted", "GET", false},
		{"root", "/v1/clients", "POST", false},
		{"admin", "/v1/devices/0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e", "GET", false},
		{"admin", "/v1/clients", "DELETE", false},
		{"", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.sub+" "+tc.act+" "+tc.obj, func(t *testing.T) {
			got, err := r.Allowed(tc.sub, tc.obj, tc.act)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestBrokenPolicyIsAnError(t *testing.T) {
	_, err := authz.LoadRoutes("[request_definition]\nr = sub\n", "")
	assert.Error(t, err)
}

func TestCategoryMatch(t *testing.T) {
	tests := []struct {
		category, pattern string
		want              bool
	}{
		{"personal.location.precise", "*", true},
		{"personal.location.precise", "personal.location.*", true},
		{"personal.location.precise", "personal.location", true},
		{"personal.location.precise", "personal.location.precise", true},
		{"personal.location.precise", "personal.loc", false},
		{"personal.location.precise", "personal.location.coarse", false},
		{"personal.locationx.precise", "personal.location.*", false},
		{"personal.health.vitals", "personal.location.*", false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, authz.CategoryMatch(tc.category, tc.pattern), "%s ~ %s", tc.category, tc.pattern)
	}
}
