package privacy

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"
)

// ConsentMethod is how a subject made their choices.
type ConsentMethod string

// The collection methods of consent.
const (
	MethodApp   ConsentMethod = "app"
	MethodWeb   ConsentMethod = "web"
	MethodVoice ConsentMethod = "voice"
	MethodPaper ConsentMethod = "paper"
	MethodAPI   ConsentMethod = "api"
)

// Valid reports whether m is a known method.
func (m ConsentMethod) Valid() bool {
	switch m {
	case MethodApp, MethodWeb, MethodVoice, MethodPaper, MethodAPI:
		return true
	}
	return false
}

// Reasons a withdrawal is made by the service rather than the person.
const (
	// WithdrawalDeviceDisposed: the device was disposed of; its consents
	// end with it.
	WithdrawalDeviceDisposed = "device_disposed"
	// WithdrawalOwnershipTransferred: the device changed owner; everyone's
	// consents on it end, and the new owner starts with nothing granted.
	WithdrawalOwnershipTransferred = "ownership_transferred"
	// WithdrawalMemberRemoved: the subject no longer shares the device
	// (removed by its owner or an admin, or left).
	WithdrawalMemberRemoved = "member_removed"
	// WithdrawalGuestExpired: a guest's time on the device ended.
	WithdrawalGuestExpired = "guest_expired"
	// WithdrawalGuardianRemoved: the guardian who gave a child's proxy
	// consent is no longer declared theirs.
	WithdrawalGuardianRemoved = "guardian_removed"
)

// Kinds of consent record.
const (
	RecordConsent    = "consent"
	RecordWithdrawal = "withdrawal"
)

// ConsentRecord is one consent event (Control 31-2): this subject, for
// this device, was shown this exact notice version in this locale and
// made these choices, at this time, by this method. A withdrawal is a
// record too. Records are never changed.
type ConsentRecord struct {
	ID            string
	Kind          string
	SubjectID     string
	DeviceID      string
	NoticeKey     string
	NoticeVersion int
	NoticeHash    string
	Locale        string
	Method        ConsentMethod
	ClientTime    time.Time // zero when the client sent none
	CreatedAt     time.Time
	ClientID      string
	// Withdraws is, for a withdrawal, the record it withdraws ("" for
	// everything of a subject).
	Withdraws string
	// Reason is, for a withdrawal the service made rather than the
	// person, why (a Withdrawal… constant); "" for the person's own.
	Reason string
	// Guardian is, for a proxy consent, the guardian who gave it with the
	// child (SubjectID); an erased guardian's marker after their erasure.
	Guardian string
	Choices  []ConsentChoice
	// Receipt is the signed receipt (compact JWS) given for the record;
	// "" once its subject was erased (ReceiptSHA256 then holds its hash).
	Receipt       string
	ReceiptSHA256 string
}

// ReceiptHash is the hex SHA-256 of the record's receipt, which its audit
// line commits to: computed while the receipt is held, kept after erasure.
func (r ConsentRecord) ReceiptHash() string {
	if r.Receipt == "" && r.ReceiptSHA256 != "" {
		return r.ReceiptSHA256
	}
	sum := sha256.Sum256([]byte(r.Receipt))
	return hex.EncodeToString(sum[:])
}

// ConsentChoice is the choice for one purpose.
type ConsentChoice struct {
	Purpose   string
	Granted   bool
	ExpiresAt time.Time // zero unless granted
	// AuditSeq is the sequence number of the choice's audit entry.
	AuditSeq int64
}

// ConsentStatus is the state of consent for one subject, device and
// purpose. Only StatusGranted counts as given.
type ConsentStatus string

// The consent statuses.
const (
	StatusGranted           ConsentStatus = "granted"
	StatusDenied            ConsentStatus = "denied"
	StatusWithdrawn         ConsentStatus = "withdrawn"
	StatusExpired           ConsentStatus = "expired"
	StatusReconsentRequired ConsentStatus = "reconsent_required"
)

// ConsentState is the latest choice for a subject, device and purpose.
type ConsentState struct {
	SubjectID     string
	DeviceID      string
	Purpose       string
	RecordID      string
	Kind          string
	Granted       bool
	ExpiresAt     time.Time
	NoticeKey     string
	NoticeVersion int
	// AuditSeq is the audit entry of the choice in force.
	AuditSeq  int64
	UpdatedAt time.Time
	// Proxy: the choice in force was a guardian's, with the child.
	Proxy bool
}

// Status judges the state at now. materialSince says whether the notice
// changed the purpose materially in a version published after the one
// the choice was made on: then the choice no longer holds and consent
// must be asked again. Anything but a live grant is not consent.
func (s ConsentState) Status(now time.Time, materialSince func(noticeKey, purpose string, version int) bool) ConsentStatus {
	switch {
	case s.Kind == RecordWithdrawal:
		return StatusWithdrawn
	case !s.Granted:
		return StatusDenied
	case materialSince(s.NoticeKey, s.Purpose, s.NoticeVersion):
		return StatusReconsentRequired
	case s.ExpiresAt.IsZero() || !now.Before(s.ExpiresAt):
		return StatusExpired
	}
	return StatusGranted
}

// ChangedAfter reports whether a notice version published after version
// changed purpose materially; changes maps each published version to the
// purposes it changed materially.
func ChangedAfter(changes map[int][]string, version int, purpose string) bool {
	for v, ps := range changes {
		if v > version && slices.Contains(ps, purpose) {
			return true
		}
	}
	return false
}

// Later reports whether record a comes after record b in the order the
// current state follows: time, then id (UUIDv7, issued in commit order).
func Later(aTime time.Time, aID string, bTime time.Time, bID string) bool {
	if !aTime.Equal(bTime) {
		return aTime.After(bTime)
	}
	return aID > bID
}

// CheckSubject validates an opaque subject id. Subject ids are compared
// byte for byte and never normalized, so they must be valid UTF-8: two
// invalid ids must not meet as the same U+FFFD.
func CheckSubject(p *Problems, field, s string) {
	if s == "" || len(s) > 200 {
		p.Add(field, "must be 1-200 characters")
		return
	}
	if !utf8.ValidString(s) {
		p.Add(field, "must be valid UTF-8")
		return
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			p.Add(field, "must not contain control characters")
			return
		}
	}
	if IsErasedSubject(s) {
		p.Add(field, "must not begin with %q: that prefix marks an erased subject", ErasedPrefix)
	}
}
