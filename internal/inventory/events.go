package inventory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/notify"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
)

// EventStore is what the events of a pass are read from.
type EventStore interface {
	Running(ctx context.Context, q store.RunningQuery) (store.RunningPage, error)
	ClusterAdmissions(ctx context.Context, cluster string, since time.Time, outcome string, limit int) ([]store.Admission, error)
	Exceptions(ctx context.Context) ([]evidence.Exception, error)
}

// maxEvents bounds the containers and denials a pass reads for each kind
// of event (newest first), and, ten times over, the findings it tells
// (worst first).
const maxEvents = 1000

// events are what a pass has to tell: each finding of a running digest,
// each container running unjudged or drifted, each exception expiring
// within expiring, each denial under an enforcing policy in the cluster
// since since. Their IDs name them for good, so that what is seen again
// is not told again.
func events(ctx context.Context, cluster string, st EventStore, p Pass, set *policy.Set, now, since time.Time, expiring time.Duration, minSeverity string) ([]notify.Event, error) {
	source := "dossier/" + cluster
	var out, findings []notify.Event
	where := map[evidence.Subject][]string{}
	for _, im := range p.images {
		where[im.Subject] = append(where[im.Subject], im.Namespace)
	}
	for subject, ev := range p.recorded {
		if ev == nil || ev.Vulnerabilities == nil {
			continue
		}
		for _, f := range ev.Vulnerabilities.Findings {
			if f.Suppression != nil || evidence.SeverityRank(f.Severity.Rating) < evidence.SeverityRank(minSeverity) {
				continue
			}
			findings = append(findings, notify.Event{ID: fmt.Sprintf("finding/%s/%s/%s", cluster, subject, f.ID), Type: notify.TypeFinding, Source: source,
				Subject: subject.String(), Time: now, Severity: f.Severity.Rating,
				Data: map[string]any{"cluster": cluster, "subject": subject, "namespaces": where[subject], "finding": f},
				Text: fmt.Sprintf("%s (%s) in %s %s runs in cluster %s (%s): %s", f.ID, f.Severity.Rating, f.Component.Name, f.Component.Version,
					cluster, strings.Join(where[subject], ", "), subject)})
		}
	}
	slices.SortFunc(findings, func(a, b notify.Event) int {
		if d := evidence.SeverityRank(b.Severity) - evidence.SeverityRank(a.Severity); d != 0 {
			return d
		}
		return strings.Compare(a.ID, b.ID)
	})
	out = append(out, findings[:min(len(findings), 10*maxEvents)]...)
	for _, state := range []string{store.RunningUnjudged, store.RunningDrifted} {
		page, err := st.Running(ctx, store.RunningQuery{RunningFilter: store.RunningFilter{Cluster: cluster}, State: state, Limit: maxEvents})
		if err != nil {
			return nil, err
		}
		kind := map[string]string{store.RunningUnjudged: notify.TypeUnjudged, store.RunningDrifted: notify.TypeDrifted}[state]
		for _, h := range page.Hits {
			text := fmt.Sprintf("%s/%s %s (container %s) runs %s, which no dossier decision admitted there", h.Namespace, h.Workload, h.Pod, h.Container, h.Subject)
			if state == store.RunningDrifted {
				text = fmt.Sprintf("%s/%s %s (container %s) runs %s, but %s was admitted as %s", h.Namespace, h.Workload, h.Pod, h.Container, h.Subject, h.Image, h.Admitted)
			}
			out = append(out, notify.Event{ID: fmt.Sprintf("%s/%s/%s/%s/%s/%s", state, cluster, h.Namespace, h.Workload, h.Container, h.Subject.Digest),
				Type: kind, Source: source, Subject: h.Subject.String(), Time: now, Data: h.RunningContainer, Text: "cluster " + cluster + ": " + text})
		}
	}
	stored, err := st.Exceptions(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range evidence.MergeExceptions(set.Exceptions, stored) {
		if e.Expired(now) || e.ExpiresAt.After(now.Add(expiring)) {
			continue
		}
		e.Source = "" // the file on dossier's host it was read from
		out = append(out, notify.Event{ID: fmt.Sprintf("exception-expiring/%s/%s/%s", e.Namespace, e.Name, e.ExpiresAt.UTC().Format(time.RFC3339)),
			Type: notify.TypeExpiring, Source: source, Subject: e.Name, Time: now, Data: e,
			Text: fmt.Sprintf("exception %s (owner %s) expires %s: %s", e.Name, e.Owner, e.ExpiresAt.UTC().Format(time.RFC3339), e.Reason)})
	}
	denied, err := st.ClusterAdmissions(ctx, cluster, since, store.AdmissionDenied, maxEvents)
	if err != nil {
		return nil, err
	}
	for _, a := range denied {
		if a.Decision == nil || a.Decision.Mode != evidence.ModeEnforce {
			continue
		}
		a.Decision = withoutHostFiles(a.Decision)
		out = append(out, notify.Event{ID: fmt.Sprintf("denied/%s/%s/%s/%s/%d", cluster, a.Namespace, a.Workload, a.Image, a.At.UnixMicro()),
			Type: notify.TypeDenied, Source: source, Subject: a.Image, Time: a.At, Data: a,
			Text: fmt.Sprintf("cluster %s: %s in %s/%s denied: %s", cluster, a.Image, a.Namespace, a.Workload, a.Reason)})
	}
	return out, nil
}

// withoutHostFiles is a copy of a decision whose waivers do not name the
// exception files on dossier's host they were read from: endpoints read
// what a decision says, not where dossier keeps its configuration.
func withoutHostFiles(d *evidence.Decision) *evidence.Decision {
	c := *d
	c.Rules = slices.Clone(d.Rules)
	for i, r := range c.Rules {
		if r.Waiver != nil {
			w := *r.Waiver
			w.Source = ""
			c.Rules[i].Waiver = &w
		}
	}
	return &c
}
