package store

import (
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"gorm.io/gorm/clause"
)

// deviceRecord is a row of devices.
type deviceRecord struct {
	ID              string `gorm:"primaryKey"`
	Manufacturer    string
	Model           string
	Serial          string
	ManufacturerKey string
	ModelKey        string
	Firmware        string
	NoticeKey       string
	OwnerSubject    string
	Status          string
	CreatedAt       time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt       time.Time `gorm:"autoUpdateTime:false"`
}

func (deviceRecord) TableName() string { return "devices" }

func (r deviceRecord) toDomain() privacy.Device {
	return privacy.Device{ID: r.ID, Manufacturer: r.Manufacturer, Model: r.Model, Serial: r.Serial, Firmware: r.Firmware,
		NoticeKey: r.NoticeKey, OwnerSubject: r.OwnerSubject, Status: privacy.DeviceStatus(r.Status),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

func deviceFromDomain(d privacy.Device) deviceRecord {
	return deviceRecord{ID: d.ID, Manufacturer: d.Manufacturer, Model: d.Model, Serial: d.Serial,
		ManufacturerKey: privacy.IdentityKey(d.Manufacturer), ModelKey: privacy.IdentityKey(d.Model),
		Firmware: d.Firmware, NoticeKey: d.NoticeKey, OwnerSubject: d.OwnerSubject, Status: string(d.Status),
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

// InsertDevice registers a device. A second device with the same identity
// triple is an EConflict naming the three fields.
func (tx *Tx) InsertDevice(d privacy.Device) error {
	r := deviceFromDomain(d)
	err := formatError(tx.db.Create(&r).Error, "device")
	if privacy.ErrorCode(err) == privacy.EConflict {
		const msg = "a device with this manufacturer, model and serial is already registered"
		return &privacy.Error{Code: privacy.EConflict, Detail: msg, Fields: []privacy.FieldError{
			{Field: "manufacturer", Detail: msg}, {Field: "model", Detail: msg}, {Field: "serial", Detail: msg}}}
	}
	return err
}

// DeviceByID finds one device.
func (tx *Tx) DeviceByID(id string) (privacy.Device, error) {
	var r deviceRecord
	if err := tx.db.Where("id = ?", id).Take(&r).Error; err != nil {
		return privacy.Device{}, formatError(err, "device")
	}
	return r.toDomain(), nil
}

// LockDevice reads a device and holds it until the transaction ends, so that
// concurrent lifecycle changes and inventory declarations on one device
// queue instead of racing. SQLite needs no row lock: every transaction
// already holds the database's write lock (BEGIN IMMEDIATE).
func (tx *Tx) LockDevice(id string) (privacy.Device, error) {
	q := tx.db
	if tx.db.Dialector.Name() == "postgres" {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var r deviceRecord
	if err := q.Where("id = ?", id).Take(&r).Error; err != nil {
		return privacy.Device{}, formatError(err, "device")
	}
	return r.toDomain(), nil
}

// UpdateDeviceStatus records a lifecycle change. The status column is the
// device's current state, not evidence: the history of changes lives in the
// audit log.
func (tx *Tx) UpdateDeviceStatus(d privacy.Device) error {
	res := tx.db.Model(&deviceRecord{}).Where("id = ?", d.ID).
		Updates(map[string]any{"status": string(d.Status), "updated_at": d.UpdatedAt})
	if res.Error != nil {
		return formatError(res.Error, "device")
	}
	if res.RowsAffected != 1 {
		return privacy.Errorf(privacy.ENotFound, "device not found")
	}
	return nil
}

// ListDevices returns up to f.Limit devices matching f, ordered by id (UUIDv7,
// so by registration time), after f.After. more says whether another page
// follows.
func (tx *Tx) ListDevices(f privacy.DeviceFilter) (devices []privacy.Device, more bool, err error) {
	q := tx.db.Model(&deviceRecord{})
	if f.Manufacturer != "" {
		q = q.Where("manufacturer_key = ?", privacy.IdentityKey(f.Manufacturer))
	}
	if f.Model != "" {
		q = q.Where("model_key = ?", privacy.IdentityKey(f.Model))
	}
	if f.Firmware != "" {
		q = q.Where("firmware = ?", f.Firmware)
	}
	if f.Subject != "" {
		q = q.Where("owner_subject = ?", f.Subject)
	}
	if f.After != "" {
		q = q.Where("id > ?", f.After)
	}
	var rs []deviceRecord
	if err := q.Order("id").Limit(f.Limit + 1).Find(&rs).Error; err != nil {
		return nil, false, formatError(err, "devices")
	}
	if len(rs) > f.Limit {
		rs, more = rs[:f.Limit], true
	}
	devices = make([]privacy.Device, len(rs))
	for i, r := range rs {
		devices[i] = r.toDomain()
	}
	return devices, more, nil
}
