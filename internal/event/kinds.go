package event

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// Decision is an access decision (decide). ServiceName is the name the
// data policy knows the service by: the replay of the policy check needs it.
type Decision struct {
	ID, ServiceID, ServiceName, Subject, DeviceID, Element, Purpose string
	// DataAction is what the service asked to do: collect, use or share.
	DataAction string
	Allow      bool
	Reasons    []string
	// ConsentSeq is the consent entry an allow relied on.
	ConsentSeq int64
	// StepsSHA256 commits to the decision's explanation, every check with
	// its outcome (audit.DecisionStepsSHA256).
	StepsSHA256 string
}

func (Decision) Action() string { return ActionDecision }

func (d Decision) Entry() Entry {
	e := Entry{Subject: d.Subject, Reasons: d.Reasons, Outcome: OutcomeDeny, RecordSHA256: d.StepsSHA256, Targets: map[string]string{"decision": d.ID,
		"device": d.DeviceID, "element": d.Element, "purpose": d.Purpose, "action": d.DataAction, "service": d.ServiceID,
		"service_name": d.ServiceName}}
	if d.Allow {
		seq := d.ConsentSeq
		e.Outcome, e.ReliesOn = OutcomeAllow, &seq
	}
	return e
}

// Consent is one purpose's choice in a consent record: the purpose's state
// as the record made it current.
type Consent struct {
	privacy.ConsentState
	// ReceiptSHA256 is the SHA-256 of the record's signed receipt.
	ReceiptSHA256 string
	// RecordSHA256 is the SHA-256 of the whole record's canonical line
	// (audit.ConsentLine), the same for each of its purposes.
	RecordSHA256 string
	// Reason is why the service withdrew, when the person did not (the
	// record's; its line commits to it, the entry does not repeat it).
	Reason string
	// Guardian is, for a proxy consent, the guardian's pseudonym (Proxy
	// is set): the verifier's replay judges a child's decisions on it.
	Guardian string
}

func (c Consent) entry(outcome string) Entry {
	e := Entry{Subject: c.SubjectID, PayloadSHA256: c.ReceiptSHA256, RecordSHA256: c.RecordSHA256, ExpiresAt: c.ExpiresAt, Outcome: outcome,
		Targets: map[string]string{"device": c.DeviceID, "purpose": c.Purpose, "record": c.RecordID, "notice": c.NoticeKey,
			"notice_version": strconv.Itoa(c.NoticeVersion)}}
	if c.Guardian != "" {
		e.Targets["guardian"] = c.Guardian
	}
	return e
}

// ConsentRecorded is a purpose granted or denied by a consent record.
type ConsentRecorded struct {
	Consent
	// RevokesGrant: a denial that replaced a grant still in force.
	RevokesGrant bool
}

func (ConsentRecorded) Action() string { return ActionConsentRecorded }

func (c ConsentRecorded) Entry() Entry {
	if c.Granted {
		return c.entry(OutcomeGranted)
	}
	e := c.entry(OutcomeDenied)
	if c.RevokesGrant {
		e.Reasons = []string{ReasonRevokesGrant}
	}
	return e
}

// ConsentWithdrawn is a purpose withdrawn by a withdrawal record.
type ConsentWithdrawn struct{ Consent }

func (ConsentWithdrawn) Action() string { return ActionConsentWithdrawn }

func (c ConsentWithdrawn) Entry() Entry { return c.entry(OutcomeWithdrawn) }

// ConsentStateRebuilt is the current consent state recomputed from the
// records alone.
type ConsentStateRebuilt struct{}

func (ConsentStateRebuilt) Action() string { return ActionConsentStateRebuilt }
func (ConsentStateRebuilt) Entry() Entry   { return Entry{} }

// DeviceRegistered is a new device. RecordSHA256 is the commitment to
// its line (audit.DeviceLine).
type DeviceRegistered struct {
	Device       privacy.Device
	RecordSHA256 string
}

func (DeviceRegistered) Action() string { return ActionDeviceRegistered }
func (e DeviceRegistered) Entry() Entry { return deviceEntry(e.Device, e.RecordSHA256) }

// DeviceStatusChanged is a device activated, deactivated or disposed of;
// Device carries its new status, RecordSHA256 the commitment to its line
// after the change (audit.DeviceLine).
type DeviceStatusChanged struct {
	Device       privacy.Device
	RecordSHA256 string
	// FormerOwner is the owner a disposal took the device from: the entry
	// and the webhook are about them.
	FormerOwner string
}

func (e DeviceStatusChanged) Action() string { return "device." + string(e.Device.Status) }

func (e DeviceStatusChanged) Entry() Entry {
	en := deviceEntry(e.Device, e.RecordSHA256)
	if e.FormerOwner != "" {
		en.Subject = e.FormerOwner
	}
	return en
}

func deviceEntry(d privacy.Device, record string) Entry {
	return Entry{Targets: map[string]string{"device": d.ID}, Subject: d.OwnerSubject, RecordSHA256: record}
}

// InventoryDeclared is a new version of a device's data inventory.
type InventoryDeclared struct {
	Inventory privacy.Inventory
	// Owner is the device's owner subject, if it has one.
	Owner string
	// RecordSHA256 is the commitment to the version's line
	// (audit.InventoryLine).
	RecordSHA256 string
}

func (InventoryDeclared) Action() string { return ActionInventoryDeclared }

func (e InventoryDeclared) Entry() Entry {
	return Entry{Subject: e.Owner, RecordSHA256: e.RecordSHA256,
		Targets: map[string]string{"device": e.Inventory.DeviceID, "inventory_version": strconv.Itoa(e.Inventory.Version)}}
}

// NoticeCreated is a new privacy notice, with no version yet.
type NoticeCreated struct{ Notice privacy.Notice }

func (NoticeCreated) Action() string { return ActionNoticeCreated }

func (e NoticeCreated) Entry() Entry {
	return Entry{Targets: map[string]string{"notice": e.Notice.Key}, Payload: e.Notice}
}

func versionEntry(v privacy.NoticeVersion) Entry {
	return Entry{Targets: map[string]string{"notice": v.NoticeKey, "version": strconv.Itoa(v.Version)}, PayloadSHA256: v.ContentHash}
}

// NoticeVersionDrafted is a new draft version of a notice.
type NoticeVersionDrafted struct{ Version privacy.NoticeVersion }

func (NoticeVersionDrafted) Action() string { return ActionNoticeVersionDrafted }
func (e NoticeVersionDrafted) Entry() Entry { return versionEntry(e.Version) }

// NoticeVersionUpdated is a draft's content replaced.
type NoticeVersionUpdated struct{ Version privacy.NoticeVersion }

func (NoticeVersionUpdated) Action() string { return ActionNoticeVersionUpdated }
func (e NoticeVersionUpdated) Entry() Entry { return versionEntry(e.Version) }

// NoticeVersionDeleted is a draft deleted.
type NoticeVersionDeleted struct{ Version privacy.NoticeVersion }

func (NoticeVersionDeleted) Action() string { return ActionNoticeVersionDeleted }
func (e NoticeVersionDeleted) Entry() Entry { return versionEntry(e.Version) }

// NoticePublished is a version published: from now on the one in force.
// Version.MaterialPurposes are the purposes it changed materially.
type NoticePublished struct{ Version privacy.NoticeVersion }

func (NoticePublished) Action() string { return ActionNoticePublished }

func (e NoticePublished) Entry() Entry {
	en := versionEntry(e.Version)
	for _, p := range e.Version.MaterialPurposes {
		en.Reasons = append(en.Reasons, reasonMaterialChange+p)
	}
	return en
}

// PurposePut is a purpose of the catalogue created or replaced.
type PurposePut struct {
	Purpose privacy.Purpose
	Created bool
}

func (PurposePut) Action() string { return ActionPurposePut }

func (e PurposePut) Entry() Entry {
	outcome := "replaced"
	if e.Created {
		outcome = "created"
	}
	return Entry{Targets: map[string]string{"purpose": e.Purpose.Key}, Outcome: outcome, Payload: e.Purpose}
}

// PolicyRule is one rule of the data policy.
type PolicyRule struct{ Service, Category, Purpose, Action, Effect string }

// PolicyGroup is one membership of the data policy.
type PolicyGroup struct{ Member, Group string }

func (r PolicyRule) entry() Entry {
	// "service", not "subject": a subject target names a data subject.
	return Entry{Targets: map[string]string{"service": r.Service, "category": r.Category, "purpose": r.Purpose, "action": r.Action,
		"effect": r.Effect}}
}

func (g PolicyGroup) entry() Entry {
	return Entry{Targets: map[string]string{"member": g.Member, "group": g.Group}}
}

// PolicyRuleAdded is a rule added to the data policy.
type PolicyRuleAdded struct{ Rule PolicyRule }

func (PolicyRuleAdded) Action() string { return ActionPolicyRuleAdded }
func (e PolicyRuleAdded) Entry() Entry { return e.Rule.entry() }

// PolicyRuleRemoved is a rule removed from the data policy.
type PolicyRuleRemoved struct{ Rule PolicyRule }

func (PolicyRuleRemoved) Action() string { return ActionPolicyRuleRemoved }
func (e PolicyRuleRemoved) Entry() Entry { return e.Rule.entry() }

// PolicyGroupAdded is a membership added to the data policy.
type PolicyGroupAdded struct{ Group PolicyGroup }

func (PolicyGroupAdded) Action() string { return ActionPolicyGroupAdded }
func (e PolicyGroupAdded) Entry() Entry { return e.Group.entry() }

// PolicyGroupRemoved is a membership removed from the data policy.
type PolicyGroupRemoved struct{ Group PolicyGroup }

func (PolicyGroupRemoved) Action() string { return ActionPolicyGroupRemoved }
func (e PolicyGroupRemoved) Entry() Entry { return e.Group.entry() }

func clientEntry(c privacy.Client) Entry {
	return Entry{Targets: map[string]string{"client": c.ID, "role": string(c.Role)}, Payload: c}
}

// ClientCreated is a new API client (its token is not in the event).
type ClientCreated struct{ Client privacy.Client }

func (ClientCreated) Action() string { return ActionClientCreated }
func (e ClientCreated) Entry() Entry { return clientEntry(e.Client) }

// ClientRevoked is an API client revoked.
type ClientRevoked struct{ Client privacy.Client }

func (ClientRevoked) Action() string { return ActionClientRevoked }
func (e ClientRevoked) Entry() Entry { return clientEntry(e.Client) }

// ClientRotated is an API client's token replaced.
type ClientRotated struct{ Client privacy.Client }

func (ClientRotated) Action() string { return ActionClientRotated }
func (e ClientRotated) Entry() Entry { return clientEntry(e.Client) }

// WebhookCreated is a new webhook subscription.
type WebhookCreated struct {
	ID    string
	URL   string
	Kinds []privacy.WebhookKind
}

func (WebhookCreated) Action() string { return ActionWebhookCreated }

func (e WebhookCreated) Entry() Entry {
	return Entry{Targets: map[string]string{"webhook": e.ID}, Payload: map[string]any{"url": e.URL, "events": e.Kinds}}
}

// WebhookDeleted is a webhook subscription deleted.
type WebhookDeleted struct{ ID string }

func (WebhookDeleted) Action() string { return ActionWebhookDeleted }
func (e WebhookDeleted) Entry() Entry { return Entry{Targets: map[string]string{"webhook": e.ID}} }

// WebhookRetried is a dead or pending delivery queued again.
type WebhookRetried struct {
	WebhookID string
	Delivery  int64
}

func (WebhookRetried) Action() string { return ActionWebhookRetried }

func (e WebhookRetried) Entry() Entry {
	return Entry{Targets: map[string]string{"webhook": e.WebhookID, "delivery": fmt.Sprint(e.Delivery)}}
}

// FindingAcknowledged is a finding of the continuous review acknowledged.
type FindingAcknowledged struct{ ID, Kind, Fingerprint string }

func (FindingAcknowledged) Action() string { return ActionFindingAcknowledged }

func (e FindingAcknowledged) Entry() Entry {
	return Entry{Targets: map[string]string{"finding": e.ID, "kind": e.Kind, "fingerprint": e.Fingerprint}}
}

// ReceiptKeyRotated is a new receipt signing key in use.
type ReceiptKeyRotated struct{ KID, Previous string }

func (ReceiptKeyRotated) Action() string { return ActionReceiptKeyRotated }

func (e ReceiptKeyRotated) Entry() Entry {
	return Entry{Targets: map[string]string{"kid": e.KID, "previous": e.Previous}}
}

// EvidenceExported is an evidence bundle handed out.
type EvidenceExported struct {
	AuditSize int64
	From, To  time.Time
	// Profile says what the bundle held of personal data: pseudonymous,
	// or with-receipts (the receipts name their subjects).
	Profile string
}

func (EvidenceExported) Action() string { return ActionEvidenceExported }

func (e EvidenceExported) Entry() Entry {
	return Entry{Outcome: OutcomeOK, Targets: map[string]string{"audit_size": strconv.FormatInt(e.AuditSize, 10),
		"from": e.From.Format(time.RFC3339), "to": e.To.Format(time.RFC3339), "profile": e.Profile}}
}

// SubjectTokenIssued is a token issued for a data subject's own requests.
type SubjectTokenIssued struct {
	Subject   string
	ExpiresAt time.Time
}

func (SubjectTokenIssued) Action() string { return ActionSubjectTokenIssued }

func (e SubjectTokenIssued) Entry() Entry {
	return Entry{Subject: e.Subject, Targets: map[string]string{"expires_at": e.ExpiresAt.UTC().Format(time.RFC3339)}}
}

// RequestReceived is a data-subject request received (access or
// erasure), with its receipt's hash.
type RequestReceived struct {
	Request privacy.SubjectRequest
}

func (RequestReceived) Action() string { return ActionRequestReceived }

func (e RequestReceived) Entry() Entry {
	return Entry{Subject: e.Request.SubjectID, PayloadSHA256: e.Request.ReceiptSHA256, Targets: map[string]string{"request": e.Request.ID,
		"type": string(e.Request.Type), "due_at": e.Request.DueAt.UTC().Format(time.RFC3339)}}
}

// SubjectErased is a subject erased: the rows that named them name their
// pseudonym's erased marker now, and the pseudonym is forgotten.
type SubjectErased struct {
	// Subject is the id erased, known to the process that erased it, and
	// to another that met the subject lately (audit.Log's cache): the
	// entry names only the pseudonym.
	Subject   string
	RequestID string
	Pseudonym string
	Erased    privacy.ErasedCounts
	// Reapplied marks an erasure made again at start, after a restore
	// brought the subject back.
	Reapplied bool
}

func (SubjectErased) Action() string { return ActionSubjectErased }

func (e SubjectErased) Entry() Entry {
	c := e.Erased
	var reasons []string
	if e.Reapplied {
		reasons = []string{ReasonReapplied}
	}
	return Entry{Pseudonym: e.Pseudonym, Reasons: reasons, Targets: map[string]string{"request": e.RequestID,
		"consent_records": strconv.FormatInt(c.ConsentRecords, 10), "receipts": strconv.FormatInt(c.Receipts, 10),
		"decisions": strconv.FormatInt(c.Decisions, 10), "devices": strconv.FormatInt(c.Devices, 10)}}
}

// RequestConfirmed is a backend's confirmation that it erased too.
type RequestConfirmed struct {
	RequestID, WebhookID, Pseudonym string
}

func (RequestConfirmed) Action() string { return ActionRequestConfirmed }

func (e RequestConfirmed) Entry() Entry {
	return Entry{Pseudonym: e.Pseudonym, Targets: map[string]string{"request": e.RequestID, "webhook": e.WebhookID}}
}

// RequestCompleted is a request finished: completed, or failed when an
// operator closed it so.
type RequestCompleted struct {
	Request privacy.SubjectRequest
}

func (RequestCompleted) Action() string { return ActionRequestCompleted }

func (e RequestCompleted) Entry() Entry {
	t := map[string]string{"request": e.Request.ID, "type": string(e.Request.Type), "state": string(e.Request.State)}
	if e.Request.CloseReason != "" {
		t["reason"] = e.Request.CloseReason
	}
	outcome := OutcomeOK
	if e.Request.State == privacy.RequestFailed {
		outcome = OutcomeFailed
	}
	return Entry{Pseudonym: e.Request.Pseudonym, Outcome: outcome, Targets: t}
}

// DeviceTransferred is a device given to a new owner (Device, as the
// change leaves it); everyone's consents on it ended first.
type DeviceTransferred struct {
	Device privacy.Device
	// PreviousPseudonym is the previous owner's pseudonym ("" for none).
	PreviousPseudonym string
	RecordSHA256      string
}

func (DeviceTransferred) Action() string { return ActionDeviceTransferred }

func (e DeviceTransferred) Entry() Entry {
	en := deviceEntry(e.Device, e.RecordSHA256)
	en.Targets["status"] = string(e.Device.Status)
	if e.PreviousPseudonym != "" {
		en.Targets["previous_owner"] = e.PreviousPseudonym
	}
	return en
}

// DeviceUpdated is a device's firmware or label changed (Device as the
// change leaves it; Changed names what: "firmware", "label").
type DeviceUpdated struct {
	Device       privacy.Device
	Changed      []string
	RecordSHA256 string
}

func (DeviceUpdated) Action() string { return ActionDeviceUpdated }

func (e DeviceUpdated) Entry() Entry {
	en := deviceEntry(e.Device, e.RecordSHA256)
	en.Targets["status"] = string(e.Device.Status)
	en.Targets["firmware"] = e.Device.Firmware
	en.Targets["changed"] = strings.Join(e.Changed, ",")
	return en
}

// MemberAdded is a subject added to a device's household: a member, or a
// guest until an end.
type MemberAdded struct {
	Member privacy.Member
}

func (MemberAdded) Action() string { return ActionMemberAdded }

func (e MemberAdded) Entry() Entry {
	t := map[string]string{"device": e.Member.DeviceID, "role": string(e.Member.Role)}
	if !e.Member.Until.IsZero() {
		t["until"] = e.Member.Until.UTC().Format(time.RFC3339)
	}
	return Entry{Subject: e.Member.Subject, Targets: t}
}

// MemberRemoved is a subject no longer sharing a device, for Reason
// (privacy.Leave*); their consents on it ended first.
type MemberRemoved struct {
	Member privacy.Member
	Reason string
}

func (MemberRemoved) Action() string { return ActionMemberRemoved }

func (e MemberRemoved) Entry() Entry {
	return Entry{Subject: e.Member.Subject, Reasons: []string{e.Reason},
		Targets: map[string]string{"device": e.Member.DeviceID, "role": string(e.Member.Role)}}
}

// ChildDeclared is a subject declared a child (Child.Subject), until
// Child.MajorityAt, with guardians (their pseudonyms: the entry names
// them so that the verifier knows whose proxy consents count).
type ChildDeclared struct {
	Child     privacy.Child
	Guardians []string
}

func (ChildDeclared) Action() string { return ActionChildDeclared }

func (e ChildDeclared) Entry() Entry {
	t := map[string]string{"guardians": strings.Join(e.Guardians, ",")}
	if !e.Child.MajorityAt.IsZero() {
		t["majority_at"] = e.Child.MajorityAt.UTC().Format(time.RFC3339Nano)
	}
	if e.Child.AgeBand != "" {
		t["age_band"] = e.Child.AgeBand
	}
	return Entry{Subject: e.Child.Subject, Targets: t}
}

// MajorityDeclared is a child declared of age at At: their consents
// given with a guardian need their own confirmation from then.
type MajorityDeclared struct {
	Subject string
	At      time.Time
}

func (MajorityDeclared) Action() string { return ActionMajorityDeclared }

func (e MajorityDeclared) Entry() Entry {
	return Entry{Subject: e.Subject, Targets: map[string]string{"majority_at": e.At.UTC().Format(time.RFC3339Nano)}}
}

// SanitizationAttested is the attestation that a disposed device's data
// was sanitized (NIST SP 800-88 method: clear, purge or destroy).
type SanitizationAttested struct {
	DeviceID, Method string
	// PayloadSHA256 commits the entry to the attestation's note.
	PayloadSHA256 string
}

func (SanitizationAttested) Action() string { return ActionSanitizationAttested }

func (e SanitizationAttested) Entry() Entry {
	return Entry{PayloadSHA256: e.PayloadSHA256, Targets: map[string]string{"device": e.DeviceID, "method": e.Method}}
}

// ServerStarted is a server process starting to serve.
type ServerStarted struct{ Addr string }

func (ServerStarted) Action() string { return ActionServerStarted }
func (e ServerStarted) Entry() Entry { return Entry{Targets: map[string]string{"addr": e.Addr}} }

// ServerStopped is a server process stopped cleanly.
type ServerStopped struct{}

func (ServerStopped) Action() string { return ActionServerStopped }
func (ServerStopped) Entry() Entry   { return Entry{} }

// PersonalDataRead is a read of a subject's personal data through the API
// (ISO/IEC 27400 Control 12): who read (the entry's actor), through which
// route, about whom. It changes nothing; the log writes it with the next
// batch (audit.Log.Note).
type PersonalDataRead struct {
	Subject string
	Route   string
}

func (PersonalDataRead) Action() string { return ActionPersonalDataRead }

func (e PersonalDataRead) Entry() Entry {
	return Entry{SubjectIfKnown: e.Subject, Targets: map[string]string{"route": e.Route}}
}
