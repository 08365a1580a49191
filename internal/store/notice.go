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
	NoticeKey        string
	Version          int
	Content          []byte
	ContentHash      string
	PublishedAt      *time.Time
	MaterialPurposes stringList
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// noticeVersionColumns are noticeVersionRecord's columns, in fields' order.
const noticeVersionColumns = "notice_key, version, content, content_hash, published_at, material_purposes, created_at, updated_at"

// selectNoticeVersions is the start of every query of whole versions.
const selectNoticeVersions = "SELECT " + noticeVersionColumns + " FROM notice_versions"

func (r *noticeVersionRecord) fields() []any {
	return []any{&r.NoticeKey, &r.Version, &r.Content, &r.ContentHash, &r.PublishedAt, &r.MaterialPurposes, &r.CreatedAt, &r.UpdatedAt}
}

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

// The labels are omitted when empty: content written before notices
// carried them keeps its bytes, and so its hash.
type noticeTextDocument struct {
	Title      string                         `json:"title"`
	Body       string                         `json:"body"`
	Purposes   map[string]purposeTextDocument `json:"purposes,omitempty"`
	Elements   map[string]string              `json:"elements,omitempty"`
	Recipients map[string]string              `json:"recipients,omitempty"`
}

type purposeTextDocument struct {
	Name            string `json:"name"`
	CollectionScope string `json:"collection_scope"`
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
		td := noticeTextDocument{Title: t.Title, Body: t.Body, Elements: t.Elements, Recipients: t.Recipients}
		if len(t.Purposes) > 0 {
			td.Purposes = make(map[string]purposeTextDocument, len(t.Purposes))
			for k, pt := range t.Purposes {
				td.Purposes[k] = purposeTextDocument(pt)
			}
		}
		d.Texts[tag] = td
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
		nt := privacy.NoticeText{Title: t.Title, Body: t.Body, Elements: t.Elements, Recipients: t.Recipients}
		if len(t.Purposes) > 0 {
			nt.Purposes = make(map[string]privacy.PurposeText, len(t.Purposes))
			for k, pt := range t.Purposes {
				nt.Purposes[k] = privacy.PurposeText(pt)
			}
		}
		c.Texts[tag] = nt
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
func (r *Reader) NoticeByKey(key string) (privacy.Notice, error) {
	var n noticeRecord
	if err := r.db.Where("key = ?", key).Take(&n).Error; err != nil {
		return privacy.Notice{}, formatError(err, "notice "+key)
	}
	return privacy.Notice{Key: n.Key, DefaultLocale: n.DefaultLocale, CreatedAt: n.CreatedAt.UTC()}, nil
}

// noticeVersion turns a row into a domain version; err is a failure to
// read it, passed on.
func noticeVersion(r noticeVersionRecord, err error) (privacy.NoticeVersion, error) {
	if err != nil {
		return privacy.NoticeVersion{}, err
	}
	return r.toDomain()
}

// noticeVersions turns rows into domain versions; err is a failure to
// read them, passed on.
func noticeVersions(rs []noticeVersionRecord, err error) ([]privacy.NoticeVersion, error) {
	if err != nil {
		return nil, err
	}
	out := make([]privacy.NoticeVersion, len(rs))
	for i, r := range rs {
		if out[i], err = r.toDomain(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// InsertNoticeVersion stores a new draft version.
func (tx *Tx) InsertNoticeVersion(v privacy.NoticeVersion) error {
	content, hash, err := EncodeNoticeContent(v.Content)
	if err != nil {
		return err
	}
	_, err = tx.exec("notice version", "INSERT INTO notice_versions ("+noticeVersionColumns+") VALUES "+placeholders(1, 8),
		v.NoticeKey, v.Version, content, hash, nil, stringList{}, v.CreatedAt, v.UpdatedAt)
	return err
}

// notDraft is the answer to a change of a version that is not a draft.
func notDraft(key string, version int) error {
	return privacy.Errorf(privacy.EConflict, "version %d of notice %s is not a draft", version, key)
}

// UpdateDraft replaces a draft's content. A published version is never
// touched: the WHERE clause skips it, and a trigger would refuse it.
func (tx *Tx) UpdateDraft(v privacy.NoticeVersion) error {
	content, hash, err := EncodeNoticeContent(v.Content)
	if err != nil {
		return err
	}
	n, err := tx.exec("notice version", `UPDATE notice_versions SET content = ?, content_hash = ?, updated_at = ?
		WHERE notice_key = ? AND version = ? AND published_at IS NULL`, content, hash, v.UpdatedAt, v.NoticeKey, v.Version)
	return changedOne(n, err, notDraft(v.NoticeKey, v.Version))
}

// DeleteDraft removes a draft. A published version is never touched: the
// WHERE clause skips it, and a trigger would refuse it.
func (tx *Tx) DeleteDraft(key string, version int) error {
	n, err := tx.exec("notice version", "DELETE FROM notice_versions WHERE notice_key = ? AND version = ? AND published_at IS NULL", key, version)
	return changedOne(n, err, notDraft(key, version))
}

// PublishVersion marks a draft published, with its material changes.
func (tx *Tx) PublishVersion(v privacy.NoticeVersion) error {
	n, err := tx.exec("notice version", `UPDATE notice_versions SET published_at = ?, material_purposes = ?, updated_at = ?
		WHERE notice_key = ? AND version = ? AND published_at IS NULL`, v.PublishedAt, stringList(v.MaterialPurposes), v.PublishedAt,
		v.NoticeKey, v.Version)
	return changedOne(n, err, notDraft(v.NoticeKey, v.Version))
}

// NoticeVersion loads one version.
func (r *Reader) NoticeVersion(key string, version int) (privacy.NoticeVersion, error) {
	return noticeVersion(selectOne[noticeVersionRecord](r, fmt.Sprintf("version %d of notice %s", version, key),
		selectNoticeVersions+" WHERE notice_key = ? AND version = ?", key, version))
}

// PublishedNoticeVersion loads a published version, from memory after the
// first time: a published version never changes. A draft, or no such
// version, is ENotFound.
func (r *Reader) PublishedNoticeVersion(key string, version int) (privacy.NoticeVersion, error) {
	id := key + "\x00" + strconv.Itoa(version)
	if v, ok := r.published.Load(id); ok {
		return v.(privacy.NoticeVersion), nil
	}
	v, err := r.NoticeVersion(key, version)
	if err != nil {
		return privacy.NoticeVersion{}, err
	}
	if !v.Published() {
		return privacy.NoticeVersion{}, privacy.Errorf(privacy.ENotFound, "version %d of notice %s is not published", version, key)
	}
	r.published.Store(id, v)
	return v, nil
}

// LatestNoticeVersion loads the newest version, draft or not.
func (r *Reader) LatestNoticeVersion(key string) (privacy.NoticeVersion, error) {
	return noticeVersion(selectOne[noticeVersionRecord](r, "notice version",
		selectNoticeVersions+" WHERE notice_key = ? ORDER BY version DESC LIMIT 1", key))
}

// CurrentNoticeVersion loads the newest published version: the one in force.
func (r *Reader) CurrentNoticeVersion(key string) (privacy.NoticeVersion, error) {
	return noticeVersion(selectOne[noticeVersionRecord](r, "published version of notice "+key,
		selectNoticeVersions+" WHERE notice_key = ? AND published_at IS NOT NULL ORDER BY version DESC LIMIT 1", key))
}

// GovernedInventories returns the current inventory of every active device
// that names notice key; devices with no inventory yet collect nothing.
func (r *Reader) GovernedInventories(key string) ([]privacy.Inventory, error) {
	ids, err := r.strings("devices", "SELECT id FROM devices WHERE notice_key = ? AND status = ? ORDER BY id", key, string(privacy.DeviceActive))
	if err != nil {
		return nil, err
	}
	var out []privacy.Inventory
	for _, id := range ids {
		inv, err := r.InventoryVersion(id, 0)
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
