package authz

import (
	"errors"
	"fmt"

	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// casbinRule is one row of casbin_rule, the table the migrations create in
// the layout Casbin's adapters share (ptype, v0…v5, unused values empty),
// so databases written by casbin/gorm-adapter read the same.
type casbinRule struct {
	ID    int64 `gorm:"primaryKey"`
	Ptype string
	V0    string
	V1    string
	V2    string
	V3    string
	V4    string
	V5    string
}

func (casbinRule) TableName() string { return "casbin_rule" }

// maxRuleFields is how many values a casbin_rule row holds.
const maxRuleFields = 6

func newCasbinRule(ptype string, rule []string) (casbinRule, error) {
	if len(rule) > maxRuleFields {
		return casbinRule{}, fmt.Errorf("authz: a rule has at most %d values, got %d", maxRuleFields, len(rule))
	}
	v := make([]string, maxRuleFields)
	copy(v, rule)
	return casbinRule{Ptype: ptype, V0: v[0], V1: v[1], V2: v[2], V3: v[3], V4: v[4], V5: v[5]}, nil
}

// line is the row as Casbin's policy array: ptype, then the values up to
// the last one set.
func (r casbinRule) line() []string {
	p := []string{r.Ptype, r.V0, r.V1, r.V2, r.V3, r.V4, r.V5}
	n := len(p)
	for n > 1 && p[n-1] == "" {
		n--
	}
	return p[:n]
}

// ruleAdapter is the Casbin adapter of the data policy: the few statements
// Consentry needs over its own gorm connection, so that the binary does
// not link the MySQL, SQL Server and second SQLite drivers that
// casbin/gorm-adapter brings.
type ruleAdapter struct{ db *gorm.DB }

var _ persist.Adapter = ruleAdapter{}

// errWholeSave: the policy changes one rule at a time, in the caller's
// transaction; Consentry never saves the model whole.
var errWholeSave = errors.New("authz: the data policy is changed one rule at a time, never saved whole")

// LoadPolicy reads every rule in insertion order.
func (a ruleAdapter) LoadPolicy(m model.Model) error {
	var rows []casbinRule
	if err := a.db.Order("id").Find(&rows).Error; err != nil {
		return fmt.Errorf("authz: load data policy: %w", err)
	}
	for _, r := range rows {
		if r.Ptype == "" {
			continue
		}
		if err := persist.LoadPolicyArray(r.line(), m); err != nil {
			return fmt.Errorf("authz: load data policy rule %d: %w", r.ID, err)
		}
	}
	return nil
}

// SavePolicy is refused: see errWholeSave.
func (a ruleAdapter) SavePolicy(model.Model) error { return errWholeSave }

// AddPolicy stores one rule; a rule already stored is left as it is.
func (a ruleAdapter) AddPolicy(_, ptype string, rule []string) error {
	r, err := newCasbinRule(ptype, rule)
	if err != nil {
		return err
	}
	if err := a.db.Clauses(clause.OnConflict{DoNothing: true}).Create(&r).Error; err != nil {
		return fmt.Errorf("authz: add rule: %w", err)
	}
	return nil
}

// RemovePolicy deletes the rule equal to rule in every value.
func (a ruleAdapter) RemovePolicy(_, ptype string, rule []string) error {
	r, err := newCasbinRule(ptype, rule)
	if err != nil {
		return err
	}
	err = a.db.Where("ptype = ? AND v0 = ? AND v1 = ? AND v2 = ? AND v3 = ? AND v4 = ? AND v5 = ?",
		r.Ptype, r.V0, r.V1, r.V2, r.V3, r.V4, r.V5).Delete(&casbinRule{}).Error
	if err != nil {
		return fmt.Errorf("authz: remove rule: %w", err)
	}
	return nil
}

// RemoveFilteredPolicy is refused: rules are removed one by one, each audited.
func (a ruleAdapter) RemoveFilteredPolicy(string, string, int, ...string) error {
	return errWholeSave
}
