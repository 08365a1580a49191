package store

import (
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// The queries of the continuous review (Control 34). Each returns what
// one kind of finding is about, bounded by limit where it lists objects.

type findingAckRecord struct {
	ID          string `gorm:"primaryKey"`
	FindingID   string
	Fingerprint string
	Note        string
	ClientID    string
	AuditSeq    int64
	CreatedAt   time.Time `gorm:"autoCreateTime:false"`
}

func (findingAckRecord) TableName() string { return "finding_acks" }

// InsertFindingAck appends an acknowledgment.
func (tx *Tx) InsertFindingAck(a privacy.FindingAck) error {
	r := findingAckRecord(a)
	return formatError(tx.db.Create(&r).Error, "finding acknowledgment")
}

// LatestFindingAcks returns the newest acknowledgment of every finding.
func (r *Reader) LatestFindingAcks() (map[string]privacy.FindingAck, error) {
	var rs []findingAckRecord
	if err := r.db.Order("created_at, id").Find(&rs).Error; err != nil {
		return nil, formatError(err, "finding acknowledgments")
	}
	out := make(map[string]privacy.FindingAck, len(rs))
	for _, rec := range rs {
		a := privacy.FindingAck(rec)
		a.CreatedAt = a.CreatedAt.UTC()
		out[rec.FindingID] = a
	}
	return out, nil
}

// ActiveNoticeKeys lists the notice keys that active devices name.
func (r *Reader) ActiveNoticeKeys() ([]string, error) {
	return r.strings("devices", "SELECT DISTINCT notice_key FROM devices WHERE status = ? ORDER BY notice_key", string(privacy.DeviceActive))
}

// strings runs a query of one text column.
func (r *Reader) strings(what, q string, args ...any) ([]string, error) {
	return selectColumn[string](r, what, q, args...)
}

// reviewDevices lists up to limit device ids matching a review condition,
// and how many match in all.
func (r *Reader) reviewDevices(where string, limit int, args ...any) ([]string, int64, error) {
	var n int64
	if err := r.row("devices", "SELECT COUNT(*) FROM devices WHERE "+where, args, &n); err != nil || n == 0 {
		return nil, 0, err
	}
	ids, err := r.strings("devices", "SELECT id FROM devices WHERE "+where+" ORDER BY id LIMIT ?", append(args, limit)...)
	return ids, n, err
}

// ActiveDevicesWithoutInventory lists active devices that declared no inventory.
func (r *Reader) ActiveDevicesWithoutInventory(limit int) ([]string, int64, error) {
	return r.reviewDevices("status = ? AND NOT EXISTS (SELECT 1 FROM inventories i WHERE i.device_id = devices.id)", limit, string(privacy.DeviceActive))
}

// ActiveDevicesWithoutNotice lists active devices whose notice has no
// published version.
func (r *Reader) ActiveDevicesWithoutNotice(limit int) ([]string, int64, error) {
	return r.reviewDevices("status = ? AND NOT EXISTS (SELECT 1 FROM notice_versions v WHERE v.notice_key = devices.notice_key AND v.published_at IS NOT NULL)",
		limit, string(privacy.DeviceActive))
}

// DeactivatedDevicesStillOwned lists deactivated devices that still name
// an owner subject.
func (r *Reader) DeactivatedDevicesStillOwned(limit int) ([]string, int64, error) {
	return r.reviewDevices("status = ? AND owner_subject <> ''", limit, string(privacy.DeviceDeactivated))
}

// ExpiringConsents counts, per purpose, the grants in force that end in
// (now, until].
func (r *Reader) ExpiringConsents(now, until time.Time) (map[string]int, error) {
	return selectMap[string, int](r, "consent state", `SELECT purpose, COUNT(*) FROM consent_state
		WHERE kind = ? AND granted = ? AND expires_at > ? AND expires_at <= ? GROUP BY purpose`,
		privacy.RecordConsent, r.boolValue(true), now, until)
}

// CurrentInventoryElements returns every element of every device's newest
// inventory, for checks over what is declared.
func (r *Reader) CurrentInventoryElements() ([]privacy.DataElement, error) {
	return selectDomain[elementRecord, privacy.DataElement](r, "inventory elements", `SELECT e.device_id, e.version, e.key, e.position, e.description,
		e.category, e.sensitivity, e.purposes, e.collection_method, e.retention, e.recipients, e.storage_region
		FROM inventory_elements e JOIN (SELECT device_id, MAX(version) AS version FROM inventories GROUP BY device_id) c
		ON e.device_id = c.device_id AND e.version = c.version`)
}
