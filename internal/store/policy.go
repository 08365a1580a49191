package store

import (
	"fmt"

	"gorm.io/gorm/clause"
)

// policyRecord is one row of casbin_rule, the table the migrations create
// in the layout Casbin's adapters share (ptype, v0…v5, unused values
// empty), so that databases written by casbin/gorm-adapter read the same.
type policyRecord struct {
	ID    int64 `gorm:"primaryKey"`
	Ptype string
	V0    string
	V1    string
	V2    string
	V3    string
	V4    string
	V5    string
}

func (policyRecord) TableName() string { return "casbin_rule" }

// maxPolicyValues is how many values a casbin_rule row holds.
const maxPolicyValues = 6

func newPolicyRecord(ptype string, values []string) (policyRecord, error) {
	if len(values) > maxPolicyValues {
		return policyRecord{}, fmt.Errorf("store: a policy line has at most %d values, got %d", maxPolicyValues, len(values))
	}
	v := make([]string, maxPolicyValues)
	copy(v, values)
	return policyRecord{Ptype: ptype, V0: v[0], V1: v[1], V2: v[2], V3: v[3], V4: v[4], V5: v[5]}, nil
}

// line is the row as Casbin's policy array: ptype, then the values up to
// the last one set.
func (r policyRecord) line() []string {
	p := []string{r.Ptype, r.V0, r.V1, r.V2, r.V3, r.V4, r.V5}
	n := len(p)
	for n > 1 && p[n-1] == "" {
		n--
	}
	return p[:n]
}

// PolicyLines returns the data policy's rows as Casbin's policy arrays
// (ptype, then the values), in insertion order; rows with no ptype are
// skipped.
func (r *Reader) PolicyLines() ([][]string, error) {
	var rows []policyRecord
	if err := r.db.Order("id").Find(&rows).Error; err != nil {
		return nil, formatError(err, "data policy")
	}
	out := make([][]string, 0, len(rows))
	for _, rec := range rows {
		if rec.Ptype != "" {
			out = append(out, rec.line())
		}
	}
	return out, nil
}

// AddPolicyLine stores one policy row; a row already stored is left as it
// is.
func (tx *Tx) AddPolicyLine(ptype string, values []string) error {
	r, err := newPolicyRecord(ptype, values)
	if err != nil {
		return err
	}
	return formatError(tx.db.Clauses(clause.OnConflict{DoNothing: true}).Create(&r).Error, "data policy rule")
}

// RemovePolicyLine deletes the policy row equal to ptype and values in
// every column.
func (tx *Tx) RemovePolicyLine(ptype string, values []string) error {
	r, err := newPolicyRecord(ptype, values)
	if err != nil {
		return err
	}
	err = tx.db.Where("ptype = ? AND v0 = ? AND v1 = ? AND v2 = ? AND v3 = ? AND v4 = ? AND v5 = ?",
		r.Ptype, r.V0, r.V1, r.V2, r.V3, r.V4, r.V5).Delete(&policyRecord{}).Error
	return formatError(err, "data policy rule")
}
