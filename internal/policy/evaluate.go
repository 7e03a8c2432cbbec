package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Evaluate decides about the evidence collected for one subject with the
// policies and exceptions of set, at now. It is deterministic and does no
// I/O: the same inputs give the same decision.
func Evaluate(set *Set, ev *evidence.Collected, now time.Time) evidence.Decision {
	d := evidence.Decision{
		Subject: ev.Subject, Namespace: ev.Namespace, EvaluatedAt: now, Mode: evidence.ModeAudit,
		Rules: []evidence.RuleResult{}, Policies: []string{},
	}
	active, expired := exceptionsFor(set.Exceptions, ev, now)
	for _, e := range expired {
		d.ExpiredExceptions = append(d.ExpiredExceptions, fmt.Sprintf("%s (owner %s) expired %s", e.Name, e.Owner, e.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	e := evaluator{ev: ev, now: now, active: active, expired: expired, set: set}
	for _, p := range set.Policies {
		if !p.matches(ev, e.imageNames(p)) {
			continue
		}
		d.Policies = append(d.Policies, p.Name)
		if p.Mode == evidence.ModeEnforce {
			d.Mode = evidence.ModeEnforce
		}
		for _, r := range p.Rules {
			res, applies := e.scoped(p, r)
			if !applies {
				continue
			}
			res.Policy, res.Mode = p.Name, p.Mode
			if r.Mode != "" {
				res.Mode = r.Mode
			}
			if res.Outcome == evidence.OutcomeFail {
				e.waivePolicy(&res)
			}
			d.Rules = append(d.Rules, res)
		}
	}
	if len(d.Policies) == 0 {
		res := evidence.RuleResult{Rule: "no-policy", Mode: evidence.ModeEnforce,
			Reason: fmt.Sprintf("no policy matches %s", imageName(ev))}
		if set.AllowUnmatched {
			res.Outcome, res.Mode = evidence.OutcomeNotApplicable, evidence.ModeAudit
		} else {
			res.Outcome, d.Mode = evidence.OutcomeFail, evidence.ModeEnforce
			res.Fix = "add a policy whose images match " + imageName(ev)
		}
		d.Rules = append(d.Rules, res)
	}
	d.Allowed = true
	for _, r := range d.Rules {
		if r.Outcome == evidence.OutcomeFail {
			d.Violations++
			if r.Mode == evidence.ModeEnforce {
				d.Allowed = false
			}
		}
	}
	return d
}

// Matches reports whether the policy applies to the evidence's image (by
// reference as given, repository, or repository@digest; Kyverno policies
// by the names Kyverno gives images) and namespace.
func (p *Policy) Matches(ev *evidence.Collected) bool {
	return p.matches(ev, p.imageNames(ev))
}

// matches is Matches with the image's names as the policy spells them.
func (p *Policy) matches(ev *evidence.Collected, names []string) bool {
	matched := false
	if p.ivp != nil {
		matched, _ = p.ivp.match(names)
	}
	for _, g := range p.Images {
		if g.Match(names...) {
			matched = true
			break
		}
	}
	if matched && slices.ContainsFunc(p.ExcludeImages, func(g Glob) bool { return g.Match(names...) }) {
		matched = false
	}
	if matched && len(p.Rules) > 0 && !slices.ContainsFunc(p.Rules, func(r Rule) bool { return r.Scope == nil || r.Scope.matches(names) }) {
		matched = false // every rule is scoped to other images
	}
	if !matched || ev.Namespace == "" {
		// outside admission there is no namespace: a namespaced policy still
		// applies, so a CI gate is never laxer than the cluster
		return matched
	}
	return p.CoversNamespace(ev.Namespace, ev.NamespaceLabels)
}

// CoversNamespace reports whether the policy's namespaces include one
// (every namespace when it names none), whatever the images.
func (p *Policy) CoversNamespace(namespace string, labels map[string]string) bool {
	if slices.Contains(p.ExcludeNamespaces, namespace) {
		return false
	}
	if p.Namespaces == nil || slices.Contains(p.Namespaces.Names, namespace) {
		return true
	}
	if len(p.Namespaces.MatchLabels) == 0 {
		return false
	}
	for k, v := range p.Namespaces.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (p *Policy) imageNames(ev *evidence.Collected) []string {
	if p.ivp != nil {
		return ivpImageNames(ev)
	}
	if p.wildcardNames {
		return kyvernoImageNames(ev)
	}
	return []string{ev.Reference, ev.Subject.Repository, ev.Subject.String()}
}

// imageNames are the names of the image judged as p spells them, those
// Kyverno gives it worked out once per decision.
func (e *evaluator) imageNames(p *Policy) []string {
	if p.ivp != nil {
		if e.ivpNames == nil {
			e.ivpNames = ivpImageNames(e.ev)
		}
		return e.ivpNames
	}
	if !p.wildcardNames {
		return p.imageNames(e.ev)
	}
	if e.kyvernoNames == nil {
		e.kyvernoNames = kyvernoImageNames(e.ev)
	}
	return e.kyvernoNames
}

func (s *ImageScope) matches(names []string) bool {
	return slices.ContainsFunc(s.Images, func(g Glob) bool { return g.Match(names...) })
}

// skippedBy returns the skip pattern that matches one of names, or "".
func (s *ImageScope) skippedBy(names []string) string {
	for _, g := range s.Skip {
		if g.Match(names...) {
			return g.Pattern
		}
	}
	return ""
}

// scoped decides a rule of p when it applies to the image: a rule scoped
// to other images does not apply, and one whose skip patterns match it is
// reported as skipped.
func (e *evaluator) scoped(p *Policy, r Rule) (evidence.RuleResult, bool) {
	if r.Scope == nil {
		return e.rule(p, r), true
	}
	names := e.imageNames(p)
	if !r.Scope.matches(names) {
		return evidence.RuleResult{}, false
	}
	if skip := r.Scope.skippedBy(names); skip != "" {
		return evidence.RuleResult{Rule: r.Name, Outcome: evidence.OutcomeNotApplicable,
			Reason: fmt.Sprintf("skipped: %s matches skipImageReferences %q", imageName(e.ev), skip)}, true
	}
	return e.rule(p, r), true
}

func imageName(ev *evidence.Collected) string {
	if ev.Reference != "" {
		return ev.Reference
	}
	return ev.Subject.String()
}

// exceptionsFor splits the exceptions covering the subject into those in
// force and those that have expired. An exception scoped to a namespace
// covers judgements in that namespace only: a judgement in no namespace
// (a CI gate, the registry, a Gatekeeper key naming none) is made for
// every namespace, so one namespace's break glass must not open it.
func exceptionsFor(all []evidence.Exception, ev *evidence.Collected, now time.Time) (active, expired []evidence.Exception) {
	for _, e := range all {
		if !e.Covers(ev.Subject) {
			continue
		}
		if e.Namespace != "" && e.Namespace != ev.Namespace {
			continue
		}
		if e.Expired(now) {
			expired = append(expired, e)
		} else {
			active = append(active, e)
		}
	}
	return active, expired
}

type evaluator struct {
	ev              *evidence.Collected
	now             time.Time
	active, expired []evidence.Exception
	kyvernoNames    []string
	// set is the set decided with (nil outside Evaluate); ivpNames and
	// ivpRuns are ImageValidatingPolicies' names for the image and their
	// evaluations, made once per decision
	set      *Set
	ivpNames []string
	ivpRuns  map[*ivpProgram]*ivpRun
}

func waiverOf(e evidence.Exception) *evidence.Waiver {
	return &evidence.Waiver{Exception: e.Name, Owner: e.Owner, Reason: e.Reason, ExpiresAt: e.ExpiresAt, Source: e.Source}
}

// waivePolicy turns a failed rule into a waived one when an exception in
// force names its policy (or policy/rule); an expired one is mentioned.
func (e *evaluator) waivePolicy(res *evidence.RuleResult) {
	names := func(x evidence.Exception) bool {
		return slices.Contains(x.Policies, res.Policy) || slices.Contains(x.Policies, res.Policy+"/"+res.Rule)
	}
	for _, x := range e.active {
		if names(x) {
			res.Outcome, res.Waiver = evidence.OutcomeWaived, waiverOf(x)
			res.Reason += fmt.Sprintf("; waived by exception %s (owner %s) until %s", x.Name, x.Owner, x.ExpiresAt.UTC().Format(time.RFC3339))
			return
		}
	}
	for _, x := range e.expired {
		if names(x) {
			res.Reason += fmt.Sprintf("; exception %s (owner %s) expired %s and no longer applies", x.Name, x.Owner, x.ExpiresAt.UTC().Format(time.RFC3339))
		}
	}
}

func (e *evaluator) rule(p *Policy, r Rule) evidence.RuleResult {
	accepted := p.summariesFor(r.Name)
	if len(accepted) == 0 {
		return e.verify(p, r)
	}
	passed, why := e.summary(accepted)
	if passed != "" {
		return evidence.RuleResult{Rule: r.Name, Outcome: evidence.OutcomePass, Reason: passed, BySummary: true}
	}
	res := e.verify(p, r)
	if res.Outcome != evidence.OutcomePass {
		res.Reason += "; " + why
	}
	return res
}

// summariesFor lists the verification summaries the policy accepts for
// its rule named rule.
func (p *Policy) summariesFor(rule string) []SummaryAcceptance {
	var out []SummaryAcceptance
	for _, a := range p.Summaries {
		if slices.Contains(a.Rules, rule) {
			out = append(out, a)
		}
	}
	return out
}

// verify decides the rule on its own evidence.
func (e *evaluator) verify(p *Policy, r Rule) evidence.RuleResult {
	res := evidence.RuleResult{Rule: r.Name}
	switch {
	case r.Signature != nil:
		e.signature(&res, r.Signature)
	case r.Attestation != nil:
		e.attestation(&res, r.Attestation)
	case r.Vulnerabilities != nil:
		e.vulnerabilities(&res, r.Vulnerabilities)
	case r.Static != nil:
		res.Outcome, res.Reason = evidence.OutcomeFail, "static authority fails every image"
		if r.Static.Pass {
			res.Outcome, res.Reason = evidence.OutcomePass, "static authority passes every image"
		}
		if r.Static.Message != "" {
			res.Reason += ": " + r.Static.Message
		}
		if r.Static.Reason != "" {
			res.Reason = r.Static.Reason
		}
	case len(r.AnyOf) > 0 && r.AtLeast > 0:
		e.atLeast(&res, p, r.AnyOf, r.AtLeast)
	case len(r.AnyOf) > 0:
		e.anyOf(&res, p, r.AnyOf)
	case len(r.AllOf) > 0:
		e.allOf(&res, p, r.AllOf)
	case r.Digest:
		e.digest(&res)
	case r.CEL != nil:
		e.celRule(&res, p, r.CEL)
	}
	return res
}

// allOf passes when every rule passes, and reports each rule's outcome.
func (e *evaluator) allOf(res *evidence.RuleResult, p *Policy, rules []Rule) {
	var passed, failed, fixes []string
	for _, r := range rules {
		sub := e.rule(p, r)
		line := r.Name + ": " + sub.Reason
		if sub.Outcome == evidence.OutcomePass {
			passed = append(passed, line)
			continue
		}
		failed = append(failed, line)
		if sub.Fix != "" && !slices.Contains(fixes, sub.Fix) {
			fixes = append(fixes, sub.Fix)
		}
	}
	if len(failed) == 0 {
		res.Outcome, res.Reason = evidence.OutcomePass, strings.Join(passed, "; ")
		return
	}
	res.Outcome, res.Reason, res.Fix = evidence.OutcomeFail, strings.Join(failed, "; "), strings.Join(fixes, "  AND  ")
}

// atLeast passes when n of the alternatives pass (a Kyverno attestor
// set's count), and says which did and why the others did not.
func (e *evaluator) atLeast(res *evidence.RuleResult, p *Policy, alts []Alternative, n int) {
	var ok, passed, why, fixes []string
	for _, alt := range alts {
		var reasons, passes []string
		for _, r := range alt.Rules {
			sub := e.rule(p, r)
			if sub.Outcome == evidence.OutcomePass {
				passes = append(passes, sub.Reason)
				continue
			}
			reasons = append(reasons, sub.Reason)
			if sub.Fix != "" && !slices.Contains(fixes, sub.Fix) {
				fixes = append(fixes, sub.Fix)
			}
		}
		if len(reasons) == 0 {
			ok = append(ok, alt.Name)
			passed = append(passed, strings.Join(passes, "; "))
			continue
		}
		why = append(why, fmt.Sprintf("%s: %s", alt.Name, strings.Join(reasons, "; ")))
	}
	if len(ok) >= n {
		res.Outcome, res.Reason = evidence.OutcomePass, fmt.Sprintf("%d of %d required attestors verified: %s", len(ok), n, strings.Join(passed, " | "))
		return
	}
	res.Outcome = evidence.OutcomeFail
	res.Reason = fmt.Sprintf("%d of %d required attestors verified", len(ok), n)
	if len(ok) > 0 {
		res.Reason += " (" + strings.Join(ok, ", ") + ")"
	}
	res.Reason += ": " + strings.Join(why, " | ")
	res.Fix = strings.Join(fixes, "  AND  ")
}

// digest requires the image to have been named by its digest.
func (e *evaluator) digest(res *evidence.RuleResult) {
	if ref := e.ev.Reference; ref != "" && !strings.Contains(ref, "@") {
		res.Outcome, res.Reason = evidence.OutcomeFail, fmt.Sprintf("missing digest for %s: the policy requires images named by digest (verifyDigest without mutateDigest)", ref)
		res.Fix = "name the image by digest: " + e.ev.Subject.String()
		return
	}
	res.Outcome, res.Reason = evidence.OutcomePass, "named by digest "+e.ev.Subject.Digest
}

// anyOf passes with the first alternative whose rules all pass, and
// otherwise reports why each failed.
func (e *evaluator) anyOf(res *evidence.RuleResult, p *Policy, alts []Alternative) {
	var why, fixes []string
	for _, alt := range alts {
		ok := true
		var reasons []string
		for _, r := range alt.Rules {
			sub := e.rule(p, r)
			if sub.Outcome != evidence.OutcomePass {
				ok = false
				reasons = append(reasons, sub.Reason)
				if sub.Fix != "" && !slices.Contains(fixes, sub.Fix) {
					fixes = append(fixes, sub.Fix)
				}
			}
		}
		if ok {
			res.Outcome, res.Reason = evidence.OutcomePass, fmt.Sprintf("authority %s: satisfied", alt.Name)
			return
		}
		why = append(why, fmt.Sprintf("authority %s: %s", alt.Name, strings.Join(reasons, "; ")))
	}
	res.Outcome, res.Reason, res.Fix = evidence.OutcomeFail, "no authority is satisfied: "+strings.Join(why, " | "), strings.Join(fixes, "  OR  ")
}

// vsaPredicate is what a verification summary says, as far as accepting
// it goes.
type vsaPredicate struct {
	Verifier struct {
		ID string `json:"id"`
	} `json:"verifier"`
	TimeVerified       time.Time `json:"timeVerified"`
	ResourceURI        string    `json:"resourceUri"`
	VerificationResult string    `json:"verificationResult"`
	VerifiedLevels     []string  `json:"verifiedLevels"`
}

// maxSummaryBytes bounds the summaries read (one is about a kilobyte: a
// larger one is refused unread, whoever signed it), and maxRefusalsShown
// the refused ones a reason names.
const (
	maxSummaryBytes  = 64 << 10
	maxRefusalsShown = 5
)

// summary looks for a verification summary one of accepted takes: by its
// verifier, signed by one of its signers, PASSED for this digest, verified
// within its maxAge, carrying its levels. It returns the reason the rule
// passes, or why no summary did.
func (e *evaluator) summary(accepted []SummaryAcceptance) (passed, why string) {
	if reason, ok := e.ev.Unavailable[evidence.NeedAttestation(evidence.PredicateVSA)]; ok {
		return "", "verification summaries could not be read: " + reason
	}
	var refusals []string
	for _, acc := range accepted {
		for _, a := range e.ev.Attestations {
			if a.PredicateType != evidence.PredicateVSA {
				continue
			}
			s := matchesAny(acc.Signers, a.Verification)
			if s == nil {
				continue
			}
			if len(a.Predicate) > maxSummaryBytes {
				refusals = append(refusals, fmt.Sprintf("the summary stored at %s is larger than %d KiB", a.StoredAt, maxSummaryBytes>>10))
				continue
			}
			var v vsaPredicate
			if err := json.Unmarshal(a.Predicate, &v); err != nil {
				refusals = append(refusals, fmt.Sprintf("the summary stored at %s does not parse: %v", a.StoredAt, err))
				continue
			}
			if why := acceptSummary(acc, v, e.ev.Subject.Digest, e.now); why != "" {
				refusals = append(refusals, fmt.Sprintf("the summary by %s stored at %s %s", v.Verifier.ID, a.StoredAt, why))
				continue
			}
			return fmt.Sprintf("verified by %s at %s (verification summary signed by %s, trusted signer %s, stored at %s)",
				v.Verifier.ID, v.TimeVerified.UTC().Format(time.RFC3339), a.Signer, s.Name, a.StoredAt), ""
		}
	}
	if len(refusals) > maxRefusalsShown {
		refusals = append(refusals[:maxRefusalsShown], fmt.Sprintf("and %d more", len(refusals)-maxRefusalsShown))
	}
	if len(refusals) > 0 {
		return "", strings.Join(refusals, "; ")
	}
	var wanted []string
	for _, acc := range accepted {
		wanted = append(wanted, fmt.Sprintf("%s signed by %s", acc.Verifier, signersText(acc.Signers)))
	}
	return "", "no verification summary by " + strings.Join(wanted, " or ")
}

// acceptSummary says why a verified summary does not meet acc, or "".
func acceptSummary(acc SummaryAcceptance, v vsaPredicate, digest string, now time.Time) string {
	switch {
	case v.Verifier.ID != acc.Verifier:
		return fmt.Sprintf("is not by %s", acc.Verifier)
	case v.VerificationResult != "PASSED":
		return fmt.Sprintf("says %q, not PASSED", v.VerificationResult)
	case !strings.HasSuffix(v.ResourceURI, "@"+digest):
		return fmt.Sprintf("is about %s, not %s", v.ResourceURI, digest)
	case v.TimeVerified.IsZero():
		return "states no time of verification"
	case now.Sub(v.TimeVerified) > acc.MaxAge:
		return fmt.Sprintf("was verified %s, %s ago; the policy accepts %s at most", v.TimeVerified.UTC().Format(time.RFC3339), now.Sub(v.TimeVerified).Round(time.Minute), acc.MaxAge)
	case v.TimeVerified.After(now.Add(5 * time.Minute)):
		return fmt.Sprintf("was verified %s, in the future", v.TimeVerified.UTC().Format(time.RFC3339))
	}
	var missing []string
	for _, l := range acc.Levels {
		if !slices.Contains(v.VerifiedLevels, l) {
			missing = append(missing, l)
		}
	}
	if len(missing) > 0 {
		return "does not verify " + strings.Join(missing, ", ")
	}
	return ""
}

func signersText(signers []Signer) string {
	out := make([]string, len(signers))
	for i, s := range signers {
		out[i] = s.String()
	}
	return strings.Join(out, " or ")
}

func matchesAny(signers []Signer, v evidence.Verification) *Signer {
	for i := range signers {
		if signers[i].Accepts(v) {
			return &signers[i]
		}
	}
	return nil
}

func (e *evaluator) signature(res *evidence.RuleResult, r *SignatureRule) {
	if why, ok := e.ev.Unavailable[evidence.NeedSignatures]; ok && slices.ContainsFunc(r.Signers, func(s Signer) bool { return s.Notation == nil }) {
		res.Outcome, res.Reason = evidence.OutcomeFail, "signatures could not be read: "+why
		res.Fix = signFix(e.ev.Subject.String(), r.Signers)
		return
	}
	var others []string
	for _, sig := range e.ev.Signatures {
		if s := matchesAny(r.Signers, sig.Verification); s != nil {
			res.Outcome = evidence.OutcomePass
			res.Reason = fmt.Sprintf("signed by %s (trusted signer %s), stored at %s", sig.Signer, s.Name, sig.StoredAt)
			if sig.TransparencyLogSkipped {
				res.Reason += "; key-based, no transparency-log entry required"
			}
			if n := sig.Notation; n != nil {
				res.Reason += fmt.Sprintf("; Notation %s, trust policy statement %q, level %s", envelopeName(n.EnvelopeType), n.Statement, n.Level)
				if len(n.Logged) > 0 {
					res.Reason += "; failed checks the level only logs: " + strings.Join(n.Logged, "; ")
				}
			}
			return
		}
		if t := describeSigner(r.Signers, sig.Verification); !slices.Contains(others, t) {
			others = append(others, t)
		}
	}
	reference := e.ev.Subject.Repository + "@" + e.ev.Subject.Digest
	for _, s := range r.Signers {
		if s.Notation == nil {
			continue
		}
		if statement := s.Notation.Skips(reference); statement != "" {
			res.Outcome = evidence.OutcomePass
			res.Reason = fmt.Sprintf("not verified: the trust policy of Notation signer %s skips signature verification for %s (statement %q, level skip)", s.Name, e.ev.Subject.Repository, statement)
			return
		}
	}
	res.Outcome, res.Fix = evidence.OutcomeFail, signFix(e.ev.Subject.String(), r.Signers)
	switch {
	case len(others) > 0:
		res.Reason = fmt.Sprintf("signed by %s, but the policy requires %s", strings.Join(others, ", "), signersText(r.Signers))
	default:
		res.Reason = "no signature by " + signersText(r.Signers)
	}
	for _, s := range r.Signers {
		if s.Notation == nil {
			continue
		}
		if why, ok := e.ev.Unavailable[evidence.NeedNotation(s.Notation.Digest())]; ok {
			res.Reason += fmt.Sprintf("; Notation signatures for signer %s could not be verified: %s", s.Name, why)
		}
	}
	if rej := e.rejectedSignatures(r.Signers, len(others) == 0); rej != "" {
		res.Reason += "; " + rej
	}
}

func envelopeName(mediaType string) string {
	switch mediaType {
	case evidence.NotationJWS:
		return "JWS"
	case evidence.NotationCOSE:
		return "COSE"
	}
	return mediaType
}

// rejectedSignatures describes the signatures found that did not verify
// for signers: for a Notation signer those its own trust configuration
// refused, and cosign's for cosign signers when withCosign.
func (e *evaluator) rejectedSignatures(signers []Signer, withCosign bool) string {
	var out []string
	for _, rj := range e.ev.Rejected {
		if rj.PredicateType != evidence.PredicateSignatures {
			continue
		}
		if !slices.ContainsFunc(signers, func(s Signer) bool {
			if s.Notation != nil {
				return rj.NotationTrust == s.Notation.Digest()
			}
			return withCosign && rj.NotationTrust == ""
		}) {
			continue
		}
		out = append(out, fmt.Sprintf("%s at %s: %s", rj.Kind, rj.StoredAt, rj.Reason))
	}
	if len(out) == 0 {
		return ""
	}
	return "found but not verified: " + strings.Join(out, "; ")
}

// describeSigner names who made a signature the rule did not accept, and
// why when it was the right signer: a certificate no CT log has seen.
func describeSigner(signers []Signer, v evidence.Verification) string {
	for _, s := range signers {
		if s.Matches(v.Signer) && v.NoSCT {
			return v.Signer.String() + " with a certificate that carries no SCT from a trusted certificate-transparency log (not waived by insecureIgnoreSCT)"
		}
	}
	return v.Signer.String()
}

// rejected describes signatures of a type that were found but failed.
func (e *evaluator) rejected(predicateType string) string {
	var out []string
	for _, r := range e.ev.Rejected {
		if r.PredicateType == predicateType {
			out = append(out, fmt.Sprintf("%s at %s: %s", r.Kind, r.StoredAt, r.Reason))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "found but not verified: " + strings.Join(out, "; ")
}

func signFix(subject string, signers []Signer) string {
	if len(signers) > 0 && signers[0].Notation != nil {
		return fmt.Sprintf("dossier sign %s --notation --key <private key of signer %s> --certificate-chain <its certificate chain>", subject, signers[0].Name)
	}
	for _, s := range signers {
		if s.Keyless() {
			return fmt.Sprintf("dossier sign %s --keyless, run by %s", subject, s.Identities[0].String())
		}
	}
	return fmt.Sprintf("dossier sign %s --key %s", subject, privateKeyHint(signers))
}

// privateKeyHint names the private key to sign with as the policy names
// its signer (by name, else fingerprint): never its public key's file.
func privateKeyHint(signers []Signer) string {
	switch {
	case len(signers) == 0:
		return "<private key>"
	case signers[0].Name != "":
		return "<private key of signer " + signers[0].Name + ">"
	case signers[0].KeyFingerprint != "":
		return "<private key of key " + signers[0].KeyFingerprint + ">"
	}
	return "<private key>"
}

func attestFix(subject, predicateType string, signers []Signer) string {
	how := "--key " + privateKeyHint(signers)
	for _, s := range signers {
		if s.Keyless() {
			how = "--keyless"
		}
	}
	switch predicateType {
	case evidence.PredicateCycloneDX:
		return fmt.Sprintf("dossier sbom %s --attest %s", subject, how)
	case evidence.PredicateSPDX:
		return fmt.Sprintf("dossier sbom %s -o spdx-json --attest %s", subject, how)
	case evidence.PredicateVuln:
		return fmt.Sprintf("dossier scan %s --attest %s", subject, how)
	case evidence.PredicateSLSA1:
		return fmt.Sprintf("dossier provenance %s -o provenance.json && dossier attest %s --type slsaprovenance1 --predicate provenance.json %s", subject, subject, how)
	}
	return fmt.Sprintf("dossier attest %s --type %s --predicate FILE %s", subject, evidence.PredicateShortName(predicateType), how)
}

func (e *evaluator) attestation(res *evidence.RuleResult, r *AttestationRule) {
	short := evidence.PredicateShortName(r.PredicateType)
	if why, ok := e.ev.Unavailable[evidence.NeedAttestation(r.PredicateType)]; ok {
		res.Outcome, res.Reason = evidence.OutcomeFail, short+" attestations could not be read: "+why
		res.Fix = attestFix(e.ev.Subject.String(), r.PredicateType, r.Signers)
		return
	}
	var others, failures, met []string
	for _, a := range e.ev.Attestations {
		if a.PredicateType != r.PredicateType {
			continue
		}
		s := matchesAny(r.Signers, a.Verification)
		if s == nil {
			if t := describeSigner(r.Signers, a.Verification); !slices.Contains(others, t) {
				others = append(others, t)
			}
			continue
		}
		if why := e.conditions(r, a); why != "" {
			failures = append(failures, fmt.Sprintf("%s: %s", a.StoredAt, why))
			continue
		}
		reason := fmt.Sprintf("%s attestation by %s (trusted signer %s), stored at %s", short, a.Signer, s.Name, a.StoredAt)
		if !r.EveryStatement {
			res.Outcome, res.Reason = evidence.OutcomePass, reason
			return
		}
		met = append(met, reason)
	}
	if len(met) > 0 && len(failures) == 0 {
		res.Outcome, res.Reason = evidence.OutcomePass, strings.Join(met, "; ")
		if len(met) > 1 {
			res.Reason = fmt.Sprintf("all %d %s attestations by trusted signers meet the conditions: %s", len(met), short, res.Reason)
		}
		return
	}
	res.Outcome, res.Fix = evidence.OutcomeFail, attestFix(e.ev.Subject.String(), r.PredicateType, r.Signers)
	switch {
	case len(failures) > 0 && len(met) > 0:
		res.Reason = fmt.Sprintf("%d of %d %s attestations by trusted signers do not meet the policy, and every one must: %s", len(failures), len(failures)+len(met), short, strings.Join(failures, "; "))
	case len(failures) > 0:
		res.Reason = fmt.Sprintf("%s attestation by a trusted signer does not meet the policy: %s", short, strings.Join(failures, "; "))
	case len(others) > 0:
		res.Reason = fmt.Sprintf("%s attestation signed by %s, but the policy requires %s", short, strings.Join(others, ", "), signersText(r.Signers))
	default:
		res.Reason = fmt.Sprintf("no %s attestation by %s", short, signersText(r.Signers))
		if rej := e.rejected(r.PredicateType); rej != "" {
			res.Reason += "; " + rej
		}
	}
}

// conditions checks an attestation against the rule's conditions and says
// what is wrong, or "" when it meets them.
func (e *evaluator) conditions(r *AttestationRule, a evidence.Attestation) string {
	if r.MaxAge > 0 {
		if why := e.tooOld(a, r.MaxAge); why != "" {
			return why
		}
	}
	if r.Conditions != nil {
		if why := r.Conditions.Check(a.Predicate, ImageFacts{Reference: e.ev.Reference, Subject: e.ev.Subject}, e.now); why != "" {
			return why
		}
	}
	if len(r.BuilderIDs) == 0 && len(r.SourceRepositories) == 0 && len(r.Refs) == 0 && len(r.Triggers) == 0 && r.WorkflowAudit == nil {
		return ""
	}
	p := a.Provenance
	if p == nil {
		return "its provenance could not be read (builder id, source, ref and trigger unknown)"
	}
	if len(r.BuilderIDs) > 0 && !slices.Contains(r.BuilderIDs, p.BuilderID) {
		return fmt.Sprintf("built by %q, but the policy requires %s", p.BuilderID, quoteAll(r.BuilderIDs))
	}
	if len(r.SourceRepositories) > 0 && !slices.Contains(r.SourceRepositories, p.SourceRepository) {
		return fmt.Sprintf("built from %q, but the policy requires %s", p.SourceRepository, quoteAll(r.SourceRepositories))
	}
	if len(r.Refs) > 0 && !slices.ContainsFunc(r.Refs, func(g RefGlob) bool { return g.Glob.Match(p.Ref) }) {
		var want []string
		for _, g := range r.Refs {
			want = append(want, g.Text)
		}
		if p.Ref == "" {
			return fmt.Sprintf("its provenance names no ref, but the policy requires %s", quoteAll(want))
		}
		return fmt.Sprintf("built from ref %q, not a protected one: the policy requires %s", p.Ref, quoteAll(want))
	}
	if len(r.Triggers) > 0 {
		switch {
		case p.Trigger == "":
			return fmt.Sprintf("its provenance does not say what started the build, but the policy requires %s", quoteAll(r.Triggers))
		case !slices.Contains(r.Triggers, p.Trigger):
			return fmt.Sprintf("built by a %s run, but the policy requires %s", p.Trigger, quoteAll(r.Triggers))
		}
	}
	if r.WorkflowAudit != nil {
		return e.workflowAudit(r, p)
	}
	return ""
}

// workflowAudit judges the attested audit of the workflow at the commit
// the provenance names, by one of the rule's signers.
func (e *evaluator) workflowAudit(r *AttestationRule, p *evidence.Provenance) string {
	c := r.WorkflowAudit
	for _, a := range e.ev.Attestations {
		if a.PredicateType != evidence.PredicateWorkflowAudit || matchesAny(r.Signers, a.Verification) == nil {
			continue
		}
		var audit evidence.WorkflowAudit
		if json.Unmarshal(a.Predicate, &audit) != nil || audit.Commit == "" || audit.Commit != p.Commit {
			continue
		}
		var over []string
		for _, f := range audit.Findings {
			if f.Waiver == "" && evidence.SeverityRank(f.Severity) >= evidence.SeverityRank(c.FailOn) {
				over = append(over, fmt.Sprintf("%s at %s:%d (%s)", f.Rule, f.File, f.Line, f.Message))
			}
		}
		if len(over) > 0 {
			return fmt.Sprintf("workflow %s at commit %.12s has %d audit findings at or above %s: %s", audit.Workflow, audit.Commit, len(over), c.FailOn, strings.Join(over, "; "))
		}
		return ""
	}
	if c.Required {
		return fmt.Sprintf("no audit of the workflow at commit %.12s by %s (dossier pipeline --provenance attests one)", p.Commit, signersText(r.Signers))
	}
	return ""
}

func quoteAll(values []string) string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(out, " or ")
}

// tooOld judges an attestation's age by its verified signing time (log or
// timestamp) or, for key-based attestations without one, by the time the
// signed predicate states.
func (e *evaluator) tooOld(a evidence.Attestation, maxAge time.Duration) string {
	t, basis := a.SigningTime, "signed"
	if t == nil {
		t, basis = a.StatedTime, "dated (in its signed predicate)"
	}
	if t == nil {
		return fmt.Sprintf("its age cannot be judged: no log or timestamp proof of when it was signed, and its predicate states no time (the policy allows at most %s)", maxAge)
	}
	if age := e.now.Sub(*t); age > maxAge {
		return fmt.Sprintf("%s %s, %s ago; the policy allows at most %s", basis, t.UTC().Format(time.RFC3339), age.Round(time.Minute), maxAge)
	}
	return ""
}

// uncovered says why vulnerability evidence does not show every component
// checked: components not checked (the first ten named, with reasons), or
// no word on what was checked.
func uncovered(vulns *evidence.VulnerabilityEvidence) string {
	c := vulns.Coverage
	if c == nil {
		return fmt.Sprintf("the vulnerability evidence (%s) does not say which components were checked; the policy requires every component checked", vulns.Source)
	}
	if len(c.NotChecked) == 0 {
		return ""
	}
	var names []string
	for _, n := range c.NotChecked[:min(len(c.NotChecked), 10)] {
		name := n.Component.PURL
		if name == "" {
			name = n.Component.Name + "@" + n.Component.Version
		}
		names = append(names, fmt.Sprintf("%s (%s)", name, n.Reason))
	}
	more := ""
	if len(c.NotChecked) > 10 {
		more = fmt.Sprintf(" and %d more", len(c.NotChecked)-10)
	}
	return fmt.Sprintf("%d components were not checked against advisory data (%s); the policy requires every component checked: %s%s",
		len(c.NotChecked), vulns.Source, strings.Join(names, "; "), more)
}

func (e *evaluator) vulnerabilities(res *evidence.RuleResult, r *VulnerabilityRule) {
	subject := e.ev.Subject.String()
	vulns, why := e.vulnEvidence(r)
	if vulns == nil {
		res.Outcome, res.Reason = evidence.OutcomeFail, why
		res.Fix = "dossier db update && dossier scan " + subject
		if r.Attestation != nil {
			res.Fix += "  OR  " + attestFix(subject, evidence.PredicateVuln, r.Attestation.Signers)
		}
		return
	}
	if r.MaxDatabaseAge > 0 {
		age := e.now.Sub(vulns.DatabaseUpdated)
		if vulns.DatabaseUpdated.IsZero() || age > r.MaxDatabaseAge {
			res.Outcome, res.Fix = evidence.OutcomeFail, "dossier db update"
			res.Reason = fmt.Sprintf("advisory data (%s) was updated %s, %s ago; the policy allows at most %s", vulns.Source,
				vulns.DatabaseUpdated.UTC().Format(time.RFC3339), age.Round(time.Minute), r.MaxDatabaseAge)
			return
		}
	}
	if r.RequireCoverage {
		if why := uncovered(vulns); why != "" {
			res.Outcome, res.Reason = evidence.OutcomeFail, why
			res.Fix = "import advisory data for the ecosystems named (dossier db update), then dossier scan " + subject
			return
		}
	}
	var failing, waived []*evidence.Finding
	var waivers []evidence.Exception
	threshold := evidence.SeverityRank(r.FailOn)
	for i := range vulns.Findings {
		f := &vulns.Findings[i]
		if f.Suppression != nil && f.Suppression.Kind == "vex" {
			continue
		}
		if r.IgnoreUnfixed && f.FixState == evidence.FixNotFixed {
			continue
		}
		if !r.denies(f) && (r.FailOn == "" || f.Severity.Rating != evidence.SeverityUnknown && evidence.SeverityRank(f.Severity.Rating) < threshold) {
			continue
		}
		if x := e.waivesFinding(f); x != nil {
			waived = append(waived, f)
			if !slices.ContainsFunc(waivers, func(w evidence.Exception) bool { return w.Name == x.Name }) {
				waivers = append(waivers, *x)
			}
			continue
		}
		failing = append(failing, f)
		res.Findings = append(res.Findings, f.ID)
	}
	scope := r.scope()
	if r.IgnoreUnfixed {
		scope += ", with a fix published or fix state unknown"
	}
	switch {
	case len(failing) > 0:
		res.Outcome = evidence.OutcomeFail
		res.Reason = fmt.Sprintf("%d findings %s from %s: %s", len(failing), scope, vulns.Source, firstN(failing, 10))
		res.Fix = fmt.Sprintf("upgrade the affected packages and rebuild, or record a SupplyChainException for %s (see dossier scan %s)", subject, subject)
		for _, x := range e.expired {
			if len(x.Vulnerabilities) > 0 {
				res.Reason += fmt.Sprintf("; exception %s (owner %s) expired %s and no longer applies", x.Name, x.Owner, x.ExpiresAt.UTC().Format(time.RFC3339))
			}
		}
	case len(waived) > 0:
		res.Outcome, res.Waiver = evidence.OutcomeWaived, waiverOf(waivers[0])
		names := make([]string, len(waivers))
		for i, w := range waivers {
			names[i] = fmt.Sprintf("%s (owner %s, until %s)", w.Name, w.Owner, w.ExpiresAt.UTC().Format(time.RFC3339))
		}
		res.Reason = fmt.Sprintf("%d findings %s waived by %s: %s", len(waived), scope, strings.Join(names, ", "), firstN(waived, 10))
	default:
		res.Outcome = evidence.OutcomePass
		res.Reason = fmt.Sprintf("no findings %s (%d findings in all, from %s)", scope, len(vulns.Findings), vulns.Source)
	}
}

// firstN labels the first n findings (labels cost more than the rest of
// the evaluation, so only those shown are made).
func firstN(findings []*evidence.Finding, n int) string {
	labels := make([]string, 0, min(n, len(findings)))
	for _, f := range findings[:min(n, len(findings))] {
		labels = append(labels, fmt.Sprintf("%s (%s, %s %s)", f.ID, f.Severity.Rating, f.Component.Name, f.Component.Version))
	}
	out := strings.Join(labels, ", ")
	if len(findings) > n {
		out += fmt.Sprintf(", and %d more", len(findings)-n)
	}
	return out
}

// vulnEvidence picks the scan a vulnerability rule judges: a signed vuln
// attestation by an accepted signer when the rule accepts one, else the
// local scan. It says why when there is none.
func (e *evaluator) vulnEvidence(r *VulnerabilityRule) (*evidence.VulnerabilityEvidence, string) {
	var notes []string
	if r.Attestation != nil {
		var best *evidence.VulnerabilityEvidence
		for _, a := range e.ev.Attestations {
			if a.PredicateType != evidence.PredicateVuln {
				continue
			}
			if matchesAny(r.Attestation.Signers, a.Verification) == nil {
				notes = append(notes, fmt.Sprintf("vuln attestation at %s is signed by %s, not by %s", a.StoredAt, a.Signer, signersText(r.Attestation.Signers)))
				continue
			}
			if r.Attestation.MaxAge > 0 {
				if why := e.tooOld(a, r.Attestation.MaxAge); why != "" {
					notes = append(notes, fmt.Sprintf("vuln attestation at %s: %s", a.StoredAt, why))
					continue
				}
			}
			v, err := VulnReport(a)
			if err != nil {
				notes = append(notes, fmt.Sprintf("vuln attestation at %s: %v", a.StoredAt, err))
				continue
			}
			if best == nil || v.ScannedAt.After(best.ScannedAt) {
				best = v
			}
		}
		if best != nil {
			return best, ""
		}
	}
	if e.ev.Vulnerabilities != nil {
		return e.ev.Vulnerabilities, ""
	}
	why := "no vulnerability scan of this digest"
	if u, ok := e.ev.Unavailable[evidence.NeedVulnerabilities]; ok {
		why = "vulnerabilities could not be scanned: " + u
	}
	if len(notes) > 0 {
		why += "; " + strings.Join(notes, "; ")
	}
	return nil, why
}

// waivesFinding returns the exception in force that waives f, if any.
func (e *evaluator) waivesFinding(f *evidence.Finding) *evidence.Exception {
	for i := range e.active {
		if e.active[i].WaivesFinding(f) {
			return &e.active[i]
		}
	}
	return nil
}
