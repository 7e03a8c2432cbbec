// Command storecorpus loads a corpus built from real SBOMs into an evidence
// store and measures the responder's questions on it. Component pools come
// from SBOM files (syft's view of real packages on the machine) and from Go
// module versions in the module cache; images are made the way registries
// hold them: a few base images shared by many digests, each with its own
// application packages; findings are the real matches of the pools against
// the advisory database. It prints load time, size and p50/p99 per
// question.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/query"
	"github.com/dossier-dev/dossier/internal/sbom"
	"github.com/dossier-dev/dossier/internal/scan"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

func main() {
	digests := flag.Int("digests", 10000, "digests to record")
	load := flag.Bool("load", true, "load the corpus (false: ask the questions of a store loaded before with the same -digests)")
	questions := flag.Bool("questions", true, "ask the questions (false: only load)")
	perTransaction := flag.Int("batch", 1, "records written per transaction (1: as record does; more: a backfill)")
	dataDir := flag.String("data-dir", "", "data directory: the advisory database, and the SQLite store unless -store")
	url := flag.String("store", "", "PostgreSQL store URL")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the load to this file")
	goCache := flag.String("go-mod-cache", filepath.Join(os.Getenv("HOME"), "go", "pkg", "mod", "cache", "download"), "Go module cache download directory")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "storecorpus:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*digests, *perTransaction, *load, *questions, *dataDir, *url, *goCache, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "storecorpus:", err)
		os.Exit(1)
	}
}

func run(n, perTransaction int, load, questions bool, dataDir, url, goCache string, sboms []string) error {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	pools := map[string][]evidence.Component{}
	for _, path := range sboms {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		doc, err := sbom.Decode(f, path)
		f.Close()
		if err != nil {
			return err
		}
		for _, c := range doc.Components {
			if c.PURL != "" {
				pools[c.Ecosystem()] = append(pools[c.Ecosystem()], c)
			}
		}
	}
	goMods, err := goModules(goCache)
	if err != nil {
		return err
	}
	pools["golang"] = append(pools["golang"], goMods...)
	for eco, p := range pools {
		fmt.Printf("pool %s: %d components\n", eco, len(p))
	}
	if len(pools["deb"]) == 0 {
		return fmt.Errorf("no Debian packages in the SBOMs given: base images need them")
	}
	db, err := vulndb.Open(dataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	findings := map[string][]evidence.Finding{} // purl → its real findings
	for _, p := range pools {
		m, err := scan.Match(ctx, db, p)
		if err != nil {
			return err
		}
		for _, f := range m.Findings {
			findings[f.Component.PURL] = append(findings[f.Component.PURL], f)
		}
	}
	st, err := store.Open(ctx, dataDir, url)
	if err != nil {
		return err
	}
	defer st.Close()

	// 30 base images of 80-200 Debian packages, shared by the digests
	var bases [][]evidence.Component
	for range 30 {
		bases = append(bases, sample(rng, pools["deb"], 80+rng.IntN(121)))
	}
	ecosystems := []string{"golang", "npm", "pypi"}
	identities := []string{}
	for i := range 10 {
		identities = append(identities, fmt.Sprintf("https://github.com/acme/app%d/.github/workflows/release.yml@refs/tags/v1", i))
	}
	t0 := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	if load {
		start := time.Now()
		rows := 0
		var batch []store.Record
		for i := range n {
			comps := append([]evidence.Component{}, bases[rng.IntN(len(bases))]...)
			eco := ecosystems[rng.IntN(len(ecosystems))]
			if len(pools[eco]) > 0 {
				comps = append(comps, sample(rng, pools[eco], min(len(pools[eco]), 20+rng.IntN(81)))...)
			}
			keys := make([]string, len(comps))
			var found []evidence.Finding
			for j, c := range comps {
				keys[j] = scan.PackageKey(c)
				found = append(found, findings[c.PURL]...)
			}
			at := t0.Add(time.Duration(i) * 77 * time.Second)
			signed := at
			subject := evidence.Subject{Repository: fmt.Sprintf("registry.example/team%d/app%d", i%50, i%1000), Digest: fmt.Sprintf("sha256:%064x", i+1)}
			r := store.Record{Subject: subject, At: at, Tag: "latest", TagSource: "corpus", Components: comps, PackageKeys: keys,
				Findings: &store.Scan{Findings: found, DatabaseVersion: at},
				Signatures: []evidence.VerifiedSignature{{Subject: subject, Verification: evidence.Verification{
					Signer: evidence.Signer{Identity: identities[i%len(identities)], Issuer: "https://token.actions.githubusercontent.com"}, SigningTime: &signed,
					StoredAt: fmt.Sprintf("sha256:%064x", 1<<40+i), Layout: evidence.LayoutReferrer}}}}
			batch = append(batch, r)
			if len(batch) == perTransaction || i == n-1 {
				if err := st.Record(ctx, batch...); err != nil {
					return err
				}
				batch = batch[:0]
			}
			rows += len(comps)
			if (i+1)%10000 == 0 {
				fmt.Printf("%d digests, %d component rows, %s\n", i+1, rows, time.Since(start).Round(time.Second))
			}
		}
		// the advisory state the corpus was matched against, as a rescan
		// would have left it, so that a later rescan sees only what changes
		fingerprints, err := db.Fingerprints(ctx)
		if err != nil {
			return err
		}
		state := make(map[string]store.AdvisoryFingerprint, len(fingerprints))
		for id, f := range fingerprints {
			state[id] = store.AdvisoryFingerprint{Hash: f.Hash, Packages: f.Packages}
		}
		if _, err := st.Rescanned(ctx, t0, t0, nil, nil, state); err != nil {
			return err
		}
		took := time.Since(start)
		fmt.Printf("loaded %d digests, %d component rows, %d per transaction, in %s (%.0f rows/s)\n", n, rows, perTransaction, took.Round(time.Second), float64(rows)/took.Seconds())
		if url == "" {
			if info, err := os.Stat(filepath.Join(dataDir, store.FileName)); err == nil {
				fmt.Printf("size on disk: %d MiB\n", info.Size()>>20)
			}
		}
	}

	if !questions {
		return nil
	}
	// the newest digest of each application runs in production: admission
	// saw it (responders' answers list these first)
	started := time.Now()
	apps := min(n, 1000)
	for app := range apps {
		k := app + (n-1-app)/1000*1000
		subject := evidence.Subject{Repository: fmt.Sprintf("registry.example/team%d/app%d", k%50, k%1000), Digest: fmt.Sprintf("sha256:%064x", k+1)}
		if err := st.SeenDeployed(ctx, subject, "prod", fmt.Sprintf("Deployment/app%d", app), t0.Add(time.Duration(n)*77*time.Second)); err != nil {
			return err
		}
	}
	fmt.Printf("%d digests seen deployed, in %s\n", apps, time.Since(started).Round(time.Millisecond))

	// the questions, 200 times each with inputs drawn from the corpus
	measure := func(name string, ask func(i int) (int, error)) error {
		var times []time.Duration
		total := 0
		for i := range 200 {
			t := time.Now()
			hits, err := ask(i)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			times = append(times, time.Since(t))
			total += hits
		}
		sort.Slice(times, func(a, b int) bool { return times[a] < times[b] })
		fmt.Printf("%-28s p50 %8s  p99 %8s  (%.0f hits on average, the first 100 returned)\n", name, times[100].Round(time.Microsecond), times[197].Round(time.Microsecond), float64(total)/200)
		return nil
	}
	rare := pools["golang"]
	firstPage := store.Page{Limit: 100} // what dossier query shows first
	advisories := []string{}
	for _, fs := range findings {
		for _, f := range fs {
			advisories = append(advisories, f.ID)
		}
	}
	sort.Strings(advisories)
	steps := []struct {
		name string
		ask  func(i int) (int, error)
	}{
		{"component (Go module)", func(i int) (int, error) {
			h, err := st.Components(ctx, store.ComponentQuery{What: purlBase(rare[(i*7919)%len(rare)].PURL), Page: firstPage})
			return h.Total, err
		}},
		{"component (base package)", func(i int) (int, error) {
			h, err := st.Components(ctx, store.ComponentQuery{What: purlBase(bases[i%len(bases)][0].PURL), Page: firstPage})
			return h.Total, err
		}},
		{"component (base, running)", func(i int) (int, error) {
			running := firstPage
			running.Deployed = true
			h, err := st.Components(ctx, store.ComponentQuery{What: purlBase(bases[i%len(bases)][0].PURL), Page: running})
			return h.Total, err
		}},
		{"component (name, range)", func(i int) (int, error) {
			c := bases[i%len(bases)][1]
			spec, err := query.ParseComponent(c.Name + "@<=" + c.Version)
			if err != nil {
				return 0, err
			}
			h, err := query.Components(ctx, st, spec, firstPage)
			return h.Total, err
		}},
		{"advisory", func(i int) (int, error) {
			if len(advisories) == 0 {
				return 0, nil
			}
			h, err := st.Affected(ctx, advisories[(i*104729)%len(advisories)], firstPage)
			return h.Total, err
		}},
		{"tag history", func(i int) (int, error) {
			app := (i * 13) % min(n, 1000)
			h, err := st.TagHistory(ctx, fmt.Sprintf("registry.example/team%d/app%d", app%50, app), "latest")
			return len(h), err
		}},
		{"signed by identity, 1 day", func(i int) (int, error) {
			from := t0.Add(time.Duration(i%80) * 24 * time.Hour)
			h, err := st.Signed(ctx, store.SignerFilter{Identity: identities[i%len(identities)]}, from, from.Add(24*time.Hour))
			return len(h), err
		}},
		{"digest dossier", func(i int) (int, error) {
			k := (i*7919)%n + 1
			d, err := st.Dossier(ctx, evidence.Subject{Repository: fmt.Sprintf("registry.example/team%d/app%d", (k-1)%50, (k-1)%1000), Digest: fmt.Sprintf("sha256:%064x", k)})
			if d == nil && err == nil {
				return 0, fmt.Errorf("digest %d not found", k)
			}
			return 1, err
		}},
	}
	for _, s := range steps {
		if err := measure(s.name, s.ask); err != nil {
			return err
		}
	}
	return nil
}

func purlBase(p string) string {
	base, _ := evidence.SplitPURL(p)
	return base
}

func sample(rng *rand.Rand, pool []evidence.Component, k int) []evidence.Component {
	idx := rng.Perm(len(pool))[:min(k, len(pool))]
	out := make([]evidence.Component, len(idx))
	for i, j := range idx {
		out[i] = pool[j]
	}
	return out
}

// goModules lists module versions in the Go module cache (<module>/@v/<version>.mod).
func goModules(dir string) ([]evidence.Component, error) {
	var out []evidence.Component
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".mod") {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		module, file, ok := strings.Cut(rel, "/@v/")
		if !ok {
			return nil
		}
		version := strings.TrimSuffix(file, ".mod")
		module = unescape(module)
		out = append(out, evidence.Component{Name: module, Version: version, Type: "go-module", PURL: "pkg:golang/" + module + "@" + version})
		return nil
	})
	return out, err
}

// unescape undoes the module cache's case encoding ("!x" is "X").
func unescape(s string) string {
	var b strings.Builder
	upper := false
	for _, r := range s {
		if r == '!' {
			upper = true
			continue
		}
		if upper {
			b.WriteString(strings.ToUpper(string(r)))
			upper = false
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
