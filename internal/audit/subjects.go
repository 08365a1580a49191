package audit

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
)

// The subject index. Entries name their subject by pseudonym; the index
// maps each to its entries, in sixteen slices by its first hex digit.
// The writer extends it in bulk, a slice at a time, between batches, each
// bulk a run keyed by the slice's new mark; subject searches seek once per
// run and read the entries past a slice's mark directly.

// maxSubjectPairs bounds subjectPairs should the index fall far behind
// (failing to be extended, say): past it the record starts over and the
// bulks read the entries back.
const maxSubjectPairs = 1 << 17

// recordSubjects adds a committed batch's subjects to subjectPairs: the
// batch's entries begin at first, and the writer knew the log up to known
// before it.
func (l *Log) recordSubjects(known, first int64, leaves []privacy.AuditLeaf) {
	if first != known || len(l.subjectPairs) >= maxSubjectPairs {
		// Someone else appended in between: their subjects are not here.
		l.subjectPairs, l.subjectPairsFrom = l.subjectPairs[:0], first
	}
	for _, leaf := range leaves {
		if leaf.SubjectPseudonym != "" {
			l.subjectPairs = append(l.subjectPairs, store.AuditSubject{Pseudonym: leaf.SubjectPseudonym, Seq: leaf.Seq})
		}
	}
}

// subjectsOf returns the slice's subjects of the entries from..upto from
// subjectPairs, in the index's key order; false when they are not all
// there.
func (l *Log) subjectsOf(slice string, from, upto int64) ([]store.AuditSubject, bool) {
	if from < l.subjectPairsFrom || upto != l.knownSize {
		return nil, false
	}
	var out []store.AuditSubject
	for _, p := range l.subjectPairs {
		if p.Seq >= from && p.Pseudonym[:1] == slice {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b store.AuditSubject) int {
		return cmp.Or(strings.Compare(a.Pseudonym, b.Pseudonym), cmp.Compare(a.Seq, b.Seq))
	})
	return out, true
}

// forgetSubjects drops from subjectPairs what every slice has indexed.
func (l *Log) forgetSubjects() {
	low := l.knownSize
	for _, c := range store.AuditSubjectSlices {
		low = min(low, l.subjectMarks[string(c)])
	}
	i, _ := slices.BinarySearchFunc(l.subjectPairs, low, func(p store.AuditSubject, seq int64) int { return cmp.Compare(p.Seq, seq) })
	if i > 0 {
		l.subjectPairs = append(l.subjectPairs[:0], l.subjectPairs[i:]...)
	}
	l.subjectPairsFrom = max(l.subjectPairsFrom, low)
}

// indexSubjects extends the subject index's slice furthest behind once
// SubjectIndexEvery entries wait past its mark. A bulk is a run appended
// at the index's end, its pages written once (migration 00020), where an
// index kept per commit wrote one page per entry (migration 00009); one
// slice of sixteen at a time, after answering a batch, keeps the writer's
// pause short. A failure only leaves more entries to be read directly by
// subject searches: it is logged, and the index is tried again once
// SubjectIndexEvery more entries have arrived (not after every batch,
// which would flood the log).
func (l *Log) indexSubjects() {
	slice := ""
	for _, c := range store.AuditSubjectSlices {
		if s := string(c); slice == "" || l.subjectMarks[s] < l.subjectMarks[slice] {
			slice = s
		}
	}
	every := int64(l.opts.SubjectIndexEvery)
	if l.knownSize-l.subjectMarks[slice] < every || l.knownSize < l.subjectsRetry {
		return
	}
	var mark int64
	err := l.db.Transact(context.Background(), func(tx *store.Tx) error {
		if err := tx.LockAudit(); err != nil {
			return err
		}
		from, err := tx.AuditSubjectsIndexed(slice)
		if err != nil {
			return err
		}
		size, err := tx.AuditSize()
		if err != nil {
			return err
		}
		mark = from
		if size-from < every {
			return nil // another instance has just done it
		}
		mark = size
		if rows, ok := l.subjectsOf(slice, from, size); ok {
			return tx.InsertAuditSubjects(slice, size, rows)
		}
		return tx.IndexAuditSubjects(slice, from, size)
	})
	if err != nil {
		l.log.Error("extending the audit subject index failed; subject searches read the entries past it directly", "slice", slice, "error", err)
		l.subjectsRetry = l.knownSize + every
		return
	}
	l.subjectMarks[slice] = mark
	l.forgetSubjects()
}
