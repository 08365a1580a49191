package evidence

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"iter"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/receiptjws"
	"github.com/gowebpki/jcs"
)

// The bundle's record lines checked against the entries that committed
// to them (docs/evidence-bundle.md, steps 5 to 8): what each entry says a
// line must be (expected), then each file's lines in turn.

// expected is what the entries say the bundle's record lines must be.
type expected struct {
	// consents: by entry, every consent entry written in the window.
	consents map[int64]binding
	// devices: by id, the last device.* entry's commitment ("" before
	// records were bound) and the status it left.
	devices map[string]lineEntry
	// inventories: by device id and version, inventory.declared's.
	inventories map[string]lineEntry
	// notices: by key and version, notice.version.published's.
	notices map[string]published
	// policy: the data policy the entries leave.
	policy *policyState
	// boundSince: by kind, the first entry that committed to its record.
	boundSince map[string]int64
}

// lineEntry is what the entry a line must match says of it.
type lineEntry struct {
	seq        int64
	commitment string
	status     privacy.DeviceStatus
}

// published is what a publication's entry says of its notice file.
type published struct {
	seq      int64
	content  string // payload_sha256: the content's hash
	material []string
	time     string
}

func newExpected() *expected {
	return &expected{consents: map[int64]binding{}, devices: map[string]lineEntry{}, inventories: map[string]lineEntry{},
		notices: map[string]published{}, policy: newPolicyState(), boundSince: map[string]int64{}}
}

// note takes what one entry says of the bundle's lines.
func (x *expected) note(m Manifest, seq int64, e audit.Entry) error {
	if err := x.committed(seq, e); err != nil {
		return err
	}
	switch {
	case e.Action == event.ActionConsentRecorded || e.Action == event.ActionConsentWithdrawn:
		if at, err := time.Parse(audit.TimeFormat, e.Time); err == nil && !at.Before(m.From) && at.Before(m.To) {
			x.consents[seq] = entryBinding(e)
		}
	case e.Action == event.ActionInventoryDeclared:
		x.inventories[e.Targets["device"]+"\x00"+e.Targets["inventory_version"]] = lineEntry{seq: seq, commitment: e.RecordSHA256}
	case strings.HasPrefix(e.Action, "device."):
		x.devices[e.Targets["device"]] = lineEntry{seq: seq, commitment: e.RecordSHA256, status: deviceStatus(e)}
	case e.Action == event.ActionNoticePublished:
		if p, ok := event.Decode(e.Action, e.Targets, e.Reasons).(event.NoticePublished); ok {
			x.notices[e.Targets["notice"]+"\x00"+e.Targets["version"]] = published{seq: seq, content: e.PayloadSHA256,
				material: list(p.Version.MaterialPurposes), time: e.Time}
		}
	case strings.HasPrefix(e.Action, "policy."):
		x.policy.apply(event.Decode(e.Action, e.Targets, e.Reasons))
	}
	return nil
}

// committed fails closed on an entry that leaves out what entries of its
// kind have committed to since an earlier entry: a log from before
// records were bound is accepted with what it can prove, but once the
// commitments begin, an entry without one is not old, it was made to
// escape a check (a decision without service_name skips the policy
// check of the replay).
func (x *expected) committed(seq int64, e audit.Entry) error {
	var kind string
	switch {
	case e.Action == event.ActionConsentRecorded || e.Action == event.ActionConsentWithdrawn:
		kind = "consent"
	case e.Action == event.ActionInventoryDeclared:
		kind = "inventory"
	case strings.HasPrefix(e.Action, "device."):
		kind = "device"
	case e.Action == event.ActionDecision:
		kind = "decision"
		if (e.RecordSHA256 == "") != (e.Targets["service_name"] == "") {
			return &audit.Failure{Seq: seq, Check: "form", Detail: "a decision entry names its service or commits to its steps, not both"}
		}
	default:
		return nil
	}
	since, bound := x.boundSince[kind]
	switch {
	case e.RecordSHA256 != "" && !bound:
		x.boundSince[kind] = seq
	case e.RecordSHA256 == "" && bound:
		return &audit.Failure{Seq: seq, Check: "form", Detail: fmt.Sprintf("no record_sha256, though %s entries commit to their records since entry %d",
			kind, since)}
	}
	return nil
}

// deviceStatus is the status a device.* entry leaves its device in, as
// event.Decode reads it.
func deviceStatus(e audit.Entry) privacy.DeviceStatus {
	switch ev := event.Decode(e.Action, e.Targets, e.Reasons).(type) {
	case event.DeviceRegistered:
		return ev.Device.Status
	case event.DeviceStatusChanged:
		return ev.Device.Status
	case event.DeviceTransferred:
		return ev.Device.Status
	case event.DeviceUpdated:
		return ev.Device.Status
	}
	return ""
}

// list is s, or [] for none.
func list(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// binding is what a consent entry says of its record, hashed to keep the
// verifier's map small: the record's commitment (or, for entries written
// before records were bound, its receipt's hash), its id, the choice's
// purpose, outcome and expiry, the subject and the device.
type binding struct {
	digest [32]byte
	// receiptOnly: the entry predates record_sha256.
	receiptOnly bool
}

func bindingOf(commitment, record, purpose, outcome, expires, subject, device string) [32]byte {
	return sha256.Sum256([]byte(strings.Join([]string{commitment, record, purpose, outcome, expires, subject, device}, "\x00")))
}

func entryBinding(e audit.Entry) binding {
	commitment, receiptOnly := e.RecordSHA256, e.RecordSHA256 == ""
	if receiptOnly {
		commitment = "receipt:" + e.PayloadSHA256
	}
	return binding{digest: bindingOf(commitment, e.Targets["record"], e.Targets["purpose"], e.Outcome, e.ExpiresAt, e.Targets["subject"],
		e.Targets["device"]), receiptOnly: receiptOnly}
}

// lineBinding is binding for one choice of a record line.
func lineBinding(l ConsentRecord, commitment string, receiptOnly bool, c audit.ConsentLineChoice) [32]byte {
	if receiptOnly {
		commitment = "receipt:" + l.ReceiptSHA256
	}
	outcome := event.OutcomeDenied
	switch {
	case l.Kind == privacy.RecordWithdrawal:
		outcome = event.OutcomeWithdrawn
	case c.Granted:
		outcome = event.OutcomeGranted
	}
	return bindingOf(commitment, l.ID, c.Purpose, outcome, c.ExpiresAt, l.Subject, l.DeviceID)
}

// receiptClaims are the receipt fields the verifier binds to its record.
type receiptClaims struct {
	ConsentReceiptID string `json:"consentReceiptID"`
	ISO27560         struct {
		RecordID string `json:"record_id"`
		DeviceID string `json:"device_id"`
		Notice   struct {
			Key     string `json:"key"`
			Version int    `json:"version"`
			SHA256  string `json:"sha256"`
		} `json:"privacy_notice"`
	} `json:"iso27560"`
}

// consents checks the record lines against the entries that recorded
// them: each line, in entry order, hashes to the commitment every one of
// its choices' entries holds, and names what they name; no entry of the
// window lacks its line. With receipts, each receipt is signed by the
// deployment, hashes to its line's receipt_sha256 and names its record.
func (b *bundle) consents(m Manifest, bound map[int64]binding, sum *Summary) error {
	raw, err := b.read(FileJWKS)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &b.jwks); err != nil || len(b.jwks.Keys) == 0 {
		return failf(FileJWKS, "not a JSON Web Key Set with keys")
	}
	var nextReceipt func() (int, []byte, bool)
	receiptsDone := func() error { return nil }
	if m.Profile == ProfileWithReceipts {
		lines, done := b.lines(FileReceipts)
		next, stop := iter.Pull2(lines)
		defer stop()
		nextReceipt, receiptsDone = next, done
	}
	lines, done := b.lines(FileConsents)
	last := int64(-1)
	for n, line := range lines {
		item := fmt.Sprintf("%s line %d", FileConsents, n)
		var r ConsentRecord
		if err := strictJSON(line, &r); err != nil {
			return failf(item, "not a consent record: %v", err)
		}
		item += " (record " + r.ID + ")"
		if len(r.Choices) == 0 {
			return failf(item, "has no choices")
		}
		commitment, err := audit.LineSHA256(r)
		if err != nil {
			return failf(item, "%v", err)
		}
		receiptOnly := false
		for i, c := range r.Choices {
			if c.AuditSeq <= last {
				return failf(item, "choice %s names audit entry %d, not after entry %d of the line before: lines are in entry order", c.Purpose, c.AuditSeq, last)
			}
			last = c.AuditSeq
			got, ok := bound[c.AuditSeq]
			if !ok {
				return failf(item, "choice %s names audit entry %d, which is not a consent entry of the bundle's window", c.Purpose, c.AuditSeq)
			}
			if i == 0 {
				receiptOnly = got.receiptOnly
			}
			if got.digest != lineBinding(r, commitment, got.receiptOnly, c) {
				return failf(item, "choice %s: audit entry %d does not record this record as it stands (a field was changed)", c.Purpose, c.AuditSeq)
			}
			delete(bound, c.AuditSeq)
		}
		sum.Consents++
		if receiptOnly {
			sum.Unbound++
		}
		if nextReceipt != nil {
			rn, rl, ok := nextReceipt()
			if !ok {
				return failf(FileReceipts, "ends before record %s", r.ID)
			}
			if err := b.receipt(fmt.Sprintf("%s line %d", FileReceipts, rn), rl, r); err != nil {
				return err
			}
			sum.Receipts++
		}
	}
	if err := done(); err != nil {
		return err
	}
	if nextReceipt != nil {
		if rn, _, ok := nextReceipt(); ok {
			return failf(fmt.Sprintf("%s line %d", FileReceipts, rn), "is a receipt for no record line")
		}
		if err := receiptsDone(); err != nil {
			return err
		}
	}
	if len(bound) > 0 {
		first := int64(-1)
		for seq := range bound {
			if first < 0 || seq < first {
				first = seq
			}
		}
		return failf(FileConsents, "holds no line for the record of audit entry %d (%d consent entries of the window have none): a record was removed", first, len(bound))
	}
	return nil
}

// devices checks every device line against the last device.* entry of
// its device: the line hashes to that entry's commitment, and every
// device with entries has exactly one line, in id order.
func (b *bundle) devices(want map[string]lineEntry, sum *Summary) error {
	lines, done := b.lines(FileDevices)
	last := ""
	for n, line := range lines {
		item := fmt.Sprintf("%s line %d", FileDevices, n)
		var d audit.DeviceLine
		if err := strictJSON(line, &d); err != nil {
			return failf(item, "not a device: %v", err)
		}
		item += " (device " + d.ID + ")"
		if d.ID <= last {
			return failf(item, "is not after device %s: lines are in id order, once each", last)
		}
		last = d.ID
		e, ok := want[d.ID]
		if !ok {
			return failf(item, "no audit entry registered this device")
		}
		delete(want, d.ID)
		if err := bindLine(item, d, e, sum); err != nil {
			return err
		}
		if string(e.status) != d.Status {
			return failf(item, "says %s, but its last entry (%d) left it %s", d.Status, e.seq, e.status)
		}
		sum.Devices++
	}
	if err := done(); err != nil {
		return err
	}
	return leftOver(FileDevices, "device", want)
}

// inventories checks every inventory line against the entry that
// declared it; every declared version has exactly one line, in order.
func (b *bundle) inventories(want map[string]lineEntry, sum *Summary) error {
	lines, done := b.lines(FileInventories)
	var lastDevice string
	lastVersion := 0
	for n, line := range lines {
		item := fmt.Sprintf("%s line %d", FileInventories, n)
		var inv audit.InventoryLine
		if err := strictJSON(line, &inv); err != nil {
			return failf(item, "not an inventory version: %v", err)
		}
		item += fmt.Sprintf(" (device %s version %d)", inv.DeviceID, inv.Version)
		if inv.DeviceID < lastDevice || (inv.DeviceID == lastDevice && inv.Version <= lastVersion) {
			return failf(item, "is not after device %s version %d: lines are in device and version order, once each", lastDevice, lastVersion)
		}
		lastDevice, lastVersion = inv.DeviceID, inv.Version
		key := inv.DeviceID + "\x00" + strconv.Itoa(inv.Version)
		e, ok := want[key]
		if !ok {
			return failf(item, "no audit entry declared this version")
		}
		delete(want, key)
		if err := bindLine(item, inv, e, sum); err != nil {
			return err
		}
		sum.Inventories++
	}
	if err := done(); err != nil {
		return err
	}
	return leftOver(FileInventories, "inventory version", want)
}

// bindLine checks that line hashes to the commitment its entry holds; an
// entry from before records were bound holds none, and is counted.
func bindLine(item string, line any, e lineEntry, sum *Summary) error {
	if e.commitment == "" {
		sum.UnboundLines++
		return nil
	}
	got, err := audit.LineSHA256(line)
	if err != nil {
		return failf(item, "%v", err)
	}
	if got != e.commitment {
		return failf(item, "audit entry %d does not record this line as it stands (a field was changed)", e.seq)
	}
	return nil
}

// leftOver fails on the first record (by entry) that has entries but no line.
func leftOver(file, what string, want map[string]lineEntry) error {
	if len(want) == 0 {
		return nil
	}
	first := int64(-1)
	for _, e := range want {
		if first < 0 || e.seq < first {
			first = e.seq
		}
	}
	return failf(file, "holds no line for the %s of audit entry %d (%d are missing): a line was removed", what, first, len(want))
}

// receipt checks one receipt line against its record line.
func (b *bundle) receipt(item string, line []byte, r ConsentRecord) error {
	var rc Receipt
	if err := strictJSON(line, &rc); err != nil {
		return failf(item, "not a receipt: %v", err)
	}
	if rc.RecordID != r.ID {
		return failf(item, "is for record %s; the record line in its place is %s", rc.RecordID, r.ID)
	}
	if sum := sha256.Sum256([]byte(rc.Receipt)); hex.EncodeToString(sum[:]) != r.ReceiptSHA256 {
		return failf(item, "does not hash to its record's receipt_sha256")
	}
	hdr, err := receiptjws.Parse(rc.Receipt)
	if err != nil {
		return failf(item, "not a receipt JWS: %v", err)
	}
	var payload []byte
	for _, k := range b.jwks.Key(hdr.KID) {
		pub, ok := k.Key.(ed25519.PublicKey)
		if !ok || (k.Algorithm != "" && k.Algorithm != hdr.Alg) {
			continue
		}
		if payload, err = receiptjws.Verify(rc.Receipt, pub); err != nil {
			return failf(item, "signature does not verify with key %q", hdr.KID)
		}
		break
	}
	if payload == nil {
		return failf(item, "signed with key %q (%s), which is not one of this deployment's receipt keys: the receipt is from another deployment", hdr.KID, hdr.Alg)
	}
	var c receiptClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return failf(item, "payload is not a receipt: %v", err)
	}
	switch {
	case c.ConsentReceiptID != r.ID || c.ISO27560.RecordID != r.ID:
		return failf(item, "is for record %s, not this one", c.ConsentReceiptID)
	case c.ISO27560.DeviceID != r.DeviceID:
		return failf(item, "names another device than the record")
	case c.ISO27560.Notice.Key != r.NoticeKey || c.ISO27560.Notice.Version != r.NoticeVersion || c.ISO27560.Notice.SHA256 != r.NoticeSHA256:
		return failf(item, "names another notice version than the record")
	}
	return nil
}

// notices checks every notice version file: its content hashes to its
// content_sha256, which is the payload of the entry that published it,
// with the same material purposes and time; every published version has
// its file.
func (b *bundle) notices(m Manifest, want map[string]published) (int, error) {
	n := 0
	for _, f := range m.Files {
		if !strings.HasPrefix(f.Path, noticesDirectory) || !strings.HasSuffix(f.Path, ".json") {
			continue
		}
		raw, err := b.read(f.Path)
		if err != nil {
			return n, err
		}
		var v noticeVersion
		if err := strictJSON(raw, &v); err != nil {
			return n, failf(f.Path, "not a notice version: %v", err)
		}
		canon, err := jcs.Transform(v.Content)
		if err != nil {
			return n, failf(f.Path, "content is not JSON: %v", err)
		}
		sum := sha256.Sum256(canon)
		if hex.EncodeToString(sum[:]) != v.ContentSHA256 {
			return n, failf(f.Path, "content does not hash to its content_sha256")
		}
		key := v.Key + "\x00" + strconv.Itoa(v.Version)
		e, ok := want[key]
		switch {
		case !ok || f.Path != path.Join("notices", v.Key, fmt.Sprintf("v%d.json", v.Version)):
			return n, failf(f.Path, "no audit entry published version %d of notice %s", v.Version, v.Key)
		case e.content != v.ContentSHA256:
			return n, failf(f.Path, "audit entry %d published other content (%s)", e.seq, e.content)
		case !slices.Equal(e.material, list(v.MaterialPurposes)):
			return n, failf(f.Path, "material_purposes %v, but audit entry %d says %v", v.MaterialPurposes, e.seq, e.material)
		case audit.FormatTime(v.PublishedAt) != e.time:
			return n, failf(f.Path, "published_at %s, but audit entry %d was written at %s", audit.FormatTime(v.PublishedAt), e.seq, e.time)
		}
		delete(want, key)
		n++
	}
	for _, e := range want {
		return n, failf(noticesDirectory, "holds no file for the notice version audit entry %d published: a file was removed", e.seq)
	}
	return n, nil
}

// policies checks that policies.json is the data policy the entries leave.
func (b *bundle) policies(want *policyState) error {
	raw, err := b.read(FilePolicies)
	if err != nil {
		return err
	}
	var got Policies
	if err := strictJSON(raw, &got); err != nil {
		return failf(FilePolicies, "not a data policy: %v", err)
	}
	w := want.file()
	if !slices.Equal(got.Rules, w.Rules) || !slices.Equal(got.Groups, w.Groups) {
		return failf(FilePolicies, "is not the data policy the policy.* entries leave (%d rules and %d groups there, %d and %d here)",
			len(w.Rules), len(w.Groups), len(got.Rules), len(got.Groups))
	}
	return nil
}
