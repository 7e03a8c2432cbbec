package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/audit"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sbom"
	"github.com/dossier-dev/dossier/internal/sbom/generate"
	"github.com/dossier-dev/dossier/internal/scan"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// ErrGateFailed says the vulnerability gate stopped a release before
// anything was signed.
var ErrGateFailed = errors.New("the vulnerability gate failed: nothing was signed")

// ReleaseOptions configure Release.
type ReleaseOptions struct {
	Signer *sign.Signer
	// Trust verifies the new signatures when they are recorded (the
	// signer's key, or the trusted root for keyless signing).
	Trust *sign.Trust
	DB    *vulndb.DB
	// FailOn, when set, is the gate's severity threshold.
	FailOn   string
	Platform *v1.Platform
	// Provenance attests SLSA provenance from Env (the CI variables) and
	// ProvenanceOptions.
	Provenance        bool
	Env               map[string]string
	ProvenanceOptions attest.ProvenanceOptions
	// WorkflowWaivers apply to the audit of the CI workflow attested with
	// the provenance.
	WorkflowWaivers []audit.Waiver
	// Progress is told each step as it starts (nil: silent).
	Progress func(step ReleaseStep)
	Now      time.Time
}

// Released is what later steps of a release need.
type Released struct {
	Subject    evidence.Subject `json:"subject"`
	Signer     string           `json:"signer,omitempty"`
	Signature  string           `json:"signature,omitempty"`
	SBOM       string           `json:"sbom,omitempty"`
	Scan       string           `json:"scan"`
	ScanReport string           `json:"scanReport,omitempty"`
	Provenance string           `json:"provenance,omitempty"`
	// WorkflowAudit is the referrer of the CI workflow's audit.
	WorkflowAudit string             `json:"workflowAudit,omitempty"`
	Recorded      *Recorded          `json:"recorded"`
	GateFailure   *evidence.Decision `json:"gateFailure,omitempty"`
}

// ReleaseStep is a step of a release as it starts: the Nth of Of, named.
type ReleaseStep struct {
	N, Of int
	Name  string
}

// steps are the steps a release with opts takes, in order.
func (opts ReleaseOptions) steps() []string {
	steps := []string{"sbom", "scan", "sign", "attest sbom"}
	if opts.DB != nil {
		steps = append(steps, "attest scan")
	}
	if opts.Provenance {
		steps = append(steps, "provenance", "workflow audit")
	}
	return append(steps, "record")
}

// Release runs the release sequence on one digest: SBOM → scan (gate) →
// sign → attest the SBOM → attest the scan → provenance and the audit of
// the CI workflow that runs it (optional) → record. A failed gate stops before signing; the unsigned digest is
// recorded as failing and ErrGateFailed returned.
func Release(ctx context.Context, st *store.Store, art *oci.Artifact, opts ReleaseOptions) (*Released, error) {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	steps := opts.steps()
	step := func(name string) {
		if opts.Progress != nil {
			opts.Progress(ReleaseStep{N: slices.Index(steps, name) + 1, Of: len(steps), Name: name})
		}
	}
	repo, err := art.Repository()
	if err != nil {
		return nil, err
	}
	out := &Released{Subject: art.Subject}

	step("sbom")
	cataloguing := generate.Options{Platform: opts.Platform, Created: now, Cache: LayerCache(st)}
	res, err := generate.Generate(ctx, art, cataloguing)
	if err != nil {
		return nil, err
	}
	var cdx bytes.Buffer
	if err := res.Encode(&cdx, sbom.FormatCycloneDX); err != nil {
		return nil, err
	}
	doc, err := sbom.Decode(bytes.NewReader(cdx.Bytes()), "SBOM of "+res.Subject.String())
	if err != nil {
		return nil, err
	}
	subject := res.Subject
	doc.Subject, doc.Cataloguer = &subject, generate.Cataloguer(cataloguing)

	step("scan")
	var report *scan.Report
	if opts.DB != nil {
		if report, err = scan.Scan(ctx, opts.DB, doc, scan.Config{Source: art.Source.Input, Now: now}); err != nil {
			return nil, err
		}
		out.Scan = summary(report)
	} else if opts.FailOn != "" {
		return nil, errors.New("a vulnerability gate needs an advisory database to scan with")
	} else {
		out.Scan = "not scanned: no advisory database"
	}
	gate := &policy.Set{}
	if opts.FailOn != "" {
		p, err := policy.VulnerabilityGate(opts.FailOn, false)
		if err != nil {
			return nil, err
		}
		gate.Policies = []*policy.Policy{p}
		d := policy.Evaluate(gate, &evidence.Collected{Subject: subject, Vulnerabilities: report.Evidence()}, now)
		if !d.Allowed {
			step("record")
			rec, err := Record(ctx, st, art, RecordOptions{Trust: opts.Trust, Set: gate, Now: now, Document: doc, Report: report})
			if err != nil {
				return nil, err
			}
			out.Recorded, out.GateFailure = rec, &d
			return out, fmt.Errorf("%w: %s", ErrGateFailed, d.Failed()[0].Reason)
		}
	}

	step("sign")
	subjectDesc, err := art.SubjectDescriptor()
	if err != nil {
		return nil, err
	}
	signed, err := attest.SignImage(ctx, repo, subjectDesc, nil, opts.Signer, now)
	if err != nil {
		return nil, err
	}
	out.Signature = signed.Referrer
	// the SBOM and the scan are about the catalogued image (a platform
	// manifest of an index)
	imageDesc := subjectDesc
	if subject.Digest != art.Subject.Digest {
		if imageDesc, err = repo.Resolve(ctx, subject.Digest); err != nil {
			return nil, err
		}
	}
	step("attest sbom")
	a, err := attest.Attach(ctx, repo, imageDesc, evidence.PredicateCycloneDX, cdx.Bytes(), nil, opts.Signer, now)
	if err != nil {
		return nil, err
	}
	out.SBOM = a.Referrer
	if report != nil {
		step("attest scan")
		predicate, err := attest.VulnPredicate(report, "", now, time.Now())
		if err != nil {
			return nil, err
		}
		if a, err = attest.Attach(ctx, repo, imageDesc, evidence.PredicateVuln, predicate, nil, opts.Signer, now); err != nil {
			return nil, err
		}
		out.ScanReport = a.Referrer
	}
	if opts.Provenance {
		step("provenance")
		popts := opts.ProvenanceOptions
		popts.Now = now
		prov, err := attest.Provenance(opts.Env, popts)
		if err != nil {
			return nil, err
		}
		if a, err = attest.Attach(ctx, repo, subjectDesc, evidence.PredicateSLSA1, prov, nil, opts.Signer, now); err != nil {
			return nil, err
		}
		out.Provenance = a.Referrer
		step("workflow audit")
		summary, err := attest.SummarizeProvenance(evidence.PredicateSLSA1, prov)
		if err != nil {
			return nil, err
		}
		wa, err := auditWorkflow(opts.Env, summary, opts.WorkflowWaivers, now)
		if err != nil {
			return nil, fmt.Errorf("auditing the CI workflow: %w", err)
		}
		if wa != nil {
			predicate, err := json.Marshal(wa)
			if err != nil {
				return nil, err
			}
			if a, err = attest.Attach(ctx, repo, subjectDesc, evidence.PredicateWorkflowAudit, predicate, nil, opts.Signer, now); err != nil {
				return nil, err
			}
			out.WorkflowAudit = a.Referrer
		}
	}

	step("record")
	rec, err := Record(ctx, st, art, RecordOptions{Trust: opts.Trust, Set: gate, Now: now, Document: doc, Report: report})
	if err != nil {
		return nil, err
	}
	out.Recorded = rec
	for _, v := range rec.SignedBy {
		if v.StoredAt == out.Signature {
			out.Signer = v.Signer.String()
		}
	}
	return out, nil
}

// summary counts a report's findings by severity.
func summary(r *scan.Report) string {
	s := fmt.Sprintf("%d findings", r.Summary.Total)
	sep := ": "
	for _, sev := range []string{evidence.SeverityCritical, evidence.SeverityHigh, evidence.SeverityMedium, evidence.SeverityLow, evidence.SeverityUnknown} {
		if n := r.Summary.BySeverity[sev]; n > 0 {
			s += fmt.Sprintf("%s%d %s", sep, n, sev)
			sep = ", "
		}
	}
	return s
}
