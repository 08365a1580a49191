package event

import (
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// The audit log's action names, every one. An entry's action is one of
// these; the verifier's replay reads the consent, decision and notice ones.
const (
	ActionDecision = "decision"

	ActionConsentRecorded     = "consent.recorded"
	ActionConsentWithdrawn    = "consent.withdrawn"
	ActionConsentStateRebuilt = "consent.state_rebuilt"

	ActionDeviceRegistered  = "device.registered"
	ActionDeviceActive      = "device.active"
	ActionDeviceDeactivated = "device.deactivated"
	ActionDeviceDisposed    = "device.disposed"
	ActionDeviceTransferred = "device.transferred"
	// A device's firmware or label changed.
	ActionDeviceUpdated = "device.updated"
	// Not "device.…" either: a household's members change no device line.
	ActionMemberAdded   = "household.member_added"
	ActionMemberRemoved = "household.member_removed"
	// A subject declared a child, with their guardians; their majority.
	ActionChildDeclared     = "subject.child_declared"
	ActionMajorityDeclared  = "subject.majority_declared"
	ActionInventoryDeclared = "inventory.declared"
	// Not "device.…": device.* entries are the device's status changes.
	ActionSanitizationAttested = "sanitization.attested"

	ActionNoticeCreated        = "notice.created"
	ActionNoticeVersionDrafted = "notice.version.drafted"
	ActionNoticeVersionUpdated = "notice.version.updated"
	ActionNoticeVersionDeleted = "notice.version.deleted"
	ActionNoticePublished      = "notice.version.published"
	ActionPurposePut           = "purpose.put"
	ActionPolicyRuleAdded      = "policy.rule.added"
	ActionPolicyRuleRemoved    = "policy.rule.removed"
	ActionPolicyGroupAdded     = "policy.group.added"
	ActionPolicyGroupRemoved   = "policy.group.removed"
	ActionClientCreated        = "client.created"
	ActionClientRevoked        = "client.revoked"
	ActionClientRotated        = "client.rotated"
	ActionWebhookCreated       = "webhook.created"
	ActionWebhookDeleted       = "webhook.deleted"
	ActionWebhookRetried       = "webhook.delivery.retried"
	ActionFindingAcknowledged  = "finding.acknowledged"
	ActionReceiptKeyRotated    = "receipt_key.rotated"
	ActionEvidenceExported     = "evidence.exported"
	ActionSubjectTokenIssued   = "subject_token.issued"
	ActionRequestReceived      = "subject.request.received"
	ActionSubjectErased        = "subject.erased"
	ActionRequestConfirmed     = "subject.request.confirmed"
	ActionRequestCompleted     = "subject.request.completed"
	ActionPersonalDataRead     = "personal_data.read"
	ActionServerStarted        = "server.started"
	ActionServerStopped        = "server.stopped"
)

// Outcomes and reasons an entry may carry that a reader acts on.
const (
	OutcomeOK        = "ok"
	OutcomeAllow     = "allow"
	OutcomeDeny      = "deny"
	OutcomeGranted   = "granted"
	OutcomeDenied    = "denied"
	OutcomeWithdrawn = "withdrawn"
	OutcomeFailed    = "failed"
	// ReasonReapplied marks an erasure made again at start because a
	// restored backup held the subject once more.
	ReasonReapplied = "reapplied_after_restore"
	// ReasonRevokesGrant marks the entry of a consent denial that replaced
	// a grant still in force: backends are told as for a withdrawal.
	ReasonRevokesGrant = "revokes_grant"
	// reasonMaterialChange prefixes, in a publication's entry, each
	// purpose the new version changed materially.
	reasonMaterialChange = "material_change:"
)

// A decision's reasons to deny, in the order its checks run: device,
// inventory, notice, policy, consent. The evidence verifier replays the
// checks and compares them.
const (
	ReasonDeviceInactive     = "device_inactive"
	ReasonElementNotDeclared = "element_not_declared"
	ReasonNotInNotice        = "not_in_notice"
	ReasonPolicyDenied       = "policy_denied"
	ReasonNoConsent          = "no_consent"
	ReasonConsentExpired     = "consent_expired"
	ReasonConsentWithdrawn   = "consent_withdrawn"
	ReasonReconsentRequired  = "reconsent_required"
	// The guardian check, last, where a rule about children applies.
	ReasonNotAChild               = "not_a_child"
	ReasonGuardianConsentRequired = "guardian_consent_required"
	ReasonReconfirmationRequired  = "reconfirmation_required"
	// ReasonError is a check that could not be made: the decision failed
	// closed.
	ReasonError = "error"
)

// Denial is one reason a check denies, with why.
type Denial struct{ Reason, Detail string }

// ChildRules are the rules about children, which decisions apply and the
// verifier's replay applies again: a declared child's grant counts only
// as a proxy consent given with a guardian, until majorityAt (zero: not
// known); after it, only a grant they gave themself counts; data about a
// child (childData) is used only for a child. declared: the subject is
// declared a child; granted: the consent check passed; proxy: the grant
// in force was given with a guardian. None apply (applies false) for a
// subject never declared a child and data not about a child.
func ChildRules(declared bool, majorityAt time.Time, childData, granted, proxy bool, at time.Time) (denials []Denial, applies bool) {
	minor := privacy.Minor(declared, majorityAt, at)
	if !declared && !childData {
		return nil, false
	}
	if childData && !minor {
		denials = append(denials, Denial{ReasonNotAChild, "data of category personal.child is used only for a subject declared a child"})
	}
	if granted && declared {
		switch {
		case minor && !proxy:
			denials = append(denials, Denial{ReasonGuardianConsentRequired, "the subject is declared a child: their consent counts only given with a guardian's"})
		case !minor && proxy:
			denials = append(denials, Denial{ReasonReconfirmationRequired,
				"the consent was given with a guardian before the subject came of age: they confirm it themself"})
		}
	}
	return denials, true
}
