package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/query"
	"github.com/dossier-dev/dossier/internal/store"
)

// pageFlags are the page of a wide answer.
type pageFlags struct{ store.Page }

func (p pageFlags) check() error {
	if p.Limit < 0 || p.Offset < 0 {
		return usageError("--limit and --offset cannot be negative")
	}
	return nil
}

// pageNote says which part of a wide answer the table showed, and how to
// ask for the next.
func (a *app) pageNote(offset, shown, total int, what string) {
	if shown == total {
		return
	}
	if shown == 0 {
		fmt.Fprintf(a.stderr, "no %s from %d on: there are %d\n", what, offset+1, total)
		return
	}
	fmt.Fprintf(a.stderr, "%s %d–%d of %d", what, offset+1, offset+shown, total)
	if offset+shown < total {
		fmt.Fprintf(a.stderr, "; the next page: --offset %d", offset+shown)
	}
	fmt.Fprintln(a.stderr)
}

func (a *app) queryCommand() *cobra.Command {
	var sf storeFlags
	var output string
	var page pageFlags
	cmd := &cobra.Command{
		Use:   "query",
		Short: "Answer a responder's questions from the evidence store (exit 0 with results, 1 with none)",
	}
	cmd.PersistentFlags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cmd.PersistentFlags().StringVar(&sf.dataDir, "data-dir", defaultDataDir(), "dossier's data directory (the SQLite evidence store)")
	cmd.PersistentFlags().StringVar(&sf.url, "store", "", "PostgreSQL evidence store, postgres://…")
	// every subcommand opens the store, answers, renders and counts
	run := func(answer func(cmd *cobra.Command, st *store.Store, args []string) (any, int, func(), error)) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "table", "json"); err != nil {
				return err
			}
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			result, n, table, err := answer(cmd, st, args)
			if err != nil {
				return err
			}
			if output == "json" {
				if err := writeJSON(a.stdout, result); err != nil {
					return err
				}
			} else {
				table()
			}
			if n == 0 {
				return gateError{msg: "no results"}
			}
			return nil
		}
	}

	component := &cobra.Command{
		Use:   "component PURL|NAME[@RANGE]",
		Short: "Which digests contain a component (pkg:npm/lodash, pkg:npm/lodash@<4.17.21, xz-utils)",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(cmd *cobra.Command, st *store.Store, args []string) (any, int, func(), error) {
			spec, err := query.ParseComponent(args[0])
			if err != nil {
				return nil, 0, nil, usageError("%v", err)
			}
			if err := page.check(); err != nil {
				return nil, 0, nil, err
			}
			hits, err := query.Components(cmd.Context(), st, spec, page.Page)
			return hits, hits.Total, func() {
				a.staleInventory(cmd, st, page.Running)
				t := newTable(a.stdout)
				fmt.Fprintln(t, "DIGEST\tTAGS\tDEPLOYED\tRUNNING\tCOMPONENT\tVERSION\tLOCATIONS")
				for _, h := range hits.Hits {
					row(t, h.Subject, dash(strings.Join(h.Tags, ",")), deployed(h.Placement), runningIn(h.Placement), h.Component.Name, h.Component.Version, dash(strings.Join(h.Component.Locations, ",")))
				}
				t.Flush()
				a.pageNote(hits.Offset, len(hits.Hits), hits.Total, "components")
			}, err
		}),
	}
	advisory := &cobra.Command{
		Use:   "advisory ID",
		Short: "Which digests an advisory (CVE-…, GHSA-…, any alias) affects, by their stored scans",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(cmd *cobra.Command, st *store.Store, args []string) (any, int, func(), error) {
			if err := page.check(); err != nil {
				return nil, 0, nil, err
			}
			hits, err := st.Affected(cmd.Context(), strings.TrimSpace(args[0]), page.Page)
			return hits, hits.Total, func() {
				a.staleInventory(cmd, st, page.Running)
				t := newTable(a.stdout)
				fmt.Fprintln(t, "DIGEST\tTAGS\tDEPLOYED\tRUNNING\tPACKAGE\tVERSION\tSEVERITY\tFIRST SEEN")
				for _, h := range hits.Hits {
					f := h.Finding
					row(t, h.Subject, dash(strings.Join(h.Tags, ",")), deployed(h.Placement), runningIn(h.Placement), f.Component.Name, f.Component.Version, f.Severity.Rating, f.FirstSeen.Format(time.RFC3339))
				}
				t.Flush()
				a.pageNote(hits.Offset, len(hits.Hits), hits.Total, "findings")
			}, err
		}),
	}
	var runningOnly bool
	var state string
	var where store.RunningFilter
	for _, c := range []*cobra.Command{component, advisory} {
		c.Flags().IntVar(&page.Limit, "limit", 100, "hits per page, newest digests first (0 for all)")
		c.Flags().IntVar(&page.Offset, "offset", 0, "hits to skip: the start of the page")
		c.Flags().BoolVar(&page.Deployed, "deployed", false, "only digests seen deployed (ever admitted to a cluster)")
		c.Flags().BoolVar(&runningOnly, "running", false, "only digests running now (the clusters' inventory: dossier cluster watch)")
		c.PreRunE = func(cmd *cobra.Command, _ []string) error {
			if !runningOnly && (where.Cluster != "" || where.Namespace != "") {
				return usageError("--cluster and --namespace narrow --running: add --running")
			}
			if runningOnly {
				page.Running = &where
			}
			return nil
		}
	}
	running := &cobra.Command{
		Use:   "running [--cluster C] [--namespace N] [--state S]",
		Short: "What runs now, by cluster, namespace, workload and container, with its judgement and evidence",
		Long: `What runs now, from the inventory of each cluster dossier watches (dossier cluster watch, or
dossier serve --cluster). Each container's digest is judged against the decisions dossier's webhook
made in that cluster and namespace:

  admitted    a dossier decision admitted this digest there
  drifted     the image as written was admitted as another digest (a tag moved under an unpinned Pod)
  unjudged    no dossier decision admitted it there (webhook failed open, bypassed or absent; older Pod)
  unresolved  the cluster does not say which digest runs (no imageID, not pinned)`,
		Args: cobra.NoArgs,
		RunE: run(func(cmd *cobra.Command, st *store.Store, _ []string) (any, int, func(), error) {
			if err := page.check(); err != nil {
				return nil, 0, nil, err
			}
			switch state {
			case "", store.RunningAdmitted, store.RunningDrifted, store.RunningUnjudged, store.RunningUnresolved:
			default:
				return nil, 0, nil, usageError("--state %q: want admitted, drifted, unjudged or unresolved", state)
			}
			hits, err := st.Running(cmd.Context(), store.RunningQuery{RunningFilter: where, State: state, Offset: page.Offset, Limit: page.Limit})
			return hits, hits.Total, func() {
				a.warnStale(hits.Clusters, where.Cluster)
				t := newTable(a.stdout)
				fmt.Fprintln(t, "CLUSTER\tNAMESPACE\tWORKLOAD\tPOD\tCONTAINER\tDIGEST\tSTATE\tPINNED\tSIGNED BY\tOPEN FINDINGS\tLAST DECISION")
				for _, h := range hits.Hits {
					row(t, h.Cluster, h.Namespace, h.Workload, h.Pod, containerName(h.RunningContainer),
						dash(h.Subject.String()), runningState(h), yesNo(h.Pinned), signedBy(h.Signers), openFindings(h), lastDecision(h.LastDecision))
				}
				t.Flush()
				a.pageNote(hits.Offset, len(hits.Hits), hits.Total, "containers")
				var counts []string
				for _, s := range []string{store.RunningAdmitted, store.RunningDrifted, store.RunningUnjudged, store.RunningUnresolved} {
					counts = append(counts, fmt.Sprintf("%d %s", hits.States[s], s))
				}
				fmt.Fprintln(a.stderr, strings.Join(counts, ", "))
			}, err
		}),
	}
	running.Flags().IntVar(&page.Limit, "limit", 100, "containers per page (0 for all)")
	running.Flags().IntVar(&page.Offset, "offset", 0, "containers to skip: the start of the page")
	running.Flags().StringVar(&state, "state", "", "only containers in one state: admitted, drifted, unjudged or unresolved")
	for _, c := range []*cobra.Command{component, advisory, running} {
		c.Flags().StringVar(&where.Cluster, "cluster", "", "only this cluster (as dossier cluster watch names it)")
		c.Flags().StringVar(&where.Namespace, "namespace", "", "only this namespace")
	}
	var at string
	tag := &cobra.Command{
		Use:   "tag REPOSITORY:TAG [--at TIME]",
		Short: "Every digest a tag pointed to (overwrites included), or the one it pointed to at a time",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(cmd *cobra.Command, st *store.Store, args []string) (any, int, func(), error) {
			repository, name, ok := evidence.SplitTag(args[0])
			if !ok {
				return nil, 0, nil, usageError("%q: want REPOSITORY:TAG", args[0])
			}
			history, err := st.TagHistory(cmd.Context(), repository, name)
			if err != nil {
				return nil, 0, nil, err
			}
			if at != "" {
				t, err := query.ParseTime(at)
				if err != nil {
					return nil, 0, nil, usageError("--at: %v", err)
				}
				m, ok := query.TagAt(history, t)
				history = nil
				if ok {
					history = []store.TagMove{m}
				}
			}
			return orEmpty(history), len(history), func() {
				t := newTable(a.stdout)
				fmt.Fprintln(t, "OBSERVED\tDIGEST\tSOURCE")
				for _, m := range history {
					fmt.Fprintf(t, "%s\t%s\t%s\n", m.ObservedAt.Format(time.RFC3339), m.Digest, m.Source)
				}
				t.Flush()
			}, nil
		}),
	}
	tag.Flags().StringVar(&at, "at", "", "the time to answer for (RFC 3339 or a date)")
	var identity, identityRE, keyFile, issuer, from, to string
	signed := &cobra.Command{
		Use:   "signed (--identity ID | --identity-regexp RE | --key FILE) [--issuer ISS] --from T --to T",
		Short: "What a signer signed or attested in a window (a leaked CI credential), with where it is tagged now",
		Args:  cobra.NoArgs,
		RunE: run(func(cmd *cobra.Command, st *store.Store, _ []string) (any, int, func(), error) {
			var f store.SignerFilter
			given := 0
			for _, v := range []string{identity, identityRE, keyFile} {
				if v != "" {
					given++
				}
			}
			if given != 1 {
				return nil, 0, nil, usageError("give one of --identity, --identity-regexp or --key")
			}
			switch {
			case identity != "":
				f.Identity = identity
			case identityRE != "":
				re, err := query.IdentityExpression(identityRE)
				if err != nil {
					return nil, 0, nil, usageError("--identity-regexp: %v", err)
				}
				f.Match = re.MatchString
			default:
				data, err := os.ReadFile(keyFile)
				if err != nil {
					return nil, 0, nil, err
				}
				signer, err := policy.KeySigner(keyFile, data)
				if err != nil {
					return nil, 0, nil, err
				}
				f.KeyFingerprint = signer.KeyFingerprint
			}
			f.Issuer = issuer
			if from == "" || to == "" {
				return nil, 0, nil, usageError("give --from and --to")
			}
			start, err := query.ParseTime(from)
			if err != nil {
				return nil, 0, nil, usageError("--from: %v", err)
			}
			end, err := query.ParseTime(to)
			if err != nil {
				return nil, 0, nil, usageError("--to: %v", err)
			}
			hits, err := st.Signed(cmd.Context(), f, start, end)
			return orEmpty(hits), len(hits), func() {
				t := newTable(a.stdout)
				fmt.Fprintln(t, "SIGNED\tDIGEST\tTAGS\tWHAT\tSIGNER")
				for _, h := range hits {
					when := "(recorded, no verified time)"
					if h.Verification.SigningTime != nil {
						when = h.Verification.SigningTime.Format(time.RFC3339)
					}
					row(t, when, h.Subject, dash(strings.Join(h.Tags, ",")), signedWhat(h.PredicateType), h.Verification.Signer)
				}
				t.Flush()
			}, err
		}),
	}
	signed.Flags().StringVar(&identity, "identity", "", "certificate identity (or a Notation certificate's subject, CN=…,O=…), exactly")
	signed.Flags().StringVar(&identityRE, "identity-regexp", "", "certificate identity (or Notation subject) as a regular expression")
	signed.Flags().StringVar(&keyFile, "key", "", "public key file")
	signed.Flags().StringVar(&issuer, "issuer", "", "OIDC issuer, exactly")
	signed.Flags().StringVar(&from, "from", "", "start of the window (RFC 3339 or a date)")
	signed.Flags().StringVar(&to, "to", "", "end of the window, exclusive")
	digest := &cobra.Command{
		Use:   "digest REPOSITORY@sha256:…|REPOSITORY:TAG",
		Short: "Everything stored about one digest: tags, SBOM, signatures, attestations, provenance, findings, exceptions, decisions",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(cmd *cobra.Command, st *store.Store, args []string) (any, int, func(), error) {
			subject, err := subjectOf(cmd, st, args[0])
			if err != nil {
				return nil, 0, nil, err
			}
			d, err := st.Dossier(cmd.Context(), subject)
			if err != nil || d == nil {
				return struct{}{}, 0, func() { fmt.Fprintf(a.stdout, "%s is not in the evidence store\n", subject) }, err
			}
			return d, 1, func() { renderDossier(a, d) }, nil
		}),
	}
	var since, outcome string
	var limit int
	admissions := &cobra.Command{
		Use:   "admissions [--since T] [--outcome allowed|denied|audited|waived|failed-open] [--limit N]",
		Short: "The admission webhook's decisions, newest first: image, digest, namespace, workload, user, outcome, reason",
		Args:  cobra.NoArgs,
		RunE: run(func(cmd *cobra.Command, st *store.Store, _ []string) (any, int, func(), error) {
			from, err := parseSince(since)
			if err != nil {
				return nil, 0, nil, err
			}
			switch outcome {
			case "", store.AdmissionAllowed, store.AdmissionDenied, store.AdmissionAudited, store.AdmissionWaived, store.AdmissionFailedOpen:
			default:
				return nil, 0, nil, usageError("--outcome %q: want allowed, denied, audited, waived or failed-open", outcome)
			}
			list, err := st.Admissions(cmd.Context(), from, outcome, limit, nil)
			return list, len(list), func() {
				t := newTable(a.stdout)
				fmt.Fprintln(t, "AT\tOUTCOME\tNAMESPACE\tWORKLOAD\tUSER\tIMAGE\tDIGEST\tREASON")
				for _, ad := range list {
					row(t, ad.At.Format(time.RFC3339), ad.Outcome, ad.Namespace, ad.Workload, dash(ad.User),
						ad.Image, dash(ad.Subject.Digest), dash(ad.Reason))
				}
				t.Flush()
			}, err
		}),
	}
	admissions.Flags().StringVar(&since, "since", "", "only decisions at or after this time (RFC 3339 or a date)")
	admissions.Flags().StringVar(&outcome, "outcome", "", "only decisions with this outcome")
	admissions.Flags().IntVar(&limit, "limit", 100, "at most this many (0 for all)")
	jobs := &cobra.Command{
		Use:   "jobs [REPOSITORY@DIGEST|REPOSITORY:TAG]",
		Short: "The registry's work on pushed digests, newest first: scans and verifications, queued, running, done or failed",
		Args:  cobra.MaximumNArgs(1),
		RunE: run(func(cmd *cobra.Command, st *store.Store, args []string) (any, int, func(), error) {
			var subject evidence.Subject
			if len(args) == 1 {
				var err error
				if subject, err = subjectOf(cmd, st, args[0]); err != nil {
					return nil, 0, nil, err
				}
			}
			list, err := st.Jobs(cmd.Context(), subject.Repository, subject.Digest, limit)
			return list, len(list), func() {
				t := newTable(a.stdout)
				fmt.Fprintln(t, "ID\tKIND\tSTATE\tATTEMPTS\tQUEUED\tFINISHED\tSUBJECT\tERROR")
				for _, j := range list {
					finished := "-"
					if j.FinishedAt != nil {
						finished = j.FinishedAt.Format(time.RFC3339)
					}
					fmt.Fprintf(t, "%d\t%s\t%s\t%d\t%s\t%s\t%s@%s\t%s\n", j.ID, j.Kind, j.State, j.Attempts, j.QueuedAt.Format(time.RFC3339), finished,
						j.Repository, j.Digest, dash(j.Error))
				}
				t.Flush()
			}, err
		}),
	}
	jobs.Flags().IntVar(&limit, "limit", 100, "at most this many (0 for all)")
	events := &cobra.Command{
		Use:   "events [--since T] [--limit N]",
		Short: "The registry's audit trail, newest first: refused pushes, pulls and deletions, promotions, retention",
		Args:  cobra.NoArgs,
		RunE: run(func(cmd *cobra.Command, st *store.Store, _ []string) (any, int, func(), error) {
			from, err := parseSince(since)
			if err != nil {
				return nil, 0, nil, err
			}
			list, err := st.RegistryEvents(cmd.Context(), from, limit)
			return list, len(list), func() {
				t := newTable(a.stdout)
				fmt.Fprintln(t, "AT\tACTION\tOUTCOME\tREPOSITORY\tREFERENCE\tACTOR\tREASON")
				for _, e := range list {
					row(t, e.At.Format(time.RFC3339), e.Action, e.Outcome, e.Repository, e.Reference, e.Actor, dash(e.Reason))
				}
				t.Flush()
			}, err
		}),
	}
	events.Flags().StringVar(&since, "since", "", "only events at or after this time (RFC 3339 or a date)")
	events.Flags().IntVar(&limit, "limit", 100, "at most this many (0 for all)")
	cmd.AddCommand(component, advisory, running, tag, signed, digest, admissions, jobs, events)
	return cmd
}

// parseSince reads --since: a time or a date, the zero time when unset.
func parseSince(since string) (time.Time, error) {
	if since == "" {
		return time.Time{}, nil
	}
	t, err := query.ParseTime(since)
	if err != nil {
		return t, usageError("--since: %v", err)
	}
	return t, nil
}

// subjectOf reads repository@digest, or repository:tag as the digest the
// store last saw the tag point to.
func subjectOf(cmd *cobra.Command, st *store.Store, ref string) (evidence.Subject, error) {
	if strings.Contains(ref, "@") {
		s, err := evidence.ParseSubject(ref)
		if err != nil {
			return s, usageError("%v", err)
		}
		return s, nil
	}
	repository, tag, ok := evidence.SplitTag(ref)
	if !ok {
		return evidence.Subject{}, usageError("%q: want REPOSITORY@sha256:… or REPOSITORY:TAG", ref)
	}
	history, err := st.TagHistory(cmd.Context(), repository, tag)
	if err != nil {
		return evidence.Subject{}, err
	}
	if len(history) == 0 {
		return evidence.Subject{}, fmt.Errorf("%s: the evidence store has never seen this tag", ref)
	}
	last := history[len(history)-1]
	return evidence.Subject{Repository: last.Repository, Digest: last.Digest}, nil
}

func renderDossier(a *app, d *store.Dossier) {
	w := a.stdout
	fmt.Fprintf(w, "%s\n", d.Subject)
	t := newTable(w)
	fmt.Fprintf(t, "first seen\t%s\n", d.FirstSeen.Format(time.RFC3339))
	fmt.Fprintf(t, "last recorded\t%s\n", d.LastRecorded.Format(time.RFC3339))
	var tags []string
	for _, m := range d.Tags {
		tags = append(tags, fmt.Sprintf("%s (%s)", m.Tag, m.ObservedAt.Format(time.RFC3339)))
	}
	fmt.Fprintf(t, "tags\t%s\n", dash(strings.Join(tags, ", ")))
	fmt.Fprintf(t, "components\t%d\n", len(d.Components))
	t.Flush()
	fmt.Fprintln(w, "\nSIGNATURES")
	for _, s := range d.Signatures {
		fmt.Fprintf(w, "  %s, stored %s (%s)\n", s.Signer, s.StoredAt, s.Layout)
	}
	fmt.Fprintln(w, "ATTESTATIONS")
	for _, at := range d.Attestations {
		line := fmt.Sprintf("  %s by %s", evidence.PredicateShortName(at.PredicateType), at.Signer)
		if at.Subject.Digest != "" && at.Subject.Digest != d.Subject.Digest {
			line += fmt.Sprintf(" (about the %s manifest %s)", dash(d.Platform), at.Subject.Digest)
		}
		if p := at.Provenance; p != nil {
			line += fmt.Sprintf("; built by %s from %s at %s (%s)", p.BuilderID, p.SourceRepository, p.Commit, dash(p.Trigger))
		}
		fmt.Fprintln(w, line)
	}
	if len(d.Unverified) > 0 {
		fmt.Fprintln(w, "UNVERIFIED")
		for _, u := range d.Unverified {
			fmt.Fprintf(w, "  %s at %s: %s\n", evidence.PredicateShortName(u.PredicateType), u.StoredAt, u.Kind)
		}
	}
	fmt.Fprintln(w, "FINDINGS")
	for _, f := range d.Findings {
		state := "open"
		if f.ResolvedAt != nil {
			state = "resolved " + f.ResolvedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "  %s %s %s %s, first seen %s, %s\n", f.ID, f.Severity.Rating, f.Component.Name, f.Component.Version, f.FirstSeen.Format(time.RFC3339), state)
	}
	fmt.Fprintln(w, "EXCEPTIONS")
	for _, e := range d.Exceptions {
		fmt.Fprintf(w, "  %s (owner %s) until %s\n", e.Name, e.Owner, e.ExpiresAt.Format(time.RFC3339))
	}
	fmt.Fprintln(w, "DEPLOYED")
	for _, dep := range d.Deployments {
		fmt.Fprintf(w, "  %s/%s, first seen %s, last seen %s\n", dep.Namespace, dep.Workload, dep.FirstSeen.Format(time.RFC3339), dep.LastSeen.Format(time.RFC3339))
	}
	fmt.Fprintln(w, "DECISIONS")
	for _, dec := range d.Decisions {
		verdict := "allowed"
		if !dec.Allowed {
			verdict = "denied"
		}
		fmt.Fprintf(w, "  %s %s (%d violations)\n", dec.EvaluatedAt.Format(time.RFC3339), verdict, dec.Violations)
	}
}

// signedWhat names what a signer made: a signature, or an attestation's
// predicate type.
func signedWhat(predicateType string) string {
	if predicateType == evidence.PredicateSignatures {
		return "signature"
	}
	return evidence.PredicateShortName(predicateType)
}

// deployed says when a digest was last seen deployed, or "-".
func deployed(p store.Placement) string {
	if p.Deployed == nil {
		return "-"
	}
	return p.Deployed.Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// orEmpty keeps JSON output a list when there are no results.
func orEmpty[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// staleAfter is how long a cluster's watch may be silent before answers
// about what runs there say it may be out of date.
const staleAfter = 5 * time.Minute

// staleInventory warns, for a question about what runs, about watched
// clusters whose inventory may be out of date or that no watch reports.
func (a *app) staleInventory(cmd *cobra.Command, st *store.Store, running *store.RunningFilter) {
	if running == nil {
		return
	}
	clusters, err := st.Clusters(cmd.Context(), running.Cluster)
	if err != nil {
		fmt.Fprintf(a.stderr, "warning: the inventory's clusters could not be read: %v\n", err)
		return
	}
	a.warnStale(clusters, running.Cluster)
}

func (a *app) warnStale(clusters []store.ClusterState, named string) {
	if len(clusters) == 0 {
		what := "no cluster is"
		if named != "" {
			what = "cluster " + named + " is not"
		}
		fmt.Fprintf(a.stderr, "warning: %s inventoried: run dossier cluster watch --cluster NAME (or dossier serve --cluster NAME)\n", what)
	}
	for _, c := range clusters {
		if age := time.Since(c.SeenAt); age > staleAfter {
			fmt.Fprintf(a.stderr, "warning: the inventory of cluster %s was last reported %s ago: what runs there may have changed\n", c.Name, age.Round(time.Second))
		}
	}
}

// runningIn names where a digest runs now: cluster/namespace/workload,
// or "-".
func runningIn(p store.Placement) string {
	if len(p.Running) == 0 {
		return "-"
	}
	var places []string
	for _, r := range p.Running {
		places = append(places, fmt.Sprintf("%s/%s/%s[%s]×%d", r.Cluster, r.Namespace, r.Workload, r.Container, r.Pods))
	}
	return strings.Join(places, ",")
}

func containerName(c store.RunningContainer) string {
	if c.Kind == store.ContainerApp {
		return c.Container
	}
	return c.Container + " (" + c.Kind + ")"
}

func runningState(h store.RunningHit) string {
	if h.State == store.RunningDrifted {
		return h.State + " (admitted " + h.Admitted + ")"
	}
	return h.State
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func signedBy(signers []evidence.Signer) string {
	var names []string
	for _, s := range signers {
		names = append(names, s.String())
	}
	if len(names) == 0 {
		return "unsigned"
	}
	return strings.Join(names, ",")
}

// openFindings counts a digest's open findings by severity, worst first;
// "not scanned" when no scan of it is recorded.
func openFindings(h store.RunningHit) string {
	if !h.Scanned {
		return "not scanned"
	}
	var parts []string
	for _, r := range []string{evidence.SeverityCritical, evidence.SeverityHigh, evidence.SeverityMedium, evidence.SeverityLow, evidence.SeverityNone, evidence.SeverityUnknown} {
		if n := h.OpenFindings[r]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, r))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func lastDecision(d *store.Admission) string {
	if d == nil {
		return "-"
	}
	return d.Outcome + " " + d.At.Format(time.RFC3339)
}
