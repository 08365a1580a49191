package event

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
	ActionMemberAdded       = "household.member_added"
	ActionMemberRemoved     = "household.member_removed"
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
	// ReasonError is a check that could not be made: the decision failed
	// closed.
	ReasonError = "error"
)
