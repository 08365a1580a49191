package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/consent"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/purpose"
	"github.com/consentry/consentry/internal/store"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// withLog opens the database and the audit log for a command that changes
// data, runs fn as the command-line actor, and closes both.
func withLog(ctx context.Context, cfg *config, stderr io.Writer, fn func(ctx context.Context, db *store.DB, log *audit.Log) error) error {
	db, _, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	log, err := openAudit(cfg, db, toolReactions(), slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), nil)
	if err != nil {
		return err
	}
	log.Start()
	defer log.Close()
	return fn(privacy.WithActor(ctx, cliActor), db, log)
}

// newNoticesCommand is `consentry notices publish DIR...`.
func newNoticesCommand(cfg *config, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "notices", Short: "Manage privacy notices kept as files"}
	cmd.AddCommand(&cobra.Command{
		Use:   "publish DIR...",
		Short: "Load, validate and publish notice directories (notice.yaml and one <locale>.md per locale)",
		Long: `Load each notice directory and make it the notice in force, through the same
service as the API: create the notice if it is new, draft the version, publish it.
A directory whose content is already in force is left alone. Publication is
refused, with every gap listed, while an active device naming the notice
collects something the version does not state.`,
		Example: "  consentry purposes load notices/purposes.yaml\n  consentry notices publish notices/acme-cam notices/acme-speaker",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, dirs []string) error {
			return withLog(cmd.Context(), cfg, stderr, func(ctx context.Context, db *store.DB, log *audit.Log) error {
				svc := notice.NewService(db, log)
				failed := 0
				for _, dir := range dirs {
					if err := publishDir(ctx, svc, dir, stdout, stderr); err != nil {
						var perr *privacy.Error
						if errors.As(err, &perr) {
							fmt.Fprintf(stderr, "%s: not published: %s\n", dir, perr.Detail)
						} else {
							fmt.Fprintf(stderr, "%s: not published: %v\n", dir, err)
						}
						failed++
					}
				}
				if failed > 0 {
					return fmt.Errorf("%d of %d notices not published", failed, len(dirs))
				}
				return nil
			})
		},
	})
	return cmd
}

func publishDir(ctx context.Context, svc *notice.Service, dir string, stdout, stderr io.Writer) error {
	f, err := notice.LoadDir(dir)
	if err != nil {
		return err
	}
	v, unchanged, err := svc.Apply(ctx, f)
	var perr *privacy.Error
	if errors.As(err, &perr) {
		for _, fe := range perr.Fields {
			fmt.Fprintf(stderr, "%s: %s: %s\n", dir, fe.Field, fe.Detail)
		}
		for _, g := range perr.Gaps {
			fmt.Fprintf(stderr, "%s: gap: device %s element %s purpose %s: %s (%s)\n", dir, g.DeviceID, g.Element, g.Purpose, g.Detail, g.Kind)
		}
	}
	if err != nil {
		return err
	}
	if unchanged {
		fmt.Fprintf(stdout, "%s: version %d already in force (sha256 %s)\n", f.Key, v.Version, v.ContentHash)
		return nil
	}
	material := "none"
	if len(v.MaterialPurposes) > 0 {
		material = strings.Join(v.MaterialPurposes, ", ")
	}
	fmt.Fprintf(stdout, "%s: published version %d (sha256 %s); materially changed purposes: %s\n", f.Key, v.Version, v.ContentHash, material)
	return nil
}

// filePurpose is one entry of a purposes file.
type filePurpose struct {
	Key         string `json:"key"`
	Name        string `json:"name"`
	Description string `json:"description"`
	LegalBasis  string `json:"legal_basis"`
}

// newPurposesCommand is `consentry purposes load FILE`.
func newPurposesCommand(cfg *config, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "purposes", Short: "Manage the purpose catalogue"}
	cmd.AddCommand(&cobra.Command{
		Use:     "load FILE",
		Short:   "Create or replace the purposes listed in a YAML file (key, name, description, legal_basis)",
		Example: "  consentry purposes load notices/purposes.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var ps []filePurpose
			if err := yaml.UnmarshalStrict(raw, &ps); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			return withLog(cmd.Context(), cfg, stderr, func(ctx context.Context, db *store.DB, log *audit.Log) error {
				svc := purpose.NewService(db, log)
				for i, fp := range ps {
					_, created, err := svc.Put(ctx, privacy.Purpose{Key: fp.Key, Name: fp.Name, Description: fp.Description, LegalBasis: privacy.LegalBasis(fp.LegalBasis)})
					if err != nil {
						return fmt.Errorf("%s: purpose %d (%s): %w", args[0], i, fp.Key, err)
					}
					what := "replaced"
					if created {
						what = "created"
					}
					fmt.Fprintf(stdout, "purpose %s %s\n", fp.Key, what)
				}
				return nil
			})
		},
	})
	return cmd
}

// newKeysCommand is `consentry keys rotate`.
func newKeysCommand(cfg *config, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage the consent receipt signing keys"}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Start signing receipts with a new key; earlier keys stay in the JWKS so old receipts still verify",
		Long: `Add a new Ed25519 receipt signing key to <data-dir>/receipt-keys.json. It signs
every receipt from now on (a running server picks it up within seconds); the
previous keys stay published at /.well-known/jwks.json. The rotation is recorded
in the audit log. The new kid is printed on standard output.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withLog(cmd.Context(), cfg, stderr, func(ctx context.Context, db *store.DB, log *audit.Log) error {
				keys, err := consent.OpenKeys(cfg.receiptKeys())
				if err != nil {
					return err
				}
				previous := keys.CurrentKID()
				var kid string
				_, err = log.Do(ctx, func(*audit.Tx) ([]event.Event, error) {
					var err error
					if kid, err = keys.Rotate(); err != nil {
						return nil, err
					}
					return []event.Event{event.ReceiptKeyRotated{KID: kid, Previous: previous}}, nil
				})
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(stdout, kid)
				return err
			})
		},
	})
	return cmd
}
