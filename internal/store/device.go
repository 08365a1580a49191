package store

import (
	"database/sql"
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// deviceRecord is a row of devices.
type deviceRecord struct {
	ID           string
	Manufacturer string
	Model        string
	Serial       string
	Firmware     string
	NoticeKey    string
	OwnerSubject string
	Status       string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Label        string
	Refurbished  string
}

// deviceColumns are deviceRecord's columns, in fields' order. (The
// identity keys, manufacturer_key and model_key, are written and searched
// but never read back.)
const deviceColumns = "id, manufacturer, model, serial, firmware, notice_key, owner_subject, status, created_at, updated_at, label, refurbished_from"

// selectDevices is the start of every query of whole devices.
const selectDevices = "SELECT " + deviceColumns + " FROM devices"

func (r *deviceRecord) fields() []any {
	return []any{&r.ID, &r.Manufacturer, &r.Model, &r.Serial, &r.Firmware, &r.NoticeKey, &r.OwnerSubject, &r.Status, &r.CreatedAt, &r.UpdatedAt, &r.Label, &r.Refurbished}
}

func (r deviceRecord) toDomain() privacy.Device {
	return privacy.Device{ID: r.ID, Manufacturer: r.Manufacturer, Model: r.Model, Serial: r.Serial, Firmware: r.Firmware,
		NoticeKey: r.NoticeKey, OwnerSubject: r.OwnerSubject, Status: privacy.DeviceStatus(r.Status),
		Label: r.Label, RefurbishedFrom: r.Refurbished, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// InsertDevice registers a device, with its first attributes at entry
// seq. A second device in service with the same identity triple is an
// EConflict naming the three fields.
func (tx *Tx) InsertDevice(d privacy.Device, seq int64) error {
	_, err := tx.exec("device", `INSERT INTO devices (`+deviceColumns+`, manufacturer_key, model_key) VALUES `+placeholders(1, 14),
		d.ID, d.Manufacturer, d.Model, d.Serial, d.Firmware, d.NoticeKey, d.OwnerSubject, string(d.Status), d.CreatedAt, d.UpdatedAt,
		d.Label, d.RefurbishedFrom, privacy.IdentityKey(d.Manufacturer), privacy.IdentityKey(d.Model))
	if err == nil {
		err = tx.insertAttributes(d, seq)
	}
	if privacy.ErrorCode(err) == privacy.EConflict {
		const msg = "a device with this manufacturer, model and serial is already registered"
		return &privacy.Error{Code: privacy.EConflict, Detail: msg, Fields: []privacy.FieldError{
			{Field: "manufacturer", Detail: msg}, {Field: "model", Detail: msg}, {Field: "serial", Detail: msg}}}
	}
	return err
}

// DeviceByID finds one device.
func (r *Reader) DeviceByID(id string) (privacy.Device, error) {
	d, err := selectOne[deviceRecord](r, "device", selectDevices+" WHERE id = ?", id)
	return d.toDomain(), err
}

// DeviceByIdentity reads the device registered under an identity, given
// normalized (privacy.Device.Normalize) and keyed (privacy.IdentityKey) as
// at registration: the one in service, or else the one disposed of last.
func (r *Reader) DeviceByIdentity(manufacturerKey, modelKey, serial string) (privacy.Device, error) {
	d, err := selectOne[deviceRecord](r, "device", selectDevices+` WHERE manufacturer_key = ? AND model_key = ? AND serial = ?
		ORDER BY CASE WHEN status = 'disposed' THEN 1 ELSE 0 END, id DESC LIMIT 1`,
		manufacturerKey, modelKey, serial)
	return d.toDomain(), err
}

// LockDevice reads a device and holds it until the transaction ends, so that
// concurrent lifecycle changes and inventory declarations on one device
// queue instead of racing. SQLite needs no row lock: every transaction
// already holds the database's write lock (BEGIN IMMEDIATE).
func (tx *Tx) LockDevice(id string) (privacy.Device, error) {
	q := selectDevices + " WHERE id = ?"
	if tx.postgres {
		q += " FOR UPDATE"
	}
	d, err := selectOne[deviceRecord](tx.Reader, "device", q, id)
	return d.toDomain(), err
}

// UpdateDeviceStatus records a lifecycle change. The status column is the
// device's current state, not evidence: the history of changes lives in the
// audit log.
func (tx *Tx) UpdateDeviceStatus(d privacy.Device) error {
	n, err := tx.exec("device", "UPDATE devices SET status = ?, updated_at = ? WHERE id = ?", string(d.Status), d.UpdatedAt, d.ID)
	return changedOne(n, err, privacy.Errorf(privacy.ENotFound, "device not found"))
}

// ListDevices returns up to f.Limit devices matching f, ordered by id (UUIDv7,
// so by registration time), after f.After. more says whether another page
// follows.
func (r *Reader) ListDevices(f privacy.DeviceFilter) (list []privacy.Device, more bool, err error) {
	q, args := selectDevices+" WHERE 1 = 1", []any{}
	for _, c := range []struct {
		set  bool
		cond string
		arg  any
	}{
		{f.Manufacturer != "", "manufacturer_key = ?", privacy.IdentityKey(f.Manufacturer)},
		{f.Model != "", "model_key = ?", privacy.IdentityKey(f.Model)},
		{f.Firmware != "", "firmware = ?", f.Firmware},
		{f.Subject != "", "owner_subject = ?", f.Subject},
		{f.After != "", "id > ?", f.After},
	} {
		if c.set {
			q, args = q+" AND "+c.cond, append(args, c.arg)
		}
	}
	list, err = selectDomain[deviceRecord, privacy.Device](r, "devices", q+" ORDER BY id LIMIT ?", append(args, f.Limit+1)...)
	if err != nil {
		return nil, false, err
	}
	if len(list) > f.Limit {
		list, more = list[:f.Limit], true
	}
	return list, more, nil
}

// sanitizationRecord is a row of device_sanitizations.
type sanitizationRecord struct {
	DeviceID, Method, Note, AttestedBy string
	AttestedAt                         time.Time
	AuditSeq                           int64
}

func (r *sanitizationRecord) fields() []any {
	return []any{&r.DeviceID, &r.Method, &r.Note, &r.AttestedBy, &r.AttestedAt, &r.AuditSeq}
}

func (r sanitizationRecord) toDomain() privacy.Sanitization {
	return privacy.Sanitization{DeviceID: r.DeviceID, Method: privacy.SanitizationMethod(r.Method), Note: r.Note, AttestedBy: r.AttestedBy,
		AttestedAt: r.AttestedAt.UTC(), AuditSeq: r.AuditSeq}
}

// InsertSanitization appends an attestation.
func (tx *Tx) InsertSanitization(a privacy.Sanitization) error {
	_, err := tx.exec("sanitization", `INSERT INTO device_sanitizations (device_id, method, note, attested_by, attested_at, audit_seq)
		VALUES (?, ?, ?, ?, ?, ?)`, a.DeviceID, string(a.Method), a.Note, a.AttestedBy, a.AttestedAt, a.AuditSeq)
	return err
}

// Sanitizations lists a device's attestations, oldest first.
func (r *Reader) Sanitizations(deviceID string) ([]privacy.Sanitization, error) {
	return selectDomain[sanitizationRecord, privacy.Sanitization](r, "sanitizations",
		`SELECT device_id, method, note, attested_by, attested_at, audit_seq FROM device_sanitizations WHERE device_id = ? ORDER BY audit_seq`, deviceID)
}

// DisposedUnattested lists the devices disposed of before before that no
// attestation of sanitization names, at most limit, and how many there are.
func (r *Reader) DisposedUnattested(before time.Time, limit int) ([]string, int, error) {
	var ids []string
	n := 0
	err := r.each("devices", `SELECT d.id FROM devices d WHERE d.status = 'disposed' AND d.updated_at < ?
		AND NOT EXISTS (SELECT 1 FROM device_sanitizations s WHERE s.device_id = d.id) ORDER BY d.id`, []any{before}, func(s rowScanner) error {
		var id string
		if err := s.Scan(&id); err != nil {
			return err
		}
		if n < limit {
			ids = append(ids, id)
		}
		n++
		return nil
	})
	return ids, n, err
}

// deviceOwnerRecord is a row of device_owners.
type deviceOwnerRecord struct {
	DeviceID, OwnerSubject string
	Since                  time.Time
	AuditSeq               int64
}

func (r *deviceOwnerRecord) fields() []any {
	return []any{&r.DeviceID, &r.OwnerSubject, &r.Since, &r.AuditSeq}
}

func (r deviceOwnerRecord) toDomain() privacy.DeviceOwner {
	return privacy.DeviceOwner{DeviceID: r.DeviceID, Subject: r.OwnerSubject, Since: r.Since.UTC(), AuditSeq: r.AuditSeq}
}

// InsertDeviceOwner records who owns a device from the entry at o.AuditSeq.
func (tx *Tx) InsertDeviceOwner(o privacy.DeviceOwner) error {
	_, err := tx.exec("device owner", "INSERT INTO device_owners (device_id, owner_subject, since, audit_seq) VALUES (?, ?, ?, ?)",
		o.DeviceID, o.Subject, o.Since, o.AuditSeq)
	return err
}

// DeviceOwners lists every owner a device had, oldest first.
func (r *Reader) DeviceOwners(deviceID string) ([]privacy.DeviceOwner, error) {
	return selectDomain[deviceOwnerRecord, privacy.DeviceOwner](r, "device owners",
		"SELECT device_id, owner_subject, since, audit_seq FROM device_owners WHERE device_id = ? ORDER BY audit_seq", deviceID)
}

// UpdateDeviceOwner gives d its new owner (and label: a new owner starts
// with none).
func (tx *Tx) UpdateDeviceOwner(d privacy.Device) error {
	n, err := tx.exec("device", "UPDATE devices SET owner_subject = ?, label = ?, updated_at = ? WHERE id = ?", d.OwnerSubject, d.Label, d.UpdatedAt, d.ID)
	return changedOne(n, err, privacy.Errorf(privacy.ENotFound, "device not found"))
}

// PutTransferOffer records the owner's offer of a device to another
// subject, in place of an earlier one.
func (tx *Tx) PutTransferOffer(o privacy.TransferOffer) error {
	_, err := tx.exec("transfer offer", `INSERT INTO device_transfer_offers (device_id, from_subject, to_subject, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (device_id) DO UPDATE SET from_subject = excluded.from_subject, to_subject = excluded.to_subject, created_at = excluded.created_at`,
		o.DeviceID, o.From, o.To, o.CreatedAt)
	return err
}

// TransferOffer reads a device's pending offer; ENotFound when none.
func (r *Reader) TransferOffer(deviceID string) (privacy.TransferOffer, error) {
	var o privacy.TransferOffer
	err := r.row("transfer offer", "SELECT device_id, from_subject, to_subject, created_at FROM device_transfer_offers WHERE device_id = ?",
		[]any{deviceID}, &o.DeviceID, &o.From, &o.To, &o.CreatedAt)
	o.CreatedAt = o.CreatedAt.UTC()
	return o, err
}

// DeleteTransferOffer drops a device's pending offer, if any.
func (tx *Tx) DeleteTransferOffer(deviceID string) error {
	_, err := tx.exec("transfer offer", "DELETE FROM device_transfer_offers WHERE device_id = ?", deviceID)
	return err
}

// InsertDeviceAttributes records d's firmware and label as set by entry
// seq, when something other than UpdateDeviceAttributes changed them.
func (tx *Tx) InsertDeviceAttributes(d privacy.Device, seq int64) error {
	return tx.insertAttributes(d, seq)
}

// insertAttributes records d's firmware and label as set by entry seq.
func (tx *Tx) insertAttributes(d privacy.Device, seq int64) error {
	_, err := tx.exec("device attributes", `INSERT INTO device_attributes (device_id, audit_seq, since, firmware, label)
		VALUES (?, ?, ?, ?, ?)`, d.ID, seq, d.UpdatedAt, d.Firmware, d.Label)
	return err
}

// UpdateDeviceAttributes gives d its new firmware and label, set by entry
// seq, and keeps them in the history.
func (tx *Tx) UpdateDeviceAttributes(d privacy.Device, seq int64) error {
	n, err := tx.exec("device", "UPDATE devices SET firmware = ?, label = ?, updated_at = ? WHERE id = ?", d.Firmware, d.Label, d.UpdatedAt, d.ID)
	if err = changedOne(n, err, privacy.Errorf(privacy.ENotFound, "device not found")); err != nil {
		return err
	}
	return tx.insertAttributes(d, seq)
}

// attributesRecord is a row of device_attributes.
type attributesRecord struct {
	DeviceID, Firmware, Label string
	Since                     time.Time
	AuditSeq                  int64
}

func (r *attributesRecord) fields() []any {
	return []any{&r.DeviceID, &r.Firmware, &r.Label, &r.Since, &r.AuditSeq}
}

func (r attributesRecord) toDomain() privacy.DeviceAttributes {
	return privacy.DeviceAttributes{DeviceID: r.DeviceID, Firmware: r.Firmware, Label: r.Label, Since: r.Since.UTC(), AuditSeq: r.AuditSeq}
}

// DeviceAttributeHistory lists every firmware and label a device had,
// oldest first.
func (r *Reader) DeviceAttributeHistory(deviceID string) ([]privacy.DeviceAttributes, error) {
	return selectDomain[attributesRecord, privacy.DeviceAttributes](r, "device attributes",
		"SELECT device_id, firmware, label, since, audit_seq FROM device_attributes WHERE device_id = ? ORDER BY audit_seq", deviceID)
}

// DeviceAsOf is d as the entry at seq left it: its owner and firmware
// then, from their histories (its identity never changes; its status is
// the caller's, from the entries).
func (r *Reader) DeviceAsOf(d privacy.Device, seq int64) (privacy.Device, error) {
	var owner, firmware, label sql.NullString
	err := r.row("device history", `SELECT
		(SELECT o.owner_subject FROM device_owners o WHERE o.device_id = ? AND o.audit_seq <= ? ORDER BY o.audit_seq DESC LIMIT 1),
		(SELECT a.firmware FROM device_attributes a WHERE a.device_id = ? AND a.audit_seq <= ? ORDER BY a.audit_seq DESC LIMIT 1),
		(SELECT a.label FROM device_attributes a WHERE a.device_id = ? AND a.audit_seq <= ? ORDER BY a.audit_seq DESC LIMIT 1)`,
		[]any{d.ID, seq, d.ID, seq, d.ID, seq}, &owner, &firmware, &label)
	if err != nil {
		return privacy.Device{}, err
	}
	// A device registered without owner has no owner row until its first
	// transfer.
	d.OwnerSubject = owner.String
	if firmware.Valid {
		d.Firmware, d.Label = firmware.String, label.String
	}
	return d, nil
}

// memberRecord is a row of device_members.
type memberRecord struct {
	DeviceID, Subject, Role string
	Until                   *time.Time
	AddedAt                 time.Time
	AddedBy                 string
	AuditSeq                int64
}

// memberColumns are memberRecord's columns, in fields' order.
const memberColumns = "device_id, subject, role, until, added_at, added_by, audit_seq"

func (r *memberRecord) fields() []any {
	return []any{&r.DeviceID, &r.Subject, &r.Role, &r.Until, &r.AddedAt, &r.AddedBy, &r.AuditSeq}
}

func (r memberRecord) toDomain() privacy.Member {
	return privacy.Member{DeviceID: r.DeviceID, Subject: r.Subject, Role: privacy.MemberRole(r.Role), Until: timeVal(r.Until),
		AddedAt: r.AddedAt.UTC(), AddedBy: r.AddedBy, AuditSeq: r.AuditSeq}
}

// PutMember adds m to its device, or changes their role and end.
func (tx *Tx) PutMember(m privacy.Member) error {
	_, err := tx.exec("device member", `INSERT INTO device_members (`+memberColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (device_id, subject) DO UPDATE SET role = excluded.role, until = excluded.until, added_at = excluded.added_at,
		added_by = excluded.added_by, audit_seq = excluded.audit_seq`,
		m.DeviceID, m.Subject, string(m.Role), timePtr(m.Until), m.AddedAt, m.AddedBy, m.AuditSeq)
	return err
}

// DeleteMember removes subject from a device's members; ENotFound when
// they were none.
func (tx *Tx) DeleteMember(deviceID, subject string) error {
	n, err := tx.exec("device member", "DELETE FROM device_members WHERE device_id = ? AND subject = ?", deviceID, subject)
	return changedOne(n, err, privacy.Errorf(privacy.ENotFound, "not a member of this device"))
}

// DeleteMembers removes every member of a device and returns who they
// were.
func (tx *Tx) DeleteMembers(deviceID string) ([]privacy.Member, error) {
	ms, err := tx.Members(deviceID)
	if err != nil || len(ms) == 0 {
		return ms, err
	}
	_, err = tx.exec("device members", "DELETE FROM device_members WHERE device_id = ?", deviceID)
	return ms, err
}

// Member reads subject's membership of a device; ENotFound when none.
func (r *Reader) Member(deviceID, subject string) (privacy.Member, error) {
	m, err := selectOne[memberRecord](r, "device member", "SELECT "+memberColumns+" FROM device_members WHERE device_id = ? AND subject = ?",
		deviceID, subject)
	return m.toDomain(), err
}

// Members lists a device's members, in the order they were added.
func (r *Reader) Members(deviceID string) ([]privacy.Member, error) {
	return selectDomain[memberRecord, privacy.Member](r, "device members",
		"SELECT "+memberColumns+" FROM device_members WHERE device_id = ? ORDER BY audit_seq, subject", deviceID)
}

// MembershipsOf lists the devices subject is a member or guest of.
func (r *Reader) MembershipsOf(subject string) ([]privacy.Member, error) {
	return selectDomain[memberRecord, privacy.Member](r, "device members",
		"SELECT "+memberColumns+" FROM device_members WHERE subject = ? ORDER BY device_id", subject)
}

// GuestsEnded lists up to limit guests whose end is at or before t.
func (r *Reader) GuestsEnded(t time.Time, limit int) ([]privacy.Member, error) {
	return selectDomain[memberRecord, privacy.Member](r, "device members",
		"SELECT "+memberColumns+" FROM device_members WHERE until IS NOT NULL AND until <= ? ORDER BY until LIMIT ?", t, limit)
}
