package evidence

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	"github.com/consentry/consentry/internal/audit"
	"github.com/go-jose/go-jose/v4"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// VerifyOptions are what the auditor brings from outside the bundle.
type VerifyOptions struct {
	// VerifierKey is the deployment's note verifier key, pinned by the
	// auditor. Without it the bundle's own key is used, which proves the
	// bundle is whole but not whose it is.
	VerifierKey string
	// Previous is the signed checkpoint of the auditor's previous export;
	// the log in the bundle must extend it.
	Previous []byte
}

// Summary is what a bundle that verified holds.
type Summary struct {
	Origin       string
	KeyPinned    bool
	Files        int
	AuditSize    int64
	PreviousSize int64
	// Allows is how many allow decisions the replay found, each relying
	// on a consent in force.
	Allows int
	// Consents is how many consent record lines verified against the
	// entries that recorded them; Unbound how many of those were recorded
	// before entries committed to whole records, so only their receipt's
	// hash binds them.
	Consents, Unbound int
	// Devices and Inventories are how many device and inventory version
	// lines verified against their entries; UnboundLines how many of them
	// have only entries written before records were bound (a device's
	// status is still checked).
	Devices, Inventories, UnboundLines int
	// Judged is how many decisions the replay judged again, every check at
	// its place; WithoutPolicy how many of those were written before
	// decisions named their service, so their policy check was not made.
	Judged, WithoutPolicy int
	// Profile is the manifest's; Receipts how many signed receipts it held
	// and verified.
	Profile  string
	Receipts int
	Notices  int
}

// Failure names the first item of a bundle that does not verify.
type Failure struct {
	// Item is a file, or a file and line, or a record.
	Item   string
	Detail string
}

func (f *Failure) Error() string { return f.Item + ": " + f.Detail }

func failf(item, format string, a ...any) *Failure {
	return &Failure{Item: item, Detail: fmt.Sprintf(format, a...)}
}

// maxLine bounds one NDJSON line: a receipt is a few kilobytes.
const maxLine = 1 << 20

// Verify checks the bundle at path with nothing but the bundle and opts:
// the manifest's signature and every file's hash, the audit log against
// its signed checkpoint (and the previous one), the strictest-by-default
// replay, every receipt's signature against the deployment's keys and
// its binding to the audit entry that recorded it, and every notice's
// content hash. The first item that fails is returned as a *Failure.
func Verify(path string, opts VerifyOptions) (Summary, error) {
	b, closeBundle, err := openBundle(path)
	if err != nil {
		return Summary{}, err
	}
	defer closeBundle()
	var sum Summary
	m, key, err := b.manifest(opts.VerifierKey)
	if err != nil {
		return sum, err
	}
	sum.Origin, sum.KeyPinned, sum.AuditSize, sum.PreviousSize = m.Origin, opts.VerifierKey != "", m.AuditSize, m.PreviousSize
	if err := b.hashes(m); err != nil {
		return sum, err
	}
	sum.Files = len(m.Files)

	checkpoint, err := b.read(FileCheckpoint)
	if err != nil {
		return sum, err
	}
	sum.Profile = m.Profile
	// One pass over the log: the log's checks, what each entry says of the
	// lines (want), and the replay of every decision (judge), on the lines
	// read beforehand. A replay failure is reported only once every line
	// is bound: a changed line is named as such, not as the wrong
	// decision it leads the replay to.
	judge := newJudgeReplay()
	b.preload(m, judge)
	want := newExpected()
	each := func(seq int64, e audit.Entry) error {
		if err := want.note(m, seq, e); err != nil {
			return err
		}
		if err := judge.apply(seq, e); err != nil && judge.failure == nil {
			judge.failure = err
		}
		return nil
	}
	res, err := audit.Verify(audit.VerifyInput{Checkpoint: checkpoint, VerifierKey: key, Older: opts.Previous, Entries: b.entries(), Judged: true, Each: each})
	if err != nil {
		return sum, entryFailure(err)
	}
	if res.Size != m.AuditSize {
		return sum, failf(FileCheckpoint, "has size %d, the manifest says %d", res.Size, m.AuditSize)
	}
	if err := b.consistency(m, res, opts.Previous, key); err != nil {
		return sum, err
	}
	if err := b.consents(m, want.consents, &sum); err != nil {
		return sum, err
	}
	if err := b.devices(want.devices, &sum); err != nil {
		return sum, err
	}
	if err := b.inventories(want.inventories, &sum); err != nil {
		return sum, err
	}
	if sum.Notices, err = b.notices(m, want.notices); err != nil {
		return sum, err
	}
	if err := b.policies(want.policy); err != nil {
		return sum, err
	}
	if judge.failure != nil {
		return sum, entryFailure(judge.failure)
	}
	sum.Judged, sum.WithoutPolicy, sum.Allows = judge.judged, judge.withoutPolicy, judge.allows
	return sum, nil
}

// entryFailure names the entries file's line of a failure about an entry.
func entryFailure(err error) error {
	var af *audit.Failure
	if errors.As(err, &af) && af.Seq >= 0 {
		return failf(fmt.Sprintf("%s line %d", FileEntries, af.Seq+1), "%s: %s", af.Check, af.Detail)
	}
	return failf(FileEntries, "%v", err)
}

// preload gives the replay the device, inventory and notice lines before
// the log is read. Lines that cannot be read are left out: the checks of
// each file, after the log, name them.
func (b *bundle) preload(m Manifest, j *judgeReplay) {
	read := func(name string, each func([]byte)) {
		lines, done := b.lines(name)
		for _, line := range lines {
			each(line)
		}
		_ = done()
	}
	read(FileDevices, func(line []byte) {
		var d audit.DeviceLine
		if strictJSON(line, &d) == nil {
			j.device(d)
		}
	})
	read(FileInventories, func(line []byte) {
		var inv audit.InventoryLine
		if strictJSON(line, &inv) == nil {
			j.inventoryLine(inv)
		}
	})
	for _, f := range m.Files {
		if !strings.HasPrefix(f.Path, noticesDirectory) || !strings.HasSuffix(f.Path, ".json") {
			continue
		}
		var v noticeVersion
		if raw, err := b.read(f.Path); err == nil && strictJSON(raw, &v) == nil {
			_ = j.notice(v)
		}
	}
}

type bundle struct {
	files map[string]*zip.File
	jwks  jose.JSONWebKeySet
}

// openBundle indexes a bundle's members by name; a name twice is refused.
func openBundle(path string) (*bundle, func() error, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, nil, failf("bundle", "not a readable zip archive: %v", err)
	}
	b := &bundle{files: map[string]*zip.File{}}
	for _, f := range zr.File {
		if _, dup := b.files[f.Name]; dup {
			zr.Close()
			return nil, nil, failf(f.Name, "appears twice in the archive")
		}
		b.files[f.Name] = f
	}
	return b, zr.Close, nil
}

func (b *bundle) open(name string) (io.ReadCloser, error) {
	f, ok := b.files[name]
	if !ok {
		return nil, failf(name, "missing from the bundle")
	}
	r, err := f.Open()
	if err != nil {
		return nil, failf(name, "cannot be read: %v", err)
	}
	return r, nil
}

// read returns a small file whole.
func (b *bundle) read(name string) ([]byte, error) {
	r, err := b.open(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, maxLine+1))
	if err != nil {
		return nil, failf(name, "cannot be read: %v", err)
	}
	if len(out) > maxLine {
		return nil, failf(name, "is larger than %d bytes", maxLine)
	}
	return out, nil
}

// manifest checks the manifest's signature and returns it with the key
// that checked it.
func (b *bundle) manifest(pinned string) (Manifest, string, error) {
	raw, err := b.read(FileManifest)
	if err != nil {
		return Manifest{}, "", err
	}
	bundled, err := b.read(FileVerifierKey)
	if err != nil {
		return Manifest{}, "", err
	}
	key := strings.TrimSpace(string(bundled))
	if pinned != "" {
		if strings.TrimSpace(pinned) != key {
			return Manifest{}, "", failf(FileVerifierKey, "is not the pinned key: the bundle is from another deployment, or its key was replaced")
		}
		key = strings.TrimSpace(pinned)
	}
	v, err := note.NewVerifier(key)
	if err != nil {
		return Manifest{}, "", failf(FileVerifierKey, "not a note verifier key: %v", err)
	}
	n, err := note.Open(raw, note.VerifierList(v))
	if err != nil {
		return Manifest{}, "", failf(FileManifest, "signature does not verify with key %s: %v", v.Name(), err)
	}
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(n.Text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, "", failf(FileManifest, "not a manifest: %v", err)
	}
	if m.Format != Format {
		return Manifest{}, "", failf(FileManifest, "format %q, this verifier reads %q (export the bundle again with this version)", m.Format, Format)
	}
	_, receipts := b.files[FileReceipts]
	switch {
	case m.Profile != ProfilePseudonymous && m.Profile != ProfileWithReceipts:
		return Manifest{}, "", failf(FileManifest, "profile %q is neither %s nor %s", m.Profile, ProfilePseudonymous, ProfileWithReceipts)
	case receipts != (m.Profile == ProfileWithReceipts):
		return Manifest{}, "", failf(FileReceipts, "present: %t, but the manifest's profile is %s", receipts, m.Profile)
	}
	return m, key, nil
}

// hashes checks that the archive holds exactly the manifest's files, each
// with its SHA-256 and size.
func (b *bundle) hashes(m Manifest) error {
	listed := map[string]bool{FileManifest: true}
	for _, f := range m.Files {
		if listed[f.Path] {
			return failf(FileManifest, "lists %s twice", f.Path)
		}
		listed[f.Path] = true
		r, err := b.open(f.Path)
		if err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(h, r)
		r.Close()
		if err != nil {
			return failf(f.Path, "cannot be read: %v", err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 || n != f.Bytes {
			return failf(f.Path, "does not match the manifest (SHA-256 %s, %d bytes; signed: %s, %d bytes): the file was changed", got, n, f.SHA256, f.Bytes)
		}
	}
	for name := range b.files {
		if !listed[name] {
			return failf(name, "is not in the signed manifest: it was added")
		}
	}
	return nil
}

// lines yields the lines of an NDJSON file with their line numbers.
func (b *bundle) lines(name string) (iter.Seq2[int, []byte], func() error) {
	var failure error
	seq := func(yield func(int, []byte) bool) {
		r, err := b.open(name)
		if err != nil {
			failure = err
			return
		}
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), maxLine)
		for n := 1; sc.Scan(); n++ {
			if !yield(n, sc.Bytes()) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			failure = failf(name, "cannot be read: %v", err)
		}
	}
	return seq, func() error { return failure }
}

// entries yields the audit entries for audit.Verify.
func (b *bundle) entries() iter.Seq2[audit.StoredEntry, error] {
	lines, done := b.lines(FileEntries)
	return func(yield func(audit.StoredEntry, error) bool) {
		for n, line := range lines {
			var e Entry
			if err := strictJSON(line, &e); err != nil {
				yield(audit.StoredEntry{}, failf(fmt.Sprintf("%s line %d", FileEntries, n), "not an entry: %v", err))
				return
			}
			if !yield(audit.StoredEntry{Seq: e.Seq, Leaf: e.Leaf}, nil) {
				return
			}
		}
		if err := done(); err != nil {
			yield(audit.StoredEntry{}, err)
		}
	}
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value on the line")
	}
	return nil
}

// consistency checks the proof file against the previous checkpoint when
// the auditor gave one; audit.Verify has already rebuilt the old root
// from the entries themselves, so this is the same fact proved the way a
// verifier without the old entries would.
func (b *bundle) consistency(m Manifest, res audit.VerifyResult, previous []byte, key string) error {
	_, present := b.files[FileConsistency]
	if m.PreviousSize == 0 {
		if present {
			return failf(FileConsistency, "is present but the manifest names no previous checkpoint")
		}
		return nil
	}
	raw, err := b.read(FileConsistency)
	if err != nil {
		return err
	}
	var c Consistency
	if err := strictJSON(raw, &c); err != nil {
		return failf(FileConsistency, "not a consistency proof: %v", err)
	}
	if c.FromSize != m.PreviousSize || c.ToSize != res.Size {
		return failf(FileConsistency, "proves %d → %d, the bundle is %d → %d", c.FromSize, c.ToSize, m.PreviousSize, res.Size)
	}
	if len(previous) == 0 {
		return nil
	}
	v, err := note.NewVerifier(key)
	if err != nil {
		return failf(FileVerifierKey, "%v", err)
	}
	prev, _, _, err := log.ParseCheckpoint(previous, v.Name(), v)
	if err != nil {
		return failf("previous checkpoint", "%v", err)
	}
	size, root := int64(prev.Size), tlog.Hash(prev.Hash)
	if size != c.FromSize {
		return failf(FileConsistency, "starts at size %d, the previous checkpoint given has size %d", c.FromSize, size)
	}
	proof := make(tlog.TreeProof, len(c.Proof))
	for i, p := range c.Proof {
		if len(p) != len(tlog.Hash{}) {
			return failf(FileConsistency, "proof hash %d is %d bytes, not 32", i, len(p))
		}
		copy(proof[i][:], p)
	}
	if err := tlog.CheckTree(proof, res.Size, res.Root, size, root); err != nil {
		return failf(FileConsistency, "the log does not extend the previous checkpoint: %v", err)
	}
	return nil
}

// ReadCheckpoint returns the signed checkpoint inside a bundle, for the
// auditor to keep and pass as the previous checkpoint next time. Verify
// the bundle first: this reads, it does not check.
func ReadCheckpoint(path string) ([]byte, error) {
	b, closeBundle, err := openBundle(path)
	if err != nil {
		return nil, err
	}
	defer closeBundle()
	return b.read(FileCheckpoint)
}
