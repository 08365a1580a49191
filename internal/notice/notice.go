// Package notice manages privacy notices (ISO/IEC 27400 Control 31-1):
// versioned, localized, immutable once published, and refused at
// publication while they do not state what the devices they govern
// collect. It also records which purposes each version changed
// materially, so that consent can be asked again for those alone.
package notice

import (
	"context"
	"fmt"
	"slices"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"golang.org/x/text/language"
)

// Service is the notice use cases.
type Service struct {
	db  *store.DB
	log *audit.Log
}

// NewService returns a Service reading db and writing through log.
func NewService(db *store.DB, log *audit.Log) *Service { return &Service{db: db, log: log} }

// Locale canonicalizes a BCP 47 tag ("fr-ca" → "fr-CA").
func Locale(tag string) (string, error) {
	t, err := language.Parse(tag)
	if err != nil || t == language.Und {
		return "", privacy.FieldErrorf(privacy.EMalformed, "locale", "%q is not a BCP 47 language tag", tag)
	}
	return t.String(), nil
}

// Create makes a notice with its default locale.
func (s *Service) Create(ctx context.Context, key, defaultLocale string) (privacy.Notice, error) {
	var p privacy.Problems
	if !privacy.ValidKey(key) {
		p.Add("key", "must be 1-64 characters: a lower-case letter, then lower-case letters, digits, '_', '.' or '-'")
	}
	loc, err := Locale(defaultLocale)
	if err != nil {
		p.Add("default_locale", "%q is not a BCP 47 language tag", defaultLocale)
	}
	if err := p.Err("invalid notice"); err != nil {
		return privacy.Notice{}, err
	}
	n := privacy.Notice{Key: key, DefaultLocale: loc}
	_, err = s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		n.CreatedAt = tx.Now()
		if err := tx.InsertNotice(n); err != nil {
			return nil, err
		}
		return []event.Event{event.NoticeCreated{Notice: n}}, nil
	})
	if err != nil {
		return privacy.Notice{}, err
	}
	return n, nil
}

// validate checks content against the catalogue and the notice's default locale.
func validate(tx *store.Reader, n privacy.Notice, c *privacy.NoticeContent) error {
	keys, err := tx.PurposeKeys()
	if err != nil {
		return err
	}
	return c.Validate(func(k string) bool { return keys[k] }, Locale, n.DefaultLocale)
}

// Draft starts a new version as a draft. There is at most one draft at a
// time: a second is a conflict, so that versions are published in order.
func (s *Service) Draft(ctx context.Context, key string, c privacy.NoticeContent) (privacy.NoticeVersion, error) {
	var v privacy.NoticeVersion
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		n, err := tx.NoticeByKey(key)
		if err != nil {
			return nil, err
		}
		if err := validate(tx.Reader, n, &c); err != nil {
			return nil, err
		}
		next := 1
		latest, err := tx.LatestNoticeVersion(key)
		switch privacy.ErrorCode(err) {
		case "":
			if !latest.Published() {
				return nil, privacy.Errorf(privacy.EConflict, "version %d of notice %s is still a draft: change it with PUT or publish it first", latest.Version, key)
			}
			next = latest.Version + 1
		case privacy.ENotFound:
		default:
			return nil, err
		}
		v = privacy.NoticeVersion{NoticeKey: key, Version: next, Content: c, CreatedAt: tx.Now(), UpdatedAt: tx.Now()}
		if err := tx.InsertNoticeVersion(v); err != nil {
			return nil, err
		}
		if v, err = tx.NoticeVersion(key, next); err != nil {
			return nil, err
		}
		return []event.Event{event.NoticeVersionDrafted{Version: v}}, nil
	})
	if err != nil {
		return privacy.NoticeVersion{}, err
	}
	return v, nil
}

// UpdateDraft replaces a draft's content. A published version is refused.
func (s *Service) UpdateDraft(ctx context.Context, key string, version int, c privacy.NoticeContent) (privacy.NoticeVersion, error) {
	var v privacy.NoticeVersion
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		n, err := tx.NoticeByKey(key)
		if err != nil {
			return nil, err
		}
		old, err := tx.NoticeVersion(key, version)
		if err != nil {
			return nil, err
		}
		if old.Published() {
			return nil, publishedErr(old)
		}
		if err := validate(tx.Reader, n, &c); err != nil {
			return nil, err
		}
		old.Content, old.UpdatedAt = c, tx.Now()
		if err := tx.UpdateDraft(old); err != nil {
			return nil, err
		}
		if v, err = tx.NoticeVersion(key, version); err != nil {
			return nil, err
		}
		return []event.Event{event.NoticeVersionUpdated{Version: v}}, nil
	})
	if err != nil {
		return privacy.NoticeVersion{}, err
	}
	return v, nil
}

// DeleteDraft discards a draft. A published version is refused: it is
// evidence of what people were shown.
func (s *Service) DeleteDraft(ctx context.Context, key string, version int) error {
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		if _, err := tx.NoticeByKey(key); err != nil {
			return nil, err
		}
		v, err := tx.NoticeVersion(key, version)
		if err != nil {
			return nil, err
		}
		if v.Published() {
			return nil, publishedErr(v)
		}
		if err := tx.DeleteDraft(key, version); err != nil {
			return nil, err
		}
		return []event.Event{event.NoticeVersionDeleted{Version: v}}, nil
	})
	return err
}

func publishedErr(v privacy.NoticeVersion) error {
	return privacy.Errorf(privacy.EConflict, "version %d of notice %s is published and can no longer change; draft a new version", v.Version, v.NoticeKey)
}

// Publish makes a draft the notice in force. It is refused, listing every
// gap, while any active device that names the notice collects something
// the version does not state. The purposes it changes materially against
// the previous published version are stored with it.
func (s *Service) Publish(ctx context.Context, key string, version int) (privacy.NoticeVersion, error) {
	var v privacy.NoticeVersion
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		var err error
		if _, err = tx.NoticeByKey(key); err != nil {
			return nil, err
		}
		if v, err = tx.NoticeVersion(key, version); err != nil {
			return nil, err
		}
		if v.Published() {
			return nil, publishedErr(v)
		}
		invs, err := tx.GovernedInventories(key)
		if err != nil {
			return nil, err
		}
		var gaps []privacy.Gap
		for _, inv := range invs {
			gaps = append(gaps, v.Content.Gaps(inv)...)
		}
		if len(gaps) > 0 {
			return nil, &privacy.Error{Code: privacy.ENoticeUncovered, Gaps: gaps,
				Detail: fmt.Sprintf("version %d does not state everything the devices it governs collect (%d gaps)", version, len(gaps))}
		}
		// Every string a person reads, in every language the version offers.
		if err := v.Content.CheckLabels(); err != nil {
			return nil, err
		}
		var prev *privacy.NoticeContent
		cur, err := tx.CurrentNoticeVersion(key)
		switch privacy.ErrorCode(err) {
		case "":
			prev = &cur.Content
		case privacy.ENotFound:
		default:
			return nil, err
		}
		v.MaterialPurposes = privacy.MaterialChanges(prev, v.Content)
		v.PublishedAt = tx.Now()
		if err := tx.PublishVersion(v); err != nil {
			return nil, err
		}
		return []event.Event{event.NoticePublished{Version: v}}, nil
	})
	if err != nil {
		return privacy.NoticeVersion{}, err
	}
	return v, nil
}

// Version returns one version.
func (s *Service) Version(ctx context.Context, key string, version int) (privacy.NoticeVersion, error) {
	tx := s.db.Read(ctx)
	if _, err := tx.NoticeByKey(key); err != nil {
		return privacy.NoticeVersion{}, err
	}
	return tx.NoticeVersion(key, version)
}

// Shown is the notice version to show for a requested locale.
type Shown struct {
	Version privacy.NoticeVersion
	// Locale is the locale served; Requested the one asked for ("" for
	// none); Fallback says they differ.
	Locale, Requested string
	Fallback          bool
	Text              privacy.NoticeText
}

// Current returns the version in force, in the best locale for requested:
// the tag itself, then its parents (fr-CA → fr), then the notice's default.
func (s *Service) Current(ctx context.Context, key, requested string) (Shown, error) {
	var want language.Tag
	if requested != "" {
		t, err := language.Parse(requested)
		if err != nil {
			return Shown{}, privacy.FieldErrorf(privacy.EMalformed, "locale", "%q is not a BCP 47 language tag", requested)
		}
		want = t
	}
	tx := s.db.Read(ctx)
	n, err := tx.NoticeByKey(key)
	if err != nil {
		return Shown{}, err
	}
	v, err := tx.CurrentNoticeVersion(key)
	if err != nil {
		return Shown{}, err
	}
	shown := Shown{Version: v, Requested: requested, Locale: n.DefaultLocale}
	if requested != "" {
		for t := want; ; t = t.Parent() {
			if _, ok := v.Content.Texts[t.String()]; ok {
				shown.Locale = t.String()
				break
			}
			if t == language.Und || t.Parent() == t {
				break
			}
		}
	}
	shown.Fallback = requested != "" && shown.Locale != want.String()
	shown.Text = v.Content.Texts[shown.Locale]
	return shown, nil
}

// Coverage lists what active devices naming the notice collect that its
// version in force does not state; version is 0 when none is published,
// and then everything they collect is a gap.
func (s *Service) Coverage(ctx context.Context, key string) (version int, gaps []privacy.Gap, err error) {
	tx := s.db.Read(ctx)
	if _, err := tx.NoticeByKey(key); err != nil {
		return 0, nil, err
	}
	var content privacy.NoticeContent
	cur, err := tx.CurrentNoticeVersion(key)
	switch privacy.ErrorCode(err) {
	case "":
		version, content = cur.Version, cur.Content
	case privacy.ENotFound:
	default:
		return 0, nil, err
	}
	invs, err := tx.GovernedInventories(key)
	if err != nil {
		return 0, nil, err
	}
	gaps = []privacy.Gap{}
	for _, inv := range invs {
		gaps = append(gaps, content.Gaps(inv)...)
	}
	return version, gaps, nil
}

// Locales lists a version's locales, sorted.
func Locales(v privacy.NoticeVersion) []string {
	out := make([]string, 0, len(v.Content.Texts))
	for k := range v.Content.Texts {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
