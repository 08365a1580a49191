package privacy

import "time"

// FindingObject is one thing a finding of the continuous review is about.
type FindingObject struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Finding is one weakness the continuous review found (Control 34).
type Finding struct {
	// ID is stable while the finding lasts: its kind and subject.
	ID       string
	Kind     string
	Severity string
	Control  string
	Detail   string
	Remedy   string
	// Objects are the first things concerned; Count is all.
	Objects []FindingObject
	Count   int
	// Fingerprint changes when what the finding is about changes; an
	// acknowledgment holds only for the fingerprint it was given.
	Fingerprint string
	Ack         *FindingAck
}

// Open reports whether no one acknowledged the finding as it stands.
func (f Finding) Open() bool { return f.Ack == nil || f.Ack.Fingerprint != f.Fingerprint }

// FindingAck is an operator's acknowledgment of a finding: evidence,
// append-only, and audited.
type FindingAck struct {
	ID          string
	FindingID   string
	Fingerprint string
	Note        string
	ClientID    string
	AuditSeq    int64
	CreatedAt   time.Time
}
