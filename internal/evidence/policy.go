package evidence

import (
	"cmp"
	"slices"

	"github.com/consentry/consentry/internal/event"
)

// policyState is the data policy as the policy.* entries leave it, in
// order: what policies.json holds, for the export (at its checkpoint)
// and for the verifier (from the entries it reads).
type policyState struct {
	rules  map[Rule]bool
	groups map[Group]bool
}

func newPolicyState() *policyState {
	return &policyState{rules: map[Rule]bool{}, groups: map[Group]bool{}}
}

// apply takes the next entry's event; others than policy.* change nothing.
func (p *policyState) apply(ev event.Event) {
	switch e := ev.(type) {
	case event.PolicyRuleAdded:
		p.rules[rule(e.Rule)] = true
	case event.PolicyRuleRemoved:
		delete(p.rules, rule(e.Rule))
	case event.PolicyGroupAdded:
		p.groups[Group{Member: e.Group.Member, Group: e.Group.Group}] = true
	case event.PolicyGroupRemoved:
		delete(p.groups, Group{Member: e.Group.Member, Group: e.Group.Group})
	}
}

func rule(r event.PolicyRule) Rule {
	return Rule{Subject: r.Service, Category: r.Category, Purpose: r.Purpose, Action: r.Action, Effect: r.Effect}
}

// file is policies.json's content: rules and groups sorted field by field.
func (p *policyState) file() Policies {
	out := Policies{Rules: make([]Rule, 0, len(p.rules)), Groups: make([]Group, 0, len(p.groups))}
	for r := range p.rules {
		out.Rules = append(out.Rules, r)
	}
	for g := range p.groups {
		out.Groups = append(out.Groups, g)
	}
	slices.SortFunc(out.Rules, func(a, b Rule) int {
		return cmp.Or(cmp.Compare(a.Subject, b.Subject), cmp.Compare(a.Category, b.Category), cmp.Compare(a.Purpose, b.Purpose),
			cmp.Compare(a.Action, b.Action), cmp.Compare(a.Effect, b.Effect))
	})
	slices.SortFunc(out.Groups, func(a, b Group) int { return cmp.Or(cmp.Compare(a.Member, b.Member), cmp.Compare(a.Group, b.Group)) })
	return out
}
