package store

import (
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
}

// deviceColumns are deviceRecord's columns, in fields' order. (The
// identity keys, manufacturer_key and model_key, are written and searched
// but never read back.)
const deviceColumns = "id, manufacturer, model, serial, firmware, notice_key, owner_subject, status, created_at, updated_at"

// selectDevices is the start of every query of whole devices.
const selectDevices = "SELECT " + deviceColumns + " FROM devices"

func (r *deviceRecord) fields() []any {
	return []any{&r.ID, &r.Manufacturer, &r.Model, &r.Serial, &r.Firmware, &r.NoticeKey, &r.OwnerSubject, &r.Status, &r.CreatedAt, &r.UpdatedAt}
}

func (r deviceRecord) toDomain() privacy.Device {
	return privacy.Device{ID: r.ID, Manufacturer: r.Manufacturer, Model: r.Model, Serial: r.Serial, Firmware: r.Firmware,
		NoticeKey: r.NoticeKey, OwnerSubject: r.OwnerSubject, Status: privacy.DeviceStatus(r.Status),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// InsertDevice registers a device. A second device with the same identity
// triple is an EConflict naming the three fields.
func (tx *Tx) InsertDevice(d privacy.Device) error {
	_, err := tx.exec("device", `INSERT INTO devices (`+deviceColumns+`, manufacturer_key, model_key) VALUES `+placeholders(1, 12),
		d.ID, d.Manufacturer, d.Model, d.Serial, d.Firmware, d.NoticeKey, d.OwnerSubject, string(d.Status), d.CreatedAt, d.UpdatedAt,
		privacy.IdentityKey(d.Manufacturer), privacy.IdentityKey(d.Model))
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
// at registration.
func (r *Reader) DeviceByIdentity(manufacturerKey, modelKey, serial string) (privacy.Device, error) {
	d, err := selectOne[deviceRecord](r, "device", selectDevices+" WHERE manufacturer_key = ? AND model_key = ? AND serial = ?",
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

// UpdateDeviceOwner gives d its new owner.
func (tx *Tx) UpdateDeviceOwner(d privacy.Device) error {
	n, err := tx.exec("device", "UPDATE devices SET owner_subject = ?, updated_at = ? WHERE id = ?", d.OwnerSubject, d.UpdatedAt, d.ID)
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
