package privacy

import (
	"strings"
	"time"
	"unicode"
)

// DeviceStatus is where a device is in its lifecycle. Only an active device
// can ever be the subject of an allow (Control 30: strictest by default).
type DeviceStatus string

// The lifecycle: active → deactivated → disposed. Disposed is final.
const (
	DeviceActive      DeviceStatus = "active"
	DeviceDeactivated DeviceStatus = "deactivated"
	DeviceDisposed    DeviceStatus = "disposed"
)

// Device is one physical device with a unique, immutable identity
// (Control 35-1): manufacturer, model and serial together never repeat.
type Device struct {
	ID           string
	Manufacturer string
	Model        string
	// Serial is stored normalized (see NormalizeSerial).
	Serial       string
	Firmware     string
	NoticeKey    string
	OwnerSubject string
	Status       DeviceStatus
	// Label is what the owner calls the device ("kitchen camera").
	Label string
	// RefurbishedFrom is the disposed device this unit was refurbished
	// from: the same identity, a new device.
	RefurbishedFrom string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Normalize puts the identity fields in their canonical form, so the same
// device typed two ways ("ACME  corp", "ＳＮ–00 12" / "Acme Corp", "SN0012") is
// recognised as one (identity.go says how).
func (d *Device) Normalize() {
	d.Manufacturer = foldIdentity(d.Manufacturer)
	d.Model = foldIdentity(d.Model)
	d.Serial = NormalizeSerial(d.Serial)
	d.Firmware = strings.TrimSpace(d.Firmware)
	d.NoticeKey = strings.TrimSpace(d.NoticeKey)
	d.Label = strings.TrimSpace(d.Label)
	d.RefurbishedFrom = strings.TrimSpace(d.RefurbishedFrom)
	// OwnerSubject is a subject id: compared byte for byte, never
	// normalized, as in consents.
}

// NormalizeSerial folds a serial number as identity text (NFKC, dashes),
// upper-cases it and drops white space and dashes, which labels and
// people insert freely but which never tell two devices apart.
func NormalizeSerial(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '-' {
			return -1
		}
		return unicode.ToUpper(r)
	}, foldIdentity(s))
}

// IdentityKey is the case-insensitive form of manufacturer and model under
// which the identity triple is unique.
func IdentityKey(s string) string { return strings.ToLower(foldIdentity(s)) }

// Validate checks a normalized device before it is registered.
func (d *Device) Validate() error {
	var p Problems
	checkText(&p, "manufacturer", d.Manufacturer, true, 100, oneLine)
	checkText(&p, "model", d.Model, true, 100, oneLine)
	checkText(&p, "serial", d.Serial, true, 100, oneLine)
	for _, f := range []struct{ field, value string }{{"manufacturer", d.Manufacturer}, {"model", d.Model}, {"serial", d.Serial}} {
		checkIdentity(&p, f.field, f.value)
	}
	checkText(&p, "firmware_version", d.Firmware, true, 64, oneLine)
	if !ValidKey(d.NoticeKey) {
		p.Add("notice_key", keyRule)
	}
	if d.OwnerSubject != "" {
		CheckSubject(&p, "owner_subject", d.OwnerSubject)
	}
	checkText(&p, "label", d.Label, false, 100, oneLine)
	return p.Err("invalid device")
}

// Transition moves the device to status to, or explains why it may not.
// Every lifecycle step goes forward only: a deactivated device is never
// silently reactivated and a disposed one never comes back.
func (d *Device) Transition(to DeviceStatus) error {
	// deactivated → active is a repair; a disposed device stays disposed.
	allowed := (d.Status == DeviceActive && to == DeviceDeactivated) ||
		(d.Status == DeviceDeactivated && (to == DeviceDisposed || to == DeviceActive))
	if !allowed {
		return Errorf(EInvalidTransition, "device is %s and cannot become %s (lifecycle: active ⇄ deactivated → disposed)", d.Status, to)
	}
	d.Status = to
	return nil
}

// DeviceFilter selects devices for incident search. Empty fields match all.
type DeviceFilter struct {
	Manufacturer string
	Model        string
	Firmware     string
	Subject      string
	// After is the id of the last device of the previous page.
	After string
	Limit int
}

// SanitizationMethod is how a disposed device's data was sanitized, as
// NIST SP 800-88 names the methods.
type SanitizationMethod string

// The sanitization methods.
const (
	SanitizeClear   SanitizationMethod = "clear"
	SanitizePurge   SanitizationMethod = "purge"
	SanitizeDestroy SanitizationMethod = "destroy"
)

// Valid reports whether m is a known method.
func (m SanitizationMethod) Valid() bool {
	return m == SanitizeClear || m == SanitizePurge || m == SanitizeDestroy
}

// Sanitization is an attestation that a disposed device's data was
// sanitized: who, when, how. Append-only evidence.
type Sanitization struct {
	DeviceID   string
	Method     SanitizationMethod
	Note       string
	AttestedBy string
	AttestedAt time.Time
	AuditSeq   int64
}

// CheckSanitization validates an attestation's method and note.
func CheckSanitization(p *Problems, prefix string, m SanitizationMethod, note string) {
	if !m.Valid() {
		p.Add(prefix+"method", "must be clear, purge or destroy (NIST SP 800-88)")
	}
	checkText(p, prefix+"note", note, false, 2000, multiline)
}

// DeviceOwner is one owner in a device's history, from the audit entry
// that made them owner (-1: the owner at registration, before history was
// kept).
type DeviceOwner struct {
	DeviceID string
	// Subject is "" for a device without owner, and an erased owner's
	// marker after their erasure.
	Subject  string
	Since    time.Time
	AuditSeq int64
}

// TransferOffer is an owner's offer of their device to another subject,
// which that subject accepts with their own token.
type TransferOffer struct {
	DeviceID, From, To string
	CreatedAt          time.Time
}

// DeviceChange is a change of a device's mutable attributes; nil fields
// stay as they are.
type DeviceChange struct {
	Firmware *string
	Label    *string
}

// Apply validates c and applies it to d, reporting whether anything
// changed.
func (c DeviceChange) Apply(d *Device) (bool, error) {
	var p Problems
	if c.Firmware == nil && c.Label == nil {
		p.Add("firmware_version", "give firmware_version, label or both")
		p.Add("label", "give firmware_version, label or both")
	}
	changed := false
	if c.Firmware != nil {
		f := strings.TrimSpace(*c.Firmware)
		checkText(&p, "firmware_version", f, true, 64, oneLine)
		changed = changed || f != d.Firmware
		d.Firmware = f
	}
	if c.Label != nil {
		l := strings.TrimSpace(*c.Label)
		checkText(&p, "label", l, false, 100, oneLine)
		changed = changed || l != d.Label
		d.Label = l
	}
	return changed, p.Err("invalid device change")
}

// DeviceAttributes is a device's firmware and label from the audit entry
// that set them (-1: as registered, before this history was kept).
type DeviceAttributes struct {
	DeviceID string
	Firmware string
	Label    string
	Since    time.Time
	AuditSeq int64
}

// MemberRole is how a subject shares a device with its owner.
type MemberRole string

// The member roles: a member of the household, or a guest until an end.
const (
	RoleMember MemberRole = "member"
	RoleGuest  MemberRole = "guest"
)

// Member is a subject who shares a device with its owner: each consents
// for themselves.
type Member struct {
	DeviceID string
	Subject  string
	Role     MemberRole
	// Until is a guest's end; zero for a member.
	Until    time.Time
	AddedAt  time.Time
	AddedBy  string
	AuditSeq int64
}

// Active reports whether m shares the device at t.
func (m Member) Active(t time.Time) bool {
	return m.Until.IsZero() || t.Before(m.Until)
}

// CheckMember validates a member about to be added at now.
func CheckMember(p *Problems, m Member, now time.Time) {
	CheckSubject(p, "subject", m.Subject)
	switch m.Role {
	case RoleMember:
		if !m.Until.IsZero() {
			p.Add("until", "is for guests: a member stays until removed")
		}
	case RoleGuest:
		switch {
		case m.Until.IsZero():
			p.Add("until", "is required for a guest")
		case !m.Until.After(now):
			p.Add("until", "must be in the future")
		case m.Until.After(now.AddDate(1, 0, 0)):
			p.Add("until", "must be within a year; a longer stay is a member's")
		}
	default:
		p.Add("role", "must be member or guest")
	}
}
