package privacy

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// Notice is a privacy notice (Control 31-1): a key that devices name, and
// versions of what it says.
type Notice struct {
	Key           string
	DefaultLocale string
	CreatedAt     time.Time
}

// NoticeContent is what one notice version says: the Control 31-2
// checklist, shared by every locale, and the localized texts.
type NoticeContent struct {
	Controller Controller
	Purposes   []NoticePurpose
	// Texts maps a BCP 47 tag to the title and Markdown body in that language.
	Texts map[string]NoticeText
}

// Controller is who is responsible for the processing, and how to reach them.
type Controller struct {
	Name    string
	Contact string
	Address string
	// Jurisdiction is where the controller answers for the processing (e.g. IE, EU).
	Jurisdiction string
}

// NoticePurpose is the checklist for one purpose: what data, how it is
// collected and how widely, for how long, who gets it, on what legal basis.
type NoticePurpose struct {
	Purpose           string
	LegalBasis        LegalBasis
	Elements          []string
	CollectionMethods []CollectionMethod
	CollectionScope   string
	// Retention is the longest any element is kept for this purpose (ISO 8601).
	Retention  string
	Recipients []string
	// Validity is how long a consent to this purpose lasts (ISO 8601);
	// empty means DefaultValidity.
	Validity string
}

// DefaultValidity is how long consent lasts when a notice does not say.
const DefaultValidity = "P12M"

// ConsentValidity is the validity of consent to p.
func (p NoticePurpose) ConsentValidity() string {
	if p.Validity == "" {
		return DefaultValidity
	}
	return p.Validity
}

// NoticeText is one locale's wording.
type NoticeText struct {
	Title string
	Body  string
	// Purposes, Elements and Recipients are the checklist in this
	// language: what a person reads in place of the keys and of the
	// collection scope. A version is published only with every one of
	// them in every locale (MissingLabels); versions published before
	// notices carried them show the keys.
	Purposes   map[string]PurposeText
	Elements   map[string]string
	Recipients map[string]string
}

// PurposeText is a purpose in one language: its name, and how and how
// widely its data is collected (the checklist's collection_scope).
type PurposeText struct {
	Name            string
	CollectionScope string
}

// PurposeName is purpose's name in t, or the key when t has none.
func (t NoticeText) PurposeName(purpose string) string {
	if pt, ok := t.Purposes[purpose]; ok && pt.Name != "" {
		return pt.Name
	}
	return purpose
}

// Scope is how np's data is collected, in t's language when t says.
func (t NoticeText) Scope(np NoticePurpose) string {
	if pt, ok := t.Purposes[np.Purpose]; ok && pt.CollectionScope != "" {
		return pt.CollectionScope
	}
	return np.CollectionScope
}

// ElementLabel is element's label in t, or the key.
func (t NoticeText) ElementLabel(element string) string {
	if l := t.Elements[element]; l != "" {
		return l
	}
	return element
}

// RecipientLabel is recipient's label in t, or the recipient as the
// checklist names it.
func (t NoticeText) RecipientLabel(recipient string) string {
	if l := t.Recipients[recipient]; l != "" {
		return l
	}
	return recipient
}

// CheckLabels fails, naming each, when a locale of c lacks a label: a
// name and a collection scope for each purpose, a label for each element
// and recipient the checklist names. Publication refuses such a version,
// so that every string a person reads is in their language.
func (c NoticeContent) CheckLabels() error {
	var p Problems
	seen := map[string]bool{} // an element stated for two purposes is missing once
	missing := func(field, format string, a ...any) {
		if !seen[field] {
			seen[field] = true
			p.Add(field, format, a...)
		}
	}
	for _, tag := range sortedKeys(c.Texts) {
		t := c.Texts[tag]
		for _, np := range c.Purposes {
			pt := t.Purposes[np.Purpose]
			if pt.Name == "" {
				missing(fmt.Sprintf("texts.%s.purposes.%s.name", tag, np.Purpose), "the name of purpose %s in %s is missing", np.Purpose, tag)
			}
			if pt.CollectionScope == "" {
				missing(fmt.Sprintf("texts.%s.purposes.%s.collection_scope", tag, np.Purpose), "how purpose %s collects its data, in %s, is missing", np.Purpose, tag)
			}
			for _, e := range np.Elements {
				if t.Elements[e] == "" {
					missing(fmt.Sprintf("texts.%s.elements.%s", tag, e), "the label of data element %s in %s is missing", e, tag)
				}
			}
			for _, r := range np.Recipients {
				if t.Recipients[r] == "" {
					missing(fmt.Sprintf("texts.%s.recipients.%s", tag, r), "the label of recipient %s in %s is missing", r, tag)
				}
			}
		}
	}
	return p.Err("the notice is not in every language it offers: a label is missing")
}

// NoticeVersion is one version of a notice.
type NoticeVersion struct {
	NoticeKey   string
	Version     int
	Content     NoticeContent
	ContentHash string
	PublishedAt time.Time // zero while a draft
	// MaterialPurposes are the purposes this version changed materially
	// against the previous published version (set at publication).
	MaterialPurposes []string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Published reports whether v is published (and so immutable).
func (v NoticeVersion) Published() bool { return !v.PublishedAt.IsZero() }

// Purpose returns the checklist entry for purpose key.
func (c NoticeContent) Purpose(key string) (NoticePurpose, bool) {
	for _, p := range c.Purposes {
		if p.Purpose == key {
			return p, true
		}
	}
	return NoticePurpose{}, false
}

// Validate checks a notice version's content. purposeExists says whether a
// purpose is in the catalogue; locale canonicalizes a BCP 47 tag, or fails.
func (c *NoticeContent) Validate(purposeExists func(string) bool, locale func(string) (string, error), defaultLocale string) error {
	var p Problems
	checkText(&p, "controller.name", c.Controller.Name, true, 200, oneLine)
	checkText(&p, "controller.contact", c.Controller.Contact, true, 200, oneLine)
	checkText(&p, "controller.address", c.Controller.Address, false, 500, oneLine)
	checkText(&p, "controller.jurisdiction", c.Controller.Jurisdiction, false, 100, oneLine)
	if len(c.Purposes) == 0 {
		p.Add("purposes", "must state at least one purpose")
	}
	seen := map[string]bool{}
	for i, np := range c.Purposes {
		f := func(name string) string { return fmt.Sprintf("purposes[%d].%s", i, name) }
		switch {
		case !ValidKey(np.Purpose) || !purposeExists(np.Purpose):
			p.Add(f("purpose"), "purpose %q is not in the catalogue", np.Purpose)
		case seen[np.Purpose]:
			p.Add(f("purpose"), "purpose %q is stated twice", np.Purpose)
		}
		seen[np.Purpose] = true
		if !np.LegalBasis.Valid() {
			p.Add(f("legal_basis"), "must be one of consent, contract, legal_obligation, vital_interests, public_task, legitimate_interests")
		}
		if len(np.Elements) == 0 {
			p.Add(f("elements"), "must name at least one data element")
		}
		for j, e := range np.Elements {
			if !ValidKey(e) || slices.Index(np.Elements, e) != j {
				p.Add(fmt.Sprintf("%s[%d]", f("elements"), j), "must be a data element key, stated once")
			}
		}
		if len(np.CollectionMethods) == 0 {
			p.Add(f("collection_methods"), "must name at least one collection method")
		}
		for j, m := range np.CollectionMethods {
			if !m.valid() {
				p.Add(fmt.Sprintf("%s[%d]", f("collection_methods"), j), "must be one of sensor, user_input, derived, network, third_party")
			}
		}
		checkText(&p, f("collection_scope"), np.CollectionScope, true, 1000, multiline)
		if err := checkRetention(np.Retention); err != "" {
			p.Add(f("retention"), "%s", err)
		}
		for j, r := range np.Recipients {
			checkText(&p, fmt.Sprintf("%s[%d]", f("recipients"), j), r, true, 200, oneLine)
		}
		if np.Validity != "" {
			if err := checkRetention(np.Validity); err != "" {
				p.Add(f("validity"), "%s", err)
			}
		}
	}
	if len(c.Texts) == 0 {
		p.Add("texts", "must have at least one locale")
	}
	canonical := make(map[string]NoticeText, len(c.Texts))
	for _, tag := range sortedKeys(c.Texts) {
		t := c.Texts[tag]
		f := func(name string) string { return fmt.Sprintf("texts.%s.%s", tag, name) }
		ct, err := locale(tag)
		switch {
		case err != nil:
			p.Add("texts."+tag, "is not a BCP 47 language tag")
			continue
		default:
			if _, dup := canonical[ct]; dup {
				p.Add("texts."+tag, "is the same locale as %s", ct)
			}
		}
		checkText(&p, f("title"), t.Title, true, 200, oneLine)
		checkText(&p, f("body"), t.Body, true, 100_000, multiline)
		for _, k := range sortedKeys(t.Purposes) {
			if _, ok := c.Purpose(k); !ok {
				p.Add(f("purposes."+k), "purpose %q is not in this version's checklist", k)
				continue
			}
			checkText(&p, f("purposes."+k+".name"), t.Purposes[k].Name, false, 200, oneLine)
			checkText(&p, f("purposes."+k+".collection_scope"), t.Purposes[k].CollectionScope, false, 1000, multiline)
		}
		for _, k := range sortedKeys(t.Elements) {
			if !c.namesElement(k) {
				p.Add(f("elements."+k), "data element %q is not in this version's checklist", k)
				continue
			}
			checkText(&p, f("elements."+k), t.Elements[k], false, 200, oneLine)
		}
		for _, k := range sortedKeys(t.Recipients) {
			if !c.namesRecipient(k) {
				p.Add(f("recipients."+k), "recipient %q is not in this version's checklist", k)
				continue
			}
			checkText(&p, f("recipients."+k), t.Recipients[k], false, 200, oneLine)
		}
		canonical[ct] = t
	}
	if len(c.Texts) > 0 {
		if _, ok := canonical[defaultLocale]; !ok {
			p.Add("texts", "must include the notice's default locale %s", defaultLocale)
		}
	}
	if err := p.Err("invalid notice version"); err != nil {
		return err
	}
	c.Texts = canonical
	return nil
}

// namesElement reports whether a purpose of c names element.
func (c NoticeContent) namesElement(element string) bool {
	for _, np := range c.Purposes {
		if slices.Contains(np.Elements, element) {
			return true
		}
	}
	return false
}

// namesRecipient reports whether a purpose of c names recipient.
func (c NoticeContent) namesRecipient(recipient string) bool {
	for _, np := range c.Purposes {
		if slices.Contains(np.Recipients, recipient) {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Gap kinds: how a notice fails to state what a device collects.
const (
	GapPurposeNotStated      = "purpose_not_stated"
	GapElementNotStated      = "element_not_stated"
	GapRecipientNotDisclosed = "recipient_not_disclosed"
	GapRetentionLonger       = "retention_not_disclosed"
)

// Gap is one thing a device collects that a notice does not state.
type Gap struct {
	DeviceID string
	Element  string
	Purpose  string
	Kind     string
	Detail   string
}

// Gaps lists everything inv declares that c does not state (Control 31-1:
// the notice states what is collected and why): every purpose, every
// element under it, every recipient, and a retention no longer than the
// notice discloses.
func (c NoticeContent) Gaps(inv Inventory) []Gap {
	var gaps []Gap
	for _, e := range inv.Elements {
		for _, purpose := range e.Purposes {
			g := Gap{DeviceID: inv.DeviceID, Element: e.Key, Purpose: purpose}
			np, ok := c.Purpose(purpose)
			if !ok {
				g.Kind, g.Detail = GapPurposeNotStated, fmt.Sprintf("the notice does not state purpose %s", purpose)
				gaps = append(gaps, g)
				continue
			}
			if !slices.Contains(np.Elements, e.Key) {
				g.Kind, g.Detail = GapElementNotStated, fmt.Sprintf("the notice does not state element %s under purpose %s", e.Key, purpose)
				gaps = append(gaps, g)
			}
			for _, r := range e.Recipients {
				if !slices.Contains(np.Recipients, r) {
					g.Kind, g.Detail = GapRecipientNotDisclosed, fmt.Sprintf("the notice does not disclose recipient %s for purpose %s", r, purpose)
					gaps = append(gaps, g)
				}
			}
			if RetentionSpan(e.Retention) > RetentionSpan(np.Retention) {
				g.Kind, g.Detail = GapRetentionLonger, fmt.Sprintf("element %s is kept %s but the notice discloses %s for purpose %s", e.Key, e.Retention, np.Retention, purpose)
				gaps = append(gaps, g)
			}
		}
	}
	return gaps
}

// RetentionSpan orders ISO 8601 durations by length, counting a year as
// 365.25 days and a month as a twelfth of that, so that P1M and P30D
// compare the same way everywhere. An unparseable value is the longest
// possible, so it never looks covered.
func RetentionSpan(s string) float64 {
	d, err := ParseDuration(s)
	if err != nil {
		return 1e300
	}
	const day = 86400.0
	return d.Years*365.25*day + d.Months*365.25/12*day + d.Weeks*7*day + d.Days*day + d.Hours*3600 + d.Minutes*60 + d.Seconds
}

// MaterialChanges lists, sorted, the purposes that next changes materially
// against prev (nil for a first version): a new purpose, a new element
// under a purpose, a new recipient, a longer retention, or another legal
// basis. Wording, and anything that narrows processing, is not material.
func MaterialChanges(prev *NoticeContent, next NoticeContent) []string {
	out := []string{}
	for _, np := range next.Purposes {
		if prev == nil {
			out = append(out, np.Purpose)
			continue
		}
		old, ok := prev.Purpose(np.Purpose)
		material := !ok || old.LegalBasis != np.LegalBasis || RetentionSpan(np.Retention) > RetentionSpan(old.Retention)
		for _, e := range np.Elements {
			material = material || !slices.Contains(old.Elements, e)
		}
		for _, r := range np.Recipients {
			material = material || !slices.Contains(old.Recipients, r)
		}
		if material {
			out = append(out, np.Purpose)
		}
	}
	sort.Strings(out)
	return out
}
