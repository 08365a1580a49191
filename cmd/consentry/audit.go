package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/consent"
	"github.com/consentry/consentry/internal/decide"
	"github.com/consentry/consentry/internal/evidence"
	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/store"
	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/tlog"
)

// verifyFlags are the inputs of `consentry audit verify`.
type verifyFlags struct {
	server, token                string
	keyFile, olderFile, saveFile string
	entriesFile, checkpointFile  string
	exportFile                   string
	database                     bool
}

// newAuditCommand is `consentry audit verify`: an auditor's check of the
// log, online against a server or offline on exported files.
func newAuditCommand(cfg *config, getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Check the tamper-evident audit log"}
	var f verifyFlags
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Verify the audit log: entries, tree root, signed checkpoint, consistency, no allow without consent",
		Long: `Verify the audit log without trusting the server.

Online, against a running server (auditor token in CONSENTRY_TOKEN or --token):
  consentry audit verify --server http://127.0.0.1:8080 --key audit-verifier.key \
      --older saved.checkpoint --save saved.checkpoint --export entries.ndjson

Offline, on files exported earlier:
  consentry audit verify --entries entries.ndjson --checkpoint saved.checkpoint --key audit-verifier.key

Against the database itself, where it runs (--data-dir, or CONSENTRY_DATABASE_URL):
  consentry audit verify --database

With --database it also checks every record the entries commit to, as it
stands in the database now: each consent record, device, inventory version,
published notice and the data policy must be what its entry recorded (an edit
made in the database is named), every decision is judged again, all five
checks at its place (what consentry evidence verify checks on a bundle), and
the subject index, which searches by subject read, must hold exactly the
entries below its marks.

It checks the checkpoint's signature, every entry's canonical form and sequence
number, the tree root against the checkpoint, consistency with an older saved
checkpoint, and replays the log: no allow decision without a granted, unexpired,
unwithdrawn consent for its subject, device and purpose. The first entry that
breaks a check is named, and the exit status is non-zero.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.database {
				if f.server != "" || f.entriesFile != "" {
					return errors.New("--database checks the database itself: leave out --server and --entries")
				}
				return verifyDatabase(cmd.Context(), cfg, f.keyFile, stdout, stderr)
			}
			if f.token == "" {
				f.token = getenv("CONSENTRY_TOKEN")
			}
			return verifyAudit(cmd.Context(), f, stdout, stderr)
		},
	}
	fl := verify.Flags()
	fl.StringVar(&f.server, "server", "", "base URL of a Consentry server (online mode)")
	fl.StringVar(&f.token, "token", "", "auditor token (default $CONSENTRY_TOKEN)")
	fl.StringVar(&f.keyFile, "key", "", "file with the checkpoint verifier key (name+hash+base64); online, the server's key is used (and reported) when absent")
	fl.StringVar(&f.olderFile, "older", "", "an earlier signed checkpoint the log must extend")
	fl.StringVar(&f.saveFile, "save", "", "online: write the verified checkpoint here, for the next --older")
	fl.StringVar(&f.exportFile, "export", "", "online: write the verified entries here as NDJSON, for offline verification")
	fl.StringVar(&f.entriesFile, "entries", "", "offline: NDJSON entries file ({\"seq\":N,\"leaf\":\"base64\"} per line)")
	fl.StringVar(&f.checkpointFile, "checkpoint", "", "offline: the signed checkpoint to verify against")
	fl.BoolVar(&f.database, "database", false, "check the database of --data-dir (or CONSENTRY_DATABASE_URL): the log and every record it commits to, and replay every decision")
	cmd.AddCommand(verify)
	return cmd
}

// exportedEntry is one line of an entries file: the same shape the API serves.
type exportedEntry struct {
	Seq  int64  `json:"seq"`
	Leaf string `json:"leaf"`
}

func verifyAudit(ctx context.Context, f verifyFlags, stdout, stderr io.Writer) error {
	online := f.server != ""
	if online == (f.entriesFile != "") {
		return errors.New("give either --server (online) or --entries with --checkpoint (offline)")
	}
	in := audit.VerifyInput{}
	var err error
	if f.olderFile != "" {
		if in.Older, err = os.ReadFile(f.olderFile); err != nil {
			return err
		}
	}
	if f.keyFile != "" {
		b, err := os.ReadFile(f.keyFile)
		if err != nil {
			return err
		}
		in.VerifierKey = strings.TrimSpace(string(b))
	}
	var export *os.File
	if online {
		c := &apiClient{base: strings.TrimRight(f.server, "/"), token: f.token, http: &http.Client{Timeout: 60 * time.Second}}
		if in.VerifierKey == "" {
			key, err := c.get(ctx, "/v1/audit/key")
			if err != nil {
				return err
			}
			in.VerifierKey = strings.TrimSpace(string(key))
			fmt.Fprintf(stderr, "warning: using the server's own key %s; pin it with --key to verify without trusting the server\n", in.VerifierKey)
		}
		if in.Checkpoint, err = c.get(ctx, "/v1/audit/checkpoint"); err != nil {
			return err
		}
		in.Entries = c.entries(ctx)
		in.Prove = c.prove(ctx)
		if f.exportFile != "" {
			if export, err = os.Create(f.exportFile); err != nil {
				return err
			}
			defer export.Close()
			in.Entries = tee(in.Entries, export)
		}
	} else {
		if f.checkpointFile == "" || in.VerifierKey == "" {
			return errors.New("offline verification needs --entries, --checkpoint and --key")
		}
		if in.Checkpoint, err = os.ReadFile(f.checkpointFile); err != nil {
			return err
		}
		file, err := os.Open(f.entriesFile)
		if err != nil {
			return err
		}
		defer file.Close()
		in.Entries = readEntries(file)
	}
	res, err := audit.Verify(in)
	if err != nil {
		return fmt.Errorf("audit log does NOT verify: %w", err)
	}
	if f.saveFile != "" {
		if err := os.WriteFile(f.saveFile, in.Checkpoint, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "ok: %s, %d entries, root %s\n", res.Origin, res.Size, base64.StdEncoding.EncodeToString(res.Root[:]))
	if res.OlderSize > 0 {
		fmt.Fprintf(stdout, "ok: consistent with the older checkpoint of size %d\n", res.OlderSize)
	}
	fmt.Fprintf(stdout, "ok: %d allow decisions, each relying on a consent in force\n", res.Allows)
	return nil
}

// apiClient calls the audit API.
type apiClient struct {
	base, token string
	http        *http.Client
}

func (c *apiClient) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

func (c *apiClient) entries(ctx context.Context) iter.Seq2[audit.StoredEntry, error] {
	return func(yield func(audit.StoredEntry, error) bool) {
		from := int64(0)
		for {
			body, err := c.get(ctx, fmt.Sprintf("/v1/audit/entries?from=%d&limit=1000", from))
			if err != nil {
				yield(audit.StoredEntry{}, err)
				return
			}
			var page struct {
				Items    []exportedEntry `json:"items"`
				NextFrom *int64          `json:"next_from"`
			}
			if err := json.Unmarshal(body, &page); err != nil {
				yield(audit.StoredEntry{}, fmt.Errorf("entries page: %w", err))
				return
			}
			for _, e := range page.Items {
				se, err := e.decode()
				if !yield(se, err) || err != nil {
					return
				}
			}
			if page.NextFrom == nil {
				return
			}
			from = *page.NextFrom
		}
	}
}

func (c *apiClient) prove(ctx context.Context) func(seq, size int64) ([]tlog.Hash, error) {
	return func(seq, size int64) ([]tlog.Hash, error) {
		body, err := c.get(ctx, fmt.Sprintf("/v1/audit/entries/%d/proof?size=%d", seq, size))
		if err != nil {
			return nil, err
		}
		var p struct {
			Proof []string `json:"proof"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, err
		}
		out := make([]tlog.Hash, len(p.Proof))
		for i, s := range p.Proof {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil || len(b) != tlog.HashSize {
				return nil, fmt.Errorf("proof hash %d is not a base64 SHA-256", i)
			}
			copy(out[i][:], b)
		}
		return out, nil
	}
}

func (e exportedEntry) decode() (audit.StoredEntry, error) {
	leaf, err := base64.StdEncoding.DecodeString(e.Leaf)
	if err != nil {
		return audit.StoredEntry{}, fmt.Errorf("entry %d: leaf is not base64", e.Seq)
	}
	return audit.StoredEntry{Seq: e.Seq, Leaf: leaf}, nil
}

// readEntries reads an NDJSON entries file.
func readEntries(r io.Reader) iter.Seq2[audit.StoredEntry, error] {
	return func(yield func(audit.StoredEntry, error) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			if len(strings.TrimSpace(sc.Text())) == 0 {
				continue
			}
			var e exportedEntry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				yield(audit.StoredEntry{}, fmt.Errorf("entries file: %w", err))
				return
			}
			se, err := e.decode()
			if !yield(se, err) || err != nil {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(audit.StoredEntry{}, err)
		}
	}
}

// tee writes every entry that passes through to w as NDJSON.
func tee(in iter.Seq2[audit.StoredEntry, error], w io.Writer) iter.Seq2[audit.StoredEntry, error] {
	enc := json.NewEncoder(w)
	return func(yield func(audit.StoredEntry, error) bool) {
		for se, err := range in {
			if err == nil {
				if werr := enc.Encode(exportedEntry{Seq: se.Seq, Leaf: base64.StdEncoding.EncodeToString(se.Leaf)}); werr != nil {
					yield(se, werr)
					return
				}
			}
			if !yield(se, err) {
				return
			}
		}
	}
}

// verifyDatabase is `audit verify --database`: it cuts a pseudonymous
// bundle of the whole database to a temporary file and verifies it with
// the deployment's verifier key (or keyFile), so every record is checked
// against the entry that committed to it exactly as an auditor would.
func verifyDatabase(ctx context.Context, cfg *config, keyFile string, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "consentry-verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "bundle.zip")
	var (
		key       string
		decisions int
		stored    error // a stored decision that is not what its entry recorded
		indexed   int64
		index     error // the subject index is not the entries below its marks
	)
	err = withLog(ctx, cfg, stderr, func(ctx context.Context, db *store.DB, log *audit.Log) error {
		keys, err := consent.OpenKeys(cfg.receiptKeys())
		if err != nil {
			return err
		}
		key = log.VerifierKey()
		if err := exportBundle(ctx, path, evidence.Sources{DB: db, Log: log, JWKS: keys.JWKS, NoticePage: notice.WritePage},
			evidence.Options{AsStored: true}, io.Discard); err != nil {
			return err
		}
		// Decisions are not in a bundle (the log holds what they decided,
		// and commits to their steps): each row is checked here.
		data, err := authz.NewData(func() authz.Lines { return db.Read(context.Background()) })
		if err != nil {
			return err
		}
		decisions, stored = decide.NewService(db, log, data, nil).CheckStored(ctx)
		// Nor is the subject index, which searches by subject and access
		// exports read: it must be exactly the entries below its marks.
		indexed, index = db.Read(ctx).CheckAuditSubjects()
		return nil
	})
	if err != nil {
		return err
	}
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return err
		}
		key = strings.TrimSpace(string(b))
	}
	if err := verifyBundle(path, evidence.VerifyOptions{VerifierKey: key}, "", stdout, stderr); err != nil {
		return err
	}
	if stored != nil {
		return fmt.Errorf("the database does NOT match the audit log: %w", stored)
	}
	fmt.Fprintf(stdout, "ok: %d stored decisions, each with the request, outcome, reasons and steps its entry recorded\n", decisions)
	if index != nil {
		return fmt.Errorf("the database does NOT match the audit log: %w", index)
	}
	fmt.Fprintf(stdout, "ok: the subject index holds exactly the %d entries below its marks\n", indexed)
	return nil
}
