package decide

import (
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
)

// deviceFacts is what a decision reads about a device: its status, the
// notice that governs it and its newest inventory.
type deviceFacts struct {
	Status    string
	NoticeKey string
	// Inventory is the newest inventory version; 0: none declared.
	Inventory int
	// Elements are that version's elements by key, as decisionElement
	// keeps them.
	Elements map[string]privacy.DataElement
}

// noticeFacts is what a decision reads about a notice with a published
// version: the version in force and the purposes each published version
// changed materially, by version.
type noticeFacts struct {
	InForce  privacy.NoticeVersion
	Material map[int][]string
}

// decisionElement is the part of a data element that decisions read, the
// same whether it was read from the database or kept in memory.
func decisionElement(e privacy.DataElement) privacy.DataElement {
	return privacy.DataElement{Key: e.Key, Category: e.Category, Sensitivity: e.Sensitivity, Purposes: e.Purposes}
}

// decisionFacts is everything about one device, subject and purpose that
// an access decision reads, from the database (readFacts) or from memory
// (Memory.view).
type decisionFacts struct {
	DeviceStatus     string
	NoticeKey        string
	InventoryVersion int // 0: no inventory
	NoticeVersion    int // 0: no notice published
	Consent          privacy.ConsentState
	HasConsent       bool
	// Child is the subject's declaration as a child, if any.
	Child childFacts
}

// childFacts is what a decision reads of a subject declared a child.
type childFacts struct {
	Declared bool
	// MajorityAt ends the childhood; zero: not known.
	MajorityAt time.Time
}

// minor reports whether the subject is a child at t.
func (c childFacts) minor(t time.Time) bool { return privacy.Minor(c.Declared, c.MajorityAt, t) }

// childOf is the facts of a declaration, the same whether read from the
// database or kept in memory.
func childOf(c privacy.Child) childFacts {
	if c.Subject == "" {
		return childFacts{}
	}
	f := childFacts{Declared: true}
	if !c.MajorityAt.IsZero() {
		f.MajorityAt = c.MajorityAt.UTC()
	}
	return f
}

// readFacts reads the facts of r in one query. An unknown device is
// ENotFound.
func readFacts(tx *store.Reader, r Request) (decisionFacts, error) {
	d, inventory, notice, consent, child, err := tx.DecisionFacts(r.DeviceID, r.Subject, r.Purpose)
	if err != nil {
		return decisionFacts{}, err
	}
	return decisionFacts{DeviceStatus: string(d.Status), NoticeKey: d.NoticeKey, InventoryVersion: inventory, NoticeVersion: notice,
		Consent: consent, HasConsent: consent.RecordID != "", Child: childOf(child)}, nil
}

// decisionConsent is a consent state with the fields readFacts reads
// (NoticeKey left to the device's), the same whether it was read from the
// database or kept in memory.
func decisionConsent(st privacy.ConsentState) privacy.ConsentState {
	out := privacy.ConsentState{SubjectID: st.SubjectID, DeviceID: st.DeviceID, Purpose: st.Purpose, RecordID: st.RecordID, Kind: st.Kind,
		Granted: st.Granted, NoticeVersion: st.NoticeVersion, AuditSeq: st.AuditSeq, Proxy: st.Proxy}
	if !st.ExpiresAt.IsZero() {
		out.ExpiresAt = st.ExpiresAt.UTC()
	}
	return out
}

// readDevices reads the facts of every device, or of the one device only
// names.
func readDevices(tx *store.Reader, only string) (map[string]deviceFacts, error) {
	devices, err := tx.DeviceStatuses(only)
	if err != nil {
		return nil, err
	}
	out := make(map[string]deviceFacts, len(devices))
	for _, d := range devices {
		out[d.ID] = deviceFacts{Status: string(d.Status), NoticeKey: d.NoticeKey, Elements: map[string]privacy.DataElement{}}
	}
	invs, err := tx.NewestInventories(only)
	if err != nil {
		return nil, err
	}
	for _, inv := range invs {
		if d, ok := out[inv.DeviceID]; ok {
			d.Inventory = inv.Version
			for _, e := range inv.Elements {
				d.Elements[e.Key] = decisionElement(e)
			}
			out[inv.DeviceID] = d
		}
	}
	return out, nil
}

// readNotices reads the facts of every notice with a published version, or
// of the one notice only names.
func readNotices(tx *store.Reader, only string) (map[string]noticeFacts, error) {
	versions, err := tx.PublishedVersions(only)
	if err != nil {
		return nil, err
	}
	out := map[string]noticeFacts{}
	for _, v := range versions {
		n, ok := out[v.NoticeKey]
		if !ok {
			n.Material = map[int][]string{}
		}
		n.Material[v.Version] = v.MaterialPurposes
		n.InForce.Version = v.Version // oldest first: the last is the newest
		out[v.NoticeKey] = n
	}
	for key, n := range out {
		if n.InForce, err = tx.PublishedNoticeVersion(key, n.InForce.Version); err != nil {
			return nil, err
		}
		out[key] = n
	}
	return out, nil
}
