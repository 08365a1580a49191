package httpapi

import (
	"net/http"

	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/policy"
	"github.com/gin-gonic/gin"
)

// policyChange is a data policy rule, or a group membership.
type policyChange struct {
	// Rule: the service client's name, or a group.
	Subject string `json:"subject,omitempty" example:"route-planner"`
	// Rule: *, a category, a prefix of categories (personal.location), or a prefix with .* (personal.location.*).
	Category string `json:"category,omitempty" example:"personal.location.*"`
	// Rule: a catalogue purpose, or *.
	Purpose string `json:"purpose,omitempty" example:"navigation"`
	Action  string `json:"action,omitempty" enums:"collect,use,share,*" example:"use"`
	Effect  string `json:"effect,omitempty" enums:"allow,deny" example:"allow"`
	// Membership: a service client's name (or a group) ...
	Member string `json:"member,omitempty" example:"route-planner"`
	// ... and the group it joins.
	Group string `json:"group,omitempty" example:"navigation-services"`
}

func (p policyChange) toDomain() policy.Change {
	if p.Member != "" || p.Group != "" {
		c := policy.Change{Group: &authz.Group{Member: p.Member, Group: p.Group}}
		if p.Subject != "" || p.Category != "" || p.Purpose != "" || p.Action != "" || p.Effect != "" {
			c.Rule = &authz.Rule{}
		}
		return c
	}
	return policy.Change{Rule: &authz.Rule{Subject: p.Subject, Category: p.Category, Purpose: p.Purpose, Action: p.Action, Effect: p.Effect}}
}

// policyRule is one rule.
type policyRule struct {
	Subject  string `json:"subject" example:"route-planner"`
	Category string `json:"category" example:"personal.location.*"`
	Purpose  string `json:"purpose" example:"navigation"`
	Action   string `json:"action" example:"use"`
	Effect   string `json:"effect" enums:"allow,deny" example:"allow"`
}

// policyGroup is one membership.
type policyGroup struct {
	Member string `json:"member" example:"route-planner"`
	Group  string `json:"group" example:"navigation-services"`
}

// policyList is the whole data policy.
type policyList struct {
	Rules  []policyRule  `json:"rules"`
	Groups []policyGroup `json:"groups"`
}

// listPolicies returns the data policy.
//
// @Summary  The data policy
// @ID       listPolicies
// @Description Rules (deny overrides allow; no rule allows nothing) and group memberships.
// @Tags     policies
// @Security BearerAuth
// @Produce  json
// @Success  200 {object} policyList
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read the policy"
// @Router   /v1/policies [get]
func (s *Server) listPolicies(c *gin.Context) error {
	rules, groups, err := s.policies.List()
	if err != nil {
		return err
	}
	out := policyList{Rules: make([]policyRule, len(rules)), Groups: make([]policyGroup, len(groups))}
	for i, r := range rules {
		out.Rules[i] = policyRule(r)
	}
	for i, g := range groups {
		out.Groups[i] = policyGroup(g)
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}

// addPolicy adds a rule or a membership.
//
// @Summary  Add to the data policy
// @ID       addPolicy
// @Description Either a rule (subject, category, purpose, action, effect) or a membership (member, group). Audited; in force at once.
// @Tags     policies
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    body body policyChange true "the rule or membership"
// @Success  201 {object} policyChange
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not change the policy"
// @Failure  409 {object} problem "the policy already has it"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "invalid fields"
// @Router   /v1/policies [post]
func (s *Server) addPolicy(c *gin.Context) error {
	var req policyChange
	if err := s.decode(c, &req); err != nil {
		return err
	}
	if err := s.policies.Add(c.Request.Context(), req.toDomain()); err != nil {
		return err
	}
	writeJSON(c, http.StatusCreated, req)
	return nil
}

// removePolicy removes a rule or a membership.
//
// @Summary  Remove from the data policy
// @ID       removePolicy
// @Description The body names the rule or membership to remove, as it was added. Audited; in force at once.
// @Tags     policies
// @Security BearerAuth
// @Accept   json
// @Param    body body policyChange true "the rule or membership"
// @Success  204 "removed"
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not change the policy"
// @Failure  404 {object} problem "the policy has no such rule"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "invalid fields"
// @Router   /v1/policies [delete]
func (s *Server) removePolicy(c *gin.Context) error {
	var req policyChange
	if err := s.decode(c, &req); err != nil {
		return err
	}
	if err := s.policies.Remove(c.Request.Context(), req.toDomain()); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}
