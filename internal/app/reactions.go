// Package app wires Consentry's capabilities together: which of them
// reacts to which committed change. Every reaction to every kind of event
// is in this file, in Reactions' four methods; the server (cmd/consentry
// serve), the command-line tools and the tests build one Reactions and
// hand it to the audit log (audit.Options.React). No capability registers
// itself anywhere.
package app

import (
	"context"
	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/decide"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/webhook"
)

// Reactions are the reactions of one process to the changes its audit log
// commits, and to those other instances commit. A nil field is a
// capability the process does not run (a command-line tool keeps no
// decision facts); every process that changes anything needs Outbox, or
// backends miss what its changes announce.
type Reactions struct {
	// Memory is the decision facts kept in memory (decide); nil is a
	// process that keeps none.
	Memory *decide.Memory
	// Policy is the data policy in force (authz), reloaded when another
	// instance changes it.
	Policy *authz.Data
	// Outbox writes webhook events in the transaction of the change they
	// announce, and wakes the dispatcher after the commit.
	Outbox *webhook.Outbox
	// Review is the continuous review, woken after a change its findings
	// may depend on.
	Review interface{ Wake() }
	// Erasures is the record of erasures that outlives a restore
	// (rights.Ledger): another instance's erasure is written to it too.
	Erasures interface{ Erased(pseudonym string) }
}

// Begin runs at the start of each of the writer's transactions: a load of
// the decision facts that is due is made here, where tx sees exactly what
// the log recorded so far.
func (r *Reactions) Begin(tx *store.Reader) {
	r.Memory.Load(tx)
}

// InChange runs in each change's transaction: what backends are to be
// told of it is written to the webhook outbox, committing with it.
func (r *Reactions) InChange(ctx context.Context, tx *store.Tx, first int64, events []event.Event) error {
	if r.Outbox == nil {
		return nil
	}
	notes := r.Outbox.Change() // on the stack: a decision allocates nothing here
	for i, ev := range events {
		seq := first + int64(i)
		switch e := ev.(type) {
		case event.Decision, event.PersonalDataRead:
			// The hot path: a decision (or a read) announces nothing.
		case event.ConsentRecorded:
			if e.Granted || e.RevokesGrant {
				notes.Consent(seq, e.Consent, e.Granted)
			}
			// A denial of what was not granted changes nothing.
		case event.ConsentWithdrawn:
			notes.Consent(seq, e.Consent, false)
		case event.DeviceStatusChanged:
			owner := e.Device.OwnerSubject
			if e.FormerOwner != "" {
				owner = e.FormerOwner
			}
			notes.DeviceStatus(seq, e.Device, owner)
		case event.NoticePublished:
			notes.NoticePublished(seq, e.Version)
		case event.RequestReceived:
			notes.SubjectRequest(seq, e.Request)
		case event.DeviceTransferred:
			notes.DeviceTransferred(seq, e.Device)
		case event.WebhookCreated, event.WebhookDeleted, event.WebhookRetried:
			r.Outbox.WebhooksChanging()
		}
	}
	return notes.Write(ctx, tx)
}

// Committed follows this process's commits, before the log counts them: the
// decision facts take each change's new state (a decision judged on the
// old state under the new count would be trusted), then the dispatcher
// and the review are woken.
func (r *Reactions) Committed(events []event.Event) {
	r.Memory.Install()
	review := false
	for _, ev := range events {
		switch e := ev.(type) {
		case event.Decision, event.PersonalDataRead:
			continue // the hot path: decisions and reads change no fact
		case event.ConsentRecorded:
			r.Memory.SetConsent(e.ConsentState)
		case event.ConsentWithdrawn:
			r.Memory.SetConsent(e.ConsentState)
		case event.ConsentStateRebuilt:
			r.Memory.Drop()
		case event.SubjectErased:
			// Its withdrawals came first; what memory keeps of the subject
			// must go too, or a later decision about the same id would
			// name the erased records.
			r.Memory.ForgetSubject(e.Subject)
		case event.ChildDeclared:
			r.Memory.SetChild(e.Child)
		case event.MajorityDeclared:
			r.Memory.SetChild(privacy.Child{Subject: e.Subject, MajorityAt: e.At})
		case event.DeviceRegistered:
			r.Memory.SetDevice(e.Device, true)
		case event.DeviceStatusChanged:
			r.Memory.SetDevice(e.Device, false)
		case event.DeviceTransferred:
			r.Memory.SetDevice(e.Device, false)
		case event.InventoryDeclared:
			r.Memory.SetInventory(e.Inventory)
		case event.NoticePublished:
			r.Memory.Published(e.Version)
		case event.NoticeCreated, event.NoticeVersionDrafted, event.NoticeVersionUpdated, event.NoticeVersionDeleted,
			event.PurposePut, event.PolicyRuleAdded, event.PolicyRuleRemoved, event.PolicyGroupAdded, event.PolicyGroupRemoved,
			event.ClientCreated, event.ClientRevoked, event.ClientRotated, event.WebhookCreated, event.WebhookDeleted,
			event.WebhookRetried, event.FindingAcknowledged, event.ReceiptKeyRotated, event.EvidenceExported,
			event.SubjectTokenIssued, event.ServerStarted, event.ServerStopped, event.RequestReceived, event.RequestConfirmed,
			event.RequestCompleted, event.SanitizationAttested, event.DeviceUpdated, event.MemberAdded, event.MemberRemoved:
			// No decision fact changes (the policy's own generation
			// re-checks decisions; firmware, labels and members are no
			// check's, and a member's consents end by their own events).
		default:
			// A kind not listed here (event.Unknown, or one added without
			// its reactions): fail closed, anything may have changed.
			r.Memory.Drop()
			r.webhooksChanged()
		}
		review = review || reviewed(ev)
	}
	if r.Outbox != nil {
		r.Outbox.Committed()
	}
	if review && r.Review != nil {
		r.Review.Wake()
	}
}

// Foreign follows the changes another instance committed, inside the
// writer's transaction tx, before this instance's next changes and
// decisions: what is kept in memory is read back from the database.
func (r *Reactions) Foreign(tx *store.Reader, events []event.Event) {
	policy := false
	// Their current states are read together, after the loop: one query
	// where each was one, holding the log's lock.
	var consents []store.ConsentRef
	for _, ev := range events {
		switch e := ev.(type) {
		case event.ConsentRecorded:
			consents = append(consents, store.ConsentRef{Record: e.RecordID, Device: e.DeviceID, Purpose: e.Purpose})
		case event.ConsentWithdrawn:
			consents = append(consents, store.ConsentRef{Record: e.RecordID, Device: e.DeviceID, Purpose: e.Purpose})
		case event.ConsentStateRebuilt:
			r.Memory.Drop()
		case event.SubjectErased:
			// The withdrawals before it were read back under the erased
			// marker, not the subject id they replaced: memory forgets the
			// subject, when the log knew who it was (audit.Log's cache),
			// or else reads everything again.
			if e.Subject != "" {
				r.Memory.ForgetSubject(e.Subject)
			} else {
				r.Memory.Drop()
			}
			if r.Erasures != nil {
				r.Erasures.Erased(e.Pseudonym)
			}
		case event.ChildDeclared, event.MajorityDeclared:
			// The entry names the subject by pseudonym only.
			r.Memory.ReadChildren(tx)
		case event.DeviceRegistered:
			r.Memory.ReadDevice(tx, e.Device.ID)
		case event.DeviceStatusChanged:
			r.Memory.ReadDevice(tx, e.Device.ID)
		case event.DeviceTransferred:
			r.Memory.ReadDevice(tx, e.Device.ID)
		case event.InventoryDeclared:
			r.Memory.ReadDevice(tx, e.Inventory.DeviceID)
		case event.NoticePublished:
			r.Memory.ReadNotice(tx, e.Version.NoticeKey)
		case event.PolicyRuleAdded, event.PolicyRuleRemoved, event.PolicyGroupAdded, event.PolicyGroupRemoved:
			policy = true
		case event.WebhookCreated, event.WebhookDeleted, event.WebhookRetried:
			r.webhooksChanged()
		case event.Decision, event.PersonalDataRead, event.NoticeCreated, event.NoticeVersionDrafted, event.NoticeVersionUpdated,
			event.NoticeVersionDeleted,
			event.PurposePut, event.ClientCreated, event.ClientRevoked, event.ClientRotated, event.FindingAcknowledged,
			event.ReceiptKeyRotated, event.EvidenceExported, event.SubjectTokenIssued, event.ServerStarted, event.ServerStopped,
			event.RequestReceived, event.RequestConfirmed, event.RequestCompleted, event.SanitizationAttested,
			event.DeviceUpdated, event.MemberAdded, event.MemberRemoved:
			// Nothing this instance keeps in memory changes.
		default:
			// event.Unknown, or a kind added without its reactions: fail
			// closed, anything may have changed.
			r.Memory.Drop()
			r.webhooksChanged()
			policy = true
		}
	}
	r.Memory.ReadConsents(tx, consents)
	if policy && r.Policy != nil {
		if err := r.Policy.Reload(); err != nil {
			// The policy in force is unknown: allow nothing until a reload
			// succeeds (the next policy change, or a restart).
			_ = r.Policy.Block()
		}
	}
}

// webhooksChanged makes the outbox read the webhook subscriptions again.
func (r *Reactions) webhooksChanged() {
	if r.Outbox != nil {
		r.Outbox.WebhooksChanged()
	}
}

// reviewed reports whether the continuous review's findings may depend on
// a change of ev's kind.
func reviewed(ev event.Event) bool {
	switch ev.(type) {
	case event.ConsentRecorded, event.ConsentWithdrawn, event.ConsentStateRebuilt,
		event.DeviceRegistered, event.DeviceStatusChanged, event.DeviceTransferred, event.InventoryDeclared,
		event.NoticeCreated, event.NoticeVersionDrafted, event.NoticeVersionUpdated, event.NoticeVersionDeleted, event.NoticePublished,
		event.PolicyRuleAdded, event.PolicyRuleRemoved, event.PolicyGroupAdded, event.PolicyGroupRemoved,
		event.ReceiptKeyRotated, event.FindingAcknowledged,
		event.WebhookCreated, event.WebhookDeleted, event.WebhookRetried,
		event.RequestReceived, event.SubjectErased, event.RequestConfirmed, event.RequestCompleted, event.SanitizationAttested,
		event.DeviceUpdated, event.MemberAdded, event.MemberRemoved, event.ChildDeclared, event.MajorityDeclared:
		return true
	case event.Decision, event.PurposePut, event.ClientCreated, event.ClientRevoked, event.ClientRotated, event.EvidenceExported,
		event.SubjectTokenIssued, event.ServerStarted, event.ServerStopped:
		return false
	}
	return true // a kind not listed: review, in case
}
