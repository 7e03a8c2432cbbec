package inventory

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/admission"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
)

// Rules are the policies in force and their version: the webhook's, so
// that what runs is judged as what is admitted.
type Rules func() (set *policy.Set, version string)

// JudgeStore is what a background judgement reads and writes.
type JudgeStore interface {
	RunningImages(ctx context.Context, cluster string) ([]store.RunningImage, error)
	RecordedEvidence(ctx context.Context, subject evidence.Subject, reference string) (*evidence.Collected, error)
	Judged(ctx context.Context, cluster string, judgements []store.Judgement) error
}

// Pass is what one background judgement did.
type Pass struct {
	// Images are the distinct (namespace, image, digest) judged, Digests
	// the distinct digests whose evidence was read, Denied the images the
	// policies in force would not admit now.
	Images, Digests, Denied int
	Took                    time.Duration

	// what the pass read: the images running, each digest's evidence
	images   []store.RunningImage
	recorded map[evidence.Subject]*evidence.Collected
}

// JudgeRunning judges again everything running in a cluster: the policies
// of set (version) evaluated by policy.Evaluate, as the webhook evaluates
// them, on the evidence the store recorded about each digest (read once
// per digest, nothing fetched from registries), with each namespace's
// labels as labels reports them (when a policy claiming an image selects
// namespaces by label and the namespace's labels are not known, the image
// is refused, as the webhook refuses when it cannot read them). Images no
// policy claims get the webhook's answer for them, unclaimed. The
// decisions replace the cluster's previous ones.
func JudgeRunning(ctx context.Context, cluster string, st JudgeStore, set *policy.Set, version string, unclaimed policy.Unclaimed, labels func(namespace string) (map[string]string, bool), now time.Time) (Pass, error) {
	start := time.Now()
	images, err := st.RunningImages(ctx, cluster)
	if err != nil {
		return Pass{}, fmt.Errorf("judging what runs in %s: %w", cluster, err)
	}
	recorded := map[evidence.Subject]*evidence.Collected{}
	judgements := make([]store.Judgement, 0, len(images))
	var pass Pass
	for _, im := range images {
		if _, err := admission.ParseImage(im.Image); err != nil {
			// the webhook refuses it in every namespace, whatever
			// --unclaimed says: no policy's glob is asked about it
			d := refused(evidence.Decision{Subject: im.Subject, Namespace: im.Namespace, EvaluatedAt: now, Rules: []evidence.RuleResult{}, Policies: []string{}}, err.Error())
			d.Rules[0].Rule = "image-reference"
			judgements = append(judgements, store.Judgement{RunningImage: im, PolicyVersion: version, Decision: d})
			pass.Images++
			pass.Denied++
			continue
		}
		// as the webhook names it: the tag, "latest" when none is written
		reference := ""
		if _, tag, ok := evidence.SplitTag(im.Image); ok {
			reference = evidence.ImageRepository(im.Image) + ":" + tag
		} else if !strings.Contains(im.Image, "@") {
			reference = evidence.ImageRepository(im.Image) + ":latest"
		}
		ev, seen := recorded[im.Subject]
		if !seen {
			if ev, err = st.RecordedEvidence(ctx, im.Subject, ""); err != nil {
				return Pass{}, fmt.Errorf("judging %s in %s: %w", im.Subject, cluster, err)
			}
			recorded[im.Subject] = ev
		}
		judged := &evidence.Collected{Subject: im.Subject}
		if ev == nil {
			// never recorded: nothing signed or scanned is known of it
			judged.Signatures, judged.Attestations = []evidence.VerifiedSignature{}, []evidence.Attestation{}
			judged.Unavailable = map[string]string{evidence.NeedVulnerabilities: "nothing is recorded about the digest: it was never scanned"}
		} else {
			*judged = *ev
		}
		judged.Reference = reference
		// as the webhook asks: the namespace's labels matter where a
		// policy whose images match selects namespaces by label
		needsLabels := false
		for _, p := range set.Policies {
			needsLabels = needsLabels || (p.Namespaces != nil && len(p.Namespaces.MatchLabels) > 0 && p.Matches(judged))
		}
		judged.Namespace = im.Namespace
		nsLabels, known := labels(im.Namespace)
		judged.NamespaceLabels = nsLabels
		d := policy.Evaluate(set, evidence.OwnEvidence(judged), now)
		if needsLabels && !known {
			d = refused(d, "the labels of namespace "+im.Namespace+" are not known: policies that select namespaces by label cannot be judged")
		} else if len(d.Policies) == 0 {
			var decided bool
			if d, decided = unclaimed.Decide(set, judged, func() (map[string]string, error) {
				if !known {
					return nil, fmt.Errorf("the labels of namespace %s are not known", im.Namespace)
				}
				return nsLabels, nil
			}, now); !decided {
				continue // allowed unjudged here, as the webhook lets it in
			}
		}
		if !d.Allowed {
			pass.Denied++
		}
		judgements = append(judgements, store.Judgement{RunningImage: im, PolicyVersion: version, Decision: d})
		pass.Images++
	}
	pass.Digests, pass.images, pass.recorded = len(recorded), images, recorded
	if err := st.Judged(ctx, cluster, judgements); err != nil {
		return Pass{}, err
	}
	pass.Took = time.Since(start)
	return pass, nil
}

// refused is a decision that failed closed: it admits nothing, whatever
// the rules it holds said.
func refused(d evidence.Decision, reason string) evidence.Decision {
	d.Rules = append(d.Rules, evidence.RuleResult{Rule: "namespace-labels", Mode: evidence.ModeEnforce, Outcome: evidence.OutcomeFail, Reason: reason})
	d.Allowed, d.Mode = false, evidence.ModeEnforce
	d.Violations++
	return d
}

// summary says what a pass did, for logs.
func (p Pass) summary(cluster string) string {
	return strings.Join([]string{
		fmt.Sprintf("judged what runs in %s again: %d images", cluster, p.Images),
		fmt.Sprintf("%d digests", p.Digests),
		fmt.Sprintf("%d refused by the policies in force", p.Denied),
		fmt.Sprintf("in %s", p.Took.Round(time.Millisecond)),
	}, ", ")
}
