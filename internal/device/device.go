// Package device registers devices with a unique identity (Control 35-1),
// moves them through their lifecycle, finds them for incident response,
// and keeps their versioned data inventories (Control 29).
package device

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/memo"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/google/uuid"
)

// Page sizes for List.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// Service is the device and inventory use cases.
type Service struct {
	db          *store.DB
	log         *audit.Log
	endConsents ConsentEnder
	// notices are devices' notice keys, which never change once
	// registered: every inventory read names its device's.
	notices *memo.Map[string, string]
}

// NewService returns a Service reading db and writing through log. A
// process that disposes of devices sets EndConsents too.
func NewService(db *store.DB, log *audit.Log) *Service {
	return &Service{db: db, log: log, notices: memo.New[string, string](1 << 16)}
}

// NoticeKey is the key of the notice that governs device id.
func (s *Service) NoticeKey(ctx context.Context, id string) (string, error) {
	if k, ok := s.notices.Load(id); ok {
		return k, nil
	}
	d, err := s.Get(ctx, id)
	if err != nil {
		return "", err
	}
	s.notices.Store(id, d.NoticeKey)
	return d.NoticeKey, nil
}

// ConsentEnder ends, inside a change of the log, every consent in force on
// a device (subject's only, unless subject is ""), for a reason the
// records keep (consent.Service.WithdrawDevice).
type ConsentEnder func(tx *audit.Tx, deviceID, subject, reason, clientID string) ([]event.Event, error)

// EndConsentsWith sets how disposal ends a device's consents, and returns s.
func (s *Service) EndConsentsWith(end ConsentEnder) *Service {
	s.endConsents = end
	return s
}

// line is the commitment to d's line as its entry leaves it.
func (s *Service) line(tx *audit.Tx, d privacy.Device) (string, error) {
	var owner string
	if d.OwnerSubject != "" {
		var err error
		if owner, err = tx.Pseudonym(d.OwnerSubject); err != nil {
			return "", err
		}
	}
	return audit.LineSHA256(audit.NewDeviceLine(d, owner))
}

// Register normalizes, validates and stores a new active device. The
// identity of a disposed device is registered again only as a refurbished
// unit naming it (RefurbishedFrom): a new device, linked to the old one.
func (s *Service) Register(ctx context.Context, d privacy.Device) (privacy.Device, error) {
	d.Normalize()
	if err := d.Validate(); err != nil {
		return privacy.Device{}, err
	}
	if d.RefurbishedFrom != "" {
		if _, err := uuid.Parse(d.RefurbishedFrom); err != nil {
			return privacy.Device{}, privacy.FieldErrorf(privacy.EInvalid, "refurbished_from", "is not a device id")
		}
	}
	id, err := uuid.NewV7()
	if err != nil {
		return privacy.Device{}, fmt.Errorf("device: id: %w", err)
	}
	d.ID, d.Status = id.String(), privacy.DeviceActive
	_, err = s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		d.CreatedAt, d.UpdatedAt = tx.Now(), tx.Now()
		if err := refurbishable(tx, d); err != nil {
			return nil, err
		}
		if err := tx.InsertDevice(d, tx.NextSeq()); err != nil {
			return nil, err
		}
		if d.OwnerSubject != "" {
			if err := tx.InsertDeviceOwner(privacy.DeviceOwner{DeviceID: d.ID, Subject: d.OwnerSubject, Since: d.CreatedAt, AuditSeq: tx.NextSeq()}); err != nil {
				return nil, err
			}
		}
		record, err := s.line(tx, d)
		return []event.Event{event.DeviceRegistered{Device: d, RecordSHA256: record}}, err
	})
	if err != nil {
		return privacy.Device{}, err
	}
	return d, nil
}

// refurbishable checks d's link to the unit it was refurbished from: that
// one is disposed of; and that an identity disposed of is registered again
// only with such a link.
func refurbishable(tx *audit.Tx, d privacy.Device) error {
	if d.RefurbishedFrom != "" {
		old, err := tx.DeviceByID(d.RefurbishedFrom)
		if privacy.ErrorCode(err) == privacy.ENotFound {
			return privacy.FieldErrorf(privacy.EInvalid, "refurbished_from", "no such device")
		}
		if err != nil {
			return err
		}
		if old.Status != privacy.DeviceDisposed {
			return privacy.FieldErrorf(privacy.EConflict, "refurbished_from", "device %s is %s: only a disposed device is refurbished", old.ID, old.Status)
		}
		return nil
	}
	old, err := tx.DeviceByIdentity(privacy.IdentityKey(d.Manufacturer), privacy.IdentityKey(d.Model), d.Serial)
	switch {
	case privacy.ErrorCode(err) == privacy.ENotFound:
		return nil
	case err != nil:
		return err
	case old.Status == privacy.DeviceDisposed:
		return privacy.FieldErrorf(privacy.EConflict, "refurbished_from",
			"this identity was disposed of as device %s; a refurbished unit is registered with refurbished_from naming it", old.ID)
	}
	return nil // in service: the insert's conflict names the identity
}

// Get returns one device.
func (s *Service) Get(ctx context.Context, id string) (privacy.Device, error) {
	if err := checkID(id); err != nil {
		return privacy.Device{}, err
	}
	return s.db.Read(ctx).DeviceByID(id)
}

// Resolve finds the device an app is onboarding: by id, or by its
// identity as printed on it or in its QR code (manufacturer, model,
// serial), normalized as at registration, so "acme" and "ACME", "sn-0042"
// and "SN 0042" find the same device.
func (s *Service) Resolve(ctx context.Context, id, manufacturer, model, serial string) (privacy.Device, error) {
	var p privacy.Problems
	switch {
	case id != "" && (manufacturer != "" || model != "" || serial != ""):
		p.Add("id", "give the id, or the identity (manufacturer, model, serial), not both")
	case id != "":
		return s.Get(ctx, id)
	default:
		for _, f := range []struct{ name, v string }{{"manufacturer", manufacturer}, {"model", model}, {"serial", serial}} {
			if strings.TrimSpace(f.v) == "" || len(f.v) > 200 {
				p.Add(f.name, "is required with the identity (1-200 characters), or give the id")
			}
		}
	}
	if err := p.Err("give a device id or its identity"); err != nil {
		return privacy.Device{}, err
	}
	d := privacy.Device{Manufacturer: manufacturer, Model: model, Serial: serial}
	d.Normalize()
	return s.db.Read(ctx).DeviceByIdentity(privacy.IdentityKey(d.Manufacturer), privacy.IdentityKey(d.Model), d.Serial)
}

// checkID refuses ids that cannot be a device's, so that a typo is a clean
// 404 rather than a query.
func checkID(id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return privacy.Errorf(privacy.ENotFound, "device not found")
	}
	return nil
}

// List finds devices for incident search. more says whether a further page
// exists after the last device returned.
func (s *Service) List(ctx context.Context, f privacy.DeviceFilter) (devices []privacy.Device, more bool, err error) {
	if f.Limit <= 0 {
		f.Limit = DefaultLimit
	}
	if f.Limit > MaxLimit {
		return nil, false, privacy.FieldErrorf(privacy.EInvalid, "limit", "must be between 1 and %d", MaxLimit)
	}
	if f.After != "" {
		if _, err := uuid.Parse(f.After); err != nil {
			return nil, false, privacy.FieldErrorf(privacy.EInvalid, "cursor", "is not a cursor this service issued")
		}
	}
	return s.db.Read(ctx).ListDevices(f)
}

// Deactivate moves an active device to deactivated.
func (s *Service) Deactivate(ctx context.Context, id string) (privacy.Device, error) {
	return s.transition(ctx, id, privacy.DeviceDeactivated, nil, "")
}

// Activate moves a deactivated device back to active: repaired.
func (s *Service) Activate(ctx context.Context, id string) (privacy.Device, error) {
	return s.transition(ctx, id, privacy.DeviceActive, nil, "")
}

// Dispose moves a deactivated device to disposed, for good, and in the
// same change ends every consent in force on it: withdrawals the service
// makes, with their receipts (reason device_disposed). With sanitization,
// it records the attestation of how the device's data was sanitized too.
func (s *Service) Dispose(ctx context.Context, id string, sanitization *privacy.Sanitization, clientID string) (privacy.Device, error) {
	if sanitization != nil {
		var p privacy.Problems
		privacy.CheckSanitization(&p, "sanitization.", sanitization.Method, sanitization.Note)
		if err := p.Err("invalid sanitization"); err != nil {
			return privacy.Device{}, err
		}
	}
	return s.transition(ctx, id, privacy.DeviceDisposed, sanitization, clientID)
}

// AttestSanitization records how a disposed device's data was sanitized.
func (s *Service) AttestSanitization(ctx context.Context, id string, method privacy.SanitizationMethod, note, clientID string) (privacy.Sanitization, error) {
	if err := checkID(id); err != nil {
		return privacy.Sanitization{}, err
	}
	var p privacy.Problems
	privacy.CheckSanitization(&p, "", method, note)
	if err := p.Err("invalid sanitization"); err != nil {
		return privacy.Sanitization{}, err
	}
	var out privacy.Sanitization
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		d, err := tx.LockDevice(id)
		if err != nil {
			return nil, err
		}
		if d.Status != privacy.DeviceDisposed {
			return nil, privacy.Errorf(privacy.EInvalidTransition, "device is %s: sanitization is attested for a disposed device", d.Status)
		}
		ev, err := s.attest(tx, id, privacy.Sanitization{Method: method, Note: note}, clientID)
		out = privacy.Sanitization{DeviceID: id, Method: method, Note: note, AttestedBy: clientID, AttestedAt: tx.Now(), AuditSeq: tx.NextSeq()}
		return []event.Event{ev}, err
	})
	if err != nil {
		return privacy.Sanitization{}, err
	}
	return out, nil
}

// attest stores an attestation whose entry is the change's next event.
func (s *Service) attest(tx *audit.Tx, id string, a privacy.Sanitization, clientID string) (event.Event, error) {
	a.DeviceID, a.AttestedBy, a.AttestedAt, a.AuditSeq = id, clientID, tx.Now(), tx.NextSeq()
	if err := tx.InsertSanitization(a); err != nil {
		return nil, err
	}
	note, err := audit.PayloadHash(map[string]string{"method": string(a.Method), "note": a.Note})
	if err != nil {
		return nil, err
	}
	return event.SanitizationAttested{DeviceID: id, Method: string(a.Method), PayloadSHA256: note}, nil
}

// Actor is who asks for a change of a device's owner, members or label:
// an admin client, or a subject through their subject token.
type Actor struct {
	ClientID string
	// Subject is the subject acting through a subject token; "" for an
	// admin.
	Subject string
}

// Transfer gives a device to a new owner. An admin's transfer is made at
// once; the current owner's is an offer the new owner accepts (Accept),
// returned with a nil device. A transfer ends, in its change, everyone's
// consents on the device (the service's withdrawals with receipts,
// reason ownership_transferred), so the new owner starts with nothing
// granted and no decision after the transfer's entry allows for anyone
// on the old consents.
func (s *Service) Transfer(ctx context.Context, id, to string, by Actor) (*privacy.Device, *privacy.TransferOffer, error) {
	if err := checkID(id); err != nil {
		return nil, nil, err
	}
	var p privacy.Problems
	privacy.CheckSubject(&p, "to", to)
	if err := p.Err("invalid transfer"); err != nil {
		return nil, nil, err
	}
	if s.endConsents == nil {
		return nil, nil, privacy.Errorf(privacy.EUnavailable, "this process cannot end consents; devices are transferred by consentry serve")
	}
	var (
		out   privacy.Device
		offer *privacy.TransferOffer
	)
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		offer = nil
		d, err := tx.LockDevice(id)
		if err != nil {
			return nil, err
		}
		if err := owned(d, by); err != nil {
			return nil, err
		}
		if err := transferable(d, to); err != nil {
			return nil, err
		}
		if by.Subject != "" {
			o := privacy.TransferOffer{DeviceID: id, From: by.Subject, To: to, CreatedAt: tx.Now()}
			if err := tx.PutTransferOffer(o); err != nil {
				return nil, err
			}
			offer = &o
			return nil, nil
		}
		var events []event.Event
		out, events, err = s.give(tx, d, to, by.ClientID)
		return events, err
	})
	if err != nil {
		return nil, nil, err
	}
	if offer != nil {
		return nil, offer, nil
	}
	return &out, nil, nil
}

// Accept completes the transfer offered to subject.
func (s *Service) Accept(ctx context.Context, id, subject, clientID string) (privacy.Device, error) {
	if err := checkID(id); err != nil {
		return privacy.Device{}, err
	}
	if s.endConsents == nil {
		return privacy.Device{}, privacy.Errorf(privacy.EUnavailable, "this process cannot end consents; devices are transferred by consentry serve")
	}
	var out privacy.Device
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		d, err := tx.LockDevice(id)
		if err != nil {
			return nil, err
		}
		o, err := tx.TransferOffer(id)
		if privacy.ErrorCode(err) == privacy.ENotFound || err == nil && (o.To != subject || o.From != d.OwnerSubject) {
			return nil, privacy.Errorf(privacy.ENotFound, "no transfer of this device is offered to you")
		}
		if err != nil {
			return nil, err
		}
		if err := transferable(d, subject); err != nil {
			return nil, err
		}
		var events []event.Event
		out, events, err = s.give(tx, d, subject, clientID)
		return events, err
	})
	return out, err
}

// owned refuses a subject acting on a device that is not theirs; an
// admin acts on any.
func owned(d privacy.Device, by Actor) error {
	if by.Subject != "" && d.OwnerSubject != by.Subject {
		// A subject learns nothing of a device that is not theirs.
		return privacy.Errorf(privacy.ENotFound, "device not found")
	}
	return nil
}

// transferable refuses a transfer of a disposed device, or to its owner.
func transferable(d privacy.Device, to string) error {
	if d.Status == privacy.DeviceDisposed {
		return privacy.Errorf(privacy.EInvalidTransition, "device is disposed: it has no owner any more")
	}
	if d.OwnerSubject == to {
		return privacy.FieldErrorf(privacy.EConflict, "to", "the device is already theirs")
	}
	return nil
}

// give makes to the owner of d, in tx: everyone's consents on the device
// end first, the members leave, the history gains its new owner, the
// offer goes, and the old owner's label with it.
func (s *Service) give(tx *audit.Tx, d privacy.Device, to, clientID string) (privacy.Device, []event.Event, error) {
	events, err := s.endConsents(tx, d.ID, "", privacy.WithdrawalOwnershipTransferred, clientID)
	if err != nil {
		return privacy.Device{}, nil, err
	}
	left, err := s.clearMembers(tx, d.ID, privacy.WithdrawalOwnershipTransferred)
	if err != nil {
		return privacy.Device{}, nil, err
	}
	events = append(events, left...)
	var previous string
	if d.OwnerSubject != "" {
		if previous, err = tx.Pseudonym(d.OwnerSubject); err != nil {
			return privacy.Device{}, nil, err
		}
	}
	d.UpdatedAt = tx.Now()
	if d, err = changeOwner(tx, d, to); err != nil {
		return privacy.Device{}, nil, err
	}
	if err := tx.DeleteTransferOffer(d.ID); err != nil {
		return privacy.Device{}, nil, err
	}
	record, err := s.line(tx, d)
	if err != nil {
		return privacy.Device{}, nil, err
	}
	return d, append(events, event.DeviceTransferred{Device: d, PreviousPseudonym: previous, RecordSHA256: record}), nil
}

// changeOwner gives d to owner ("" for none) at the change's next entry,
// both histories following: a new owner (or none) starts without the old
// owner's label, which may name people. Nothing is written when neither
// changes.
func changeOwner(tx *audit.Tx, d privacy.Device, owner string) (privacy.Device, error) {
	ownerChanged, labelled := d.OwnerSubject != owner, d.Label != ""
	if !ownerChanged && !labelled {
		return d, nil
	}
	d.OwnerSubject, d.Label = owner, ""
	if err := tx.UpdateDeviceOwner(d); err != nil {
		return privacy.Device{}, err
	}
	if ownerChanged {
		if err := tx.InsertDeviceOwner(privacy.DeviceOwner{DeviceID: d.ID, Subject: owner, Since: d.UpdatedAt, AuditSeq: tx.NextSeq()}); err != nil {
			return privacy.Device{}, err
		}
	}
	if labelled {
		if err := tx.InsertDeviceAttributes(d, tx.NextSeq()); err != nil {
			return privacy.Device{}, err
		}
	}
	return d, nil
}

// Owners lists every owner a device had, oldest first.
func (s *Service) Owners(ctx context.Context, id string) ([]privacy.DeviceOwner, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if _, err := s.db.Read(ctx).DeviceByID(id); err != nil {
		return nil, err
	}
	return s.db.Read(ctx).DeviceOwners(id)
}

// Sanitizations lists a device's attestations.
func (s *Service) Sanitizations(ctx context.Context, id string) ([]privacy.Sanitization, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	return s.db.Read(ctx).Sanitizations(id)
}

func (s *Service) transition(ctx context.Context, id string, to privacy.DeviceStatus, sanitization *privacy.Sanitization, clientID string) (privacy.Device, error) {
	if err := checkID(id); err != nil {
		return privacy.Device{}, err
	}
	if to == privacy.DeviceDisposed && s.endConsents == nil {
		// Disposal without ending the device's consents would leave them
		// granted: refuse rather than do half.
		return privacy.Device{}, privacy.Errorf(privacy.EUnavailable, "this process cannot end consents; devices are disposed of by consentry serve")
	}
	var d privacy.Device
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		var err error
		if d, err = tx.LockDevice(id); err != nil {
			return nil, err
		}
		if err := d.Transition(to); err != nil {
			return nil, err
		}
		var events []event.Event
		d.UpdatedAt = tx.Now()
		owner := d.OwnerSubject
		if to == privacy.DeviceDisposed {
			// The withdrawals come first: every later decision denies for
			// want of a consent, whatever the device's status. Its members
			// leave, and it has no owner any more (the history keeps who).
			if events, err = s.endConsents(tx, id, "", privacy.WithdrawalDeviceDisposed, clientID); err != nil {
				return nil, err
			}
			left, err := s.clearMembers(tx, id, privacy.WithdrawalDeviceDisposed)
			if err != nil {
				return nil, err
			}
			events = append(events, left...)
			if d, err = changeOwner(tx, d, ""); err != nil {
				return nil, err
			}
		}
		if err := tx.UpdateDeviceStatus(d); err != nil {
			return nil, err
		}
		record, err := s.line(tx, d)
		if err != nil {
			return nil, err
		}
		tx.Reserve(1)
		changed := event.DeviceStatusChanged{Device: d, RecordSHA256: record}
		if owner != d.OwnerSubject {
			changed.FormerOwner = owner
		}
		events = append(events, changed)
		if sanitization != nil {
			ev, err := s.attest(tx, id, *sanitization, clientID)
			if err != nil {
				return nil, err
			}
			events = append(events, ev)
		}
		return events, nil
	})
	if err != nil {
		return privacy.Device{}, err
	}
	return d, nil
}

// PutInventory declares a new inventory version for a device. The old
// versions stay as they were. A disposed device takes no new declaration:
// it collects nothing any more. The declaration is accepted even when the
// device's notice does not state all of it; what it does not state is
// returned as uncovered (and decisions deny it) until a covering notice
// version is published.
func (s *Service) PutInventory(ctx context.Context, deviceID, actor string, elements []privacy.DataElement) (inv privacy.Inventory, uncovered []privacy.Gap, err error) {
	if err := checkID(deviceID); err != nil {
		return privacy.Inventory{}, nil, err
	}
	inv = privacy.Inventory{DeviceID: deviceID, Elements: elements, CreatedBy: actor}
	_, err = s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		d, err := tx.LockDevice(deviceID)
		if err != nil {
			return nil, err
		}
		if d.Status == privacy.DeviceDisposed {
			return nil, privacy.Errorf(privacy.EInvalidTransition, "device is disposed; its inventory can no longer change")
		}
		keys, err := tx.PurposeKeys()
		if err != nil {
			return nil, err
		}
		if err := inv.Validate(func(k string) bool { return keys[k] }); err != nil {
			return nil, err
		}
		latest, err := tx.LatestInventoryVersion(deviceID)
		if err != nil {
			return nil, err
		}
		inv.Version, inv.CreatedAt = latest+1, tx.Now()
		if err := tx.InsertInventory(inv); err != nil {
			return nil, err
		}
		var notice privacy.NoticeContent // none published: nothing is stated
		cur, err := tx.CurrentNoticeVersion(d.NoticeKey)
		switch privacy.ErrorCode(err) {
		case "":
			notice = cur.Content
		case privacy.ENotFound:
		default:
			return nil, err
		}
		uncovered = notice.Gaps(inv)
		record, err := audit.LineSHA256(audit.NewInventoryLine(inv))
		return []event.Event{event.InventoryDeclared{Inventory: inv, Owner: d.OwnerSubject, RecordSHA256: record}}, err
	})
	if err != nil {
		return privacy.Inventory{}, nil, err
	}
	if uncovered == nil {
		uncovered = []privacy.Gap{}
	}
	return inv, uncovered, nil
}

// Inventory returns version of the device's inventory, or the current one
// when version is 0.
func (s *Service) Inventory(ctx context.Context, deviceID string, version int) (privacy.Inventory, error) {
	if err := checkID(deviceID); err != nil {
		return privacy.Inventory{}, err
	}
	tx := s.db.Read(ctx)
	inv, err := tx.InventoryVersion(deviceID, version)
	if privacy.ErrorCode(err) != privacy.ENotFound {
		return inv, err
	}
	// Only on a miss: say whether the device or the version is missing.
	if _, err := tx.DeviceByID(deviceID); err != nil {
		return privacy.Inventory{}, err
	}
	if version == 0 {
		return privacy.Inventory{}, privacy.Errorf(privacy.ENotFound, "device has no inventory yet")
	}
	return privacy.Inventory{}, privacy.Errorf(privacy.ENotFound, "device has no inventory version %d", version)
}

// Update changes a device's firmware (an admin, when the device was
// updated) or label (an admin, or the owner through their subject token),
// audited (device.updated) and kept in the history (Attributes). A
// change that changes nothing is returned as it is, unaudited.
func (s *Service) Update(ctx context.Context, id string, c privacy.DeviceChange, by Actor) (privacy.Device, error) {
	if err := checkID(id); err != nil {
		return privacy.Device{}, err
	}
	if by.Subject != "" && c.Firmware != nil {
		return privacy.Device{}, privacy.FieldErrorf(privacy.EForbidden, "firmware_version", "only an operator reports a device's firmware")
	}
	var d privacy.Device
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		var err error
		if d, err = tx.LockDevice(id); err != nil {
			return nil, err
		}
		if err := owned(d, by); err != nil {
			return nil, err
		}
		before := d
		changed, err := c.Apply(&d)
		if err != nil || !changed {
			return nil, err
		}
		if d.Status == privacy.DeviceDisposed {
			return nil, privacy.Errorf(privacy.EInvalidTransition, "device is disposed; it no longer changes")
		}
		var what []string
		if d.Firmware != before.Firmware {
			what = append(what, "firmware")
		}
		if d.Label != before.Label {
			what = append(what, "label")
		}
		d.UpdatedAt = tx.Now()
		if err := tx.UpdateDeviceAttributes(d, tx.NextSeq()); err != nil {
			return nil, err
		}
		record, err := s.line(tx, d)
		return []event.Event{event.DeviceUpdated{Device: d, Changed: what, RecordSHA256: record}}, err
	})
	if err != nil {
		return privacy.Device{}, err
	}
	return d, nil
}

// Attributes lists every firmware and label a device had, oldest first.
func (s *Service) Attributes(ctx context.Context, id string) ([]privacy.DeviceAttributes, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	r := s.db.Read(ctx)
	if _, err := r.DeviceByID(id); err != nil {
		return nil, err
	}
	return r.DeviceAttributeHistory(id)
}

// Visible reports whether subject may see device d: they own it, or
// share it now.
func (s *Service) Visible(ctx context.Context, d privacy.Device, subject string) (bool, error) {
	if d.OwnerSubject == subject {
		return true, nil
	}
	m, err := s.db.Read(ctx).Member(d.ID, subject)
	switch privacy.ErrorCode(err) {
	case "":
		return m.Active(s.db.Now()), nil
	case privacy.ENotFound:
		return false, nil
	}
	return false, err
}

// AddMember lets m.Subject share the device with its owner: a member, or
// a guest until m.Until. An admin or the owner (by) adds them; each then
// consents for themselves. A subject already sharing the device is
// removed first to change how (their consents end with it).
func (s *Service) AddMember(ctx context.Context, id string, m privacy.Member, by Actor) (privacy.Member, error) {
	if err := checkID(id); err != nil {
		return privacy.Member{}, err
	}
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		d, err := tx.LockDevice(id)
		if err != nil {
			return nil, err
		}
		if err := owned(d, by); err != nil {
			return nil, err
		}
		var p privacy.Problems
		privacy.CheckMember(&p, m, tx.Now())
		if err := p.Err("invalid member"); err != nil {
			return nil, err
		}
		switch {
		case d.Status == privacy.DeviceDisposed:
			return nil, privacy.Errorf(privacy.EInvalidTransition, "device is disposed: nobody shares it any more")
		case d.OwnerSubject == "":
			return nil, privacy.Errorf(privacy.EConflict, "the device has no owner to share it: transfer it to one first")
		case m.Subject == d.OwnerSubject:
			return nil, privacy.FieldErrorf(privacy.EConflict, "subject", "the owner does not become a member of their own device")
		}
		switch _, err := tx.Member(id, m.Subject); privacy.ErrorCode(err) {
		case "":
			return nil, privacy.FieldErrorf(privacy.EConflict, "subject", "already shares the device; remove them first to change how")
		case privacy.ENotFound:
		default:
			return nil, err
		}
		m.Until = m.Until.UTC().Truncate(time.Microsecond)
		m.DeviceID, m.AddedAt, m.AddedBy, m.AuditSeq = id, tx.Now(), by.ClientID, tx.NextSeq()
		if err := tx.PutMember(m); err != nil {
			return nil, err
		}
		return []event.Event{event.MemberAdded{Member: m}}, nil
	})
	if err != nil {
		return privacy.Member{}, err
	}
	return m, nil
}

// RemoveMember ends subject's share of the device: an admin or the owner
// removes them, or they leave (by names them). Their consents on it end
// in the same change, with receipts (reason member_removed).
func (s *Service) RemoveMember(ctx context.Context, id, subject string, by Actor) error {
	if err := checkID(id); err != nil {
		return err
	}
	if s.endConsents == nil {
		return privacy.Errorf(privacy.EUnavailable, "this process cannot end consents; members are removed by consentry serve")
	}
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		d, err := tx.LockDevice(id)
		if err != nil {
			return nil, err
		}
		if by.Subject != subject {
			if err := owned(d, by); err != nil {
				return nil, err
			}
		}
		m, err := tx.Member(id, subject)
		if err != nil {
			return nil, err
		}
		return s.remove(tx, m, privacy.WithdrawalMemberRemoved, by.ClientID)
	})
	return err
}

// remove ends m's share in tx: their consents first, then the membership.
func (s *Service) remove(tx *audit.Tx, m privacy.Member, reason, clientID string) ([]event.Event, error) {
	events, err := s.endConsents(tx, m.DeviceID, m.Subject, reason, clientID)
	if err != nil {
		return nil, err
	}
	if err := tx.DeleteMember(m.DeviceID, m.Subject); err != nil {
		return nil, err
	}
	tx.Reserve(1)
	return append(events, event.MemberRemoved{Member: m, Reason: reason}), nil
}

// clearMembers removes every member of a device in tx, whose consents the
// caller ended (a transfer, a disposal), for reason.
func (s *Service) clearMembers(tx *audit.Tx, id, reason string) ([]event.Event, error) {
	ms, err := tx.DeleteMembers(id)
	if err != nil {
		return nil, err
	}
	events := make([]event.Event, len(ms))
	for i, m := range ms {
		tx.Reserve(1)
		events[i] = event.MemberRemoved{Member: m, Reason: reason}
	}
	return events, nil
}

// Members lists who shares a device with its owner. A subject (by) sees
// them on a device they own or share.
func (s *Service) Members(ctx context.Context, id string, by Actor) ([]privacy.Member, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	d, err := s.db.Read(ctx).DeviceByID(id)
	if err != nil {
		return nil, err
	}
	if by.Subject != "" {
		ok, err := s.Visible(ctx, d, by.Subject)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, privacy.Errorf(privacy.ENotFound, "device not found")
		}
	}
	return s.db.Read(ctx).Members(id)
}

// guestBatch is how many ended guests EndGuests removes per change.
const guestBatch = 100

// EndGuests removes the guests whose time has ended, their consents
// ending with receipts (reason guest_expired), and returns how many.
// Decisions deny them from their end on regardless: a guest's grants
// expire then.
func (s *Service) EndGuests(ctx context.Context) (int, error) {
	if s.endConsents == nil {
		return 0, nil
	}
	ended, err := s.db.Read(ctx).GuestsEnded(s.db.Now(), guestBatch)
	if err != nil || len(ended) == 0 {
		return 0, err
	}
	n := 0
	_, err = s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		n = 0
		var events []event.Event
		for _, m := range ended {
			if _, err := tx.LockDevice(m.DeviceID); err != nil {
				return nil, err
			}
			// Read again under the lock: removed or re-added since.
			cur, err := tx.Member(m.DeviceID, m.Subject)
			if privacy.ErrorCode(err) == privacy.ENotFound || err == nil && cur.Active(tx.Now()) {
				continue
			}
			if err != nil {
				return nil, err
			}
			evs, err := s.remove(tx, cur, privacy.WithdrawalGuestExpired, "")
			if err != nil {
				return nil, err
			}
			events, n = append(events, evs...), n+1
		}
		return events, nil
	})
	return n, err
}

// RunGuests calls EndGuests every interval until ctx ends.
func (s *Service) RunGuests(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.EndGuests(ctx); err != nil && ctx.Err() == nil {
				log.Warn("ending guests' stays failed; retried", "error", err)
			}
		}
	}
}
