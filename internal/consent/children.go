package consent

import (
	"context"
	"slices"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
)

// DeclareChild declares c.Subject a child (Control 31-2): from then their
// consent is a proxy consent, given with one of c.Guardians, until their
// majority, and decisions deny on a grant they gave alone
// (guardian_consent_required). A declaration replaces an earlier one; a
// guardian it no longer names ends, in the same change, the proxy consents
// they gave (withdrawals with receipts, reason guardian_removed).
func (s *Service) DeclareChild(ctx context.Context, c privacy.Child, clientID string) (privacy.Child, error) {
	c.Guardians = slices.Clone(c.Guardians)
	if !c.MajorityAt.IsZero() {
		c.MajorityAt = c.MajorityAt.UTC().Truncate(time.Microsecond)
	}
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		if err := c.Validate(tx.Now()); err != nil {
			return nil, err
		}
		events, err := s.endProxies(tx, c.Subject, func(guardian string) bool { return !slices.Contains(c.Guardians, guardian) },
			privacy.WithdrawalGuardianRemoved, clientID)
		if err != nil {
			return nil, err
		}
		// The declaration's entry follows the withdrawals.
		c.DeclaredAt, c.DeclaredBy, c.AuditSeq = tx.Now(), clientID, tx.NextSeq()
		if err := tx.PutChild(c); err != nil {
			return nil, err
		}
		pseudonyms := make([]string, len(c.Guardians))
		for i, g := range c.Guardians {
			if pseudonyms[i], err = tx.Pseudonym(g); err != nil {
				return nil, err
			}
		}
		return append(events, event.ChildDeclared{Child: c, Guardians: pseudonyms}), nil
	})
	if err != nil {
		return privacy.Child{}, err
	}
	slices.Sort(c.Guardians)
	return c, nil
}

// DeclareMajority declares a child of age now: the consents given with a
// guardian no longer count (reconfirmation_required) until the person
// consents themself. The declaration stays, to say so.
func (s *Service) DeclareMajority(ctx context.Context, subject, clientID string) (privacy.Child, error) {
	var c privacy.Child
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		var err error
		if c, err = tx.Child(subject); err != nil {
			return nil, err
		}
		if !c.Minor(tx.Now()) {
			return nil, privacy.Errorf(privacy.EConflict, "the subject came of age at %s", c.MajorityAt.Format(time.RFC3339))
		}
		c.MajorityAt, c.DeclaredAt, c.DeclaredBy, c.AuditSeq = tx.Now(), tx.Now(), clientID, tx.NextSeq()
		if err := tx.PutChild(c); err != nil {
			return nil, err
		}
		return []event.Event{event.MajorityDeclared{Subject: subject, At: c.MajorityAt}}, nil
	})
	return c, err
}

// Child reads a subject's declaration as a child; ENotFound when none.
func (s *Service) Child(ctx context.Context, subject string) (privacy.Child, error) {
	var p privacy.Problems
	privacy.CheckSubject(&p, "subject", subject)
	if err := p.Err("invalid subject"); err != nil {
		return privacy.Child{}, err
	}
	c, err := s.db.Read(ctx).Child(subject)
	if privacy.ErrorCode(err) == privacy.ENotFound {
		return privacy.Child{}, privacy.Errorf(privacy.ENotFound, "the subject is not declared a child")
	}
	return c, err
}

// endProxies withdraws, in tx, the child's grants in force that a
// guardian the test picks gave with them, for reason.
func (s *Service) endProxies(tx *audit.Tx, child string, pick func(guardian string) bool, reason, clientID string) ([]event.Event, error) {
	states, err := tx.ConsentStates(child, "")
	if err != nil {
		return nil, err
	}
	var ending []privacy.ConsentState
	for _, st := range states {
		if !st.Proxy || !st.Granted {
			continue
		}
		rec, err := tx.ConsentRecord(st.RecordID)
		if err != nil {
			return nil, err
		}
		if pick(rec.Guardian) {
			ending = append(ending, st)
		}
	}
	_, events, err := s.withdrawStates(tx, ending, privacy.MethodAPI, clientID, reason)
	return events, err
}
