package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/consent"
	"github.com/consentry/consentry/internal/evidence"
	"github.com/consentry/consentry/internal/findings"
	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/rights"
	"github.com/consentry/consentry/internal/store"
	"github.com/spf13/cobra"
)

// newEvidenceCommand is `consentry evidence export|verify`.
func newEvidenceCommand(cfg *config, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "evidence", Short: "Export and verify evidence bundles for auditors (Control 32)"}

	var (
		out, from, to, previous string
		receipts                bool
	)
	export := &cobra.Command{
		Use:   "export",
		Short: "Write the evidence bundle (zip) from the data directory or database",
		Long: `Write the evidence bundle, as GET /v1/evidence does, straight from the
database: a newly signed checkpoint and every audit entry up to it, the record
of every consent entry written in [--from, --to) in the form the entries commit
to, notices, devices, inventories, the data policy and the public keys, under a
manifest signed with the audit key. It is pseudonymous: subjects appear only
under the audit log's keyed pseudonym, receipts by their hash; --receipts adds
the signed receipts, which name their subjects. The format is in
docs/evidence-bundle.md.`,
		Example: "  consentry evidence export --out evidence.zip\n  consentry evidence export --out next.zip --previous-checkpoint last.checkpoint",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := evidence.Options{Receipts: receipts}
			var err error
			if opts.From, err = parseFlagTime("from", from); err != nil {
				return err
			}
			if opts.To, err = parseFlagTime("to", to); err != nil {
				return err
			}
			if previous != "" {
				b, err := os.ReadFile(previous)
				if err != nil {
					return err
				}
				if opts.PreviousSize, err = evidence.ParseCheckpointSize(b); err != nil {
					return fmt.Errorf("%s: %w", previous, err)
				}
			}
			return withLog(cmd.Context(), cfg, stderr, func(ctx context.Context, db *store.DB, log *audit.Log) error {
				keys, err := consent.OpenKeys(cfg.receiptKeys())
				if err != nil {
					return err
				}
				data, err := authz.NewData(func() authz.Lines { return db.Read(context.Background()) })
				if err != nil {
					return err
				}
				review, err := findings.New(findings.Sources{DB: db, Log: log, Rules: data.Rules, KeyCreated: keys.CurrentCreated,
					Coverage: notice.NewService(db, log).Coverage}, findings.Options{SanitizeWithin: cfg.sanitizeWithin})
				if err != nil {
					return err
				}
				return exportBundle(ctx, out, evidence.Sources{DB: db, Log: log, JWKS: keys.JWKS, Findings: review.Refresh, NoticePage: notice.WritePage}, opts, stdout)
			})
		},
	}
	export.Flags().StringVar(&out, "out", "", "file to write the bundle to (required)")
	export.Flags().StringVar(&from, "from", "", "consent records whose entries were written at or after this RFC 3339 time (default: all)")
	export.Flags().StringVar(&to, "to", "", "consent records whose entries were written before this RFC 3339 time (default: now)")
	export.Flags().BoolVar(&receipts, "receipts", false, "add the signed receipts, which name their subjects (profile with-receipts)")
	export.Flags().StringVar(&previous, "previous-checkpoint", "", "the checkpoint of the previous bundle: the new one holds the consistency proof from it")
	_ = export.MarkFlagRequired("out")
	cmd.AddCommand(export)

	var keyFile, save string
	verify := &cobra.Command{
		Use:   "verify BUNDLE|EXPORT",
		Short: "Verify an evidence bundle, or a subject's access export, offline: no server, no database",
		Long: `Verify an evidence bundle with nothing but the bundle: the manifest's
signature and every file's SHA-256; the audit log against its signed
checkpoint, and consistency with --previous-checkpoint; the replay that no
allow decision happened without a consent in force; every consent record line
against the audit entries that recorded it (each commits to the whole record:
a changed field, a missing, added or reordered line is named); with the
receipts profile, every receipt's signature against the deployment's receipt
keys and its hash against its record; every device and inventory line, every
notice file and the data policy against the entries that recorded them; then it
replays the five checks (device, inventory, notice, policy, consent) at every
decision and fails on an allow any check denies, or a deny whose reasons differ.

Pin the deployment's audit key with --key (the file audit-verifier.key, or the
text of GET /v1/audit/key, obtained out of band): without it the bundle's own
key is used, which proves the bundle is whole but not whose it is.

It prints a summary, or the first item that fails, and exits non-zero on failure.

Given a subject's access export (JSON, from GET /v1/subjects/requests/{id}/export)
instead, it checks the checkpoint's signature, every entry's inclusion proof,
and every consent record and decision against the entry that recorded it.`,
		Example: "  consentry evidence verify evidence.zip --key audit-verifier.key --save-checkpoint last.checkpoint\n" +
			"  consentry evidence verify next.zip --key audit-verifier.key --previous-checkpoint last.checkpoint",
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var opts evidence.VerifyOptions
			if keyFile != "" {
				b, err := os.ReadFile(keyFile)
				if err != nil {
					return err
				}
				opts.VerifierKey = strings.TrimSpace(string(b))
			}
			if previous != "" {
				b, err := os.ReadFile(previous)
				if err != nil {
					return err
				}
				opts.Previous = b
			}
			return verifyBundle(args[0], opts, save, stdout, stderr)
		},
	}
	verify.Flags().StringVar(&keyFile, "key", "", "file with the deployment's audit verifier key (name+hash+base64)")
	verify.Flags().StringVar(&previous, "previous-checkpoint", "", "the checkpoint of an earlier bundle: the log must extend it")
	verify.Flags().StringVar(&save, "save-checkpoint", "", "after success, write the bundle's checkpoint here, for the next --previous-checkpoint")
	cmd.AddCommand(verify)
	return cmd
}

func parseFlagTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s: not an RFC 3339 time (e.g. 2026-01-31T00:00:00Z): %w", name, err)
	}
	return t, nil
}

// exportBundle writes to a temporary file and renames it, so that a failed
// export never leaves a file that looks like a bundle.
func exportBundle(ctx context.Context, out string, src evidence.Sources, opts evidence.Options, stdout io.Writer) error {
	f, err := os.CreateTemp(filepath.Dir(out), ".evidence-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	m, err := evidence.Export(ctx, f, src, opts)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(f.Name(), out); err != nil {
		return err
	}
	from := "the beginning"
	if !m.From.IsZero() {
		from = m.From.Format(time.RFC3339)
	}
	_, err = fmt.Fprintf(stdout, "wrote %s: %d files, audit log of %d entries (origin %s), consent records from %s to %s\n",
		out, len(m.Files)+1, m.AuditSize, m.Origin, from, m.To.Format(time.RFC3339))
	return err
}

func verifyBundle(path string, opts evidence.VerifyOptions, save string, stdout, stderr io.Writer) error {
	if export, err := isSubjectExport(path); err != nil {
		return err
	} else if export {
		return verifySubjectExport(path, opts.VerifierKey, stdout, stderr)
	}
	sum, err := evidence.Verify(path, opts)
	if err != nil {
		var f *evidence.Failure
		if errors.As(err, &f) {
			return fmt.Errorf("evidence bundle does NOT verify: first broken item: %s: %s", f.Item, f.Detail)
		}
		return fmt.Errorf("evidence bundle does NOT verify: %w", err)
	}
	if !sum.KeyPinned {
		fmt.Fprintln(stderr, "warning: no --key given: verified with the bundle's own key, which shows the bundle is whole, not whose it is")
	}
	fmt.Fprintf(stdout, "ok: manifest signed by %s; %d files match their SHA-256\n", sum.Origin, sum.Files)
	fmt.Fprintf(stdout, "ok: audit log of %d entries matches its signed checkpoint\n", sum.AuditSize)
	if len(opts.Previous) > 0 {
		fmt.Fprintf(stdout, "ok: consistent with the previous checkpoint\n")
	}
	fmt.Fprintf(stdout, "ok: %d allow decisions, each relying on a consent in force\n", sum.Allows)
	fmt.Fprintf(stdout, "ok: %d decisions judged again at their place: device, inventory, notice, policy, consent and the rules about children agree (%d without the policy check, written before decisions named their service)\n",
		sum.Judged, sum.WithoutPolicy)
	fmt.Fprintf(stdout, "ok: %d devices and %d inventory versions as their entries recorded them (%d lines from before entries committed to them)\n",
		sum.Devices, sum.Inventories, sum.UnboundLines)
	fmt.Fprintf(stdout, "ok: %d consent records, each as its audit entries recorded it (%d bound by their receipt's hash only, written before records were bound)\n",
		sum.Consents, sum.Unbound)
	if sum.Profile == evidence.ProfileWithReceipts {
		fmt.Fprintf(stdout, "ok: %d receipts signed by this deployment, each the one its record names\n", sum.Receipts)
	} else {
		fmt.Fprintf(stdout, "ok: profile %s: no subject in clear, receipts by their hash\n", sum.Profile)
	}
	fmt.Fprintf(stdout, "ok: %d notice versions hash to their content_sha256\n", sum.Notices)
	if save != "" {
		if err := saveCheckpoint(path, save); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "saved the checkpoint to %s\n", save)
	}
	return nil
}

// isSubjectExport reports whether the file at path is an access export
// (JSON) rather than an evidence bundle (zip).
func isSubjectExport(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, nil // the bundle verifier names what is wrong with it
	}
	defer f.Close()
	head := make([]byte, 128)
	n, _ := io.ReadFull(f, head)
	return rights.IsExport(head[:n]), nil
}

// verifySubjectExport checks an access export offline.
func verifySubjectExport(path, key string, stdout, stderr io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sum, err := rights.VerifyExport(f, key)
	if err != nil {
		return fmt.Errorf("access export does NOT verify: %w", err)
	}
	if key == "" {
		fmt.Fprintln(stderr, "warning: no --key given: verified with the export's own key, which shows the export is whole, not whose it is")
	}
	fmt.Fprintf(stdout, "ok: access export for %s: checkpoint of %d entries signed by %s\n", sum.Subject, sum.Size, sum.Origin)
	fmt.Fprintf(stdout, "ok: %d audit entries naming the subject, each in the checkpoint's tree (RFC 6962 inclusion proofs)\n", sum.Entries)
	fmt.Fprintf(stdout, "ok: %d consent records and their receipts, each as its entries committed to it; %d decisions, each as its entry recorded it\n",
		sum.ConsentRecords, sum.Decisions)
	return nil
}

func saveCheckpoint(bundle, path string) error {
	b, err := evidence.ReadCheckpoint(bundle)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
