package store

import (
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// inventoryRecord is a row of inventories: one version's header.
type inventoryRecord struct {
	DeviceID  string `gorm:"primaryKey"`
	Version   int    `gorm:"primaryKey;autoIncrement:false"`
	CreatedBy string
	CreatedAt time.Time `gorm:"autoCreateTime:false"`
}

func (inventoryRecord) TableName() string { return "inventories" }

// elementRecord is a row of inventory_elements.
type elementRecord struct {
	DeviceID         string `gorm:"primaryKey"`
	Version          int    `gorm:"primaryKey;autoIncrement:false"`
	Key              string `gorm:"primaryKey"`
	Position         int
	Description      string
	Category         string
	Sensitivity      string
	Purposes         []string `gorm:"serializer:json"`
	CollectionMethod string
	Retention        string
	Recipients       []string `gorm:"serializer:json"`
	StorageRegion    string
}

func (elementRecord) TableName() string { return "inventory_elements" }

func (r elementRecord) toDomain() privacy.DataElement {
	return privacy.DataElement{Key: r.Key, Description: r.Description, Category: r.Category,
		Sensitivity: privacy.Sensitivity(r.Sensitivity), Purposes: r.Purposes,
		CollectionMethod: privacy.CollectionMethod(r.CollectionMethod), Retention: r.Retention,
		Recipients: r.Recipients, StorageRegion: r.StorageRegion}
}

// LatestInventoryVersion returns the newest inventory version of a device,
// 0 when it has none.
func (tx *Tx) LatestInventoryVersion(deviceID string) (int, error) {
	var v *int
	err := tx.db.Model(&inventoryRecord{}).Where("device_id = ?", deviceID).Select("MAX(version)").Scan(&v).Error
	if err != nil {
		return 0, formatError(err, "inventory")
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}

// InsertInventory appends a new inventory version. The version number is the
// caller's (latest + 1, read in the same transaction); a concurrent writer
// that took it first makes this an EConflict rather than an overwrite.
func (tx *Tx) InsertInventory(inv privacy.Inventory) error {
	h := inventoryRecord{DeviceID: inv.DeviceID, Version: inv.Version, CreatedBy: inv.CreatedBy, CreatedAt: inv.CreatedAt}
	if err := tx.db.Create(&h).Error; err != nil {
		return formatError(err, "inventory version")
	}
	if len(inv.Elements) == 0 {
		return nil
	}
	rs := make([]elementRecord, len(inv.Elements))
	for i, e := range inv.Elements {
		rs[i] = elementRecord{DeviceID: inv.DeviceID, Version: inv.Version, Key: e.Key, Position: i,
			Description: e.Description, Category: e.Category, Sensitivity: string(e.Sensitivity),
			Purposes: nonNil(e.Purposes), CollectionMethod: string(e.CollectionMethod), Retention: e.Retention,
			Recipients: nonNil(e.Recipients), StorageRegion: e.StorageRegion}
	}
	return formatError(tx.db.Create(&rs).Error, "inventory elements")
}

// InventoryVersion loads one version of a device's inventory; version 0
// means the newest. Two queries, whatever the version: this is the read
// apps make before showing what a device collects.
func (tx *Tx) InventoryVersion(deviceID string, version int) (privacy.Inventory, error) {
	var h inventoryRecord
	q := tx.db.Where("device_id = ?", deviceID)
	if version > 0 {
		q = q.Where("version = ?", version)
	}
	if err := q.Order("version DESC").Take(&h).Error; err != nil {
		return privacy.Inventory{}, formatError(err, "inventory version")
	}
	var rs []elementRecord
	if err := tx.db.Where("device_id = ? AND version = ?", deviceID, h.Version).Order("position").Find(&rs).Error; err != nil {
		return privacy.Inventory{}, formatError(err, "inventory elements")
	}
	inv := privacy.Inventory{DeviceID: h.DeviceID, Version: h.Version, CreatedBy: h.CreatedBy, CreatedAt: h.CreatedAt.UTC(),
		Elements: make([]privacy.DataElement, len(rs))}
	for i, r := range rs {
		inv.Elements[i] = r.toDomain()
	}
	return inv, nil
}

// nonNil stores an absent list as [] so that readers never see null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
