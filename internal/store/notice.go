package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/gowebpki/jcs"
)

// noticeRecord is a row of notices.
type noticeRecord struct {
	Key           string `gorm:"primaryKey"`
	DefaultLocale string
	CreatedAt     time.Time `gorm:"autoCreateTime:false"`
}

func (noticeRecord) TableName() string { return "notices" }

// noticeVersionRecord is a row of notice_versions.
type noticeVersionRecord struct {
	NoticeKey        string `gorm:"primaryKey"`
	Version          int    `gorm:"primaryKey;autoIncrement:false"`
	Content          []byte
	ContentHash      string
	PublishedAt      *time.Time
	MaterialPurposes []string  `gorm:"serializer:json"`
	CreatedAt        time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt        time.Time `gorm:"autoUpdateTime:false"`
}

func (noticeVersionRecord) TableName() string { return "notice_versions" }

// noticeDocument is the stored, hashed form of a notice version's content:
// its RFC 8785 canonical JSON is what the content hash covers. The field
// names are part of that contract.
type noticeDocument struct {
	Controller struct {
		Name         string `json:"name"`
		Contact      string `json:"contact"`
		Address      string `json:"address,omitempty"`
		Jurisdiction string `json:"jurisdiction,omitempty"`
	} `json:"controller"`
	Purposes []noticePurposeDocument       `json:"purposes"`
	Texts    map[string]noticeTextDocument `json:"texts"`
}

type noticePurposeDocument struct {
	Purpose           string   `json:"purpose"`
	LegalBasis        string   `json:"legal_basis"`
	Elements          []string `json:"elements"`
	CollectionMethods []string `json:"collection_methods"`
	CollectionScope   string   `json:"collection_scope"`
	Retention         string   `json:"retention"`
	Recipients        []string `json:"recipients"`
	Validity          string   `json:"validity,omitempty"`
}

type noticeTextDocument struct {
	Title string `json:"title"`
	Body  string `json:"body"`
}

// EncodeNoticeContent returns the canonical bytes of c and their hex
// SHA-256: the content hash that names exactly what was shown.
func EncodeNoticeContent(c privacy.NoticeContent) ([]byte, string, error) {
	var d noticeDocument
	d.Controller.Name, d.Controller.Contact, d.Controller.Address, d.Controller.Jurisdiction = c.Controller.Name, c.Controller.Contact, c.Controller.Address, c.Controller.Jurisdiction
	d.Purposes = make([]noticePurposeDocument, len(c.Purposes))
	for i, p := range c.Purposes {
		methods := make([]string, len(p.CollectionMethods))
		for j, m := range p.CollectionMethods {
			methods[j] = string(m)
		}
		d.Purposes[i] = noticePurposeDocument{Purpose: p.Purpose, LegalBasis: string(p.LegalBasis), Elements: nonNil(p.Elements),
			CollectionMethods: methods, CollectionScope: p.CollectionScope, Retention: p.Retention, Recipients: nonNil(p.Recipients), Validity: p.Validity}
	}
	d.Texts = make(map[string]noticeTextDocument, len(c.Texts))
	for tag, t := range c.Texts {
		d.Texts[tag] = noticeTextDocument(t)
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, "", fmt.Errorf("store: encode notice: %w", err)
	}
	canon, err := jcs.Transform(raw)
	if err != nil {
		return nil, "", fmt.Errorf("store: canonicalize notice: %w", err)
	}
	sum := sha256.Sum256(canon)
	return canon, hex.EncodeToString(sum[:]), nil
}

// decodeNoticeContent reads canonical bytes back.
func decodeNoticeContent(b []byte) (privacy.NoticeContent, error) {
	var d noticeDocument
	if err := json.Unmarshal(b, &d); err != nil {
		return privacy.NoticeContent{}, fmt.Errorf("store: decode notice: %w", err)
	}
	c := privacy.NoticeContent{Controller: privacy.Controller(d.Controller), Purposes: make([]privacy.NoticePurpose, len(d.Purposes)),
		Texts: make(map[string]privacy.NoticeText, len(d.Texts))}
	for i, p := range d.Purposes {
		methods := make([]privacy.CollectionMethod, len(p.CollectionMethods))
		for j, m := range p.CollectionMethods {
			methods[j] = privacy.CollectionMethod(m)
		}
		c.Purposes[i] = privacy.NoticePurpose{Purpose: p.Purpose, LegalBasis: privacy.LegalBasis(p.LegalBasis), Elements: p.Elements,
			CollectionMethods: methods, CollectionScope: p.CollectionScope, Retention: p.Retention, Recipients: p.Recipients, Validity: p.Validity}
	}
	for tag, t := range d.Texts {
		c.Texts[tag] = privacy.NoticeText(t)
	}
	return c, nil
}

func (r noticeVersionRecord) toDomain() (privacy.NoticeVersion, error) {
	c, err := decodeNoticeContent(r.Content)
	if err != nil {
		return privacy.NoticeVersion{}, err
	}
	v := privacy.NoticeVersion{NoticeKey: r.NoticeKey, Version: r.Version, Content: c, ContentHash: r.ContentHash,
		MaterialPurposes: nonNil(r.MaterialPurposes), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if r.PublishedAt != nil {
		v.PublishedAt = r.PublishedAt.UTC()
	}
	return v, nil
}

// InsertNotice creates a notice.
func (tx *Tx) InsertNotice(n privacy.Notice) error {
	r := noticeRecord{Key: n.Key, DefaultLocale: n.DefaultLocale, CreatedAt: n.CreatedAt}
	return formatError(tx.db.Create(&r).Error, "notice "+n.Key)
}

// NoticeByKey finds a notice.
func (tx *Tx) NoticeByKey(key string) (privacy.Notice, error) {
	var r noticeRecord
	if err := tx.db.Where("key = ?", key).Take(&r).Error; err != nil {
		return privacy.Notice{}, formatError(err, "notice "+key)
	}
	return privacy.Notice{Key: r.Key, DefaultLocale: r.DefaultLocale, CreatedAt: r.CreatedAt.UTC()}, nil
}

// InsertNoticeVersion stores a new draft version.
func (tx *Tx) InsertNoticeVersion(v privacy.NoticeVersion) error {
	content, hash, err := EncodeNoticeContent(v.Content)
	if err != nil {
		return err
	}
	r := noticeVersionRecord{NoticeKey: v.NoticeKey, Version: v.Version, Content: content, ContentHash: hash,
		MaterialPurposes: []string{}, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt}
	return formatError(tx.db.Create(&r).Error, "notice version")
}

// UpdateDraft replaces a draft's content. A published version is never
// touched: the WHERE clause skips it, and a trigger would refuse it.
func (tx *Tx) UpdateDraft(v privacy.NoticeVersion) error {
	content, hash, err := EncodeNoticeContent(v.Content)
	if err != nil {
		return err
	}
	res := tx.db.Model(&noticeVersionRecord{}).Where("notice_key = ? AND version = ? AND published_at IS NULL", v.NoticeKey, v.Version).
		Updates(map[string]any{"content": content, "content_hash": hash, "updated_at": v.UpdatedAt})
	if res.Error != nil {
		return formatError(res.Error, "notice version")
	}
	if res.RowsAffected != 1 {
		return privacy.Errorf(privacy.EConflict, "version %d of notice %s is not a draft", v.Version, v.NoticeKey)
	}
	return nil
}

// DeleteDraft removes a draft. A published version is never touched: the
// WHERE clause skips it, and a trigger would refuse it.
func (tx *Tx) DeleteDraft(key string, version int) error {
	res := tx.db.Where("notice_key = ? AND version = ? AND published_at IS NULL", key, version).Delete(&noticeVersionRecord{})
	if res.Error != nil {
		return formatError(res.Error, "notice version")
	}
	if res.RowsAffected != 1 {
		return privacy.Errorf(privacy.EConflict, "version %d of notice %s is not a draft", version, key)
	}
	return nil
}

// PublishVersion marks a draft published, with its material changes.
func (tx *Tx) PublishVersion(v privacy.NoticeVersion) error {
	res := tx.db.Model(&noticeVersionRecord{}).Where("notice_key = ? AND version = ? AND published_at IS NULL", v.NoticeKey, v.Version).
		Updates(map[string]any{"published_at": v.PublishedAt, "material_purposes": mustJSON(nonNil(v.MaterialPurposes)), "updated_at": v.PublishedAt})
	if res.Error != nil {
		return formatError(res.Error, "notice version")
	}
	if res.RowsAffected != 1 {
		return privacy.Errorf(privacy.EConflict, "version %d of notice %s is not a draft", v.Version, v.NoticeKey)
	}
	return nil
}

func mustJSON(v []string) string {
	b, _ := json.Marshal(v) // a []string always encodes
	return string(b)
}

// NoticeVersion loads one version.
func (tx *Tx) NoticeVersion(key string, version int) (privacy.NoticeVersion, error) {
	var r noticeVersionRecord
	if err := tx.db.Where("notice_key = ? AND version = ?", key, version).Take(&r).Error; err != nil {
		return privacy.NoticeVersion{}, formatError(err, fmt.Sprintf("version %d of notice %s", version, key))
	}
	return r.toDomain()
}

// PublishedNoticeVersion loads a published version, from memory after the
// first time: a published version never changes. A draft, or no such
// version, is ENotFound.
func (tx *Tx) PublishedNoticeVersion(key string, version int) (privacy.NoticeVersion, error) {
	id := key + "\x00" + strconv.Itoa(version)
	if v, ok := tx.published.Load(id); ok {
		return v.(privacy.NoticeVersion), nil
	}
	v, err := tx.NoticeVersion(key, version)
	if err != nil {
		return privacy.NoticeVersion{}, err
	}
	if !v.Published() {
		return privacy.NoticeVersion{}, privacy.Errorf(privacy.ENotFound, "version %d of notice %s is not published", version, key)
	}
	tx.published.Store(id, v)
	return v, nil
}

// LatestNoticeVersion loads the newest version, draft or not.
func (tx *Tx) LatestNoticeVersion(key string) (privacy.NoticeVersion, error) {
	var r noticeVersionRecord
	if err := tx.db.Where("notice_key = ?", key).Order("version DESC").Take(&r).Error; err != nil {
		return privacy.NoticeVersion{}, formatError(err, "notice version")
	}
	return r.toDomain()
}

// CurrentNoticeVersion loads the newest published version: the one in force.
func (tx *Tx) CurrentNoticeVersion(key string) (privacy.NoticeVersion, error) {
	var r noticeVersionRecord
	if err := tx.db.Where("notice_key = ? AND published_at IS NOT NULL", key).Order("version DESC").Take(&r).Error; err != nil {
		return privacy.NoticeVersion{}, formatError(err, "published version of notice "+key)
	}
	return r.toDomain()
}

// GovernedInventories returns the current inventory of every active device
// that names notice key; devices with no inventory yet collect nothing.
func (tx *Tx) GovernedInventories(key string) ([]privacy.Inventory, error) {
	var ids []string
	if err := tx.db.Model(&deviceRecord{}).Where("notice_key = ? AND status = ?", key, string(privacy.DeviceActive)).
		Order("id").Pluck("id", &ids).Error; err != nil {
		return nil, formatError(err, "devices")
	}
	var out []privacy.Inventory
	for _, id := range ids {
		inv, err := tx.InventoryVersion(id, 0)
		if privacy.ErrorCode(err) == privacy.ENotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, nil
}
