// Package consent records consent (ISO/IEC 27400 Controls 31-2 and 33):
// per-purpose choices bound to the exact notice version shown, with
// expiry, withdrawal in one call, re-consent after a material change, and
// a signed receipt for every event. Records and their events are
// append-only; the current state is a projection of them.
package consent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/memo"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/google/uuid"
	"golang.org/x/text/language"
)

// Service is the consent use cases.
type Service struct {
	db        *store.DB
	log       *audit.Log
	keys      *Keys
	publicURL string
	devices   *memo.Map[string, privacy.Device] // see device
	// inventories are the devices' inventories as last read, for
	// receipts; see inventory.
	inventories *memo.Map[string, privacy.Inventory]
}

// NewService returns a Service reading db, writing through log and
// signing receipts with keys; publicURL is where notices are served.
func NewService(db *store.DB, log *audit.Log, keys *Keys, publicURL string) *Service {
	return &Service{db: db, log: log, keys: keys, publicURL: publicURL, devices: memo.New[string, privacy.Device](1 << 16),
		inventories: memo.New[string, privacy.Inventory](1 << 16)}
}

// Keys are the receipt signing keys.
func (s *Service) Keys() *Keys { return s.keys }

// Input is a consent as an app submits it.
type Input struct {
	SubjectID     string
	DeviceID      string
	NoticeKey     string
	NoticeVersion int
	NoticeHash    string
	Locale        string
	Choices       []privacy.ConsentChoice
	Method        privacy.ConsentMethod
	ClientTime    time.Time
	ClientID      string
	// Guardian gives, with a child (SubjectID), a proxy consent: one of
	// the guardians declared theirs.
	Guardian string
}

var hashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// validate checks what can be checked without the database.
func (in *Input) validate() error {
	var p privacy.Problems
	privacy.CheckSubject(&p, "subject", in.SubjectID)
	if in.Guardian != "" {
		privacy.CheckSubject(&p, "guardian", in.Guardian)
	}
	if _, err := uuid.Parse(in.DeviceID); err != nil {
		p.Add("device_id", "must be a device id")
	}
	if !privacy.ValidKey(in.NoticeKey) {
		p.Add("notice_key", "must be a notice key")
	}
	if in.NoticeVersion < 1 {
		p.Add("notice_version", "must be a positive version number")
	}
	if !hashPattern.MatchString(in.NoticeHash) {
		p.Add("notice_hash", "must be the notice version's content_hash (64 lower-case hex digits)")
	}
	if t, err := language.Parse(in.Locale); err != nil {
		p.Add("locale", "must be a BCP 47 language tag")
	} else {
		in.Locale = t.String()
	}
	if !in.Method.Valid() {
		p.Add("method", "must be one of app, web, voice, paper, api")
	}
	if len(in.Choices) == 0 {
		p.Add("choices", "must hold at least one choice")
	}
	seen := map[string]bool{}
	for i, c := range in.Choices {
		switch {
		case !privacy.ValidKey(c.Purpose):
			p.Add(fmt.Sprintf("choices[%d].purpose", i), "must be a purpose key")
		case seen[c.Purpose]:
			p.Add(fmt.Sprintf("choices[%d].purpose", i), "purpose %s is chosen twice", c.Purpose)
		}
		seen[c.Purpose] = true
	}
	return p.Err("invalid consent")
}

// expiry is when a grant made at t for purpose p of notice c ends.
func expiry(t time.Time, np privacy.NoticePurpose) (time.Time, error) {
	d, err := privacy.ParseDuration(np.ConsentValidity())
	if err != nil {
		return time.Time{}, fmt.Errorf("consent: validity of %s: %w", np.Purpose, err)
	}
	return t.AddDate(int(d.Years), int(d.Months), int(d.Weeks*7+d.Days)).
		Add(time.Duration(d.Hours*float64(time.Hour) + d.Minutes*float64(time.Minute) + d.Seconds*float64(time.Second))), nil
}

// Record stores a consent. It is refused, and nothing is stored, when the
// version shown is not the one in force (409) or its hash differs (409),
// a purpose is not stated by it (422), the device is not active (409), or
// the device has another owner (403). Purposes not chosen stay denied.
func (s *Service) Record(ctx context.Context, in Input) (privacy.ConsentRecord, error) {
	if err := in.validate(); err != nil {
		return privacy.ConsentRecord{}, err
	}
	// Everything that can be checked is checked here, in parallel with
	// other requests; the single writer then only re-checks, in one query,
	// what could have changed since, and writes.
	tx := s.db.Read(ctx)
	d, err := s.device(tx, in.DeviceID)
	if err != nil {
		return privacy.ConsentRecord{}, err
	}
	// Who is a child, and whose guardians, is checked by the writer alone
	// (ConsentPrecheck reads it in the query it makes anyway): a read
	// here would cost every consent for the few that are refused.
	until, err := shares(tx, d, in)
	if err != nil {
		// The cache holds the device as last read; a transfer or a repair
		// may have changed its owner or status since: read it again.
		s.devices.Delete(in.DeviceID)
		if d, err = s.device(tx, in.DeviceID); err != nil {
			return privacy.ConsentRecord{}, err
		}
		if until, err = shares(tx, d, in); err != nil {
			return privacy.ConsentRecord{}, err
		}
	}
	// The version shown, from the cache of published versions; whether it
	// is still the one in force is checked by the writer, at commit.
	cur, err := tx.PublishedNoticeVersion(in.NoticeKey, in.NoticeVersion)
	switch {
	case privacy.ErrorCode(err) == privacy.ENotFound:
		return privacy.ConsentRecord{}, s.stale(tx, in)
	case err != nil:
		return privacy.ConsentRecord{}, err
	}
	if in.NoticeHash != cur.ContentHash {
		return privacy.ConsentRecord{}, s.wrongHash(tx, in, cur)
	}
	if _, ok := cur.Content.Texts[in.Locale]; !ok {
		return privacy.ConsentRecord{}, privacy.FieldErrorf(privacy.EInvalid, "locale", "version %d has no locale %s", cur.Version, in.Locale)
	}
	var p privacy.Problems
	for i, c := range in.Choices {
		if _, ok := cur.Content.Purpose(c.Purpose); !ok {
			p.Add(fmt.Sprintf("choices[%d].purpose", i), "the notice does not state purpose %s", c.Purpose)
		}
	}
	if err := p.Err("the choices name purposes the notice does not state"); err != nil {
		return privacy.ConsentRecord{}, err
	}
	// The receipt is built on the inventory in memory; the writer checks
	// that it is still the current one, and if one was declared since,
	// the receipt is built again on that.
	for attempt := 1; ; attempt++ {
		rec, err := s.record(ctx, tx, in, d, cur, until, attempt > 1)
		if !errors.Is(err, errInventoryChanged) {
			return rec, err
		}
		if attempt == 3 {
			return privacy.ConsentRecord{}, privacy.Errorf(privacy.EConflict, "the device's inventory keeps changing; ask again")
		}
	}
}

// errInventoryChanged: a receipt was built on an inventory that is no
// longer the device's current one.
var errInventoryChanged = errors.New("consent: the inventory changed")

// record builds, signs and writes a consent that Record has checked.
// fresh: the inventory in memory was found out of date; read it again.
// A guest's grants end with their stay (until, zero for anyone else).
func (s *Service) record(ctx context.Context, tx *store.Reader, in Input, d privacy.Device, cur privacy.NoticeVersion, until time.Time, fresh bool) (privacy.ConsentRecord, error) {
	inv, err := s.inventory(tx, d.ID, fresh)
	if err != nil {
		return privacy.ConsentRecord{}, err
	}

	// The record, its expiry and its signed receipt are made here too, in
	// parallel; its place in the log and in the current state is the order
	// in which the writer commits it.
	rec := privacy.ConsentRecord{ID: uuid.Must(uuid.NewV7()).String(), Kind: privacy.RecordConsent, SubjectID: in.SubjectID,
		DeviceID: in.DeviceID, NoticeKey: cur.NoticeKey, NoticeVersion: cur.Version, NoticeHash: cur.ContentHash, Locale: in.Locale,
		Method: in.Method, ClientTime: in.ClientTime.UTC().Truncate(time.Microsecond), CreatedAt: tx.Now(), ClientID: in.ClientID,
		Guardian: in.Guardian}
	for _, c := range in.Choices {
		choice := privacy.ConsentChoice{Purpose: c.Purpose, Granted: c.Granted}
		if c.Granted {
			np, _ := cur.Content.Purpose(c.Purpose)
			if choice.ExpiresAt, err = expiry(rec.CreatedAt, np); err != nil {
				return privacy.ConsentRecord{}, err
			}
			if !until.IsZero() && until.Before(choice.ExpiresAt) {
				choice.ExpiresAt = until
			}
		}
		rec.Choices = append(rec.Choices, choice)
	}
	receiptHash, err := s.sign(&rec, cur, d, inv)
	if err != nil {
		return privacy.ConsentRecord{}, err
	}
	_, err = s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		check, err := tx.ConsentPrecheck(in.SubjectID, in.DeviceID, in.NoticeKey, in.Guardian)
		if err != nil {
			return nil, err
		}
		if check.Status != string(privacy.DeviceActive) {
			return nil, privacy.FieldErrorf(privacy.EConflict, "device_id", "device is %s; consent can only be given for an active device", check.Status)
		}
		// The owner and members as they are now (the device cache holds
		// the owner as last read; an erasure leaves the erased owner's
		// marker in its place).
		if check.Owner != "" && check.Owner != rec.SubjectID {
			switch {
			case !check.Member || !check.MemberUntil.IsZero() && !tx.Now().Before(check.MemberUntil):
				return nil, errNotShared
			case !check.MemberUntil.Equal(until):
				return nil, privacy.FieldErrorf(privacy.EConflict, "subject", "the subject's stay on the device changed; ask again")
			}
		}
		if check.Notice != cur.Version {
			return nil, s.stale(tx.Reader, in)
		}
		if check.Inventory != inv.Version {
			return nil, errInventoryChanged
		}
		pseudonym, err := tx.PseudonymStored(rec.SubjectID, check.Pseudonym)
		if err != nil {
			return nil, err
		}
		// Who is a child, and whose guardians, as it is now.
		if err := guardianRule(check.Child, check.ChildMajority, check.Guardian, in.Guardian, tx.Now()); err != nil {
			return nil, err
		}
		return s.store(tx, rec, pseudonym, receiptHash, check.Granted)
	})
	if err != nil {
		return privacy.ConsentRecord{}, err
	}
	return rec, nil
}

// device returns a device from the cache when it can. Its notice and
// identity never change; its owner and status may (a transfer, a repair):
// the writer reads both again at commit, and Record reads the device again
// before it refuses on the cached ones.
func (s *Service) device(tx *store.Reader, id string) (privacy.Device, error) {
	if d, ok := s.devices.Load(id); ok {
		return d, nil
	}
	d, err := tx.DeviceByID(id)
	if err != nil {
		return privacy.Device{}, err
	}
	s.devices.Store(id, d)
	return d, nil
}

// inventory returns a device's inventory (version 0 and no elements when
// it has none) as last read: reading it was a tenth of a consent's CPU.
// It may be out of date, so the writer compares its version with the
// device's current one, and Record forgets it and builds the receipt again
// when they differ (fresh: from the database, replacing what memory
// held): one check for declarations made through this process or any
// other.
func (s *Service) inventory(tx *store.Reader, deviceID string, fresh bool) (privacy.Inventory, error) {
	if fresh {
		s.inventories.Delete(deviceID)
	} else if inv, ok := s.inventories.Load(deviceID); ok {
		return inv, nil
	}
	inv, err := currentInventory(tx, deviceID)
	if err != nil {
		return privacy.Inventory{}, err
	}
	s.inventories.Store(deviceID, inv)
	return inv, nil
}

// currentInventory is a device's newest inventory, or version 0 with no
// elements when it has declared none (a receipt then lists no data).
func currentInventory(tx *store.Reader, deviceID string) (privacy.Inventory, error) {
	inv, err := tx.InventoryVersion(deviceID, 0)
	if privacy.ErrorCode(err) == privacy.ENotFound {
		return privacy.Inventory{DeviceID: deviceID}, nil
	}
	return inv, err
}

// stale is the refusal of a notice version that is not the one in force,
// naming the one that is.
func (s *Service) stale(tx *store.Reader, in Input) error {
	version, hash, err := tx.CurrentNoticeRef(in.NoticeKey)
	if err != nil {
		return err
	}
	return staleVersion(in, version, hash)
}

// staleVersion is that refusal, given the version in force.
func staleVersion(in Input, version int, hash string) error {
	return privacy.FieldErrorf(privacy.EConflict, "notice_version",
		"version %d is not the notice in force; show version %d (content_hash %s) and ask again", in.NoticeVersion, version, hash)
}

// wrongHash is the refusal of a hash that does not match the published
// version named. When that version is not the one in force either, the
// refusal is about that instead: the app must show the version in force,
// so the refusal names it, not the old version's hash.
func (s *Service) wrongHash(tx *store.Reader, in Input, shown privacy.NoticeVersion) error {
	version, hash, err := tx.CurrentNoticeRef(in.NoticeKey)
	if err != nil {
		return err
	}
	if version != shown.Version {
		return staleVersion(in, version, hash)
	}
	return privacy.FieldErrorf(privacy.EConflict, "notice_hash",
		"the hash does not match version %d (content_hash %s): what was shown is not what was published", shown.Version, shown.ContentHash)
}

// guardianRule applies the rules about children to a consent: a declared
// child's consent is a proxy consent, given with one of their guardians,
// until their majority (zero: not known); from then on, and for anyone
// not a child, nobody consents with a guardian. isGuardian: guardian is
// one of the child's.
func guardianRule(child bool, majority time.Time, isGuardian bool, guardian string, now time.Time) error {
	minor := privacy.Minor(child, majority, now)
	switch {
	case minor && guardian == "":
		return privacy.FieldErrorf(privacy.EInvalid, "guardian", "the subject is declared a child: their consent is given with a guardian's, who is named here")
	case minor && !isGuardian:
		return privacy.FieldErrorf(privacy.EForbidden, "guardian", "is not a guardian declared for this child")
	case !minor && guardian != "":
		return privacy.FieldErrorf(privacy.EInvalid, "guardian", "only a child's consent is given with a guardian; this subject consents for themself")
	}
	return nil
}

// errNotShared refuses a consent on a device the subject neither owns nor
// shares: nobody consents for another adult.
var errNotShared = privacy.FieldErrorf(privacy.EForbidden, "subject",
	"the device belongs to another subject; its owner may add this subject as a member or guest, who then consents for themselves")

// shares applies the rules about the device (checkDevice) and says how
// the subject shares it: the owner, anyone on a device without owner, or
// a member or guest of its owner's, whose stay ends at until (zero for
// all but a guest).
func shares(tx *store.Reader, d privacy.Device, in Input) (until time.Time, err error) {
	if err := checkDevice(d, in); err != nil {
		return time.Time{}, err
	}
	if d.OwnerSubject == "" || d.OwnerSubject == in.SubjectID {
		return time.Time{}, nil
	}
	m, err := tx.Member(d.ID, in.SubjectID)
	switch {
	case privacy.ErrorCode(err) == privacy.ENotFound:
		return time.Time{}, errNotShared
	case err != nil:
		return time.Time{}, err
	case !m.Active(tx.Now()):
		return time.Time{}, errNotShared
	}
	return m.Until, nil
}

// checkDevice applies the rules about the device: active, governed by the
// notice shown.
func checkDevice(d privacy.Device, in Input) error {
	if d.Status != privacy.DeviceActive {
		return privacy.FieldErrorf(privacy.EConflict, "device_id", "device is %s; consent can only be given for an active device", d.Status)
	}
	if d.NoticeKey != in.NoticeKey {
		return privacy.FieldErrorf(privacy.EInvalid, "notice_key", "the device is governed by notice %s", d.NoticeKey)
	}
	return nil
}

// sign builds rec's receipt, signs it, and returns the receipt's SHA-256
// (hex), which its audit entries carry. Hashed here because a consent is
// signed before it reaches the audit writer: one step less on the writer.
func (s *Service) sign(rec *privacy.ConsentRecord, notice privacy.NoticeVersion, d privacy.Device, inv privacy.Inventory) (string, error) {
	payload, err := buildReceipt(receiptInput{rec: *rec, notice: notice, device: d, inventory: inv, publicURL: s.publicURL, kid: s.keys.CurrentKID()})
	if err != nil {
		return "", err
	}
	if rec.Receipt, err = s.keys.Sign(payload); err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(rec.Receipt))
	return hex.EncodeToString(sum[:]), nil
}

// store writes a signed record and returns its audit events: one per
// purpose, in the shape the verifier's replay reads, each carrying
// receiptHash, the SHA-256 of the record's receipt; the record's line
// names its subject by pseudonym. granted names the
// purposes in force until now (store.ConsentCheck.Granted); only a consent
// record, which may deny one of them, reads it.
func (s *Service) store(tx *audit.Tx, rec privacy.ConsentRecord, pseudonym, receiptHash string, granted []string) ([]event.Event, error) {
	// Each choice's audit entry follows in order: the state can name it.
	// A change may store several records (withdrawing everything): the
	// next one's entries come after these.
	first := tx.Reserve(len(rec.Choices))
	for i := range rec.Choices {
		rec.Choices[i].AuditSeq = first + int64(i)
	}
	if err := tx.InsertConsentRecord(rec); err != nil {
		return nil, err
	}
	// Every choice's entry commits to the whole record as written.
	var guardian string
	if rec.Guardian != "" {
		var err error
		if guardian, err = tx.Pseudonym(rec.Guardian); err != nil {
			return nil, err
		}
	}
	recordHash, err := audit.LineSHA256(audit.NewConsentLine(rec, pseudonym, guardian, receiptHash))
	if err != nil {
		return nil, err
	}
	events := make([]event.Event, len(rec.Choices))
	for i, c := range rec.Choices {
		// The purpose's current state as InsertConsentRecord wrote it.
		ev := event.Consent{ReceiptSHA256: receiptHash, RecordSHA256: recordHash, Reason: rec.Reason, Guardian: guardian,
			ConsentState: privacy.ConsentState{SubjectID: rec.SubjectID, DeviceID: rec.DeviceID, Purpose: c.Purpose, RecordID: rec.ID,
				Kind: rec.Kind, Granted: c.Granted, ExpiresAt: c.ExpiresAt, NoticeKey: rec.NoticeKey, NoticeVersion: rec.NoticeVersion,
				AuditSeq: c.AuditSeq, UpdatedAt: rec.CreatedAt, Proxy: rec.Guardian != ""}}
		if rec.Kind == privacy.RecordWithdrawal {
			events[i] = event.ConsentWithdrawn{Consent: ev}
			continue
		}
		// Saying no where yes was in force takes the grant back: backends
		// are told as for a withdrawal.
		events[i] = event.ConsentRecorded{Consent: ev, RevokesGrant: !c.Granted && slices.Contains(granted, c.Purpose)}
	}
	return events, nil
}

// Get returns one record with its receipt, once it is checked against the
// audit entry that recorded it.
func (s *Service) Get(ctx context.Context, id string) (privacy.ConsentRecord, error) {
	if _, err := uuid.Parse(id); err != nil {
		return privacy.ConsentRecord{}, privacy.Errorf(privacy.ENotFound, "consent record not found")
	}
	rec, err := s.db.Read(ctx).ConsentRecord(id)
	if err != nil {
		return privacy.ConsentRecord{}, err
	}
	// A record edited in the database is not served as evidence: it
	// fails, and the failure is logged.
	if err := s.log.CheckConsent(ctx, rec); err != nil {
		return privacy.ConsentRecord{}, err
	}
	return rec, nil
}

// withdrawal records a withdrawal of purposes on one device, against the
// notice version the withdrawn choices were made on.
func (s *Service) withdrawal(tx *audit.Tx, subject, deviceID, noticeKey string, version int, locale, withdraws string, purposes []string,
	method privacy.ConsentMethod, clientID, reason string) (privacy.ConsentRecord, []event.Event, error) {
	d, err := tx.DeviceByID(deviceID)
	if err != nil {
		return privacy.ConsentRecord{}, nil, err
	}
	notice, err := tx.PublishedNoticeVersion(noticeKey, version)
	if err != nil {
		return privacy.ConsentRecord{}, nil, err
	}
	inv, err := currentInventory(tx.Reader, deviceID)
	if err != nil {
		return privacy.ConsentRecord{}, nil, err
	}
	rec := privacy.ConsentRecord{ID: uuid.Must(uuid.NewV7()).String(), Kind: privacy.RecordWithdrawal, SubjectID: subject, DeviceID: deviceID,
		NoticeKey: noticeKey, NoticeVersion: version, NoticeHash: notice.ContentHash, Locale: locale, Method: method, CreatedAt: tx.Now(),
		ClientID: clientID, Withdraws: withdraws, Reason: reason}
	for _, p := range purposes {
		rec.Choices = append(rec.Choices, privacy.ConsentChoice{Purpose: p})
	}
	receiptHash, err := s.sign(&rec, notice, d, inv)
	if err != nil {
		return privacy.ConsentRecord{}, nil, err
	}
	pseudonym, err := tx.Pseudonym(subject)
	if err != nil {
		return privacy.ConsentRecord{}, nil, err
	}
	events, err := s.store(tx, rec, pseudonym, receiptHash, nil)
	return rec, events, err
}

// Withdraw withdraws the given purposes of a consent record (all its
// purposes when none are given), in one call, with its own receipt.
func (s *Service) Withdraw(ctx context.Context, id string, purposes []string, method privacy.ConsentMethod, clientID string) (privacy.ConsentRecord, error) {
	if _, err := uuid.Parse(id); err != nil {
		return privacy.ConsentRecord{}, privacy.Errorf(privacy.ENotFound, "consent record not found")
	}
	if method == "" {
		method = privacy.MethodApp
	}
	if !method.Valid() {
		return privacy.ConsentRecord{}, privacy.FieldErrorf(privacy.EInvalid, "method", "must be one of app, web, voice, paper, api")
	}
	var out privacy.ConsentRecord
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		rec, err := tx.ConsentRecord(id)
		if err != nil {
			return nil, err
		}
		if rec.Kind != privacy.RecordConsent {
			return nil, privacy.Errorf(privacy.EConflict, "record %s is a withdrawal; withdraw the consent record itself", id)
		}
		var own []string
		for _, c := range rec.Choices {
			own = append(own, c.Purpose)
		}
		if len(purposes) == 0 {
			purposes = own
		}
		var p privacy.Problems
		for i, pu := range purposes {
			if !slices.Contains(own, pu) {
				p.Add(fmt.Sprintf("purposes[%d]", i), "record %s has no choice for purpose %s", id, pu)
			}
		}
		if err := p.Err("invalid withdrawal"); err != nil {
			return nil, err
		}
		var events []event.Event
		out, events, err = s.withdrawal(tx, rec.SubjectID, rec.DeviceID, rec.NoticeKey, rec.NoticeVersion, rec.Locale, rec.ID, purposes, method, clientID, "")
		return events, err
	})
	if err != nil {
		return privacy.ConsentRecord{}, err
	}
	return out, nil
}

// WithdrawSubject withdraws everything a subject has granted, on every
// device, in one call: one withdrawal record (and receipt) per device and
// notice version.
func (s *Service) WithdrawSubject(ctx context.Context, subject string, method privacy.ConsentMethod, clientID string) ([]privacy.ConsentRecord, error) {
	var p privacy.Problems
	privacy.CheckSubject(&p, "subject", subject)
	if method == "" {
		method = privacy.MethodApp
	}
	if !method.Valid() {
		p.Add("method", "must be one of app, web, voice, paper, api")
	}
	if err := p.Err("invalid withdrawal"); err != nil {
		return nil, err
	}
	var out []privacy.ConsentRecord
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		var (
			events []event.Event
			err    error
		)
		out, events, err = s.WithdrawAll(tx, subject, method, clientID)
		return events, err
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []privacy.ConsentRecord{}
	}
	return out, nil
}

// WithdrawAll is WithdrawSubject inside a change of the log: the
// withdrawal records it stored and their events.
func (s *Service) WithdrawAll(tx *audit.Tx, subject string, method privacy.ConsentMethod, clientID string) ([]privacy.ConsentRecord, []event.Event, error) {
	states, err := tx.ConsentStates(subject, "")
	if err != nil {
		return nil, nil, err
	}
	return s.withdrawStates(tx, states, method, clientID, "")
}

// WithdrawDevice ends, inside a change of the log, every consent in force
// on a device, whoever gave it (or subject's only, unless subject is ""):
// the service withdraws for reason (a privacy.Withdrawal… constant), one
// record and receipt per subject and notice version, and returns their
// events.
func (s *Service) WithdrawDevice(tx *audit.Tx, deviceID, subject, reason, clientID string) ([]event.Event, error) {
	var (
		states []privacy.ConsentState
		err    error
	)
	if subject == "" {
		states, err = tx.DeviceConsentStates(deviceID)
	} else {
		states, err = tx.ConsentStates(subject, deviceID)
	}
	if err != nil {
		return nil, err
	}
	_, events, err := s.withdrawStates(tx, states, privacy.MethodAPI, clientID, reason)
	return events, err
}

// withdrawStates withdraws the granted purposes among states: one
// withdrawal record per subject, device and notice version.
func (s *Service) withdrawStates(tx *audit.Tx, states []privacy.ConsentState, method privacy.ConsentMethod, clientID, reason string) ([]privacy.ConsentRecord, []event.Event, error) {
	type group struct {
		subject, device, notice string
		version                 int
	}
	var order []group
	purposes := map[group][]string{}
	locales := map[group]string{}
	for _, st := range states {
		if st.Kind != privacy.RecordConsent || !st.Granted {
			continue
		}
		g := group{st.SubjectID, st.DeviceID, st.NoticeKey, st.NoticeVersion}
		if _, ok := purposes[g]; !ok {
			order = append(order, g)
			rec, err := tx.ConsentRecord(st.RecordID)
			if err != nil {
				return nil, nil, err
			}
			locales[g] = rec.Locale
		}
		purposes[g] = append(purposes[g], st.Purpose)
	}
	var (
		out    []privacy.ConsentRecord
		events []event.Event
	)
	for _, g := range order {
		rec, evs, err := s.withdrawal(tx, g.subject, g.device, g.notice, g.version, locales[g], "", purposes[g], method, clientID, reason)
		if err != nil {
			return nil, nil, err
		}
		out, events = append(out, rec), append(events, evs...)
	}
	return out, events, nil
}

// StateView is a current state with its status now.
type StateView struct {
	privacy.ConsentState
	Status privacy.ConsentStatus
}

// materialSince answers, from the notices' published versions, whether a
// purpose changed materially after version.
func materialSince(tx *store.Reader) func(key, purpose string, version int) bool {
	cache := map[string]map[int][]string{}
	return func(key, purpose string, version int) bool {
		mc, ok := cache[key]
		if !ok {
			var err error
			if mc, err = tx.MaterialChanges(key); err != nil {
				// Unknown means not proven valid: treat as changed (deny).
				return true
			}
			cache[key] = mc
		}
		for v, ps := range mc {
			if v > version && slices.Contains(ps, purpose) {
				return true
			}
		}
		return false
	}
}

// State returns a subject's current state per device and purpose.
func (s *Service) State(ctx context.Context, subject string) ([]StateView, error) {
	var p privacy.Problems
	privacy.CheckSubject(&p, "subject", subject)
	if err := p.Err("invalid subject"); err != nil {
		return nil, err
	}
	tx := s.db.Read(ctx)
	states, err := tx.ConsentStates(subject, "")
	if err != nil {
		return nil, err
	}
	changed := materialSince(tx)
	now := tx.Now()
	out := make([]StateView, 0, len(states))
	chosen := map[string]bool{}
	var devices []string
	for _, st := range states {
		out = append(out, StateView{ConsentState: st, Status: st.Status(now, changed)})
		if !slices.Contains(devices, st.DeviceID) {
			devices = append(devices, st.DeviceID)
		}
		chosen[st.DeviceID+"\x00"+st.Purpose] = true
	}
	// Every other purpose the device's notice states is denied: nothing
	// was chosen, and the default is the strictest.
	for _, id := range devices {
		d, err := tx.DeviceByID(id)
		if err != nil {
			return nil, err
		}
		cur, err := tx.CurrentNoticeVersion(d.NoticeKey)
		if err != nil {
			continue // no notice in force: nothing else can be stated
		}
		for _, np := range cur.Content.Purposes {
			if !chosen[id+"\x00"+np.Purpose] {
				out = append(out, StateView{ConsentState: privacy.ConsentState{SubjectID: subject, DeviceID: id, Purpose: np.Purpose,
					NoticeKey: cur.NoticeKey, NoticeVersion: cur.Version}, Status: privacy.StatusDenied})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b StateView) int {
		if a.DeviceID != b.DeviceID {
			return strings.Compare(a.DeviceID, b.DeviceID)
		}
		return strings.Compare(a.Purpose, b.Purpose)
	})
	return out, nil
}

// History pages a subject's records, newest first. cursor is the last
// record of the previous page ("" for the first).
func (s *Service) History(ctx context.Context, subject, cursor string, limit int) (records []privacy.ConsentRecord, next string, err error) {
	if limit <= 0 {
		limit = 50
	}
	if limit > 200 {
		return nil, "", privacy.FieldErrorf(privacy.EInvalid, "limit", "must be between 1 and 200")
	}
	tx := s.db.Read(ctx)
	var before privacy.ConsentRecord
	if cursor != "" {
		if _, perr := uuid.Parse(cursor); perr != nil {
			return nil, "", privacy.FieldErrorf(privacy.EInvalid, "cursor", "is not a cursor this service issued")
		}
		if before, err = tx.ConsentRecord(cursor); err != nil || before.SubjectID != subject {
			return nil, "", privacy.FieldErrorf(privacy.EInvalid, "cursor", "is not a cursor this service issued")
		}
	}
	records, err = tx.ConsentHistory(subject, before.CreatedAt, before.ID, limit+1)
	if err != nil {
		return nil, "", err
	}
	if len(records) > limit {
		records = records[:limit]
		next = records[limit-1].ID
	}
	if records == nil {
		records = []privacy.ConsentRecord{}
	}
	return records, next, nil
}

// Rebuild recomputes the current state from the events alone. It changes
// no evidence; the log records that it happened.
func (s *Service) Rebuild(ctx context.Context) error {
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		if err := tx.RebuildConsentState(); err != nil {
			return nil, err
		}
		return []event.Event{event.ConsentStateRebuilt{}}, nil
	})
	return err
}
