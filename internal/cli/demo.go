package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/pipeline"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/query"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// demoCommand runs the main job on the bundled sample images with no
// servers to install: an in-process registry on 127.0.0.1, a throw-away
// key, the release pipeline on every sample, a tag overwrite, and the
// responder's questions answered from the evidence store.
func (a *app) demoCommand() *cobra.Command {
	var advisories string
	cmd := &cobra.Command{
		Use:   "demo [SAMPLES_DIR]",
		Short: "Run dossier end to end on the bundled sample images (default samples/layouts)",
		Long: `Run dossier end to end on the bundled sample images, with nothing to install: an in-process registry
on 127.0.0.1 receives each sample; the release pipeline (SBOM, scan, sign, attest, record) runs on
each digest with a throw-away key; one tag is then overwritten; and the responder's questions are
answered from the evidence store. The OSV records at --advisories (by default the real records
bundled with the samples that match them; or a directory of <Ecosystem>/all.zip, as OSV publishes
them) are imported into a temporary database for the scans.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "samples/layouts"
			if len(args) == 1 {
				dir = args[0]
			}
			names, err := sampleLayouts(dir)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			work, err := os.MkdirTemp("", "dossier-demo-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			db, err := a.demoDatabase(ctx, advisories, work)
			if err != nil {
				return err
			}
			if db != nil {
				defer db.Close()
			}
			host, stop, err := startDemoRegistry()
			if err != nil {
				return err
			}
			defer stop()
			st, err := store.Open(ctx, work, "")
			if err != nil {
				return err
			}
			defer st.Close()
			kp, err := sign.GenerateKeyPair()
			if err != nil {
				return err
			}
			signer := sign.NewKeySigner(kp, "")
			spki, err := x509.MarshalPKIXPublicKey(kp.Public())
			if err != nil {
				return err
			}
			trust, err := a.pipelineTrust(signer, "", false)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "registry: %s (in process)   evidence store: %s\n\n", host, filepath.Join(work, store.FileName))
			for _, n := range names {
				ref := host + "/demo/" + n + ":v1"
				if err := pushLayout(ctx, filepath.Join(dir, n), ref); err != nil {
					return err
				}
				art, err := a.resolveSource(ctx, ref)
				if err != nil {
					return err
				}
				out, err := pipeline.Release(ctx, st, art, pipeline.ReleaseOptions{Signer: signer, Trust: trust, DB: db})
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "== pipeline %s\n", ref)
				if err := a.releaseOutputs(out, "text", ""); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout)
			}
			// the npm-app tag is overwritten with other content and recorded
			moved := host + "/demo/npm-app:v1"
			if err := pushLayout(ctx, filepath.Join(dir, names[0]), moved); err != nil {
				return err
			}
			art, err := a.resolveSource(ctx, moved)
			if err != nil {
				return err
			}
			if _, err := pipeline.Record(ctx, st, art, pipeline.RecordOptions{Trust: trust, DB: db, Set: &policy.Set{}}); err != nil {
				return err
			}
			return a.demoAnswers(ctx, st, host, evidence.KeyFingerprint(spki))
		},
	}
	cmd.Flags().StringVar(&advisories, "advisories", filepath.Join("samples", "advisories"), "directory of OSV records, or of <Ecosystem>/all.zip, to scan the samples against")
	return cmd
}

func sampleLayouts(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("samples %s: %w (run from the repository root or name the directory)", dir, err)
	}
	var names []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "oci-layout")); err == nil {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("samples %s: no OCI layouts found", dir)
	}
	sort.Strings(names)
	return names, nil
}

// demoAnswers asks the responder's questions of the store.
func (a *app) demoAnswers(ctx context.Context, st *store.Store, host, keyFingerprint string) error {
	w := a.stdout
	fmt.Fprintln(w, "== which digests contain lodash older than 4.17.21?   dossier query component 'pkg:npm/lodash@<4.17.21'")
	spec, _ := query.ParseComponent("pkg:npm/lodash@<4.17.21")
	hits, err := query.Components(ctx, st, spec, store.Page{})
	if err != nil {
		return err
	}
	for _, h := range hits.Hits {
		fmt.Fprintf(w, "  %s  tags: %s  %s %s  at %s\n", h.Subject, dash(strings.Join(h.Tags, ",")), h.Component.Name, h.Component.Version, dash(strings.Join(h.Component.Locations, ",")))
	}
	fmt.Fprintln(w, "\n== which digests does CVE-2021-44906 (minimist) affect?   dossier query advisory CVE-2021-44906")
	affected, err := st.Affected(ctx, "CVE-2021-44906", store.Page{})
	if err != nil {
		return err
	}
	if affected.Total == 0 {
		fmt.Fprintln(w, "  none recorded (no advisory data was imported)")
	}
	for _, h := range affected.Hits {
		fmt.Fprintf(w, "  %s  %s %s %s\n", h.Subject, h.Finding.ID, h.Finding.Component.Name, h.Finding.Component.Version)
	}
	fmt.Fprintf(w, "\n== where did %s/demo/npm-app:v1 point?   dossier query tag %s/demo/npm-app:v1\n", host, host)
	history, err := st.TagHistory(ctx, host+"/demo/npm-app", "v1")
	if err != nil {
		return err
	}
	for _, m := range history {
		fmt.Fprintf(w, "  %s  %s  (%s)\n", m.ObservedAt.Format(time.RFC3339), m.Digest, m.Source)
	}
	fmt.Fprintln(w, "\n== what did the release key sign in the last hour?   dossier query signed --key KEY.pub --from T --to T")
	now := time.Now()
	signed, err := st.Signed(ctx, store.SignerFilter{KeyFingerprint: keyFingerprint}, now.Add(-time.Hour), now.Add(time.Minute))
	if err != nil {
		return err
	}
	for _, h := range signed {
		fmt.Fprintf(w, "  %s  tags: %s  %s\n", h.Subject, dash(strings.Join(h.Tags, ",")), signedWhat(h.PredicateType))
	}
	fmt.Fprintln(w, "\n== everything about the first digest of that tag   dossier query digest REPOSITORY@DIGEST")
	if len(history) > 0 {
		d, err := st.Dossier(ctx, evidence.Subject{Repository: host + "/demo/npm-app", Digest: history[0].Digest})
		if err != nil {
			return err
		}
		if d != nil {
			renderDossier(a, d)
		}
	}
	return nil
}

// demoDatabase imports the OSV data under dir (<Ecosystem>/all.zip, or
// records) into a database in work, or returns nil when there is none.
func (a *app) demoDatabase(ctx context.Context, dir, work string) (*vulndb.DB, error) {
	sources, _ := filepath.Glob(filepath.Join(dir, "*", "all.zip"))
	if len(sources) == 0 {
		if _, err := os.Stat(dir); err != nil {
			fmt.Fprintf(a.stderr, "no OSV data at %s: the samples are not scanned (give --advisories DIR)\n", dir)
			return nil, nil
		}
		sources = []string{dir}
	}
	results, err := vulndb.Import(ctx, work, sources, vulndb.ImportOptions{})
	if err != nil {
		return nil, err
	}
	total := 0
	for _, r := range results {
		total += r.Records
	}
	fmt.Fprintf(a.stdout, "advisories: %d OSV records from %s\n", total, dir)
	return vulndb.Open(work)
}

// startDemoRegistry serves go-containerregistry's in-memory registry on a
// free 127.0.0.1 port.
func startDemoRegistry() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler:           registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Print(err)
		}
	}()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
	return ln.Addr().String(), stop, nil
}

// pushLayout copies a layout's tagged image or index to ref.
func pushLayout(ctx context.Context, dir, ref string) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		return err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	if len(m.Manifests) != 1 {
		return fmt.Errorf("%s: want one tagged manifest, have %d", dir, len(m.Manifests))
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	desc := m.Manifests[0]
	if desc.MediaType.IsIndex() {
		child, err := idx.ImageIndex(desc.Digest)
		if err != nil {
			return err
		}
		return remote.WriteIndex(r, child, remote.WithContext(ctx))
	}
	img, err := idx.Image(desc.Digest)
	if err != nil {
		return err
	}
	return remote.Write(r, img, remote.WithContext(ctx))
}
