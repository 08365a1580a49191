package store

import (
	"database/sql"
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// inventoryRecord is a row of inventories: one version's header.
type inventoryRecord struct {
	DeviceID  string
	Version   int
	CreatedBy string
	CreatedAt time.Time
}

// inventoryColumns are inventoryRecord's columns, in fields' order.
const inventoryColumns = "device_id, version, created_by, created_at"

func (r *inventoryRecord) fields() []any {
	return []any{&r.DeviceID, &r.Version, &r.CreatedBy, &r.CreatedAt}
}

func (r inventoryRecord) toDomain(elements []privacy.DataElement) privacy.Inventory {
	if elements == nil {
		elements = []privacy.DataElement{}
	}
	return privacy.Inventory{DeviceID: r.DeviceID, Version: r.Version, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(), Elements: elements}
}

// elementRecord is a row of inventory_elements.
type elementRecord struct {
	DeviceID         string
	Version          int
	Key              string
	Position         int
	Description      string
	Category         string
	Sensitivity      string
	Purposes         stringList
	CollectionMethod string
	Retention        string
	Recipients       stringList
	StorageRegion    string
}

// elementColumns are elementRecord's columns, in fields' order.
const elementColumns = `device_id, version, key, position, description, category, sensitivity, purposes, collection_method, retention,
	recipients, storage_region`

func (r *elementRecord) fields() []any {
	return []any{&r.DeviceID, &r.Version, &r.Key, &r.Position, &r.Description, &r.Category, &r.Sensitivity, &r.Purposes,
		&r.CollectionMethod, &r.Retention, &r.Recipients, &r.StorageRegion}
}

func (r elementRecord) toDomain() privacy.DataElement {
	return privacy.DataElement{Key: r.Key, Description: r.Description, Category: r.Category,
		Sensitivity: privacy.Sensitivity(r.Sensitivity), Purposes: r.Purposes,
		CollectionMethod: privacy.CollectionMethod(r.CollectionMethod), Retention: r.Retention,
		Recipients: r.Recipients, StorageRegion: r.StorageRegion}
}

// LatestInventoryVersion returns the newest inventory version of a device,
// 0 when it has none.
func (r *Reader) LatestInventoryVersion(deviceID string) (int, error) {
	var v sql.NullInt64
	err := r.row("inventory", "SELECT MAX(version) FROM inventories WHERE device_id = ?", []any{deviceID}, &v)
	return int(v.Int64), err
}

// InsertInventory appends a new inventory version. The version number is the
// caller's (latest + 1, read in the same transaction); a concurrent writer
// that took it first makes this an EConflict rather than an overwrite.
func (tx *Tx) InsertInventory(inv privacy.Inventory) error {
	if _, err := tx.exec("inventory version", "INSERT INTO inventories ("+inventoryColumns+") VALUES (?, ?, ?, ?)",
		inv.DeviceID, inv.Version, inv.CreatedBy, inv.CreatedAt); err != nil {
		return err
	}
	// 32 elements a statement: few statements, and few texts to prepare.
	const cols, chunk = 12, 32
	for start := 0; start < len(inv.Elements); start += chunk {
		part := inv.Elements[start:min(start+chunk, len(inv.Elements))]
		args := make([]any, 0, cols*len(part))
		for i, e := range part {
			args = append(args, inv.DeviceID, inv.Version, e.Key, start+i, e.Description, e.Category, string(e.Sensitivity),
				stringList(e.Purposes), string(e.CollectionMethod), e.Retention, stringList(e.Recipients), e.StorageRegion)
		}
		if _, err := tx.exec("inventory elements", "INSERT INTO inventory_elements ("+elementColumns+") VALUES "+placeholders(len(part), cols),
			args...); err != nil {
			return err
		}
	}
	return nil
}

// InventoryVersion loads one version of a device's inventory; version 0
// means the newest. Two queries, whatever the version: this is the read
// apps make before showing what a device collects.
func (r *Reader) InventoryVersion(deviceID string, version int) (privacy.Inventory, error) {
	q, args := "SELECT "+inventoryColumns+" FROM inventories WHERE device_id = ?", []any{deviceID}
	if version > 0 {
		q, args = q+" AND version = ?", append(args, version)
	}
	h, err := selectOne[inventoryRecord](r, "inventory version", q+" ORDER BY version DESC LIMIT 1", args...)
	if err != nil {
		return privacy.Inventory{}, err
	}
	els, err := selectDomain[elementRecord, privacy.DataElement](r, "inventory elements",
		"SELECT "+elementColumns+" FROM inventory_elements WHERE device_id = ? AND version = ? ORDER BY position", deviceID, h.Version)
	if err != nil {
		return privacy.Inventory{}, err
	}
	return h.toDomain(els), nil
}
