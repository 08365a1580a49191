package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/consentry/consentry/internal/client"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/spf13/cobra"
)

// newClientsCommand is `consentry clients create|list|revoke|rotate`: the
// API clients' lifecycle, on the database directly (a running server sees
// a revocation within client.KnownFor).
func newClientsCommand(cfg *config, stdout, stderr io.Writer) *cobra.Command {
	clients := &cobra.Command{Use: "clients", Short: "Manage API clients: create, list, revoke, rotate"}
	// withService opens the database and the audit log for one command.
	withService := func(cmd *cobra.Command, fn func(ctx context.Context, s *client.Service) error) error {
		db, _, err := openDB(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		defer db.Close()
		log, err := openAudit(cfg, db, toolReactions(), slog.New(slog.NewTextHandler(stderr, nil)), nil)
		if err != nil {
			return err
		}
		log.Start()
		defer log.Close()
		return fn(privacy.WithActor(cmd.Context(), cliActor), client.NewService(db, log))
	}

	var (
		name, role string
		expiresIn  time.Duration
		expiresAt  string
		redirects  []string
	)
	create := &cobra.Command{
		Use:     "create",
		Short:   "Create an API client and print its token (alone, on standard output)",
		Example: "  TOKEN=$(consentry clients create --name ios-app --role app --redirect-uri com.acme.tracker:/consent)\n  TOKEN=$(consentry clients create --name partner --role service --expires-in 720h)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var expires time.Time
			switch {
			case expiresIn != 0 && expiresAt != "":
				return errors.New("give --expires-in or --expires-at, not both")
			case expiresIn < 0:
				return errors.New("--expires-in must be positive")
			case expiresIn > 0:
				expires = time.Now().Add(expiresIn)
			case expiresAt != "":
				t, err := time.Parse(time.RFC3339, expiresAt)
				if err != nil {
					return fmt.Errorf("--expires-at %q is not an RFC 3339 time such as 2027-06-30T00:00:00Z", expiresAt)
				}
				expires = t
			}
			return withService(cmd, func(ctx context.Context, s *client.Service) error {
				c, token, err := s.Create(ctx, name, privacy.Role(role), expires, redirects...)
				if err != nil {
					return err
				}
				until := ""
				if !c.ExpiresAt.IsZero() {
					until = ", expires " + c.ExpiresAt.Format(time.RFC3339)
				}
				fmt.Fprintf(stderr, "created client %s (%s, role %s%s); the token below is shown once\n", c.ID, c.Name, c.Role, until)
				_, err = fmt.Fprintln(stdout, token)
				return err
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "client name (required)")
	create.Flags().StringVar(&role, "role", "", "admin, app, service or auditor (required)")
	create.Flags().DurationVar(&expiresIn, "expires-in", 0, "the client's tokens stop working after this long, e.g. 720h (default: never; revoke to end them)")
	create.Flags().StringVar(&expiresAt, "expires-at", "", "the client's tokens stop working at this RFC 3339 time")
	create.Flags().StringArrayVar(&redirects, "redirect-uri", nil, "an app's: where the hosted consent flow may send people back (repeat for more), e.g. com.acme.tracker:/consent")
	_ = create.MarkFlagRequired("name")
	_ = create.MarkFlagRequired("role")

	list := &cobra.Command{
		Use:   "list",
		Short: "List every API client with its role and status (never a token)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withService(cmd, func(ctx context.Context, s *client.Service) error {
				w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tNAME\tROLE\tSTATUS\tCREATED\tEXPIRES\tREVOKED")
				now := time.Now()
				for after := ""; ; {
					page, more, err := s.List(ctx, after, 200)
					if err != nil {
						return err
					}
					for _, c := range page {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, c.Role, c.Status(now),
							c.CreatedAt.Format(time.RFC3339), orDash(c.ExpiresAt), orDash(c.RevokedAt))
					}
					if !more {
						break
					}
					after = page[len(page)-1].ID
				}
				return w.Flush()
			})
		},
	}

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API client: its tokens stop working, for good",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withService(cmd, func(ctx context.Context, s *client.Service) error {
				c, err := s.Revoke(ctx, args[0])
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(stdout, "revoked client %s (%s, role %s)\n", c.ID, c.Name, c.Role)
				return err
			})
		},
	}

	var grace time.Duration
	rotate := &cobra.Command{
		Use:     "rotate ID",
		Short:   "Give an API client a new token (printed alone on standard output); the old one works for --grace",
		Example: "  TOKEN=$(consentry clients rotate 0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e --grace 1h)",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withService(cmd, func(ctx context.Context, s *client.Service) error {
				c, token, err := s.Rotate(ctx, args[0], grace)
				if err != nil {
					return err
				}
				fmt.Fprintf(stderr, "rotated the token of client %s (%s); the previous one works until %s; the token below is shown once\n",
					c.ID, c.Name, c.PreviousExpiresAt.Format(time.RFC3339))
				_, err = fmt.Fprintln(stdout, token)
				return err
			})
		},
	}
	rotate.Flags().DurationVar(&grace, "grace", 0, "how long the replaced token keeps working, at most 720h (default 0: it stops at once)")

	clients.AddCommand(create, list, revoke, rotate)
	return clients
}

func orDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}
