// Package evidence builds the evidence bundle an auditor takes away
// (Control 32: independent verification) and checks it offline, with no
// server and no database: a zip archive whose signed manifest names every
// file with its SHA-256, holding the audit log with its signed checkpoint,
// the consent records with their signed receipts, the notices, devices,
// inventories, policies and public keys. docs/evidence-bundle.md is the
// format, for anyone who writes their own verifier.
package evidence

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"slices"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/go-jose/go-jose/v4"
	"github.com/transparency-dev/formats/log"
)

// Format is the bundle format this package writes and reads. Version 2
// binds every consent record line to the entries that recorded it and
// names no subject in clear.
const Format = "consentry-evidence/2"

// Profiles: what a bundle holds of personal data.
const (
	// ProfilePseudonymous is the default: subjects only under the log's
	// keyed pseudonym, receipts only by their hash.
	ProfilePseudonymous = "pseudonymous"
	// ProfileWithReceipts adds the signed receipts (FileReceipts), whose
	// payloads name their subjects: an admin's export, for a dispute.
	ProfileWithReceipts = "with-receipts"
)

// File names inside the bundle.
const (
	FileManifest     = "manifest"
	FileVerifierKey  = "keys/audit-verifier.key"
	FileJWKS         = "keys/receipts-jwks.json"
	FileCheckpoint   = "audit/checkpoint"
	FileEntries      = "audit/entries.ndjson"
	FileConsistency  = "audit/consistency.json"
	FileDevices      = "devices.ndjson"
	FileInventories  = "inventories.ndjson"
	FileConsents     = "consents/records.ndjson"
	FileReceipts     = "consents/receipts.ndjson"
	FilePolicies     = "policies.json"
	FileReport       = "report.html"
	noticesDirectory = "notices/"
)

// pageSize bounds every read of the export, so memory does not grow with
// the size of the data.
const pageSize = 1000

// Manifest is the signed table of contents: the note text is its JSON.
type Manifest struct {
	Format      string    `json:"format"`
	Origin      string    `json:"origin"`
	GeneratedAt time.Time `json:"generated_at"`
	// From and To bound the consent records exported; the audit log is
	// always whole up to the checkpoint, because its root covers it all.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// AuditSize is the size of the checkpoint in the bundle; PreviousSize
	// the size of the earlier checkpoint the consistency proof starts
	// from (0 when none was given).
	AuditSize    int64 `json:"audit_size"`
	PreviousSize int64 `json:"previous_size,omitempty"`
	// Profile is ProfilePseudonymous or ProfileWithReceipts.
	Profile string `json:"profile"`
	Files   []File `json:"files"`
}

// File is one manifest line.
type File struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// Consistency is audit/consistency.json: the RFC 6962 proof that the tree
// of the previous checkpoint is a prefix of this one.
type Consistency struct {
	FromSize int64    `json:"from_size"`
	ToSize   int64    `json:"to_size"`
	Proof    [][]byte `json:"proof"`
}

// Entry is one line of audit/entries.ndjson: the same shape the API serves.
type Entry struct {
	Seq  int64  `json:"seq"`
	Leaf []byte `json:"leaf"`
}

// ConsentRecord is one line of consents/records.ndjson: the record in
// the canonical form its audit entries commit to (their record_sha256).
type ConsentRecord = audit.ConsentLine

// Receipt is one line of consents/receipts.ndjson (ProfileWithReceipts):
// the compact JWS given to the subject, whose SHA-256 is the record's
// receipt_sha256.
type Receipt struct {
	RecordID string `json:"record_id"`
	Receipt  string `json:"receipt"`
}

// Policies is policies.json: the data policy as the policy.* entries up
// to the checkpoint leave it, rules and groups sorted.
type Policies struct {
	Rules  []Rule  `json:"rules"`
	Groups []Group `json:"groups"`
}

// Rule is one data policy rule, as the policies API writes it.
type Rule struct {
	Subject  string `json:"subject"`
	Category string `json:"category"`
	Purpose  string `json:"purpose"`
	Action   string `json:"action"`
	Effect   string `json:"effect"`
}

// Group is one group membership of the data policy.
type Group struct {
	Member string `json:"member"`
	Group  string `json:"group"`
}

// Sources is what an export reads.
type Sources struct {
	DB   *store.DB
	Log  *audit.Log
	JWKS func() jose.JSONWebKeySet
	// Findings, when set, runs the continuous review for the report.
	Findings func(ctx context.Context) ([]privacy.Finding, error)
	// NoticePage renders a published version's page in a locale, as
	// subjects are shown it (notice.WritePage).
	NoticePage func(w io.Writer, v privacy.NoticeVersion, locale string) error
}

// Options choose what an export holds.
type Options struct {
	// From and To bound the consent records exported: created at or after
	// From and before To. A zero To means when the export starts.
	From, To time.Time
	// PreviousSize, when above 0, is the size of the checkpoint of the
	// auditor's previous export: the bundle proves it extends it.
	PreviousSize int64
	// Receipts adds the signed receipts (ProfileWithReceipts). Callers
	// allow it to admins only: a receipt names its subject.
	Receipts bool
	// AsStored writes devices, inventory versions and the data policy as
	// the database holds them now, not as the entries below the checkpoint
	// left them: for checking the database itself (audit verify
	// --database), where an edit behind the log must show. A change
	// committed while the export runs then shows too.
	AsStored bool
}

// Validate checks the options before anything is written.
func (o Options) Validate() error {
	var p privacy.Problems
	if !o.To.IsZero() && !o.To.After(o.From) {
		p.Add("to", "must be after from")
	}
	if o.PreviousSize < 0 {
		p.Add("previous_size", "must be 0 or more")
	}
	return p.Err("invalid evidence request")
}

// writer writes zip members while hashing them for the manifest.
type writer struct {
	zip *zip.Writer
	// method is zip.Deflate for a bundle, zip.Store when only the report
	// is wanted and the archive is thrown away.
	method uint16
	files  []File
	// open is the member being written, with its hash and size.
	open  io.Writer
	buf   *bufio.Writer
	sum   hash.Hash
	count int64
	name  string
}

func (w *writer) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	w.count += int64(n)
	return n, err
}

func (w *writer) create(name string) error {
	if err := w.close(); err != nil {
		return err
	}
	f, err := w.zip.CreateHeader(&zip.FileHeader{Name: name, Method: w.method, Modified: time.Unix(0, 0).UTC()})
	if err != nil {
		return err
	}
	w.sum, w.count, w.name = sha256.New(), 0, name
	w.open = io.MultiWriter(f, w.sum)
	w.buf = bufio.NewWriterSize(w.open, 64<<10)
	return nil
}

func (w *writer) close() error {
	if w.buf == nil {
		return nil
	}
	if err := w.buf.Flush(); err != nil {
		return err
	}
	w.files = append(w.files, File{Path: w.name, SHA256: hex.EncodeToString(w.sum.Sum(nil)), Bytes: w.count})
	w.buf = nil
	return nil
}

// line writes v as one NDJSON line.
func (w *writer) line(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return err
	}
	return nil
}

func (w *writer) file(name string, b []byte) error {
	if err := w.create(name); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

// Export writes the bundle to out. It streams: nothing is held but a page
// of rows and the report's counters. An error part-way leaves an archive
// without its manifest, which no verifier accepts.
func Export(ctx context.Context, out io.Writer, src Sources, opts Options) (Manifest, error) {
	m, _, err := export(ctx, out, src, opts, zip.Deflate)
	return m, err
}

// BuildReport computes the report as an export would, without keeping
// the archive: the numbers come from the same pass over the same data.
// It reads the whole audit log, because the replay needs all of it.
func BuildReport(ctx context.Context, src Sources, opts Options) (*Report, error) {
	_, r, err := export(ctx, io.Discard, src, opts, zip.Store)
	return r, err
}

func export(ctx context.Context, out io.Writer, src Sources, opts Options, method uint16) (Manifest, *Report, error) {
	if err := opts.Validate(); err != nil {
		return Manifest{}, nil, err
	}
	// The checkpoint first: every entry up to its size is exported, and
	// nothing later, so the bundle is one consistent cut of the log.
	cp, err := src.Log.Checkpoint(ctx)
	if err != nil {
		return Manifest{}, nil, err
	}
	if opts.PreviousSize > cp.Size {
		return Manifest{}, nil, privacy.FieldErrorf(privacy.EInvalid, "previous_size",
			"the previous checkpoint has size %d, larger than the log's %d: that checkpoint is not from this log, or the log was truncated", opts.PreviousSize, cp.Size)
	}
	if opts.To.IsZero() {
		opts.To = time.Now()
	}
	// Microseconds, as entry times are written: the verifier compares
	// those with these to know which records the bundle must hold.
	opts.From, opts.To = opts.From.UTC().Truncate(time.Microsecond), opts.To.UTC().Truncate(time.Microsecond)
	m := Manifest{Format: Format, Origin: src.Log.Origin(), GeneratedAt: time.Now().UTC().Truncate(time.Second),
		From: opts.From.UTC(), To: opts.To.UTC(), AuditSize: cp.Size, PreviousSize: opts.PreviousSize, Profile: ProfilePseudonymous}
	if opts.Receipts {
		m.Profile = ProfileWithReceipts
	}
	w := &writer{zip: zip.NewWriter(out), method: method}
	c := newCollector(opts.From, opts.To)
	c.r.Origin, c.r.GeneratedAt, c.r.AuditSize, c.r.Profile = m.Origin, m.GeneratedAt, m.AuditSize, m.Profile

	jwks, err := json.MarshalIndent(src.JWKS(), "", "  ")
	if err != nil {
		return Manifest{}, nil, err
	}
	// Notices are few: read once, for their files and to know which
	// devices name a notice that was never published.
	versions, err := src.DB.Read(ctx).PublishedNoticeVersions()
	if err != nil {
		return Manifest{}, nil, err
	}
	for _, v := range versions {
		c.noticed[v.NoticeKey] = true
	}
	steps := []func() error{
		func() error { return w.file(FileVerifierKey, []byte(src.Log.VerifierKey()+"\n")) },
		func() error { return w.file(FileJWKS, append(jwks, '\n')) },
		func() error { return w.file(FileCheckpoint, []byte(cp.Note)) },
		func() error { return exportEntries(ctx, w, src.Log, cp.Size, c) },
		func() error { return exportConsistency(ctx, w, src.Log, opts.PreviousSize, cp.Size) },
		func() error { return exportDevices(ctx, w, src, c, opts.AsStored) },
		func() error { return exportInventories(ctx, w, src.DB, c, opts.AsStored) },
		func() error { return exportNotices(w, versions, src.NoticePage) },
		func() error { return exportConsents(ctx, w, src, m, opts.Receipts) },
		func() error { return exportPolicies(ctx, w, c.policy, src.DB, opts.AsStored) },
		func() error {
			if err := c.finish(ctx, src.DB, versions, time.Now()); err != nil {
				return err
			}
			if src.Findings != nil {
				fs, err := src.Findings(ctx)
				if err != nil {
					return err
				}
				c.r.Reviewed = true
				for _, f := range fs {
					if f.Open() {
						c.r.OpenFindings = append(c.r.OpenFindings, f)
					}
				}
			}
			if err := w.create(FileReport); err != nil {
				return err
			}
			return c.r.WriteHTML(w)
		},
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return Manifest{}, nil, err
		}
		if err := step(); err != nil {
			return Manifest{}, nil, err
		}
	}
	if err := w.close(); err != nil {
		return Manifest{}, nil, err
	}
	m.Files = w.files
	text, err := json.Marshal(m)
	if err != nil {
		return Manifest{}, nil, err
	}
	signed, err := src.Log.SignNote(string(text) + "\n")
	if err != nil {
		return Manifest{}, nil, err
	}
	f, err := w.zip.CreateHeader(&zip.FileHeader{Name: FileManifest, Method: zip.Deflate, Modified: time.Unix(0, 0).UTC()})
	if err != nil {
		return Manifest{}, nil, err
	}
	if _, err := f.Write(signed); err != nil {
		return Manifest{}, nil, err
	}
	return m, c.r, w.zip.Close()
}

func exportEntries(ctx context.Context, w *writer, auditLog *audit.Log, size int64, c *collector) error {
	if err := w.create(FileEntries); err != nil {
		return err
	}
	for from := int64(0); from < size; {
		page, err := auditLog.Entries(ctx, audit.Filter{From: from, Limit: int(min(pageSize, size-from))})
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return fmt.Errorf("evidence: the log ends at %d, before its checkpoint's size %d", from, size)
		}
		for _, e := range page {
			if err := w.line(Entry{Seq: e.Seq, Leaf: e.Leaf}); err != nil {
				return err
			}
			if err := c.entry(e.Seq, e.Leaf); err != nil {
				return fmt.Errorf("evidence: audit entry %d: %w", e.Seq, err)
			}
		}
		from = page[len(page)-1].Seq + 1
	}
	return nil
}

func exportConsistency(ctx context.Context, w *writer, auditLog *audit.Log, from, to int64) error {
	if from == 0 {
		return nil
	}
	proof, err := auditLog.ConsistencyProof(ctx, from, to)
	if err != nil {
		return err
	}
	c := Consistency{FromSize: from, ToSize: to, Proof: make([][]byte, len(proof))}
	for i, h := range proof {
		c.Proof[i] = slices.Clone(h[:])
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return w.file(FileConsistency, append(b, '\n'))
}

// exportDevices writes every device registered in the log up to the
// checkpoint, as its last entry there left it (audit.DeviceLine), by id.
func exportDevices(ctx context.Context, w *writer, src Sources, c *collector, asStored bool) error {
	if err := w.create(FileDevices); err != nil {
		return err
	}
	after := ""
	for {
		page, more, err := src.DB.Read(ctx).ListDevices(privacy.DeviceFilter{After: after, Limit: pageSize})
		if err != nil {
			return err
		}
		for _, d := range page {
			after = d.ID
			status, ok := c.status[d.ID]
			if !ok {
				continue // registered after the checkpoint: the next bundle's
			}
			if !asStored {
				// Its owner and firmware as that entry left them: a
				// transfer or update since is the next bundle's.
				d.Status = status
				if d, err = src.DB.Read(ctx).DeviceAsOf(d, c.deviceSeq[d.ID]); err != nil {
					return err
				}
			}
			c.device(d)
			var owner string
			if d.OwnerSubject != "" {
				if owner, err = src.Log.Pseudonym(src.DB.Read(ctx), d.OwnerSubject); err != nil {
					return err
				}
			}
			if err := w.line(audit.NewDeviceLine(d, owner)); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
}

// exportInventories writes every inventory version declared in the log up
// to the checkpoint (audit.InventoryLine), by device id and version.
func exportInventories(ctx context.Context, w *writer, db *store.DB, c *collector, asStored bool) error {
	if err := w.create(FileInventories); err != nil {
		return err
	}
	afterDevice, afterVersion := "", 0
	for {
		page, err := db.Read(ctx).InventoriesPage(afterDevice, afterVersion, pageSize)
		if err != nil {
			return err
		}
		for _, inv := range page {
			afterDevice, afterVersion = inv.DeviceID, inv.Version
			if inv.Version > c.declared[inv.DeviceID] && !asStored {
				continue // declared after the checkpoint
			}
			c.inventory(inv)
			if err := w.line(audit.NewInventoryLine(inv)); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			return nil
		}
	}
}

// noticeVersion is notices/KEY/vN.json: the content exactly as hashed
// (content_sha256 is the SHA-256 of content's canonical JSON).
type noticeVersion struct {
	Key              string          `json:"key"`
	Version          int             `json:"version"`
	ContentSHA256    string          `json:"content_sha256"`
	PublishedAt      time.Time       `json:"published_at"`
	MaterialPurposes []string        `json:"material_purposes"`
	Content          json.RawMessage `json:"content"`
}

func exportNotices(w *writer, versions []privacy.NoticeVersion, page func(io.Writer, privacy.NoticeVersion, string) error) error {
	if page == nil {
		return errors.New("evidence: no notice page renderer (Sources.NoticePage)")
	}
	for _, v := range versions {
		content, _, err := store.EncodeNoticeContent(v.Content)
		if err != nil {
			return err
		}
		material := v.MaterialPurposes
		if material == nil {
			material = []string{}
		}
		b, err := json.MarshalIndent(noticeVersion{Key: v.NoticeKey, Version: v.Version, ContentSHA256: v.ContentHash, PublishedAt: v.PublishedAt.UTC(),
			MaterialPurposes: material, Content: content}, "", "  ")
		if err != nil {
			return err
		}
		base := path.Join("notices", v.NoticeKey, fmt.Sprintf("v%d", v.Version))
		if err := w.file(base+".json", append(b, '\n')); err != nil {
			return err
		}
		locales := make([]string, 0, len(v.Content.Texts))
		for l := range v.Content.Texts {
			locales = append(locales, l)
		}
		slices.Sort(locales)
		for _, l := range locales {
			if err := w.create(base + "." + l + ".html"); err != nil {
				return err
			}
			if err := page(w, v, l); err != nil {
				return err
			}
		}
	}
	return nil
}

// exportConsents writes the record of every consent entry written in the
// manifest's window, in the order of those entries, as the line the
// entries commit to; with receipts, then their receipts in the same order
// (zip members are written one after the other: a second pass).
func exportConsents(ctx context.Context, w *writer, src Sources, m Manifest, receipts bool) error {
	if err := w.create(FileConsents); err != nil {
		return err
	}
	err := eachConsent(ctx, src.DB, m, func(r privacy.ConsentRecord) error {
		subject, err := src.Log.Pseudonym(src.DB.Read(ctx), r.SubjectID)
		if err != nil {
			return err
		}
		var guardian string
		if r.Guardian != "" {
			if guardian, err = src.Log.Pseudonym(src.DB.Read(ctx), r.Guardian); err != nil {
				return err
			}
		}
		return w.line(audit.NewConsentLine(r, subject, guardian, r.ReceiptHash()))
	})
	if err != nil || !receipts {
		return err
	}
	if err := w.create(FileReceipts); err != nil {
		return err
	}
	return eachConsent(ctx, src.DB, m, func(r privacy.ConsentRecord) error {
		return w.line(Receipt{RecordID: r.ID, Receipt: r.Receipt})
	})
}

// eachConsent calls fn with the record of every consent entry written in
// the manifest's window and within its checkpoint, once, in entry order.
func eachConsent(ctx context.Context, db *store.DB, m Manifest, fn func(privacy.ConsentRecord) error) error {
	first, err := db.Read(ctx).FirstEntryAt(m.From)
	if err != nil {
		return err
	}
	after, last := first-1, ""
	for {
		page, next, err := db.Read(ctx).ConsentRecordsByEntry(after, m.AuditSize, m.From, m.To, pageSize)
		if err != nil {
			return err
		}
		for _, r := range page {
			// A record whose entries a page boundary split comes twice.
			if r.ID == last {
				continue
			}
			last = r.ID
			if err := fn(r); err != nil {
				return err
			}
		}
		if next == after {
			return nil
		}
		after = next
	}
}

func exportPolicies(ctx context.Context, w *writer, p *policyState, db *store.DB, asStored bool) error {
	if asStored {
		// The policy as the service loads it, with authz's own reading.
		data, err := authz.NewData(func() authz.Lines { return db.Read(ctx) })
		if err != nil {
			return err
		}
		rules, groups, err := data.Rules()
		if err != nil {
			return err
		}
		p = newPolicyState()
		for _, r := range rules {
			p.rules[Rule{Subject: r.Subject, Category: r.Category, Purpose: r.Purpose, Action: r.Action, Effect: r.Effect}] = true
		}
		for _, g := range groups {
			p.groups[Group{Member: g.Member, Group: g.Group}] = true
		}
	}
	b, err := json.MarshalIndent(p.file(), "", "  ")
	if err != nil {
		return err
	}
	return w.file(FilePolicies, append(b, '\n'))
}

// ParseCheckpointSize reads the tree size from a signed checkpoint note
// without verifying it: enough to ask for a consistency proof, which the
// verifier then checks against the signed note itself.
func ParseCheckpointSize(b []byte) (int64, error) {
	var cp log.Checkpoint
	if _, err := cp.Unmarshal(b); err != nil || cp.Size < 1 {
		return 0, errors.New("not a checkpoint of a non-empty log: origin, size and root lines expected")
	}
	return int64(cp.Size), nil
}
