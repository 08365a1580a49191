package notice

import (
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/yuin/goldmark"
	"golang.org/x/text/language"
)

// markdown renders notice bodies. goldmark's defaults drop raw HTML and
// dangerous link targets, so an operator's Markdown cannot script the page.
var markdown = goldmark.New()

// pageLabels are the page's own words, per language; English when the
// notice's language has none here.
type pageLabels struct {
	Checklist, Purpose, LegalBasis, Data, Collection, Kept, SharedWith, NoOne string
	Controller, Contact, Version, Hash, Fallback, Published                   string
	// Colon separates a label from its value, as the language writes it.
	Colon   string
	Bases   map[privacy.LegalBasis]string
	Methods map[privacy.CollectionMethod]string
	Units   [7][2]string // year, month, week, day, hour, minute, second: singular, plural
}

var labels = map[string]pageLabels{
	"en": {
		Checklist: "What we collect and why", Purpose: "Purpose", LegalBasis: "Legal basis", Data: "Data collected",
		Collection: "How and how widely", Kept: "Kept for at most", SharedWith: "Shared with", NoOne: "No one else",
		Controller: "Responsible for your data", Contact: "Questions and requests", Version: "Version", Hash: "Content hash (SHA-256)",
		Fallback: "This notice is not available in %s; it is shown in %s.", Published: "published", Colon: ": ",
		Bases: map[privacy.LegalBasis]string{privacy.BasisConsent: "your consent", privacy.BasisContract: "a contract with you",
			privacy.BasisLegalObligation: "a legal obligation", privacy.BasisVitalInterests: "vital interests",
			privacy.BasisPublicTask: "a public task", privacy.BasisLegitimateInterests: "legitimate interests"},
		Methods: map[privacy.CollectionMethod]string{privacy.CollectSensor: "sensors", privacy.CollectUserInput: "what you enter",
			privacy.CollectDerived: "derived from other data", privacy.CollectNetwork: "network", privacy.CollectThirdParty: "third parties"},
		Units: [7][2]string{{"year", "years"}, {"month", "months"}, {"week", "weeks"}, {"day", "days"}, {"hour", "hours"}, {"minute", "minutes"}, {"second", "seconds"}},
	},
	"fr": {
		Checklist: "Ce que nous collectons et pourquoi", Purpose: "Finalité", LegalBasis: "Base légale", Data: "Données collectées",
		Collection: "Comment et dans quelle mesure", Kept: "Conservées au plus", SharedWith: "Communiquées à", NoOne: "Personne d'autre",
		Controller: "Responsable du traitement", Contact: "Questions et demandes", Version: "Version", Hash: "Empreinte du contenu (SHA-256)",
		Fallback: "Cet avis n'est pas disponible en %s ; il est affiché en %s.", Published: "publiée le", Colon: " : ",
		Bases: map[privacy.LegalBasis]string{privacy.BasisConsent: "votre consentement", privacy.BasisContract: "un contrat avec vous",
			privacy.BasisLegalObligation: "une obligation légale", privacy.BasisVitalInterests: "des intérêts vitaux",
			privacy.BasisPublicTask: "une mission d'intérêt public", privacy.BasisLegitimateInterests: "des intérêts légitimes"},
		Methods: map[privacy.CollectionMethod]string{privacy.CollectSensor: "capteurs", privacy.CollectUserInput: "ce que vous saisissez",
			privacy.CollectDerived: "déduites d'autres données", privacy.CollectNetwork: "réseau", privacy.CollectThirdParty: "tiers"},
		Units: [7][2]string{{"an", "ans"}, {"mois", "mois"}, {"semaine", "semaines"}, {"jour", "jours"}, {"heure", "heures"}, {"minute", "minutes"}, {"seconde", "secondes"}},
	},
}

func labelsFor(locale string) pageLabels {
	if l, ok := labels[langOf(locale)]; ok {
		return l
	}
	return labels["en"]
}

// langOf is locale's language: fr for fr-CA.
func langOf(locale string) string {
	base, _ := language.Make(locale).Base()
	return base.String()
}

// humanDuration writes an ISO 8601 duration in words: P1Y6M is "1 year 6 months".
func (l pageLabels) humanDuration(iso string) string {
	d, err := privacy.ParseDuration(iso)
	if err != nil {
		return iso
	}
	var parts []string
	for i, v := range []float64{d.Years, d.Months, d.Weeks, d.Days, d.Hours, d.Minutes, d.Seconds} {
		if v == 0 {
			continue
		}
		unit := l.Units[i][1]
		if v == 1 {
			unit = l.Units[i][0]
		}
		parts = append(parts, fmt.Sprintf("%s %s", strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), "."), unit))
	}
	return strings.Join(parts, " ")
}

// pageRow is one purpose of the checklist table.
type pageRow struct {
	Purpose, LegalBasis, Collection, Kept string
	Data, SharedWith                      []string
}

// pageData feeds noticeTemplate.
type pageData struct {
	Lang, Title, Fallback, Published, Hash string
	Version                                int
	Body                                   template.HTML
	Rows                                   []pageRow
	Controller                             privacy.Controller
	L                                      pageLabels
}

var noticeTemplate = template.Must(template.New("notice").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:1.05rem/1.6 system-ui,sans-serif;max-width:52rem;margin:0 auto;padding:1.5rem;color:#1b1b1b;background:#fff}
h1{font-size:1.7rem;line-height:1.25}
table{border-collapse:collapse;width:100%;margin:1rem 0}
caption{text-align:left;font-weight:700;font-size:1.25rem;padding:.5rem 0}
th,td{border:1px solid #767676;padding:.5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}
ul{margin:0;padding-left:1.1rem}
.fallback{border-left:4px solid #005ea2;padding:.5rem 1rem;background:#eef5fb}
footer{margin-top:2rem;font-size:.9rem;color:#454545;overflow-wrap:anywhere}
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{if .Fallback}}<p class="fallback" role="note">{{.Fallback}}</p>{{end}}
{{.Body}}
<table>
<caption>{{.L.Checklist}}</caption>
<thead><tr><th scope="col">{{.L.Purpose}}</th><th scope="col">{{.L.Data}}</th><th scope="col">{{.L.Collection}}</th><th scope="col">{{.L.Kept}}</th><th scope="col">{{.L.SharedWith}}</th><th scope="col">{{.L.LegalBasis}}</th></tr></thead>
<tbody>
{{range .Rows}}<tr><th scope="row">{{.Purpose}}</th><td><ul>{{range .Data}}<li>{{.}}</li>{{end}}</ul></td><td>{{.Collection}}</td><td>{{.Kept}}</td><td>{{if .SharedWith}}<ul>{{range .SharedWith}}<li>{{.}}</li>{{end}}</ul>{{else}}{{$.L.NoOne}}{{end}}</td><td>{{.LegalBasis}}</td></tr>
{{end}}</tbody>
</table>
<h2>{{.L.Controller}}</h2>
<p>{{.Controller.Name}}{{if .Controller.Address}}<br>{{.Controller.Address}}{{end}}</p>
<p>{{.L.Contact}}{{.L.Colon}}{{.Controller.Contact}}</p>
</main>
<footer>
<p>{{.L.Version}} {{.Version}}, {{.L.Published}} {{.Published}}<br>{{.L.Hash}}{{.L.Colon}}<code>{{.Hash}}</code></p>
</footer>
</body>
</html>
`))

// WritePage renders version v's page in locale as subjects are shown it:
// the evidence bundle keeps each published version's pages.
func WritePage(w io.Writer, v privacy.NoticeVersion, locale string) error {
	return RenderPage(w, Shown{Version: v, Locale: locale, Text: v.Content.Texts[locale]})
}

// RenderPage writes shown as the HTML page people read: the text, the
// checklist as a table, the controller, and the version and content hash.
// A fallback line is shown when a requested locale was not available.
// Pages does the same, converting each version's Markdown once.
func RenderPage(w io.Writer, shown Shown) error {
	body, err := convert(shown.Text.Body)
	if err != nil {
		return err
	}
	return renderPage(w, shown, body)
}

// renderPage is RenderPage with the body already converted to HTML.
func renderPage(w io.Writer, shown Shown, body template.HTML) error {
	v := shown.Version
	l := labelsFor(shown.Locale)
	data := pageData{Lang: shown.Locale, Title: shown.Text.Title, Version: v.Version, Hash: v.ContentHash,
		Published: v.PublishedAt.Format("2006-01-02"), Body: body, Controller: v.Content.Controller, L: l}
	if shown.Fallback && shown.Requested != "" {
		data.Fallback = fmt.Sprintf(l.Fallback, shown.Requested, shown.Locale)
	}
	for _, p := range v.Content.Purposes {
		data.Rows = append(data.Rows, l.row(shown.Text, p))
	}
	if err := noticeTemplate.Execute(w, data); err != nil {
		return fmt.Errorf("notice: render page: %w", err)
	}
	return nil
}

// row is purpose p of the checklist as people read it in t's language:
// labels, never keys; the notice page's table and the consent page's
// purposes both show it.
func (l pageLabels) row(t privacy.NoticeText, p privacy.NoticePurpose) pageRow {
	methods := make([]string, len(p.CollectionMethods))
	for i, m := range p.CollectionMethods {
		methods[i] = l.Methods[m]
	}
	return pageRow{Purpose: t.PurposeName(p.Purpose), LegalBasis: l.Bases[p.LegalBasis], Data: mapped(p.Elements, t.ElementLabel),
		Collection: strings.Join(methods, ", ") + l.Colon + t.Scope(p), Kept: l.humanDuration(p.Retention), SharedWith: mapped(p.Recipients, t.RecipientLabel)}
}

// mapped is each of keys as label says it.
func mapped(keys []string, label func(string) string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = label(k)
	}
	return out
}
