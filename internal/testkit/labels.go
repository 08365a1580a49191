package testkit

import "github.com/consentry/consentry/internal/privacy"

// Labelled is c with every label publication requires filled in where a
// locale lacks it ("<key> [<locale>]"): for tests whose notices are about
// something else than their wording.
func Labelled(c privacy.NoticeContent) privacy.NoticeContent {
	texts := make(map[string]privacy.NoticeText, len(c.Texts))
	for tag, t := range c.Texts {
		purposes := map[string]privacy.PurposeText{}
		elements := map[string]string{}
		recipients := map[string]string{}
		for k, v := range t.Purposes {
			purposes[k] = v
		}
		for k, v := range t.Elements {
			elements[k] = v
		}
		for k, v := range t.Recipients {
			recipients[k] = v
		}
		for _, p := range c.Purposes {
			pt := purposes[p.Purpose]
			if pt.Name == "" {
				pt.Name = p.Purpose + " [" + tag + "]"
			}
			if pt.CollectionScope == "" {
				pt.CollectionScope = p.CollectionScope + " [" + tag + "]"
			}
			purposes[p.Purpose] = pt
			for _, e := range p.Elements {
				if elements[e] == "" {
					elements[e] = e + " [" + tag + "]"
				}
			}
			for _, r := range p.Recipients {
				if recipients[r] == "" {
					recipients[r] = r + " [" + tag + "]"
				}
			}
		}
		t.Purposes, t.Elements, t.Recipients = purposes, elements, recipients
		texts[tag] = t
	}
	c.Texts = texts
	return c
}
