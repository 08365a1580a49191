// Package policy manages the data policy (Control 30): the rules that say
// which service may collect, use or share which category of data for which
// purpose. Every change is audited and takes effect at once.
package policy

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
)

// Service changes and lists the data policy.
type Service struct {
	db   *store.DB
	log  *audit.Log
	data *authz.Data
}

// NewService returns a Service. Another instance's policy change is
// loaded by the log's reactions (internal/app), before this instance's
// next decisions are appended.
func NewService(db *store.DB, log *audit.Log, data *authz.Data) *Service {
	return &Service{db: db, log: log, data: data}
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_.:@-]{1,100}$`)

// Change is one rule or one group membership, added or removed.
type Change struct {
	Rule  *authz.Rule
	Group *authz.Group
}

// validate checks a change against the taxonomy and the catalogue.
func (s *Service) validate(ctx context.Context, c Change) error {
	var p privacy.Problems
	switch {
	case c.Rule != nil && c.Group != nil, c.Rule == nil && c.Group == nil:
		p.Add("subject", "give either a rule (subject, category, purpose, action, effect) or a membership (member, group)")
	case c.Group != nil:
		if !namePattern.MatchString(c.Group.Member) {
			p.Add("member", "must be a client name or group: 1-100 of A-Z a-z 0-9 _ . : @ -")
		}
		if !namePattern.MatchString(c.Group.Group) {
			p.Add("group", "must be a group name: 1-100 of A-Z a-z 0-9 _ . : @ -")
		}
	default:
		r := c.Rule
		if !namePattern.MatchString(r.Subject) {
			p.Add("subject", "must be a client name or group: 1-100 of A-Z a-z 0-9 _ . : @ -")
		}
		if !validCategory(r.Category) {
			p.Add("category", "must be *, a category of GET /v1/categories, a prefix of one (personal.location), or a prefix with .* (personal.location.*)")
		}
		if r.Purpose != "*" {
			keys, err := s.db.Read(ctx).PurposeKeys()
			if err != nil {
				return err
			}
			if !keys[r.Purpose] {
				p.Add("purpose", "must be * or a purpose of the catalogue")
			}
		}
		if r.Action != "*" && !slices.Contains([]string{"collect", "use", "share"}, r.Action) {
			p.Add("action", "must be *, collect, use or share")
		}
		if r.Effect != "allow" && r.Effect != "deny" {
			p.Add("effect", "must be allow or deny")
		}
	}
	return p.Err("invalid policy change")
}

// validCategory accepts "*", a category, a dotted prefix of one, or a
// prefix followed by ".*".
func validCategory(pattern string) bool {
	if pattern == "*" {
		return true
	}
	prefix := strings.TrimSuffix(pattern, ".*")
	for _, c := range privacy.Categories() {
		if c.Key == prefix || strings.HasPrefix(c.Key, prefix+".") {
			return true
		}
	}
	return false
}

// Add adds a rule or a membership.
func (s *Service) Add(ctx context.Context, c Change) error { return s.apply(ctx, c, true) }

// Remove removes a rule or a membership; removing what is not there is
// ENotFound.
func (s *Service) Remove(ctx context.Context, c Change) error { return s.apply(ctx, c, false) }

func (s *Service) apply(ctx context.Context, c Change, add bool) error {
	if err := s.validate(ctx, c); err != nil {
		return err
	}
	rules, groups, err := s.data.Rules()
	if err != nil {
		return err
	}
	exists := (c.Rule != nil && slices.Contains(rules, *c.Rule)) || (c.Group != nil && slices.Contains(groups, *c.Group))
	switch {
	case add && exists:
		return privacy.Errorf(privacy.EConflict, "the policy already has this rule")
	case !add && !exists:
		return privacy.Errorf(privacy.ENotFound, "the policy has no such rule")
	}
	_, err = s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		var (
			ev  event.Event
			err error
		)
		switch {
		case c.Rule != nil:
			r := event.PolicyRule{Service: c.Rule.Subject, Category: c.Rule.Category, Purpose: c.Rule.Purpose, Action: c.Rule.Action,
				Effect: c.Rule.Effect}
			if add {
				err, ev = authz.AddRule(tx, *c.Rule), event.PolicyRuleAdded{Rule: r}
			} else {
				err, ev = authz.RemoveRule(tx, *c.Rule), event.PolicyRuleRemoved{Rule: r}
			}
		case add:
			err, ev = authz.AddGroup(tx, *c.Group), event.PolicyGroupAdded{Group: event.PolicyGroup{Member: c.Group.Member, Group: c.Group.Group}}
		default:
			err, ev = authz.RemoveGroup(tx, *c.Group), event.PolicyGroupRemoved{Group: event.PolicyGroup{Member: c.Group.Member, Group: c.Group.Group}}
		}
		if err != nil {
			return nil, err
		}
		if restrictive(c, add) {
			// Fail closed: fewer allows from this point of the log on, even
			// before the commit. A failed commit reloads below.
			if err := s.data.ReloadFrom(tx); err != nil {
				return nil, err
			}
		}
		return []event.Event{ev}, nil
	})
	if err != nil {
		if rerr := s.data.Reload(); rerr != nil {
			_ = s.data.Block()
			return rerr
		}
		return err
	}
	// The change is committed: every decision from now on sees it. A
	// change that allows more takes effect only now, after its commit.
	if err := s.data.Reload(); err != nil {
		_ = s.data.Block()
		return err
	}
	return nil
}

// restrictive reports whether a change can only take allows away.
func restrictive(c Change, add bool) bool {
	if c.Rule != nil {
		return add == (c.Rule.Effect == "deny")
	}
	return !add
}

// List returns the policy.
func (s *Service) List() ([]authz.Rule, []authz.Group, error) { return s.data.Rules() }
