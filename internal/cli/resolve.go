package cli

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/oci"
)

// resolveSource parses and resolves input and, when the input did not
// already name the digest, says on stderr which digest it resolved to.
func (a *app) resolveSource(ctx context.Context, input string) (*oci.Artifact, error) {
	src, err := oci.ParseSource(input)
	if err != nil {
		return nil, err
	}
	art, err := oci.Resolve(ctx, src, a.registry)
	if err != nil {
		return nil, err
	}
	if src.IsImage() && src.Digest == "" && !hasDigest(src.Reference) {
		fmt.Fprintf(a.stderr, "resolved %s to %s\n", input, art.Subject)
	}
	return art, nil
}

func hasDigest(ref string) bool { return strings.Contains(ref, "@") }

func parsePlatformFlag(s string) (*v1.Platform, error) {
	if s == "" {
		return nil, nil
	}
	return oci.ParsePlatform(s)
}

type resolveOutput struct {
	Input          string         `json:"input"`
	Kind           oci.Kind       `json:"kind"`
	Repository     string         `json:"repository"`
	Tag            string         `json:"tag,omitempty"`
	Digest         string         `json:"digest"`
	MediaType      string         `json:"mediaType,omitempty"`
	Size           int64          `json:"size,omitempty"`
	Platforms      []oci.Platform `json:"platforms,omitempty"`
	Platform       string         `json:"platform,omitempty"`
	PlatformDigest string         `json:"platformDigest,omitempty"`
}

func (a *app) resolveCommand() *cobra.Command {
	var output, platform string
	cmd := &cobra.Command{
		Use:   "resolve SOURCE",
		Short: "Print the digest a reference points to now (repository@sha256:…)",
		Long: `Resolve a reference to the immutable digest it points to now.

For a multi-platform index it prints the index digest; with --platform os/arch[/variant] it
prints the digest of that platform's manifest. -o json adds tag, media type, size and platforms.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			p, err := parsePlatformFlag(platform)
			if err != nil {
				return usageError("%v", err)
			}
			art, err := a.resolveSource(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := resolveOutput{
				Input: args[0], Kind: art.Source.Kind, Repository: art.Subject.Repository, Tag: art.Tag,
				Digest: art.Subject.Digest, MediaType: art.MediaType, Size: art.Size, Platforms: art.Platforms,
			}
			line := art.Subject.String()
			if p != nil {
				d, err := art.PlatformDigest(*p)
				if err != nil {
					return err
				}
				out.Platform, out.PlatformDigest = p.String(), d
				line = art.Subject.Repository + "@" + d
			}
			if output == "json" {
				return writeJSON(a.stdout, out)
			}
			fmt.Fprintln(a.stdout, line)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&platform, "platform", "", "select a platform of a multi-platform index: os/arch[/variant]")
	return cmd
}
