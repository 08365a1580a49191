// Package rights runs data-subject requests (ISO/IEC 27400 Control 33): a
// person's copy of everything Consentry holds about them (access, with
// the proof of each record against a signed checkpoint), and erasure that
// leaves every proof valid. Consentry names subjects in its audit log and
// bundles by pseudonyms drawn at random, and keeps the only link from a
// subject id to its pseudonym in one table: erasure withdraws every
// consent, replaces the id with the erased marker in every row that held
// it, and deletes the link, so that nothing left (nor any key) leads back
// to the person, while every entry, line, checkpoint and proof stays as it
// was committed. Backends subscribed by webhook are told, and confirm.
package rights

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/google/uuid"
)

// Options tune the service.
type Options struct {
	// Due is how long a request may take before it is overdue (and a
	// finding): 30 days by default.
	Due time.Duration
	// Issuer names this deployment in receipts (its public URL).
	Issuer string
	Log    *slog.Logger
}

// Withdrawer withdraws everything a subject granted inside a change of
// the log (consent.Service).
type Withdrawer interface {
	WithdrawAll(tx *audit.Tx, subject string, method privacy.ConsentMethod, clientID string) ([]privacy.ConsentRecord, []event.Event, error)
}

// Signer signs receipts as compact JWS (consent.Keys: the keys of consent
// receipts, published in the JWKS).
type Signer interface {
	Sign(payload []byte) (string, error)
}

// Service runs the requests.
type Service struct {
	db       *store.DB
	log      *audit.Log
	consents Withdrawer
	keys     Signer
	ledger   *Ledger
	opts     Options
	// walDirty: the last attempt to empty the WAL after an erasure failed
	// (readers held it); Run tries again.
	walDirty atomic.Bool
}

// New returns a Service over db, writing through log, withdrawing through
// consents, signing receipts with keys and recording erasures in ledger.
func New(db *store.DB, log *audit.Log, consents Withdrawer, keys Signer, ledger *Ledger, opts Options) *Service {
	if opts.Due <= 0 {
		opts.Due = 30 * 24 * time.Hour
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{db: db, log: log, consents: consents, keys: keys, ledger: ledger, opts: opts}
}

// Due is how long a request may take.
func (s *Service) Due() time.Duration { return s.opts.Due }

// Result is what a request's caller gets: the request and its receipt;
// for an erasure, the withdrawals made first (each with its receipt) and
// the erasure receipt. Receipts name the subject: Consentry keeps only
// their hashes, the person keeps them.
type Result struct {
	Request        privacy.SubjectRequest
	Receipt        string
	Withdrawals    []privacy.ConsentRecord
	ErasureReceipt string
}

// requestReceipt is the signed receipt of a request received.
type requestReceipt struct {
	Type       string `json:"type"`
	Issuer     string `json:"iss"`
	RequestID  string `json:"request_id"`
	Request    string `json:"request_type"`
	Subject    string `json:"subject"`
	ReceivedAt string `json:"received_at"`
	DueAt      string `json:"due_at"`
}

// erasureReceipt is the signed receipt of an erasure made: what it
// erased, when, and under which pseudonym the subject's entries stay in
// the log (so that the person, and only they, can point at them).
type erasureReceipt struct {
	Type        string               `json:"type"`
	Issuer      string               `json:"iss"`
	RequestID   string               `json:"request_id"`
	Subject     string               `json:"subject"`
	Pseudonym   string               `json:"pseudonym"`
	ErasedAt    string               `json:"erased_at"`
	Erased      privacy.ErasedCounts `json:"erased"`
	Withdrawals []string             `json:"withdrawals"`
	// AuditSeq is the erasure's audit entry (subject.erased).
	AuditSeq int64 `json:"audit_seq"`
}

// Receipt types, the "type" member of each payload.
const (
	RequestReceiptType = "consentry-subject-request/1"
	ErasureReceiptType = "consentry-erasure-receipt/1"
)

func (s *Service) sign(v any) (jws, sum string, err error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", "", err
	}
	if jws, err = s.keys.Sign(b); err != nil {
		return "", "", err
	}
	h := sha256.Sum256([]byte(jws))
	return jws, hex.EncodeToString(h[:]), nil
}

// Request records a request of subject's. An access request completes at
// once (its export is Export). An erasure, in one transaction, withdraws
// every consent (so every later decision denies, with receipts), then
// erases (EraseSubject); it completes when every backend subscribed to
// erasures has confirmed and every delivery about the subject is done
// (Advance), which may be at once.
func (s *Service) Request(ctx context.Context, subject string, typ privacy.RequestType, method privacy.ConsentMethod, clientID string) (Result, error) {
	var p privacy.Problems
	privacy.CheckSubject(&p, "subject", subject)
	if !typ.Valid() {
		p.Add("type", "must be access or erasure")
	}
	if method == "" {
		method = privacy.MethodApp
	}
	if !method.Valid() {
		p.Add("method", "must be one of app, web, voice, paper, api")
	}
	if err := p.Err("invalid subject request"); err != nil {
		return Result{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Result{}, fmt.Errorf("rights: id: %w", err)
	}
	var out Result
	_, err = s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		out = Result{}
		now := tx.Now()
		pseudonym, err := tx.Pseudonym(subject)
		if err != nil {
			return nil, err
		}
		q := privacy.SubjectRequest{ID: id.String(), Type: typ, Pseudonym: pseudonym, SubjectID: subject, State: privacy.RequestReceived,
			ClientID: clientID, DueAt: now.Add(s.opts.Due), CreatedAt: now, UpdatedAt: now}
		if out.Receipt, q.ReceiptSHA256, err = s.sign(requestReceipt{Type: RequestReceiptType, Issuer: s.opts.Issuer, RequestID: q.ID,
			Request: string(typ), Subject: subject, ReceivedAt: audit.FormatTime(now), DueAt: audit.FormatTime(q.DueAt)}); err != nil {
			return nil, err
		}
		var confirmers []string
		if typ == privacy.RequestErasure {
			subs, err := tx.WebhookSubscriptions()
			if err != nil {
				return nil, err
			}
			for _, w := range subs {
				if slices.Contains(w.Kinds, privacy.KindSubjectErasureRequested) {
					confirmers = append(confirmers, w.ID)
				}
			}
		}
		if err := tx.InsertSubjectRequest(q, confirmers); err != nil {
			return nil, err
		}
		// Its entry comes first: the withdrawals' records name theirs after it.
		tx.Reserve(1)
		events := []event.Event{event.RequestReceived{Request: q}}
		if typ == privacy.RequestAccess {
			q.State, q.CompletedAt, q.UpdatedAt = privacy.RequestCompleted, now, now
			if err := tx.UpdateSubjectRequest(q); err != nil {
				return nil, err
			}
			out.Request = q
			return append(events, event.RequestCompleted{Request: q}), nil
		}
		erased, err := s.erase(tx, subject, q.ID, method, clientID, false)
		if err != nil {
			return nil, err
		}
		out.Withdrawals = erased.withdrawals
		q.State, q.Erased, q.UpdatedAt = privacy.RequestInProgress, erased.counts, now
		if err := tx.UpdateSubjectRequest(q); err != nil {
			return nil, err
		}
		ids := make([]string, len(erased.withdrawals))
		for i, w := range erased.withdrawals {
			ids[i] = w.ID
		}
		events = append(events, erased.events...)
		if out.ErasureReceipt, _, err = s.sign(erasureReceipt{Type: ErasureReceiptType, Issuer: s.opts.Issuer, RequestID: q.ID, Subject: subject,
			Pseudonym: pseudonym, ErasedAt: audit.FormatTime(now), Erased: q.Erased, Withdrawals: ids,
			AuditSeq: tx.NextSeq()}); err != nil {
			return nil, err
		}
		q.Confirmations = make([]privacy.RequestConfirmation, len(confirmers))
		for i, w := range confirmers {
			q.Confirmations[i].WebhookID = w
		}
		out.Request = q
		return events, nil
	})
	if err != nil {
		return Result{}, err
	}
	if typ == privacy.RequestErasure {
		q, err := s.advance(ctx, out.Request.ID, nil)
		if err != nil {
			// Erased already; completion is retried by Advance.
			s.opts.Log.Error("erasure made, completion deferred", "request", out.Request.ID, "error", err)
		} else {
			out.Request = q
		}
	}
	return out, nil
}

// erased is what erase did.
type erased struct {
	withdrawals []privacy.ConsentRecord
	events      []event.Event
	counts      privacy.ErasedCounts
}

// erase withdraws everything subject granted, records the erasure in the
// ledger (before the commit: a crash after it errs toward erasing), and
// erases the subject's rows (audit.Tx.EraseSubject). keep is the request
// whose subject id stays until it completes.
func (s *Service) erase(tx *audit.Tx, subject, keep string, method privacy.ConsentMethod, clientID string, reapplied bool) (erased, error) {
	withdrawals, events, err := s.consents.WithdrawAll(tx, subject, method, clientID)
	if err != nil {
		return erased{}, err
	}
	pseudonym, err := tx.Pseudonym(subject)
	if err != nil {
		return erased{}, err
	}
	if err := s.ledger.Record(pseudonym); err != nil {
		return erased{}, err
	}
	p, counts, err := tx.EraseSubject(subject, keep)
	if err != nil {
		return erased{}, err
	}
	events = append(events, event.SubjectErased{Subject: subject, RequestID: keep, Pseudonym: p, Erased: counts, Reapplied: reapplied})
	return erased{withdrawals: withdrawals, events: events, counts: counts}, nil
}

// closing is an operator's close of a request.
type closing struct {
	reason string
	failed bool
}

// advance completes request id if it can: an access request is complete
// already; an erasure when every confirmation is in and no delivery about
// the subject is pending, or when an operator closes it (c). Completing
// an erasure scrubs the subject id from the webhook outbox and the
// request, then empties SQLite's WAL of what the erasure overwrote.
func (s *Service) advance(ctx context.Context, id string, c *closing) (privacy.SubjectRequest, error) {
	var (
		out     privacy.SubjectRequest
		scrubed bool
	)
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		scrubed = false
		q, err := tx.SubjectRequest(id)
		if err != nil {
			return nil, err
		}
		out = q
		if !q.Open() {
			if c != nil {
				return nil, privacy.Errorf(privacy.EConflict, "request %s is %s already", id, q.State)
			}
			return nil, nil
		}
		if c == nil {
			// A backend whose webhook was deleted since is gone: no
			// confirmation is waited for from it (RequestConfirmation.Pending).
			if q.Waiting() {
				return nil, nil
			}
			if q.SubjectID != "" {
				pending, err := tx.PendingDeliveriesFor(q.SubjectID)
				if err != nil || pending > 0 {
					return nil, err
				}
			}
		}
		if q.SubjectID != "" && q.Type == privacy.RequestErasure {
			n, err := tx.ScrubWebhookEvents(q.SubjectID, privacy.ErasedSubject(q.Pseudonym))
			if err != nil {
				return nil, err
			}
			q.Erased.WebhookEvents += n
			q.SubjectID, scrubed = "", true
		}
		now := tx.Now()
		q.State, q.CompletedAt, q.UpdatedAt = privacy.RequestCompleted, now, now
		if c != nil {
			q.CloseReason = c.reason
			if c.failed {
				q.State = privacy.RequestFailed
			}
		}
		if err := tx.UpdateSubjectRequest(q); err != nil {
			return nil, err
		}
		out = q
		return []event.Event{event.RequestCompleted{Request: q}}, nil
	})
	if err != nil {
		return privacy.SubjectRequest{}, err
	}
	if scrubed {
		s.forget(ctx)
	}
	return out, nil
}

// forget empties SQLite's WAL once an erasure is complete. A failure
// (readers held the WAL past the busy timeout) is logged, and Run tries
// again at its next tick until it works.
func (s *Service) forget(ctx context.Context) {
	if err := s.db.ForgetWAL(ctx); err != nil {
		s.walDirty.Store(true)
		s.opts.Log.Warn("the WAL still holds pages an erasure overwrote; emptying it is tried again in a few seconds", "error", err)
		return
	}
	s.walDirty.Store(false)
}

// Get returns one request.
func (s *Service) Get(ctx context.Context, id string) (privacy.SubjectRequest, error) {
	if _, err := uuid.Parse(id); err != nil {
		return privacy.SubjectRequest{}, privacy.Errorf(privacy.ENotFound, "subject request not found")
	}
	return s.db.Read(ctx).SubjectRequest(id)
}

// List returns a subject's requests, oldest first: none for a subject
// never seen or erased (their requests name only the pseudonym).
func (s *Service) List(ctx context.Context, subject string) ([]privacy.SubjectRequest, error) {
	var p privacy.Problems
	privacy.CheckSubject(&p, "subject", subject)
	if err := p.Err("invalid subject"); err != nil {
		return nil, err
	}
	pseudonym, err := s.log.PseudonymOf(ctx, subject)
	if err != nil || pseudonym == "" {
		return []privacy.SubjectRequest{}, err
	}
	return s.db.Read(ctx).SubjectRequests(pseudonym)
}

// MaxOpen bounds a listing of open requests.
const MaxOpen = 1000

// Open lists the requests still running, due first; overdue, only those
// past their due date.
func (s *Service) Open(ctx context.Context, overdue bool) ([]privacy.SubjectRequest, error) {
	var before time.Time
	if overdue {
		before = s.db.Now()
	}
	return s.db.Read(ctx).OpenSubjectRequests(before, MaxOpen)
}

// Confirm records that the backend subscribed as webhook erased what it
// held about the subject of request id; the request completes with the
// last confirmation.
func (s *Service) Confirm(ctx context.Context, id, webhook, clientID string) (privacy.SubjectRequest, error) {
	if _, err := uuid.Parse(id); err != nil {
		return privacy.SubjectRequest{}, privacy.Errorf(privacy.ENotFound, "subject request not found")
	}
	if webhook == "" {
		return privacy.SubjectRequest{}, privacy.FieldErrorf(privacy.EInvalid, "webhook_id", "is required")
	}
	_, err := s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		q, err := tx.SubjectRequest(id)
		if err != nil {
			return nil, err
		}
		if q.Type != privacy.RequestErasure {
			return nil, privacy.Errorf(privacy.EConflict, "request %s is an access request: nothing to confirm", id)
		}
		if !q.Open() {
			return nil, privacy.Errorf(privacy.EConflict, "request %s is %s already", id, q.State)
		}
		if err := tx.ConfirmSubjectRequest(id, webhook, clientID); err != nil {
			return nil, err
		}
		return []event.Event{event.RequestConfirmed{RequestID: id, WebhookID: webhook, Pseudonym: q.Pseudonym}}, nil
	})
	if err != nil {
		return privacy.SubjectRequest{}, err
	}
	return s.advance(ctx, id, nil)
}

// Close ends an open request for the reason given, as completed (a
// backend gone for good, say) or failed: an operator's decision, audited.
func (s *Service) Close(ctx context.Context, id, reason string, failed bool) (privacy.SubjectRequest, error) {
	if _, err := uuid.Parse(id); err != nil {
		return privacy.SubjectRequest{}, privacy.Errorf(privacy.ENotFound, "subject request not found")
	}
	var p privacy.Problems
	privacy.CheckCloseReason(&p, "reason", reason)
	if err := p.Err("invalid close"); err != nil {
		return privacy.SubjectRequest{}, err
	}
	return s.advance(ctx, id, &closing{reason: reason, failed: failed})
}

// Advance completes the erasures that can complete now: their backends
// confirmed and their deliveries done since. It returns how many it
// completed.
func (s *Service) Advance(ctx context.Context) (int, error) {
	open, err := s.db.Read(ctx).OpenSubjectRequests(time.Time{}, MaxOpen)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, q := range open {
		if q.Waiting() {
			continue // read without the writer: most requests wait for days
		}
		done, err := s.advance(ctx, q.ID, nil)
		if err != nil {
			return n, err
		}
		if !done.Open() {
			n++
		}
	}
	return n, nil
}

// Run calls Advance every interval until ctx ends.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Advance(ctx); err != nil && ctx.Err() == nil {
				s.opts.Log.Warn("completing subject requests failed; retried", "error", err)
			}
			if s.walDirty.Load() {
				s.forget(ctx)
			}
		}
	}
}

// Reapply erases again every subject that the database knows under a
// pseudonym the ledger records as erased: after a backup from before an
// erasure was restored. It runs at start, before the service answers,
// and returns how many subjects it erased again.
func (s *Service) Reapply(ctx context.Context) (int, error) {
	ps, err := s.ledger.Pseudonyms()
	if err != nil || len(ps) == 0 {
		return 0, err
	}
	erased := make(map[string]bool, len(ps))
	for _, p := range ps {
		erased[p] = true
	}
	back, err := s.db.Read(ctx).SubjectsOf(erased)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range ps {
		subject, ok := back[p]
		if !ok {
			continue
		}
		_, err = s.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
			e, err := s.erase(tx, subject, "", privacy.MethodAPI, "consentry", true)
			if err != nil {
				return nil, err
			}
			if _, err := tx.ScrubWebhookEvents(subject, privacy.ErasedSubject(p)); err != nil {
				return nil, err
			}
			return e.events, nil
		})
		if err != nil {
			return n, fmt.Errorf("rights: erase again a subject the ledger records as erased: %w", err)
		}
		n++
	}
	if n > 0 {
		s.forget(ctx)
	}
	return n, nil
}
