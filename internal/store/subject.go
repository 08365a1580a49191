package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// Subject pseudonyms and data-subject requests (SQL style: the audit
// log's writer reads and writes them).

// Pseudonym is subject's pseudonym; ENotFound when it has none.
func (r *Reader) Pseudonym(subject string) (string, error) {
	var p string
	return p, r.row("subject pseudonym", "SELECT pseudonym FROM subject_pseudonyms WHERE subject_id = ?", []any{subject}, &p)
}

// Pseudonyms returns the pseudonyms of those of subjects that have one,
// by subject: a batch's, read in one query per 500.
func (r *Reader) Pseudonyms(subjects []string) (map[string]string, error) {
	out := make(map[string]string, len(subjects))
	for start := 0; start < len(subjects); start += 500 {
		cond, args := in("subject_id", subjects[start:min(start+500, len(subjects))])
		err := r.each("subject pseudonyms", "SELECT subject_id, pseudonym FROM subject_pseudonyms WHERE "+cond, args, func(s rowScanner) error {
			var subject, p string
			if err := s.Scan(&subject, &p); err != nil {
				return err
			}
			out[subject] = p
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SubjectsOf returns, of the pseudonyms in ps, those a subject still has,
// with the subject: one scan of every pseudonym (they are not indexed).
func (r *Reader) SubjectsOf(ps map[string]bool) (map[string]string, error) {
	out := map[string]string{}
	err := r.each("subject pseudonyms", "SELECT subject_id, pseudonym FROM subject_pseudonyms", nil, func(s rowScanner) error {
		var subject, p string
		if err := s.Scan(&subject, &p); err != nil {
			return err
		}
		if ps[p] {
			out[p] = subject
		}
		return nil
	})
	return out, err
}

// InsertPseudonym gives subject its pseudonym p.
func (tx *Tx) InsertPseudonym(subject, p string) error {
	_, err := tx.exec("subject pseudonym", "INSERT INTO subject_pseudonyms (subject_id, pseudonym, created_at) VALUES (?, ?, ?)", subject, p, tx.now)
	return err
}

// AdoptPseudonyms gives each subject of pairs its pseudonym unless it has
// one, and returns how many it gave.
func (tx *Tx) AdoptPseudonyms(pairs map[string]string) (int, error) {
	n := 0
	for subject, p := range pairs {
		c, err := tx.exec("subject pseudonym", `INSERT INTO subject_pseudonyms (subject_id, pseudonym, created_at) VALUES (?, ?, ?)
			ON CONFLICT (subject_id) DO NOTHING`, subject, p, tx.now)
		if err != nil {
			return n, err
		}
		n += int(c)
	}
	return n, nil
}

// SubjectsWithoutPseudonym lists the subject ids that rows hold and that
// have no pseudonym: those written before pseudonyms were drawn.
func (r *Reader) SubjectsWithoutPseudonym() ([]string, error) {
	return r.strings("subjects", `SELECT s FROM (
			SELECT subject_id AS s FROM consent_records UNION SELECT subject_id FROM consent_state
			UNION SELECT subject_id FROM decisions UNION SELECT owner_subject FROM devices WHERE owner_subject <> ''
		) AS subjects WHERE substr(s, 1, 7) <> 'erased:' AND NOT EXISTS (SELECT 1 FROM subject_pseudonyms p WHERE p.subject_id = subjects.s)
		ORDER BY s`)
}

// EraseSubject puts marker in place of subject in every row that holds
// it (consent records, whose receipts it drops keeping their hashes;
// consent state; the decisions named, found by the caller in the audit
// log's subject index; owned devices, whose labels it clears; past
// requests other than keep; proxy consents they gave as a guardian,
// whose receipts name them), drops their memberships of devices and
// their declarations as a child or guardian, and
// deletes the subject's pseudonym. Webhook events are ScrubWebhookEvents'.
func (tx *Tx) EraseSubject(subject, marker string, decisions []string, keep string) (privacy.ErasedCounts, error) {
	var c privacy.ErasedCounts
	receipts, sums := map[string]string{}, map[string]string{}
	err := tx.each("consent records", "SELECT id, receipt, receipt_sha256 FROM consent_records WHERE subject_id = ?", []any{subject}, func(s rowScanner) error {
		var id, receipt, sum string
		err := s.Scan(&id, &receipt, &sum)
		receipts[id], sums[id] = receipt, sum
		return err
	})
	if err != nil {
		return c, err
	}
	for id, receipt := range receipts {
		// A proxy consent's receipt went with its guardian's erasure: its
		// hash stays as it was.
		if receipt != "" || sums[id] == "" {
			h := sha256.Sum256([]byte(receipt))
			sums[id] = hex.EncodeToString(h[:])
		}
		n, err := tx.exec("consent record", "UPDATE consent_records SET subject_id = ?, receipt = '', receipt_sha256 = ? WHERE id = ?",
			marker, sums[id], id)
		if err != nil {
			return c, err
		}
		c.ConsentRecords += n
		if receipt != "" {
			c.Receipts++
		}
	}
	if err := tx.eraseGuardian(subject, marker); err != nil {
		return c, err
	}
	if c.ConsentStates, err = tx.exec("consent state", "UPDATE consent_state SET subject_id = ? WHERE subject_id = ?", marker, subject); err != nil {
		return c, err
	}
	for start := 0; start < len(decisions); start += 256 {
		cond, args := in("id", decisions[start:min(start+256, len(decisions))])
		n, err := tx.exec("decisions", "UPDATE decisions SET subject_id = ? WHERE subject_id = ? AND "+cond, append([]any{marker, subject}, args...)...)
		if err != nil {
			return c, err
		}
		c.Decisions += n
	}
	// What an owner called their devices may name them ("Anna's room"):
	// every label of every device they ever owned goes.
	if _, err = tx.exec("device labels", `UPDATE device_attributes SET label = '' WHERE label <> ''
		AND device_id IN (SELECT device_id FROM device_owners WHERE owner_subject = ? UNION SELECT id FROM devices WHERE owner_subject = ?)`,
		subject, subject); err != nil {
		return c, err
	}
	if _, err = tx.exec("device members", "DELETE FROM device_members WHERE subject = ?", subject); err != nil {
		return c, err
	}
	if c.Devices, err = tx.exec("devices", "UPDATE devices SET owner_subject = ?, label = '' WHERE owner_subject = ?", marker, subject); err != nil {
		return c, err
	}
	if _, err = tx.exec("device owners", "UPDATE device_owners SET owner_subject = ? WHERE owner_subject = ?", marker, subject); err != nil {
		return c, err
	}
	if _, err = tx.exec("transfer offers", "DELETE FROM device_transfer_offers WHERE from_subject = ? OR to_subject = ?", subject, subject); err != nil {
		return c, err
	}
	if c.Requests, err = tx.exec("subject requests", "UPDATE subject_requests SET subject_id = '' WHERE subject_id = ? AND id <> ?", subject, keep); err != nil {
		return c, err
	}
	_, err = tx.exec("subject pseudonym", "DELETE FROM subject_pseudonyms WHERE subject_id = ?", subject)
	return c, err
}

// ScrubWebhookEvents puts marker in place of subject in the outbox: the
// events about the subject (their order key) and their deliveries, which
// are cancelled when still pending. It returns how many events it
// rewrote.
func (tx *Tx) ScrubWebhookEvents(subject, marker string) (int64, error) {
	type ev struct {
		seq     int64
		payload string
	}
	var evs []ev
	err := tx.each("webhook events", "SELECT seq, payload FROM webhook_events WHERE order_key = ?", []any{subject}, func(s rowScanner) error {
		var e ev
		err := s.Scan(&e.seq, &e.payload)
		evs = append(evs, e)
		return err
	})
	if err != nil {
		return 0, err
	}
	for _, e := range evs {
		var we privacy.WebhookEvent
		if err := json.Unmarshal([]byte(e.payload), &we); err != nil {
			return 0, fmt.Errorf("store: webhook event %d: %w", e.seq, err)
		}
		if we.Subject == subject {
			we.Subject = marker
		}
		b, err := json.Marshal(we)
		if err != nil {
			return 0, err
		}
		if _, err := tx.exec("webhook event", "UPDATE webhook_events SET payload = ?, order_key = ? WHERE seq = ?", string(b), marker, e.seq); err != nil {
			return 0, err
		}
	}
	if _, err := tx.exec("webhook deliveries", `UPDATE webhook_deliveries SET state = CASE WHEN state = 'pending' THEN 'cancelled' ELSE state END,
		order_key = ? WHERE order_key = ?`, marker, subject); err != nil {
		return 0, err
	}
	return int64(len(evs)), nil
}

// PendingDeliveriesFor counts the deliveries about subject not yet
// delivered or given up.
func (r *Reader) PendingDeliveriesFor(subject string) (int64, error) {
	var n int64
	return n, r.row("webhook deliveries", "SELECT COUNT(*) FROM webhook_deliveries WHERE order_key = ? AND state = 'pending'", []any{subject}, &n)
}

// subjectRequestRecord is a row of subject_requests.
type subjectRequestRecord struct {
	ID, Type, Pseudonym, SubjectID, State, ClientID string
	DueAt, CreatedAt, UpdatedAt                     time.Time
	CompletedAt                                     *time.Time
	ReceiptSHA256, Erased, CloseReason              string
}

const subjectRequestColumns = `id, type, pseudonym, subject_id, state, client_id, due_at, created_at, updated_at, completed_at,
	receipt_sha256, erased, close_reason`

func (r *subjectRequestRecord) fields() []any {
	return []any{&r.ID, &r.Type, &r.Pseudonym, &r.SubjectID, &r.State, &r.ClientID, &r.DueAt, &r.CreatedAt, &r.UpdatedAt, &r.CompletedAt,
		&r.ReceiptSHA256, &r.Erased, &r.CloseReason}
}

func (r subjectRequestRecord) toDomain() privacy.SubjectRequest {
	out := privacy.SubjectRequest{ID: r.ID, Type: privacy.RequestType(r.Type), Pseudonym: r.Pseudonym, SubjectID: r.SubjectID,
		State: privacy.RequestState(r.State), ClientID: r.ClientID, DueAt: r.DueAt.UTC(), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		CompletedAt: timeVal(r.CompletedAt), ReceiptSHA256: r.ReceiptSHA256, CloseReason: r.CloseReason}
	if r.Erased != "" {
		// Written by UpdateSubjectRequest from the same type: a row that
		// does not parse shows no counts rather than failing the read.
		_ = json.Unmarshal([]byte(r.Erased), &out.Erased)
	}
	return out
}

// confirmationRecord is a row of subject_request_confirmations, with
// whether its webhook was deleted since.
type confirmationRecord struct {
	RequestID, WebhookID, ConfirmedBy string
	ConfirmedAt                       *time.Time
	WebhookDeleted                    bool
}

func (r *confirmationRecord) fields() []any {
	return []any{&r.RequestID, &r.WebhookID, &r.ConfirmedBy, &r.ConfirmedAt, &r.WebhookDeleted}
}

// InsertSubjectRequest stores a new request, with a pending confirmation
// for each webhook in confirmers.
func (tx *Tx) InsertSubjectRequest(q privacy.SubjectRequest, confirmers []string) error {
	if _, err := tx.exec("subject request", "INSERT INTO subject_requests ("+subjectRequestColumns+") VALUES "+placeholders(1, 13),
		q.ID, string(q.Type), q.Pseudonym, q.SubjectID, string(q.State), q.ClientID, q.DueAt, q.CreatedAt, q.UpdatedAt, timePtr(q.CompletedAt),
		q.ReceiptSHA256, "", q.CloseReason); err != nil {
		return err
	}
	for _, w := range confirmers {
		if _, err := tx.exec("confirmation", "INSERT INTO subject_request_confirmations (request_id, webhook_id) VALUES (?, ?)", q.ID, w); err != nil {
			return err
		}
	}
	return nil
}

// UpdateSubjectRequest writes q's state, subject, completion, counts and
// close reason.
func (tx *Tx) UpdateSubjectRequest(q privacy.SubjectRequest) error {
	erased := ""
	if q.Type == privacy.RequestErasure && q.State != privacy.RequestReceived {
		b, err := json.Marshal(q.Erased)
		if err != nil {
			return err
		}
		erased = string(b)
	}
	n, err := tx.exec("subject request", `UPDATE subject_requests SET state = ?, subject_id = ?, updated_at = ?, completed_at = ?, erased = ?,
		close_reason = ? WHERE id = ?`, string(q.State), q.SubjectID, q.UpdatedAt, timePtr(q.CompletedAt), erased, q.CloseReason, q.ID)
	return changedOne(n, err, privacy.Errorf(privacy.ENotFound, "subject request not found"))
}

// ConfirmSubjectRequest records webhook's confirmation of request by
// client; ENotFound when the webhook was not asked to confirm it.
func (tx *Tx) ConfirmSubjectRequest(request, webhook, client string) error {
	n, err := tx.exec("confirmation", `UPDATE subject_request_confirmations SET confirmed_by = ?, confirmed_at = ?
		WHERE request_id = ? AND webhook_id = ? AND confirmed_at IS NULL`, client, tx.now, request, webhook)
	return changedOne(n, err, privacy.FieldErrorf(privacy.ENotFound, "webhook_id", "webhook %s has no confirmation pending for this request", webhook))
}

// SubjectRequest loads one request with its confirmations.
func (r *Reader) SubjectRequest(id string) (privacy.SubjectRequest, error) {
	rec, err := selectOne[subjectRequestRecord](r, "subject request", "SELECT "+subjectRequestColumns+" FROM subject_requests WHERE id = ?", id)
	if err != nil {
		return privacy.SubjectRequest{}, err
	}
	out, err := r.withConfirmations([]subjectRequestRecord{rec})
	if err != nil {
		return privacy.SubjectRequest{}, err
	}
	return out[0], nil
}

// SubjectRequests lists the requests of the subject whose pseudonym is p,
// oldest first.
func (r *Reader) SubjectRequests(p string) ([]privacy.SubjectRequest, error) {
	recs, err := selectAll[subjectRequestRecord](r, "subject requests",
		"SELECT "+subjectRequestColumns+" FROM subject_requests WHERE pseudonym = ? ORDER BY created_at, id", p)
	if err != nil {
		return nil, err
	}
	return r.withConfirmations(recs)
}

// OpenSubjectRequests lists the requests still running, oldest due first;
// with dueBefore set, only those due before it.
func (r *Reader) OpenSubjectRequests(dueBefore time.Time, limit int) ([]privacy.SubjectRequest, error) {
	q, args := "SELECT "+subjectRequestColumns+" FROM subject_requests WHERE state IN ('received', 'in_progress')", []any{}
	if !dueBefore.IsZero() {
		q, args = q+" AND due_at < ?", append(args, dueBefore)
	}
	recs, err := selectAll[subjectRequestRecord](r, "subject requests", q+" ORDER BY due_at, id LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, err
	}
	return r.withConfirmations(recs)
}

// withConfirmations loads the confirmations of requests.
func (r *Reader) withConfirmations(recs []subjectRequestRecord) ([]privacy.SubjectRequest, error) {
	out := make([]privacy.SubjectRequest, len(recs))
	if len(recs) == 0 {
		return out, nil
	}
	ids := make([]string, len(recs))
	for i, rec := range recs {
		ids[i], out[i] = rec.ID, rec.toDomain()
	}
	cond, args := in("request_id", ids)
	cs, err := selectAll[confirmationRecord](r, "confirmations",
		`SELECT c.request_id, c.webhook_id, c.confirmed_by, c.confirmed_at, w.deleted_at IS NOT NULL
		FROM subject_request_confirmations c JOIN webhooks w ON w.id = c.webhook_id WHERE c.`+cond+" ORDER BY c.request_id, c.webhook_id", args...)
	if err != nil {
		return nil, err
	}
	byID := map[string][]privacy.RequestConfirmation{}
	for _, c := range cs {
		byID[c.RequestID] = append(byID[c.RequestID], privacy.RequestConfirmation{WebhookID: c.WebhookID, ConfirmedBy: c.ConfirmedBy, ConfirmedAt: timeVal(c.ConfirmedAt),
			WebhookDeleted: c.WebhookDeleted})
	}
	for i := range out {
		out[i].Confirmations = byID[out[i].ID]
	}
	return out, nil
}

// DeliveriesAbout lists the webhook deliveries about subject (their order
// key), oldest first, from the delivery after the id after, at most limit.
func (r *Reader) DeliveriesAbout(subject string, after int64, limit int) ([]privacy.WebhookDelivery, error) {
	return r.deliveries("d.order_key = ? AND d.id > ?", []any{subject, after}, "d.id", limit)
}

// childRecord is a row of subject_children.
type childRecord struct {
	Subject, AgeBand string
	MajorityAt       *time.Time
	DeclaredAt       time.Time
	DeclaredBy       string
	AuditSeq         int64
}

// childColumns are childRecord's columns, in fields' order.
const childColumns = "subject_id, age_band, majority_at, declared_at, declared_by, audit_seq"

func (r *childRecord) fields() []any {
	return []any{&r.Subject, &r.AgeBand, &r.MajorityAt, &r.DeclaredAt, &r.DeclaredBy, &r.AuditSeq}
}

func (r childRecord) toDomain() privacy.Child {
	return privacy.Child{Subject: r.Subject, AgeBand: r.AgeBand, MajorityAt: timeVal(r.MajorityAt), DeclaredAt: r.DeclaredAt.UTC(),
		DeclaredBy: r.DeclaredBy, AuditSeq: r.AuditSeq}
}

// PutChild declares c a child, in place of an earlier declaration, with
// its guardians.
func (tx *Tx) PutChild(c privacy.Child) error {
	if _, err := tx.exec("child", `INSERT INTO subject_children (`+childColumns+`) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (subject_id) DO UPDATE SET age_band = excluded.age_band, majority_at = excluded.majority_at,
		declared_at = excluded.declared_at, declared_by = excluded.declared_by, audit_seq = excluded.audit_seq`,
		c.Subject, c.AgeBand, timePtr(c.MajorityAt), c.DeclaredAt, c.DeclaredBy, c.AuditSeq); err != nil {
		return err
	}
	if _, err := tx.exec("guardians", "DELETE FROM subject_guardians WHERE child_id = ?", c.Subject); err != nil {
		return err
	}
	for _, g := range c.Guardians {
		if _, err := tx.exec("guardian", "INSERT INTO subject_guardians (child_id, guardian_id) VALUES (?, ?)", c.Subject, g); err != nil {
			return err
		}
	}
	return nil
}

// Child reads subject's declaration as a child, with its guardians;
// ENotFound when they were never declared one.
func (r *Reader) Child(subject string) (privacy.Child, error) {
	rec, err := selectOne[childRecord](r, "child", "SELECT "+childColumns+" FROM subject_children WHERE subject_id = ?", subject)
	if err != nil {
		return privacy.Child{}, err
	}
	c := rec.toDomain()
	c.Guardians, err = r.strings("guardians", "SELECT guardian_id FROM subject_guardians WHERE child_id = ? ORDER BY guardian_id", subject)
	return c, err
}

// Children lists every declared child and majority, for decisions'
// memory (guardians not read).
func (r *Reader) Children() ([]privacy.Child, error) {
	return selectDomain[childRecord, privacy.Child](r, "children", "SELECT "+childColumns+" FROM subject_children ORDER BY subject_id")
}

// WardsOf lists the children subject is a guardian of.
func (r *Reader) WardsOf(subject string) ([]string, error) {
	return r.strings("guardians", "SELECT child_id FROM subject_guardians WHERE guardian_id = ? ORDER BY child_id", subject)
}

// eraseGuardian puts marker in place of subject where proxy consents name
// them as guardian (their receipts, which name them, dropped; the hashes
// kept), and forgets the declarations naming them, as child or guardian.
func (tx *Tx) eraseGuardian(subject, marker string) error {
	type proxy struct{ id, receipt, sum string }
	var records []proxy
	err := tx.each("consent records", "SELECT id, receipt, receipt_sha256 FROM consent_records WHERE guardian_subject = ?", []any{subject},
		func(s rowScanner) error {
			var p proxy
			err := s.Scan(&p.id, &p.receipt, &p.sum)
			records = append(records, p)
			return err
		})
	if err != nil {
		return err
	}
	for _, p := range records {
		if p.receipt != "" {
			h := sha256.Sum256([]byte(p.receipt))
			p.sum = hex.EncodeToString(h[:])
		}
		if _, err := tx.exec("consent record", "UPDATE consent_records SET guardian_subject = ?, receipt = '', receipt_sha256 = ? WHERE id = ?",
			marker, p.sum, p.id); err != nil {
			return err
		}
	}
	for _, q := range []string{"DELETE FROM subject_guardians WHERE guardian_id = ? OR child_id = ?", "DELETE FROM subject_children WHERE subject_id = ? OR subject_id = ?"} {
		if _, err := tx.exec("children", q, subject, subject); err != nil {
			return err
		}
	}
	return nil
}
