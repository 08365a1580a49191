package notice

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"sigs.k8s.io/yaml"
)

// File is a notice kept as files: notice.yaml (the checklist, the
// controller, one title per locale) and one Markdown body per locale,
// named after it (en.md, fr.md).
type File struct {
	Key           string
	DefaultLocale string
	Content       privacy.NoticeContent
}

// fileNotice is notice.yaml.
type fileNotice struct {
	Key           string `json:"key"`
	DefaultLocale string `json:"default_locale"`
	Controller    struct {
		Name         string `json:"name"`
		Contact      string `json:"contact"`
		Address      string `json:"address"`
		Jurisdiction string `json:"jurisdiction"`
	} `json:"controller"`
	Purposes []struct {
		Purpose           string   `json:"purpose"`
		LegalBasis        string   `json:"legal_basis"`
		Elements          []string `json:"elements"`
		CollectionMethods []string `json:"collection_methods"`
		CollectionScope   string   `json:"collection_scope"`
		Retention         string   `json:"retention"`
		Recipients        []string `json:"recipients"`
		Validity          string   `json:"validity"`
	} `json:"purposes"`
	// Titles maps each locale to its title; each needs a <locale>.md body.
	Titles map[string]string `json:"titles"`
	// Labels maps each locale to the checklist in that language.
	Labels map[string]fileLabels `json:"labels"`
}

// fileLabels is the checklist in one language: purposes (name and
// collection scope), elements and recipients, by key.
type fileLabels struct {
	Purposes map[string]struct {
		Name            string `json:"name"`
		CollectionScope string `json:"collection_scope"`
	} `json:"purposes"`
	Elements   map[string]string `json:"elements"`
	Recipients map[string]string `json:"recipients"`
}

// LoadDir reads a notice directory. Unknown YAML keys are refused, like
// unknown JSON fields on the API.
func LoadDir(dir string) (File, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "notice.yaml"))
	if err != nil {
		return File{}, fmt.Errorf("notice: %w", err)
	}
	var fn fileNotice
	if err := yaml.UnmarshalStrict(raw, &fn); err != nil {
		return File{}, fmt.Errorf("notice: %s: %w", filepath.Join(dir, "notice.yaml"), err)
	}
	f := File{Key: fn.Key, DefaultLocale: fn.DefaultLocale, Content: privacy.NoticeContent{
		Controller: privacy.Controller(fn.Controller), Texts: map[string]privacy.NoticeText{}}}
	for _, p := range fn.Purposes {
		methods := make([]privacy.CollectionMethod, len(p.CollectionMethods))
		for i, m := range p.CollectionMethods {
			methods[i] = privacy.CollectionMethod(m)
		}
		f.Content.Purposes = append(f.Content.Purposes, privacy.NoticePurpose{Purpose: p.Purpose, LegalBasis: privacy.LegalBasis(p.LegalBasis),
			Elements: p.Elements, CollectionMethods: methods, CollectionScope: strings.TrimSpace(p.CollectionScope), Retention: p.Retention,
			Recipients: p.Recipients, Validity: p.Validity})
	}
	bodies, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		return File{}, fmt.Errorf("notice: %w", err)
	}
	sort.Strings(bodies)
	for _, b := range bodies {
		locale := strings.TrimSuffix(filepath.Base(b), ".md")
		title, ok := fn.Titles[locale]
		if !ok {
			return File{}, fmt.Errorf("notice: %s has no title under titles.%s in notice.yaml", b, locale)
		}
		body, err := os.ReadFile(b)
		if err != nil {
			return File{}, fmt.Errorf("notice: %w", err)
		}
		t := privacy.NoticeText{Title: title, Body: string(body)}
		if l, ok := fn.Labels[locale]; ok {
			t.Elements, t.Recipients = l.Elements, l.Recipients
			for k, p := range l.Purposes {
				if t.Purposes == nil {
					t.Purposes = map[string]privacy.PurposeText{}
				}
				t.Purposes[k] = privacy.PurposeText{Name: strings.TrimSpace(p.Name), CollectionScope: strings.TrimSpace(p.CollectionScope)}
			}
		}
		f.Content.Texts[locale] = t
	}
	for locale := range fn.Titles {
		if _, ok := f.Content.Texts[locale]; !ok {
			return File{}, fmt.Errorf("notice: titles.%s has no %s.md beside notice.yaml", locale, locale)
		}
	}
	for locale := range fn.Labels {
		if _, ok := f.Content.Texts[locale]; !ok {
			return File{}, fmt.Errorf("notice: labels.%s has no %s.md beside notice.yaml", locale, locale)
		}
	}
	return f, nil
}

// Apply makes f the notice in force, through the same steps as the API:
// create the notice if needed, draft (or change the open draft), publish.
// unchanged is true when the version in force already says exactly this.
func (s *Service) Apply(ctx context.Context, f File) (v privacy.NoticeVersion, unchanged bool, err error) {
	n, err := s.db.Read(ctx).NoticeByKey(f.Key)
	switch privacy.ErrorCode(err) {
	case "":
		def, lerr := Locale(f.DefaultLocale)
		if lerr != nil || def != n.DefaultLocale {
			return v, false, privacy.FieldErrorf(privacy.EConflict, "default_locale",
				"notice %s exists with default locale %s, not %s", f.Key, n.DefaultLocale, f.DefaultLocale)
		}
	case privacy.ENotFound:
		if n, err = s.Create(ctx, f.Key, f.DefaultLocale); err != nil {
			return v, false, err
		}
	default:
		return v, false, err
	}
	content := f.Content
	if err := validate(s.db.Read(ctx), n, &content); err != nil {
		return v, false, err
	}
	_, hash, err := store.EncodeNoticeContent(content)
	if err != nil {
		return v, false, err
	}
	if cur, err := s.db.Read(ctx).CurrentNoticeVersion(f.Key); err == nil && cur.ContentHash == hash {
		return cur, true, nil
	}
	latest, err := s.db.Read(ctx).LatestNoticeVersion(f.Key)
	switch {
	case err == nil && !latest.Published():
		v, err = s.UpdateDraft(ctx, f.Key, latest.Version, content)
	case err == nil || privacy.ErrorCode(err) == privacy.ENotFound:
		v, err = s.Draft(ctx, f.Key, content)
	}
	if err != nil {
		return v, false, err
	}
	v, err = s.Publish(ctx, f.Key, v.Version)
	return v, false, err
}
