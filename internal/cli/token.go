package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/tokens"
)

func (a *app) tokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token create|list|revoke",
		Short: "Registry access tokens: made here, kept in the evidence store as hashes",
	}
	cmd.AddCommand(a.tokenCreateCommand(), a.tokenListCommand(), a.tokenRevokeCommand())
	return cmd
}

func (a *app) tokenCreateCommand() *cobra.Command {
	var sf storeFlags
	var repos, role, description string
	var expires time.Duration
	cmd := &cobra.Command{
		Use:   "create --repo GLOB --role pull|push|admin|notify [--expires DURATION]",
		Short: "Make a registry token and print it once (the store keeps only its hash); works whether dossier serve runs or not",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if repos == "" {
				return usageError("give --repo GLOB: the repositories the token reaches (** for all)")
			}
			if _, err := policy.CompileGlob(repos); err != nil {
				return usageError("--repo: %v", err)
			}
			switch role {
			case store.RolePull, store.RolePush, store.RoleAdmin, store.RoleNotify:
			default:
				return usageError("--role %q: want pull, push, admin or notify", role)
			}
			if expires < 0 {
				return usageError("--expires %s: want a positive duration", expires)
			}
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			secret, hash, err := tokens.New()
			if err != nil {
				return err
			}
			t := store.Token{Repositories: repos, Role: role, Description: description, CreatedAt: time.Now().UTC()}
			if expires > 0 {
				e := t.CreatedAt.Add(expires)
				t.ExpiresAt = &e
			}
			id, err := st.CreateToken(cmd.Context(), hash, t)
			if err != nil {
				return err
			}
			until := "never expires"
			if t.ExpiresAt != nil {
				until = "expires " + t.ExpiresAt.Format(time.RFC3339)
			}
			fmt.Fprintf(a.stderr, "token %d: %s on %s, %s (shown once; use it as the password of any user name)\n", id, role, repos, until)
			fmt.Fprintln(a.stdout, secret)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&repos, "repo", "", "glob of the repositories it reaches (team/**, **)")
	cmd.Flags().StringVar(&role, "role", "", "pull, push (and pull), admin (and delete, and the catalog), or notify (only push notifications of guarded registries, /api/v1/hooks/)")
	cmd.Flags().DurationVar(&expires, "expires", 0, "how long it is valid (default: until revoked)")
	cmd.Flags().StringVar(&description, "description", "", "what it is for")
	return cmd
}

func (a *app) tokenListCommand() *cobra.Command {
	var sf storeFlags
	var output string
	cmd := &cobra.Command{
		Use:   "list [-o table|json]",
		Short: "List registry tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "table", "json"); err != nil {
				return err
			}
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			tokens, err := st.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(a.stdout, tokens)
			}
			t := newTable(a.stdout)
			fmt.Fprintln(t, "ID\tROLE\tREPOSITORIES\tCREATED\tEXPIRES\tORIGIN\tDESCRIPTION")
			for _, tok := range tokens {
				expires := "-"
				if tok.ExpiresAt != nil {
					expires = tok.ExpiresAt.Format(time.RFC3339)
				}
				fmt.Fprintf(t, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", tok.ID, tok.Role, tok.Repositories, tok.CreatedAt.Format(time.RFC3339), expires, dash(tok.Origin), dash(tok.Description))
			}
			return t.Flush()
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func (a *app) tokenRevokeCommand() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a registry token and the UI sessions logged in with it (servers sharing the store stop accepting it within 5 seconds)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usageError("token ID %q: want the number dossier token list shows", args[0])
			}
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			found, err := st.RevokeToken(cmd.Context(), id)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("no token %d in the store", id)
			}
			fmt.Fprintf(a.stderr, "token %d revoked, with its UI sessions\n", id)
			return nil
		},
	}
	sf.register(cmd)
	return cmd
}
