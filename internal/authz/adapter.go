package authz

import (
	"errors"
	"fmt"

	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
)

// Lines is where the data policy's rules are read from: a store.Tx (a
// read, or a transaction not yet committed).
type Lines interface {
	PolicyLines() ([][]string, error)
}

// Writer is where rule changes are written: the store.Tx of the change.
type Writer interface {
	AddPolicyLine(ptype string, values []string) error
	RemovePolicyLine(ptype string, values []string) error
}

// ruleAdapter is the Casbin adapter of the data policy: it loads the rules
// from Lines. Changes are written one rule at a time in the caller's
// transaction (AddRule and the like), never through the adapter.
type ruleAdapter struct{ lines Lines }

var _ persist.Adapter = ruleAdapter{}

// errWholeSave: the policy changes one rule at a time, in the caller's
// transaction; Consentry never saves the model whole.
var errWholeSave = errors.New("authz: the data policy is changed one rule at a time, never saved whole")

// LoadPolicy reads every rule in insertion order.
func (a ruleAdapter) LoadPolicy(m model.Model) error {
	lines, err := a.lines.PolicyLines()
	if err != nil {
		return fmt.Errorf("authz: load data policy: %w", err)
	}
	for i, line := range lines {
		if err := persist.LoadPolicyArray(line, m); err != nil {
			return fmt.Errorf("authz: load data policy rule %d: %w", i+1, err)
		}
	}
	return nil
}

// SavePolicy is refused: see errWholeSave.
func (a ruleAdapter) SavePolicy(model.Model) error { return errWholeSave }

// AddPolicy is refused: see errWholeSave.
func (a ruleAdapter) AddPolicy(string, string, []string) error { return errWholeSave }

// RemovePolicy is refused: see errWholeSave.
func (a ruleAdapter) RemovePolicy(string, string, []string) error { return errWholeSave }

// RemoveFilteredPolicy is refused: rules are removed one by one, each audited.
func (a ruleAdapter) RemoveFilteredPolicy(string, string, int, ...string) error {
	return errWholeSave
}
