package notice

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/consentry/consentry/internal/privacy"
)

// The hosted consent flow's pages: the notice in force with one toggle per
// purpose (every one off until the person turns it on), the person's
// current choices per device with a withdrawal button each, the result of
// a choice with its signed receipt, and the pages for an ended session or
// an error. Plain HTML forms: no script runs on them.

// flowWords are the flow's own words, per language; English when the
// reader's language has none here.
type flowWords struct {
	Intro, Allow, Collects, Device, ChooseDevice, NoDevice, Save, Current, Withdraw, WithdrawAll, WithdrawAllHint string
	Recorded, WithdrawnDone, Receipt, Return, Expired, Continue, Problem, NotChosen, Until, Unknown               string
	Status                                                                                                        map[privacy.ConsentStatus]string
}

var flowWordsByLang = map[string]flowWords{
	"en": {
		Intro: "Choose what you agree to. Nothing is turned on until you turn it on, and you can withdraw at any time.",
		Allow: "Allow: %s", Collects: "What it collects", Device: "Device", ChooseDevice: "Which device are you choosing for?",
		NoDevice: "None of your devices uses this notice. Open this page from the app, for the device you mean.",
		Save:     "Save my choices", Current: "What you have chosen", Withdraw: "Withdraw %s", WithdrawAll: "Withdraw everything",
		WithdrawAllHint: "Withdraws every consent you have given, on every device.",
		Recorded:        "Your choices were recorded.", WithdrawnDone: "Your consent was withdrawn.", Receipt: "Download the signed receipt",
		Return: "Return to the app", Expired: "This page has expired. Go back to the app and open it again.", Continue: "Continue",
		Problem: "Your choice could not be recorded: %s", NotChosen: "not chosen yet", Until: "until %s", Unknown: "an error on our side; try again later",
		Status: map[privacy.ConsentStatus]string{privacy.StatusGranted: "allowed", privacy.StatusDenied: "not allowed",
			privacy.StatusWithdrawn: "withdrawn", privacy.StatusExpired: "expired", privacy.StatusReconsentRequired: "to confirm again: the notice changed"},
	},
	"fr": {
		Intro: "Choisissez ce que vous acceptez. Rien n'est activé tant que vous ne l'activez pas, et vous pouvez retirer votre accord à tout moment.",
		Allow: "Autoriser : %s", Collects: "Ce qui est collecté", Device: "Appareil", ChooseDevice: "Pour quel appareil choisissez-vous ?",
		NoDevice: "Aucun de vos appareils n'utilise cet avis. Ouvrez cette page depuis l'application, pour l'appareil voulu.",
		Save:     "Enregistrer mes choix", Current: "Ce que vous avez choisi", Withdraw: "Retirer : %s", WithdrawAll: "Tout retirer",
		WithdrawAllHint: "Retire tous les consentements que vous avez donnés, sur tous vos appareils.",
		Recorded:        "Vos choix ont été enregistrés.", WithdrawnDone: "Votre consentement a été retiré.", Receipt: "Télécharger le reçu signé",
		Return: "Revenir à l'application", Expired: "Cette page a expiré. Revenez à l'application et ouvrez-la de nouveau.", Continue: "Continuer",
		Problem: "Votre choix n'a pas pu être enregistré : %s", NotChosen: "pas encore choisi", Until: "jusqu'au %s", Unknown: "une erreur de notre côté ; réessayez plus tard",
		Status: map[privacy.ConsentStatus]string{privacy.StatusGranted: "autorisé", privacy.StatusDenied: "non autorisé",
			privacy.StatusWithdrawn: "retiré", privacy.StatusExpired: "expiré", privacy.StatusReconsentRequired: "à confirmer de nouveau : l'avis a changé"},
	},
}

func flowWordsFor(locale string) flowWords {
	if w, ok := flowWordsByLang[langOf(locale)]; ok {
		return w
	}
	return flowWordsByLang["en"]
}

// FlowDevice is a device the person may choose for.
type FlowDevice struct {
	ID, Name string
}

// FlowChoice is a purpose's current state on a device.
type FlowChoice struct {
	Purpose string
	Status  privacy.ConsentStatus // "" when never chosen
	// RecordID is the record in force, to withdraw; Until when a grant runs out.
	RecordID string
	Until    string
}

// FlowCurrent is the person's current choices on one device.
type FlowCurrent struct {
	Device  FlowDevice
	Choices []FlowChoice
}

// FlowResult is what the last action did.
type FlowResult struct {
	Withdrawn bool
	// ReceiptURL downloads the record's signed receipt; ReturnURL goes
	// back to the app (when it registered one): a URI the app registered,
	// so trusted in an href whatever its scheme (com.example.app:...).
	ReceiptURL string
	ReturnURL  template.URL
}

// FlowPage is the consent page's data.
type FlowPage struct {
	Shown Shown
	// Action is the form's URL (the page's own path), Withdraw the
	// withdrawal form's, DeviceURL the page for a device id (%s).
	Action, WithdrawAction string
	CSRF                   string
	RedirectURI            string
	// Devices are those the person may choose among; Device the one
	// chosen ("" while there is a choice to make).
	Devices []FlowDevice
	Device  FlowDevice
	// DeviceURL links the page for each device: DeviceURL + its id.
	DeviceURL string
	Current   []FlowCurrent
	Result    *FlowResult
	// Problem is why the last action failed, in words.
	Problem string
	Theme   *Theme
}

// flowPurpose is a purpose's checklist row and the key its toggle posts.
type flowPurpose struct {
	pageRow
	Key string
}

type flowChoiceView struct {
	Name, Status, RecordID, Purpose, Until string
	Granted                                bool
}

type flowCurrentView struct {
	Device  FlowDevice
	Choices []flowChoiceView
}

type flowData struct {
	FlowPage
	Lang, Title, Fallback, Published string
	Body                             template.HTML
	Version                          int
	Hash                             string
	Purposes                         []flowPurpose
	CurrentViews                     []flowCurrentView
	L                                pageLabels
	W                                flowWords
	AnyGranted                       bool
}

const flowHead = `<!DOCTYPE html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}}</title>
<link rel="stylesheet" href="/consent-assets/style.css">
</head>
<body>
<header>{{if .Theme}}{{if .Theme.HasLogo}}<img class="logo" src="/consent-assets/logo.png" alt="{{.Theme.Name}}">{{else if .Theme.Name}}<p class="brand">{{.Theme.Name}}</p>{{end}}{{end}}</header>
`

var consentTemplate = template.Must(template.New("consent").Parse(flowHead + `<main>
<h1>{{.Title}}</h1>
{{if .Fallback}}<p class="note" role="note">{{.Fallback}}</p>{{end}}
{{if .Result}}<div class="done" role="status"><p>{{if .Result.Withdrawn}}{{.W.WithdrawnDone}}{{else}}{{.W.Recorded}}{{end}}</p>
<p><a href="{{.Result.ReceiptURL}}" download>{{.W.Receipt}}</a></p>
{{if .Result.ReturnURL}}<p><a class="button" href="{{.Result.ReturnURL}}">{{.W.Return}}</a></p>{{end}}</div>{{end}}
{{if .Problem}}<div class="problem" role="alert"><p>{{printf .W.Problem .Problem}}</p></div>{{end}}
{{.Body}}
{{if .Device.ID}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<input type="hidden" name="device" value="{{.Device.ID}}">
<input type="hidden" name="version" value="{{.Version}}">
<input type="hidden" name="hash" value="{{.Hash}}">
<input type="hidden" name="locale" value="{{.Lang}}">
{{if .RedirectURI}}<input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">{{end}}
<fieldset>
<legend>{{.L.Checklist}}{{.L.Colon}}{{.Device.Name}}</legend>
<p>{{.W.Intro}}</p>
{{range .Purposes}}<div class="purpose">
<h2 id="h-{{.Key}}">{{.Purpose}}</h2>
<dl>
<dt>{{$.W.Collects}}</dt><dd><ul>{{range .Data}}<li>{{.}}</li>{{end}}</ul></dd>
<dt>{{$.L.Collection}}</dt><dd>{{.Collection}}</dd>
<dt>{{$.L.Kept}}</dt><dd>{{.Kept}}</dd>
<dt>{{$.L.SharedWith}}</dt><dd>{{if .SharedWith}}<ul>{{range .SharedWith}}<li>{{.}}</li>{{end}}</ul>{{else}}{{$.L.NoOne}}{{end}}</dd>
<dt>{{$.L.LegalBasis}}</dt><dd>{{.LegalBasis}}</dd>
</dl>
<p class="toggle"><input type="checkbox" id="p-{{.Key}}" name="purpose" value="{{.Key}}"><label for="p-{{.Key}}">{{printf $.W.Allow .Purpose}}</label></p>
</div>
{{end}}</fieldset>
<p><button type="submit">{{.W.Save}}</button></p>
</form>
{{else if .Devices}}
<h2>{{.W.ChooseDevice}}</h2>
<ul class="devices">{{range .Devices}}<li><a href="{{$.DeviceURL}}{{.ID}}">{{.Name}}</a></li>{{end}}</ul>
{{else}}<p class="note">{{.W.NoDevice}}</p>{{end}}
{{if .CurrentViews}}<section aria-labelledby="current">
<h2 id="current">{{.W.Current}}</h2>
{{range .CurrentViews}}<h3>{{$.W.Device}}{{$.L.Colon}}{{.Device.Name}}</h3>
<ul class="current">{{range .Choices}}<li><span>{{.Name}}{{$.L.Colon}}{{.Status}}{{if .Until}} ({{.Until}}){{end}}</span>
{{if .Granted}}<form method="post" action="{{$.WithdrawAction}}"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="record" value="{{.RecordID}}"><input type="hidden" name="purpose" value="{{.Purpose}}"><input type="hidden" name="locale" value="{{$.Lang}}">{{if $.RedirectURI}}<input type="hidden" name="redirect_uri" value="{{$.RedirectURI}}">{{end}}<button type="submit" class="secondary">{{printf $.W.Withdraw .Name}}</button></form>{{end}}</li>
{{end}}</ul>{{end}}
{{if .AnyGranted}}<form method="post" action="{{.WithdrawAction}}"><input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="all" value="1"><input type="hidden" name="locale" value="{{.Lang}}">{{if .RedirectURI}}<input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">{{end}}
<p>{{.W.WithdrawAllHint}}</p><p><button type="submit" class="secondary">{{.W.WithdrawAll}}</button></p></form>{{end}}
</section>{{end}}
</main>
<footer><p>{{.L.Version}} {{.Version}}, {{.L.Published}} {{.Published}}<br>{{.L.Hash}}{{.L.Colon}}<code>{{.Hash}}</code></p></footer>
</body>
</html>
`))

// RenderConsentPage writes the consent page of p.
func (p *Pages) RenderConsentPage(w io.Writer, fp FlowPage) error {
	body, err := p.body(fp.Shown)
	if err != nil {
		return err
	}
	v, t := fp.Shown.Version, fp.Shown.Text
	l := labelsFor(fp.Shown.Locale)
	d := flowData{FlowPage: fp, Lang: fp.Shown.Locale, Title: t.Title, Published: v.PublishedAt.Format("2006-01-02"), Body: body,
		Version: v.Version, Hash: v.ContentHash, L: l, W: flowWordsFor(fp.Shown.Locale)}
	if fp.Shown.Fallback && fp.Shown.Requested != "" {
		d.Fallback = fmt.Sprintf(l.Fallback, fp.Shown.Requested, fp.Shown.Locale)
	}
	for _, np := range v.Content.Purposes {
		d.Purposes = append(d.Purposes, flowPurpose{pageRow: l.row(t, np), Key: np.Purpose})
	}
	for _, cur := range fp.Current {
		cv := flowCurrentView{Device: cur.Device}
		for _, ch := range cur.Choices {
			status := d.W.NotChosen
			if s, ok := d.W.Status[ch.Status]; ok {
				status = s
			}
			view := flowChoiceView{Name: t.PurposeName(ch.Purpose), Status: status, RecordID: ch.RecordID, Purpose: ch.Purpose,
				Granted: ch.Status == privacy.StatusGranted && ch.RecordID != ""}
			if ch.Until != "" {
				view.Until = fmt.Sprintf(d.W.Until, ch.Until)
			}
			d.AnyGranted = d.AnyGranted || view.Granted
			cv.Choices = append(cv.Choices, view)
		}
		d.CurrentViews = append(d.CurrentViews, cv)
	}
	var buf bytes.Buffer
	if err := consentTemplate.Execute(&buf, d); err != nil {
		return fmt.Errorf("notice: render consent page: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// FlowMessage is a page with one message and, when Link is set, one link:
// an ended session, the step that takes a token out of the address.
type FlowMessage struct {
	Locale string
	// Kind is "expired", "continue" or "problem" (with Detail).
	Kind   string
	Link   string
	Detail string
	Theme  *Theme
}

var messageTemplate = template.Must(template.New("message").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
{{if .Refresh}}<meta http-equiv="refresh" content="0; url={{.Link}}">{{end}}
<title>{{.Text}}</title>
<link rel="stylesheet" href="/consent-assets/style.css">
</head>
<body>
<header>{{if .Theme}}{{if .Theme.HasLogo}}<img class="logo" src="/consent-assets/logo.png" alt="{{.Theme.Name}}">{{else if .Theme.Name}}<p class="brand">{{.Theme.Name}}</p>{{end}}{{end}}</header>
<main>
<h1>{{.Text}}</h1>
{{if .Link}}<p><a class="button" href="{{.Link}}">{{.W.Continue}}</a></p>{{end}}
</main>
</body>
</html>
`))

// RenderFlowMessage writes a message page.
func RenderFlowMessage(w io.Writer, m FlowMessage) error {
	wd := flowWordsFor(m.Locale)
	lang := langOf(m.Locale)
	if _, ok := flowWordsByLang[lang]; !ok {
		lang = "en"
	}
	text := wd.Expired
	switch m.Kind {
	case "continue":
		text = wd.Continue
	case "problem":
		text = fmt.Sprintf(wd.Problem, m.Detail)
		if m.Detail == "" {
			text = fmt.Sprintf(wd.Problem, wd.Unknown)
		}
	}
	return messageTemplate.Execute(w, struct {
		Lang, Text, Link string
		Refresh          bool
		W                flowWords
		Theme            *Theme
	}{Lang: lang, Text: text, Link: m.Link, Refresh: m.Kind == "continue", W: wd, Theme: m.Theme})
}

// Theme is how an operator dresses the hosted consent pages: a name (the
// logo's text alternative), three colors and an optional PNG logo, read
// from a directory (LoadTheme). Colors must keep text readable: WCAG 2
// AA contrast, 4.5:1, for the text on the background and for the
// background's color on the primary one (the buttons).
type Theme struct {
	Name                      string
	Primary, Background, Text string
	Logo                      []byte
}

// HasLogo reports whether the theme has a logo.
func (t *Theme) HasLogo() bool { return t != nil && len(t.Logo) > 0 }

// DefaultTheme is the look without an operator's theme.
func DefaultTheme() *Theme {
	return &Theme{Primary: "#005ea2", Background: "#ffffff", Text: "#1b1b1b"}
}

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// MaxLogoBytes bounds a theme's logo.
const MaxLogoBytes = 256 << 10

// LoadTheme reads dir/theme.json ({"name", "primary", "background",
// "text"}, colors as #rrggbb) and dir/logo.png when there is one.
func LoadTheme(dir string) (*Theme, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "theme.json"))
	if err != nil {
		return nil, fmt.Errorf("consent theme: %w", err)
	}
	var f struct {
		Name       string `json:"name"`
		Primary    string `json:"primary"`
		Background string `json:"background"`
		Text       string `json:"text"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("consent theme: %s: %w", filepath.Join(dir, "theme.json"), err)
	}
	t := &Theme{Name: f.Name, Primary: f.Primary, Background: f.Background, Text: f.Text}
	def := DefaultTheme()
	for _, c := range []*string{&t.Primary, &t.Background, &t.Text} {
		if *c == "" {
			continue
		}
		if !hexColor.MatchString(*c) {
			return nil, fmt.Errorf("consent theme: color %q is not #rrggbb", *c)
		}
	}
	if t.Primary == "" {
		t.Primary = def.Primary
	}
	if t.Background == "" {
		t.Background = def.Background
	}
	if t.Text == "" {
		t.Text = def.Text
	}
	if len(t.Name) > 100 {
		return nil, errors.New("consent theme: name must be at most 100 characters")
	}
	if r := contrast(t.Text, t.Background); r < 4.5 {
		return nil, fmt.Errorf("consent theme: text %s on background %s has contrast %.2f:1; people need at least 4.5:1 (WCAG 2 AA)", t.Text, t.Background, r)
	}
	if r := contrast(t.Background, t.Primary); r < 4.5 {
		return nil, fmt.Errorf("consent theme: buttons (background %s on primary %s) have contrast %.2f:1; people need at least 4.5:1 (WCAG 2 AA)", t.Background, t.Primary, r)
	}
	if r := contrast(t.Primary, t.Background); r < 4.5 {
		return nil, fmt.Errorf("consent theme: links (primary %s on background %s) have contrast %.2f:1; people need at least 4.5:1 (WCAG 2 AA)", t.Primary, t.Background, r)
	}
	logo, err := os.ReadFile(filepath.Join(dir, "logo.png"))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("consent theme: %w", err)
	case len(logo) > MaxLogoBytes:
		return nil, fmt.Errorf("consent theme: logo.png is larger than %d bytes", MaxLogoBytes)
	default:
		// Only a PNG that decodes: the logo is served from the pages'
		// origin, so it must not be anything a browser would run.
		if _, err := png.DecodeConfig(bytes.NewReader(logo)); err != nil {
			return nil, fmt.Errorf("consent theme: logo.png is not a PNG image: %w", err)
		}
		t.Logo = logo
	}
	return t, nil
}

// contrast is the WCAG 2 contrast ratio of two #rrggbb colors.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func luminance(hex string) float64 {
	ch := func(i int) float64 {
		v, _ := strconv.ParseUint(hex[i:i+2], 16, 8)
		c := float64(v) / 255
		if c <= 0.04045 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(1) + 0.7152*ch(3) + 0.0722*ch(5)
}

// CSS is the pages' stylesheet in the theme's colors.
func (t *Theme) CSS() []byte {
	if t == nil {
		t = DefaultTheme()
	}
	return []byte(`:root{--primary:` + t.Primary + `;--bg:` + t.Background + `;--text:` + t.Text + `}
body{font:1.05rem/1.6 system-ui,sans-serif;max-width:44rem;margin:0 auto;padding:1rem 1.25rem 2rem;color:var(--text);background:var(--bg)}
h1{font-size:1.6rem;line-height:1.25}
h2{font-size:1.25rem;margin:1.25rem 0 .5rem}
h3{font-size:1.1rem}
a{color:var(--primary)}
.logo{max-height:3rem;max-width:12rem}
.brand{font-weight:700}
fieldset{border:0;padding:0;margin:0}
legend{font-weight:700;font-size:1.25rem;padding:.5rem 0}
.purpose{border:1px solid #767676;border-radius:.5rem;padding:.25rem 1rem 1rem;margin:1rem 0}
dl{margin:.5rem 0}
dt{font-weight:700}
dd{margin:0 0 .5rem 0}
dd ul{margin:0;padding-left:1.1rem}
.toggle{display:flex;gap:.75rem;align-items:center;font-weight:700}
.toggle input{width:1.5rem;height:1.5rem;margin:0;accent-color:var(--primary)}
button,.button{display:inline-block;font:inherit;font-weight:700;padding:.75rem 1.25rem;min-height:2.75rem;border-radius:.5rem;border:2px solid var(--primary);background:var(--primary);color:var(--bg);text-decoration:none;cursor:pointer}
button.secondary{background:var(--bg);color:var(--primary)}
:focus-visible{outline:3px solid var(--text);outline-offset:2px}
.current{list-style:none;padding:0}
.current li{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between;padding:.5rem 0;border-bottom:1px solid #767676}
.current form{margin:0}
.done,.problem,.note{border-left:4px solid var(--primary);padding:.25rem 1rem;margin:1rem 0}
.problem{border-left-color:var(--text)}
footer{margin-top:2rem;font-size:.9rem;overflow-wrap:anywhere}
`)
}
