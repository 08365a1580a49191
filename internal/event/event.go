// Package event names every change a capability commits through the audit
// log, one Go type per kind, and what its audit entry records. A
// capability returns events from its change; the audit log writes their
// entries; the reactions wired in internal/app (the decision facts in
// memory, the webhook outbox, the policy reload, the continuous review)
// switch on their types. Action names are the constants of actions.go.
package event

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// Event is one committed change.
type Event interface {
	// Action is the audit entry's action: a constant of actions.go.
	Action() string
	// Entry is what the audit entry records of the change.
	Entry() Entry
}

// Entry is what an audit entry records of an event, besides what the log
// adds itself (sequence number, time, actor, request id).
type Entry struct {
	Targets map[string]string
	// Subject is the raw subject id, if the event concerns one; the log
	// writes only its pseudonym, as the target "subject".
	Subject string
	// Pseudonym names the subject by pseudonym instead, for an event about
	// a subject already erased (whose id is no longer known).
	Pseudonym string
	// SubjectIfKnown is Subject for an event that must not make a subject
	// known: named only if the log already has a pseudonym for it (a read
	// about someone never seen, or erased, found nothing of theirs).
	SubjectIfKnown string
	Outcome        string // "" is written as "ok"
	Reasons        []string
	// Payload is the change's full record; only its hash is written.
	Payload any
	// PayloadSHA256, when set, is written instead of hashing Payload: for
	// records with a canonical hash of their own (a receipt, a notice).
	PayloadSHA256 string
	// RecordSHA256 is the SHA-256 of the canonical record the change wrote
	// (audit's records.go), binding the record's every field to the entry.
	RecordSHA256 string
	ReliesOn     *int64
	ExpiresAt    time.Time
}

// Changes reports whether ev changes anything: decisions and reads do
// not, so they neither make a decision in flight be re-checked nor wake
// other instances.
func Changes(ev Event) bool {
	switch ev.(type) {
	case Decision, PersonalDataRead:
		return false
	}
	return true
}

// Decode rebuilds, from an entry that another instance appended, the event
// it records with what the entry names: identities, never the full state
// (a reaction reads that back from the database). An action none of
// actions.go names is Unknown.
func Decode(action string, targets map[string]string, reasons []string) Event {
	switch action {
	case ActionDecision:
		return Decision{ID: targets["decision"], ServiceID: targets["service"], ServiceName: targets["service_name"], DeviceID: targets["device"], Element: targets["element"],
			Purpose: targets["purpose"], DataAction: targets["action"]}
	case ActionConsentRecorded, ActionConsentWithdrawn:
		c := Consent{ConsentState: privacy.ConsentState{RecordID: targets["record"], DeviceID: targets["device"], Purpose: targets["purpose"],
			NoticeKey: targets["notice"], Proxy: targets["guardian"] != ""}, Guardian: targets["guardian"]}
		c.NoticeVersion, _ = strconv.Atoi(targets["notice_version"])
		if action == ActionConsentWithdrawn {
			return ConsentWithdrawn{Consent: c}
		}
		return ConsentRecorded{Consent: c, RevokesGrant: slices.Contains(reasons, ReasonRevokesGrant)}
	case ActionConsentStateRebuilt:
		return ConsentStateRebuilt{}
	case ActionDeviceRegistered:
		return DeviceRegistered{Device: privacy.Device{ID: targets["device"], Status: privacy.DeviceActive}}
	case ActionDeviceActive, ActionDeviceDeactivated, ActionDeviceDisposed:
		return DeviceStatusChanged{Device: privacy.Device{ID: targets["device"], Status: privacy.DeviceStatus(strings.TrimPrefix(action, "device."))}}
	case ActionInventoryDeclared:
		inv := privacy.Inventory{DeviceID: targets["device"]}
		inv.Version, _ = strconv.Atoi(targets["inventory_version"])
		return InventoryDeclared{Inventory: inv}
	case ActionNoticeCreated:
		return NoticeCreated{Notice: privacy.Notice{Key: targets["notice"]}}
	case ActionNoticeVersionDrafted, ActionNoticeVersionUpdated, ActionNoticeVersionDeleted, ActionNoticePublished:
		v := privacy.NoticeVersion{NoticeKey: targets["notice"]}
		v.Version, _ = strconv.Atoi(targets["version"])
		switch action {
		case ActionNoticeVersionDrafted:
			return NoticeVersionDrafted{Version: v}
		case ActionNoticeVersionUpdated:
			return NoticeVersionUpdated{Version: v}
		case ActionNoticeVersionDeleted:
			return NoticeVersionDeleted{Version: v}
		}
		for _, r := range reasons {
			if p, ok := strings.CutPrefix(r, reasonMaterialChange); ok {
				v.MaterialPurposes = append(v.MaterialPurposes, p)
			}
		}
		return NoticePublished{Version: v}
	case ActionPurposePut:
		return PurposePut{Purpose: privacy.Purpose{Key: targets["purpose"]}}
	case ActionPolicyRuleAdded, ActionPolicyRuleRemoved:
		r := PolicyRule{Service: targets["service"], Category: targets["category"], Purpose: targets["purpose"], Action: targets["action"],
			Effect: targets["effect"]}
		if action == ActionPolicyRuleAdded {
			return PolicyRuleAdded{Rule: r}
		}
		return PolicyRuleRemoved{Rule: r}
	case ActionPolicyGroupAdded, ActionPolicyGroupRemoved:
		g := PolicyGroup{Member: targets["member"], Group: targets["group"]}
		if action == ActionPolicyGroupAdded {
			return PolicyGroupAdded{Group: g}
		}
		return PolicyGroupRemoved{Group: g}
	case ActionClientCreated, ActionClientRevoked, ActionClientRotated:
		c := privacy.Client{ID: targets["client"], Role: privacy.Role(targets["role"])}
		switch action {
		case ActionClientCreated:
			return ClientCreated{Client: c}
		case ActionClientRevoked:
			return ClientRevoked{Client: c}
		}
		return ClientRotated{Client: c}
	case ActionWebhookCreated:
		return WebhookCreated{ID: targets["webhook"]}
	case ActionWebhookDeleted:
		return WebhookDeleted{ID: targets["webhook"]}
	case ActionWebhookRetried:
		d, _ := strconv.ParseInt(targets["delivery"], 10, 64)
		return WebhookRetried{WebhookID: targets["webhook"], Delivery: d}
	case ActionFindingAcknowledged:
		return FindingAcknowledged{ID: targets["finding"], Kind: targets["kind"], Fingerprint: targets["fingerprint"]}
	case ActionDeviceTransferred:
		return DeviceTransferred{Device: privacy.Device{ID: targets["device"], Status: privacy.DeviceStatus(targets["status"])},
			PreviousPseudonym: targets["previous_owner"]}
	case ActionDeviceUpdated:
		var changed []string
		if targets["changed"] != "" {
			changed = strings.Split(targets["changed"], ",")
		}
		return DeviceUpdated{Device: privacy.Device{ID: targets["device"], Status: privacy.DeviceStatus(targets["status"]),
			Firmware: targets["firmware"]}, Changed: changed}
	case ActionMemberAdded, ActionMemberRemoved:
		m := privacy.Member{DeviceID: targets["device"], Role: privacy.MemberRole(targets["role"])}
		m.Until, _ = time.Parse(time.RFC3339, targets["until"])
		if action == ActionMemberAdded {
			return MemberAdded{Member: m}
		}
		var reason string
		if len(reasons) > 0 {
			reason = reasons[0]
		}
		return MemberRemoved{Member: m, Reason: reason}
	case ActionChildDeclared:
		c := privacy.Child{AgeBand: targets["age_band"]}
		c.MajorityAt, _ = time.Parse(time.RFC3339Nano, targets["majority_at"])
		var guardians []string
		if targets["guardians"] != "" {
			guardians = strings.Split(targets["guardians"], ",")
		}
		return ChildDeclared{Child: c, Guardians: guardians}
	case ActionMajorityDeclared:
		e := MajorityDeclared{}
		e.At, _ = time.Parse(time.RFC3339Nano, targets["majority_at"])
		return e
	case ActionSanitizationAttested:
		return SanitizationAttested{DeviceID: targets["device"], Method: targets["method"]}
	case ActionRequestReceived:
		q := privacy.SubjectRequest{ID: targets["request"], Type: privacy.RequestType(targets["type"]), Pseudonym: targets["subject"]}
		q.DueAt, _ = time.Parse(time.RFC3339, targets["due_at"])
		return RequestReceived{Request: q}
	case ActionSubjectErased:
		e := SubjectErased{RequestID: targets["request"], Pseudonym: targets["subject"], Reapplied: slices.Contains(reasons, ReasonReapplied)}
		e.Erased.ConsentRecords, _ = strconv.ParseInt(targets["consent_records"], 10, 64)
		e.Erased.Receipts, _ = strconv.ParseInt(targets["receipts"], 10, 64)
		e.Erased.Decisions, _ = strconv.ParseInt(targets["decisions"], 10, 64)
		e.Erased.Devices, _ = strconv.ParseInt(targets["devices"], 10, 64)
		return e
	case ActionRequestConfirmed:
		return RequestConfirmed{RequestID: targets["request"], WebhookID: targets["webhook"], Pseudonym: targets["subject"]}
	case ActionRequestCompleted:
		return RequestCompleted{Request: privacy.SubjectRequest{ID: targets["request"], Type: privacy.RequestType(targets["type"]),
			State: privacy.RequestState(targets["state"]), Pseudonym: targets["subject"], CloseReason: targets["reason"]}}
	case ActionReceiptKeyRotated:
		return ReceiptKeyRotated{KID: targets["kid"], Previous: targets["previous"]}
	case ActionEvidenceExported:
		e := EvidenceExported{Profile: targets["profile"]}
		e.AuditSize, _ = strconv.ParseInt(targets["audit_size"], 10, 64)
		e.From, _ = time.Parse(time.RFC3339, targets["from"])
		e.To, _ = time.Parse(time.RFC3339, targets["to"])
		return e
	case ActionPersonalDataRead:
		return PersonalDataRead{Route: targets["route"]}
	case ActionSubjectTokenIssued:
		e := SubjectTokenIssued{}
		e.ExpiresAt, _ = time.Parse(time.RFC3339, targets["expires_at"])
		return e
	case ActionServerStarted:
		return ServerStarted{Addr: targets["addr"]}
	case ActionServerStopped:
		return ServerStopped{}
	}
	return Unknown{Name: action}
}

// Unknown is an entry whose action this build does not know (appended by a
// newer build, or by a tool): a reaction must assume that anything changed.
type Unknown struct{ Name string }

func (e Unknown) Action() string { return e.Name }
func (Unknown) Entry() Entry     { return Entry{} }
