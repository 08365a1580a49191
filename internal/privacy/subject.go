package privacy

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Subject rights (Control 33): a person asks for a copy of what is held
// about them (access) or for it to be erased. Consentry names subjects in
// its audit log by a pseudonym drawn at random when it first sees them;
// erasure forgets which subject a pseudonym was and leaves, in every row
// that held the subject id, the erased marker ErasedSubject(pseudonym).

// ErasedPrefix begins the marker that stands for an erased subject. No
// subject id may begin with it (CheckSubject).
const ErasedPrefix = "erased:"

// ErasedSubject is the marker that replaces an erased subject's id.
func ErasedSubject(pseudonym string) string { return ErasedPrefix + pseudonym }

// IsErasedSubject reports whether s is an erased subject's marker.
func IsErasedSubject(s string) bool { return strings.HasPrefix(s, ErasedPrefix) }

// RequestType is what a subject asks for.
type RequestType string

// The request types.
const (
	RequestAccess  RequestType = "access"
	RequestErasure RequestType = "erasure"
)

// Valid reports whether t is a known type.
func (t RequestType) Valid() bool { return t == RequestAccess || t == RequestErasure }

// RequestState is where a request is.
type RequestState string

// Request states. An access request completes at once; an erasure is in
// progress from the moment Consentry has erased until every subscribed
// backend has confirmed (or an operator closes it), then completed.
const (
	RequestReceived   RequestState = "received"
	RequestInProgress RequestState = "in_progress"
	RequestCompleted  RequestState = "completed"
	RequestFailed     RequestState = "failed"
)

// SubjectRequest is a data-subject request.
type SubjectRequest struct {
	ID   string
	Type RequestType
	// Pseudonym is the subject's pseudonym in the audit log.
	Pseudonym string
	// SubjectID is held while the request runs, "" once an erasure
	// completed.
	SubjectID     string
	State         RequestState
	ClientID      string
	DueAt         time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	CompletedAt   time.Time
	ReceiptSHA256 string
	// Erased counts, per kind of row, what an erasure erased.
	Erased      ErasedCounts
	CloseReason string
	// Confirmations are the backends that must confirm an erasure.
	Confirmations []RequestConfirmation
}

// Open reports whether the request still runs.
func (r SubjectRequest) Open() bool {
	return r.State == RequestReceived || r.State == RequestInProgress
}

// Overdue reports whether the request runs past its due date at now.
func (r SubjectRequest) Overdue(now time.Time) bool { return r.Open() && now.After(r.DueAt) }

// RequestConfirmation is a subscribed backend's confirmation of an
// erasure; ConfirmedAt is zero until it confirms. WebhookDeleted: the
// backend's webhook was deleted since, so no confirmation is waited for.
type RequestConfirmation struct {
	WebhookID      string
	ConfirmedBy    string
	ConfirmedAt    time.Time
	WebhookDeleted bool
}

// Pending reports whether the confirmation is still waited for.
func (c RequestConfirmation) Pending() bool { return c.ConfirmedAt.IsZero() && !c.WebhookDeleted }

// Waiting reports whether the request waits for a backend's confirmation.
func (r SubjectRequest) Waiting() bool {
	for _, c := range r.Confirmations {
		if c.Pending() {
			return true
		}
	}
	return false
}

// ErasedCounts count the rows an erasure changed.
type ErasedCounts struct {
	ConsentRecords int64 `json:"consent_records"`
	Receipts       int64 `json:"receipts"`
	ConsentStates  int64 `json:"consent_states"`
	Decisions      int64 `json:"decisions"`
	Devices        int64 `json:"devices"`
	Requests       int64 `json:"requests"`
	WebhookEvents  int64 `json:"webhook_events"`
}

// CheckCloseReason validates why an operator closes a request: one line,
// 1-500 characters.
func CheckCloseReason(p *Problems, field, s string) { checkText(p, field, s, true, 500, oneLine) }

// CategoryChild is the data category only a declared child's data may be
// in, used under a guardian's consent in force.
const CategoryChild = "personal.child"

// Age bands an app may declare a child in, when it does not know the date
// of majority.
var AgeBands = []string{"under_13", "13_15", "16_17"}

// MaxGuardians bounds the guardians of one child.
const MaxGuardians = 4

// Child is a subject declared a child: their consent counts only as a
// proxy consent with one of Guardians, until MajorityAt (zero: not known;
// an admin or app then declares the majority).
type Child struct {
	Subject    string
	AgeBand    string
	MajorityAt time.Time
	Guardians  []string
	DeclaredAt time.Time
	DeclaredBy string
	AuditSeq   int64
}

// Minor reports whether c is a child at t.
func (c Child) Minor(t time.Time) bool { return Minor(true, c.MajorityAt, t) }

// Minor is the one rule of who is a child at t: a subject declared one
// (declared), until their majority (zero: not known, a child until it is
// declared).
func Minor(declared bool, majority, t time.Time) bool {
	return declared && (majority.IsZero() || t.Before(majority))
}

// Validate checks a declaration made at now.
func (c Child) Validate(now time.Time) error {
	var p Problems
	CheckSubject(&p, "subject", c.Subject)
	if c.AgeBand == "" && c.MajorityAt.IsZero() {
		p.Add("majority_at", "give the date of majority, an age band, or both")
	}
	if c.AgeBand != "" && !slices.Contains(AgeBands, c.AgeBand) {
		p.Add("age_band", "must be one of %s", strings.Join(AgeBands, ", "))
	}
	if !c.MajorityAt.IsZero() && !c.MajorityAt.After(now) {
		p.Add("majority_at", "must be in the future: an adult is not declared a child")
	}
	if len(c.Guardians) == 0 || len(c.Guardians) > MaxGuardians {
		p.Add("guardians", "name 1 to %d guardians", MaxGuardians)
	}
	seen := map[string]bool{}
	for i, g := range c.Guardians {
		field := fmt.Sprintf("guardians[%d]", i)
		CheckSubject(&p, field, g)
		switch {
		case g == c.Subject:
			p.Add(field, "a child is not their own guardian")
		case seen[g]:
			p.Add(field, "is named twice")
		}
		seen[g] = true
	}
	return p.Err("invalid child declaration")
}
