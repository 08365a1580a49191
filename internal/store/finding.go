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
func (tx *Tx) LatestFindingAcks() (map[string]privacy.FindingAck, error) {
	var rs []findingAckRecord
	if err := tx.db.Order("created_at, id").Find(&rs).Error; err != nil {
		return nil, formatError(err, "finding acknowledgments")
	}
	out := make(map[string]privacy.FindingAck, len(rs))
	for _, r := range rs {
		a := privacy.FindingAck(r)
		a.CreatedAt = a.CreatedAt.UTC()
		out[r.FindingID] = a
	}
	return out, nil
}

// ActiveNoticeKeys lists the notice keys that active devices name.
func (tx *Tx) ActiveNoticeKeys() ([]string, error) {
	var keys []string
	err := tx.db.Model(&deviceRecord{}).Where("status = ?", string(privacy.DeviceActive)).Distinct("notice_key").Order("notice_key").Pluck("notice_key", &keys).Error
	return keys, formatError(err, "devices")
}

// DeviceIDs lists up to limit device ids matching a review condition, and
// how many match in all.
func (tx *Tx) reviewDevices(where string, limit int, args ...any) ([]string, int64, error) {
	var n int64
	if err := tx.db.Model(&deviceRecord{}).Where(where, args...).Count(&n).Error; err != nil {
		return nil, 0, formatError(err, "devices")
	}
	var ids []string
	if n > 0 {
		if err := tx.db.Model(&deviceRecord{}).Where(where, args...).Order("id").Limit(limit).Pluck("id", &ids).Error; err != nil {
			return nil, 0, formatError(err, "devices")
		}
	}
	return ids, n, nil
}

// ActiveDevicesWithoutInventory lists active devices that declared no inventory.
func (tx *Tx) ActiveDevicesWithoutInventory(limit int) ([]string, int64, error) {
	return tx.reviewDevices("status = ? AND NOT EXISTS (SELECT 1 FROM inventories i WHERE i.device_id = devices.id)", limit, string(privacy.DeviceActive))
}

// ActiveDevicesWithoutNotice lists active devices whose notice has no
// published version.
func (tx *Tx) ActiveDevicesWithoutNotice(limit int) ([]string, int64, error) {
	return tx.reviewDevices("status = ? AND NOT EXISTS (SELECT 1 FROM notice_versions v WHERE v.notice_key = devices.notice_key AND v.published_at IS NOT NULL)",
		limit, string(privacy.DeviceActive))
}

// DeactivatedDevicesStillOwned lists deactivated devices that still name
// an owner subject.
func (tx *Tx) DeactivatedDevicesStillOwned(limit int) ([]string, int64, error) {
	return tx.reviewDevices("status = ? AND owner_subject <> ''", limit, string(privacy.DeviceDeactivated))
}

// ExpiringConsents counts, per purpose, the grants in force that end in
// (now, until].
func (tx *Tx) ExpiringConsents(now, until time.Time) (map[string]int, error) {
	var rs []struct {
		Purpose string
		Count   int
	}
	err := tx.db.Raw(`SELECT purpose, COUNT(*) AS count FROM consent_state
		WHERE kind = ? AND granted = ? AND expires_at > ? AND expires_at <= ? GROUP BY purpose`,
		privacy.RecordConsent, true, now, until).Scan(&rs).Error
	if err != nil {
		return nil, formatError(err, "consent state")
	}
	out := make(map[string]int, len(rs))
	for _, r := range rs {
		out[r.Purpose] = r.Count
	}
	return out, nil
}

// CurrentInventoryElements returns every element of every device's newest
// inventory, for checks over what is declared.
func (tx *Tx) CurrentInventoryElements() ([]privacy.DataElement, error) {
	var rs []elementRecord
	err := tx.db.Raw(`SELECT e.* FROM inventory_elements e JOIN (SELECT device_id, MAX(version) AS version FROM inventories GROUP BY device_id) c
		ON e.device_id = c.device_id AND e.version = c.version`).Scan(&rs).Error
	if err != nil {
		return nil, formatError(err, "inventory elements")
	}
	out := make([]privacy.DataElement, len(rs))
	for i, r := range rs {
		out[i] = r.toDomain()
	}
	return out, nil
}
