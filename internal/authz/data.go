package authz

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/consentry/consentry/policies"
)

// Rule is one data policy rule: may Subject (a service client's name, or a
// group) do Action on data of Category (a taxonomy pattern) for Purpose?
type Rule struct {
	Subject, Category, Purpose, Action, Effect string
}

// Group puts a service (or a group) in a group.
type Group struct {
	Member, Group string
}

// Data is the data policy (Control 30), held in memory by a cached Casbin
// enforcer and stored in casbin_rule (store.Tx.PolicyLines). Every change bumps a
// generation, so that a decision made on an older policy is re-checked.
type Data struct {
	// read opens a read of the stored rules.
	read func() Lines
	mu   sync.RWMutex
	e    *casbin.SyncedCachedEnforcer
	gen  atomic.Int64
}

// CategoryMatch is the category pattern rule of the data model: "*" is
// any category; "a.b.*" and "a.b" cover a.b.c; a category matches itself.
func CategoryMatch(category, pattern string) bool {
	switch {
	case pattern == "*":
		return true
	case strings.HasSuffix(pattern, ".*"):
		return strings.HasPrefix(category, strings.TrimSuffix(pattern, "*"))
	}
	return category == pattern || strings.HasPrefix(category, pattern+".")
}

// NewData loads the data policy through read, which Reload calls again
// (store.DB's Read, say).
func NewData(read func() Lines) (*Data, error) {
	d := &Data{read: read}
	if err := d.Reload(); err != nil {
		return nil, err
	}
	return d, nil
}

// Reload reads every rule again and drops every cached answer. It is
// called after each policy change.
func (d *Data) Reload() error { return d.ReloadFrom(d.read()) }

// ReloadFrom is Reload reading from lines, which may be a transaction not
// yet committed: a change that restricts the policy takes effect before
// its commit, so no allow evaluated after it can slip in.
func (d *Data) ReloadFrom(lines Lines) error {
	m, err := model.NewModelFromString(policies.DataModel)
	if err != nil {
		return fmt.Errorf("authz: data model: %w", err)
	}
	e, err := casbin.NewSyncedCachedEnforcer(m, ruleAdapter{lines: lines})
	if err != nil {
		return fmt.Errorf("authz: data policy: %w", err)
	}
	e.AddFunction("categoryMatch", func(args ...any) (any, error) {
		if len(args) != 2 {
			return false, fmt.Errorf("categoryMatch takes 2 arguments")
		}
		c, _ := args[0].(string)
		p, _ := args[1].(string)
		return CategoryMatch(c, p), nil
	})
	e.EnableAutoSave(false)
	d.mu.Lock()
	d.e = e
	d.mu.Unlock()
	d.gen.Add(1)
	return nil
}

// Block makes every question answer "no" until the next successful
// reload: what a policy that cannot be loaded must mean.
func (d *Data) Block() error {
	m, err := model.NewModelFromString(policies.DataModel)
	if err != nil {
		return fmt.Errorf("authz: data model: %w", err)
	}
	e, err := casbin.NewSyncedCachedEnforcer(m)
	if err != nil {
		return fmt.Errorf("authz: data policy: %w", err)
	}
	e.AddFunction("categoryMatch", func(...any) (any, error) { return false, nil })
	d.mu.Lock()
	d.e = e
	d.mu.Unlock()
	d.gen.Add(1)
	return nil
}

// Generation changes whenever the policy does.
func (d *Data) Generation() int64 { return d.gen.Load() }

// Allowed answers from the cached enforcer. An error means not allowed.
func (d *Data) Allowed(service, category, purpose, action string) (bool, error) {
	d.mu.RLock()
	e := d.e
	d.mu.RUnlock()
	ok, err := e.Enforce(service, category, purpose, action)
	if err != nil {
		return false, fmt.Errorf("authz: data policy: %w", err)
	}
	return ok, nil
}

// Rules lists the policy.
func (d *Data) Rules() ([]Rule, []Group, error) {
	d.mu.RLock()
	e := d.e
	d.mu.RUnlock()
	ps, err := e.GetPolicy()
	if err != nil {
		return nil, nil, fmt.Errorf("authz: data policy: %w", err)
	}
	gs, err := e.GetGroupingPolicy()
	if err != nil {
		return nil, nil, fmt.Errorf("authz: data policy: %w", err)
	}
	rules := make([]Rule, 0, len(ps))
	for _, p := range ps {
		if len(p) == 5 {
			rules = append(rules, Rule{Subject: p[0], Category: p[1], Purpose: p[2], Action: p[3], Effect: p[4]})
		}
	}
	groups := make([]Group, 0, len(gs))
	for _, g := range gs {
		if len(g) == 2 {
			groups = append(groups, Group{Member: g[0], Group: g[1]})
		}
	}
	return rules, groups, nil
}

// AddRule stores a rule in tx. Call Reload after the transaction commits.
func AddRule(tx Writer, r Rule) error {
	return tx.AddPolicyLine("p", []string{r.Subject, r.Category, r.Purpose, r.Action, r.Effect})
}

// RemoveRule deletes a rule in tx.
func RemoveRule(tx Writer, r Rule) error {
	return tx.RemovePolicyLine("p", []string{r.Subject, r.Category, r.Purpose, r.Action, r.Effect})
}

// AddGroup stores a membership in tx.
func AddGroup(tx Writer, g Group) error {
	return tx.AddPolicyLine("g", []string{g.Member, g.Group})
}

// RemoveGroup deletes a membership in tx.
func RemoveGroup(tx Writer, g Group) error {
	return tx.RemovePolicyLine("g", []string{g.Member, g.Group})
}
