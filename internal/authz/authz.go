// Package authz decides which role may call which route, with Casbin and the
// model and policy shipped in policies/. It is the only place route access
// is decided; the HTTP middleware asks it on every authenticated request.
package authz

import (
	"fmt"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	stringadapter "github.com/casbin/casbin/v2/persist/string-adapter"
	"github.com/consentry/consentry/policies"
)

// Routes answers "may role call method route?".
type Routes struct {
	// Cached: every request asks, and the route policy never changes
	// while the process runs.
	e *casbin.SyncedCachedEnforcer
}

// NewRoutes loads the shipped route policy.
func NewRoutes() (*Routes, error) {
	return LoadRoutes(policies.Model, policies.Routes)
}

// LoadRoutes builds a Routes from a model and a CSV policy text.
func LoadRoutes(modelText, policyText string) (*Routes, error) {
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, fmt.Errorf("authz: route model: %w", err)
	}
	e, err := casbin.NewSyncedCachedEnforcer(m, stringadapter.NewAdapter(policyText))
	if err != nil {
		return nil, fmt.Errorf("authz: route policy: %w", err)
	}
	return &Routes{e: e}, nil
}

// Allowed reports whether role may call method on route (a gin route
// template). An error means "not allowed" to every caller that checks it.
func (r *Routes) Allowed(role, route, method string) (bool, error) {
	ok, err := r.e.Enforce(role, route, method)
	if err != nil {
		return false, fmt.Errorf("authz: enforce: %w", err)
	}
	return ok, nil
}
