package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/gobwas/glob"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// CELRule is one validation of a Kyverno ImageValidatingPolicy, or (Index
// requiredCheck) its validationConfigurations.required check: the outcome
// of CEL over the image's verified evidence.
type CELRule struct {
	program *ivpProgram
	Index   int
}

// requiredCheck is the Index of the required check.
const requiredCheck = -1

// Bounds on evaluation: the cost of one expression (the limit Kubernetes
// sets per CEL expression) and the size of a predicate extractPayload
// decodes.
const (
	ivpCostLimit   = 1_000_000
	maxPayloadSize = 16 << 20
)

// ivpProgram is an ImageValidatingPolicy compiled: what it matches, who
// its attestors are, which attestations it names, and its expressions.
type ivpProgram struct {
	policy       string
	globs        []ivpGlob
	matchExprs   []ivpMatchExpr
	attestors    []ivpAttestorDef
	attestations []ivpAttestationDef
	variables    []ivpVariableDef
	validations  []ivpValidationDef
}

type ivpGlob struct {
	text string
	g    glob.Glob
}

type ivpMatchExpr struct {
	text string
	prg  cel.Program
}

type ivpAttestorDef struct {
	name   string
	signer Signer
}

type ivpAttestationDef struct{ name, predicateType string }

type ivpVariableDef struct {
	name string
	prg  cel.Program
}

type ivpValidationDef struct {
	expression, message string
	prg, messagePrg     cel.Program
}

// celBase is the CEL dossier offers every expression: the standard
// library with the extensions Kubernetes' CEL environment has.
func celBase() []cel.EnvOption {
	return []cel.EnvOption{
		cel.OptionalTypes(), cel.CrossTypeNumericComparisons(true), cel.DefaultUTCTimeZone(true),
		ext.Strings(), ext.Lists(), ext.Sets(), ext.Math(), ext.Encoders(), ext.Bindings(), ext.TwoVarComprehensions(),
		cel.ParserExpressionSizeLimit(maxIVPExpression),
	}
}

// ivpEnv declares only what dossier can supply about one image: images
// (extractor name to the image judged), attestors and attestations (name
// to handle), variables, and Kyverno's image verification functions over
// the image's verified evidence.
var ivpEnv = sync.OnceValues(func() (*cel.Env, error) {
	opts := append(celBase(),
		cel.Variable("images", cel.MapType(cel.StringType, cel.ListType(cel.StringType))),
		cel.Variable("attestors", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("attestations", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("variables", cel.MapType(cel.StringType, cel.DynType)),
		cel.Function("verifyImageSignatures", cel.Overload("verify_image_signature_string_stringarray",
			[]*cel.Type{cel.StringType, cel.ListType(cel.DynType)}, cel.IntType, cel.BinaryBinding(celVerifyImageSignatures))),
		cel.Function("verifyAttestationSignatures", cel.Overload("verify_image_attestations_string_string_stringarray",
			[]*cel.Type{cel.StringType, cel.DynType, cel.ListType(cel.DynType)}, cel.IntType, cel.FunctionBinding(celVerifyAttestationSignatures))),
		cel.Function("extractPayload", cel.Overload("payload_string_string",
			[]*cel.Type{cel.StringType, cel.DynType}, cel.DynType, cel.BinaryBinding(celExtractPayload))),
	)
	return cel.NewEnv(opts...)
})

// matchEnv is matchImageReferences' environment: the image reference as
// ref.
var matchEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(append(celBase(), cel.Variable("ref", cel.StringType))...)
})

var (
	boolResult   = cel.BoolType
	stringResult = cel.StringType
)

// compileIVP compiles an expression of a policy; want, when set, is the
// type it must give.
func compileIVP(text string, want *cel.Type) (cel.Program, error) {
	env, err := ivpEnv()
	if err != nil {
		return nil, err
	}
	return compileCEL(env, text, want)
}

func compileMatchExpression(text string) (cel.Program, error) {
	env, err := matchEnv()
	if err != nil {
		return nil, err
	}
	return compileCEL(env, text, boolResult)
}

func compileCEL(env *cel.Env, text string, want *cel.Type) (cel.Program, error) {
	switch {
	case strings.TrimSpace(text) == "":
		return nil, fmt.Errorf("empty expression")
	case len(text) > maxIVPExpression:
		return nil, fmt.Errorf("longer than %d characters", maxIVPExpression)
	}
	ast, iss := env.Compile(text)
	if iss.Err() != nil {
		return nil, explainCELError(iss.Err())
	}
	if want != nil && !ast.OutputType().IsExactType(want) && !ast.OutputType().IsExactType(cel.DynType) {
		return nil, fmt.Errorf("gives %s, want %s", ast.OutputType(), want)
	}
	return env.Program(ast, cel.CostLimit(ivpCostLimit), cel.EvalOptions(cel.OptOptimize))
}

// kyvernoOnly are names Kyverno's CEL environment has and dossier's does
// not, and why: dossier judges one image by its verified evidence.
var kyvernoOnly = map[string]string{
	"object": "the admitted object", "oldObject": "the admitted object", "request": "the admission request",
	"namespaceObject": "the namespace object", "authorizer": "the API server's authorizer", "params": "policy parameters",
	"http": "HTTP calls", "resource": "reading Kubernetes resources", "globalContext": "Kyverno's global context",
	"image": "image data from the registry", "imageData": "image data from the registry", "getImageData": "image data from the registry",
	"parseImageReference": "Kyverno's image library", "isImage": "Kyverno's image library",
	"json": "Kyverno's json library", "yaml": "Kyverno's yaml library", "time": "Kyverno's time library",
	"random": "Kyverno's random library", "gzip": "Kyverno's gzip library", "x509": "Kyverno's x509 library",
	"user": "Kyverno's user library", "exceptions": "policy exceptions",
}

var undeclared = regexp.MustCompile(`undeclared reference to '([^']+)'`)

// explainCELError names what an expression used that dossier does not
// offer, and why.
func explainCELError(err error) error {
	var hints []string
	for _, m := range undeclared.FindAllStringSubmatch(err.Error(), -1) {
		first, _, _ := strings.Cut(m[1], ".")
		if why, ok := kyvernoOnly[first]; ok {
			hint := fmt.Sprintf("%s (%s) is not supported by dossier, which judges one image by its verified evidence", m[1], why)
			if !slices.Contains(hints, hint) {
				hints = append(hints, hint)
			}
		}
	}
	msg := strings.TrimSpace(strings.ReplaceAll(err.Error(), "\n", " "))
	if len(hints) > 0 {
		return fmt.Errorf("%s: %s", strings.Join(hints, "; "), msg)
	}
	return errors.New(msg)
}

// match reports whether the policy judges an image of these names: no
// references match every image. An expression that fails matches, with
// the error, so that the policy's rules fail rather than the image going
// unjudged.
func (g *ivpProgram) match(names []string) (bool, error) {
	if len(g.globs)+len(g.matchExprs) == 0 {
		return true, nil
	}
	for _, gl := range g.globs {
		for _, n := range names {
			if gl.g.Match(n) {
				return true, nil
			}
		}
	}
	var errs []error
	for _, m := range g.matchExprs {
		for _, n := range names {
			out, _, err := m.prg.Eval(map[string]any{"ref": n})
			if err != nil {
				errs = append(errs, fmt.Errorf("matchImageReferences expression %s on %s: %w", oneLine(m.text), n, err))
				continue
			}
			if out == types.True {
				return true, nil
			}
		}
	}
	if len(errs) > 0 {
		return true, errors.Join(errs...)
	}
	return false, nil
}

// ivpImageNames are the names an ImageValidatingPolicy matches an image
// by: the reference as written (what Kyverno matches), and the names
// Kyverno's other policies give it, so that dossier is never laxer.
func ivpImageNames(ev *evidence.Collected) []string {
	var out []string
	if ev.Reference != "" {
		out = append(out, ev.Reference)
	}
	for _, n := range kyvernoImageNames(ev) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// ivpImage is the image as expressions see it: the reference as given,
// else repository@digest.
func ivpImage(ev *evidence.Collected) string {
	if ev.Reference != "" {
		return ev.Reference
	}
	return ev.Subject.String()
}

// needs adds what the policy's attestors and attestations ask for.
func (g *ivpProgram) needs(n *Needs) {
	for _, a := range g.attestors {
		if a.signer.Notation != nil {
			n.Notation = appendTrust(n.Notation, a.signer.Notation)
		} else {
			n.Signatures = true
		}
	}
	for _, a := range g.attestations {
		n.addType(a.predicateType)
	}
}

func (g *ivpProgram) signers() []Signer {
	out := make([]Signer, len(g.attestors))
	for i, a := range g.attestors {
		out[i] = a.signer
	}
	return out
}

// celHandle is what attestors.<name> and attestations.<name> evaluate
// to: it names one of the policy's attestors or attestations (kind says
// which), for the evaluation it belongs to.
type celHandle struct {
	kind  *handleKind
	run   *ivpRun
	index int
}

// handleKind is an attestor or an attestation, as CEL sees it.
type handleKind struct {
	noun    string
	celType *types.Type
	name    func(*ivpProgram, int) string
}

var (
	attestorKind = &handleKind{noun: "attestor", celType: types.NewOpaqueType("dossier.attestor"),
		name: func(p *ivpProgram, i int) string { return p.attestors[i].name }}
	attestationKind = &handleKind{noun: "attestation", celType: types.NewOpaqueType("dossier.attestation"),
		name: func(p *ivpProgram, i int) string { return p.attestations[i].name }}
)

// handleOf is v as a handle of kind, if it is one.
func handleOf(v ref.Val, kind *handleKind) (celHandle, bool) {
	h, ok := v.(celHandle)
	return h, ok && h.kind == kind
}

func (h celHandle) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("an %s is not a %v", h.kind.noun, t)
}

func (h celHandle) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case h.kind.celType:
		return h
	case types.TypeType:
		return h.kind.celType
	}
	return types.NewErr("an %s is not a %s", h.kind.noun, t.TypeName())
}

func (h celHandle) Equal(other ref.Val) ref.Val {
	o, ok := other.(celHandle)
	return types.Bool(ok && o == h)
}

func (h celHandle) Type() ref.Type { return h.kind.celType }
func (h celHandle) Value() any     { return h.kind.name(h.run.prog, h.index) }

// ivpRun is one evaluation of a policy's expressions about one image:
// what its verify functions found, and each validation's outcome.
type ivpRun struct {
	prog     *ivpProgram
	ev       *evidence.Collected
	image    string
	matchErr error
	results  []ivpResult
	// verified and attempted say whether a verify function with attestors
	// found one of them (the required check), or was called at all
	verified, attempted bool
	// statements are the attestations (by attestation index) a verify
	// function found signed by one of its attestors, for extractPayload
	statements map[int][]evidence.Attestation
	payloads   map[int]ref.Val
	// notes and fixes are what the validation being evaluated found
	notes, fixes []string
}

type ivpResult struct {
	pass        bool
	reason, fix string
}

// runIVP evaluates the program's variables, in order, then each of its
// validations, about the image ev names.
func runIVP(prog *ivpProgram, ev *evidence.Collected, names []string) *ivpRun {
	r := &ivpRun{prog: prog, ev: ev, image: ivpImage(ev), statements: map[int][]evidence.Attestation{}, payloads: map[int]ref.Val{}}
	if _, r.matchErr = prog.match(names); r.matchErr != nil {
		return r
	}
	one := []string{r.image}
	attestors, attestations, vars := map[ref.Val]ref.Val{}, map[ref.Val]ref.Val{}, map[ref.Val]ref.Val{}
	for i, a := range prog.attestors {
		attestors[types.String(a.name)] = celHandle{kind: attestorKind, run: r, index: i}
	}
	for i, a := range prog.attestations {
		attestations[types.String(a.name)] = celHandle{kind: attestationKind, run: r, index: i}
	}
	act := map[string]any{
		// dossier judges one image at a time and does not know which list
		// of the workload it is in: it is in each, never laxer than Kyverno
		"images":       map[string][]string{"containers": one, "initContainers": one, "ephemeralContainers": one},
		"attestors":    types.NewRefValMap(types.DefaultTypeAdapter, attestors),
		"attestations": types.NewRefValMap(types.DefaultTypeAdapter, attestations),
		"variables":    types.NewRefValMap(types.DefaultTypeAdapter, vars),
	}
	for _, v := range prog.variables {
		out, _, err := v.prg.Eval(act)
		if err != nil {
			out = types.WrapErr(fmt.Errorf("variable %s: %w", v.name, err))
		}
		vars[types.String(v.name)] = out
	}
	// what the variables' verify functions found is said of every
	// validation, which may read it through them
	prelude, fixes := r.notes, r.fixes
	for i, v := range prog.validations {
		r.notes, r.fixes = slices.Clone(prelude), slices.Clone(fixes)
		r.results = append(r.results, r.validate(i, v, act))
	}
	return r
}

// validate evaluates one validation: true passes; false fails with its
// message; an error or a result that is no bool fails closed.
func (r *ivpRun) validate(i int, v ivpValidationDef, act map[string]any) ivpResult {
	out, _, err := v.prg.Eval(act)
	found := strings.Join(r.notes, "; ")
	res := ivpResult{fix: strings.Join(r.fixes, "  AND  ")}
	switch b, isBool := out.(types.Bool); {
	case err != nil:
		res.reason = fmt.Sprintf("the expression failed, so the validation fails: %v", err)
	case !isBool:
		res.reason = fmt.Sprintf("the expression gave %v, not a bool", out)
	case bool(b):
		res.pass, res.reason, res.fix = true, "true", ""
		if found != "" {
			res.reason += ": " + found
		}
		return res
	default:
		res.reason = v.message
		if v.messagePrg != nil {
			if msg, _, err := v.messagePrg.Eval(act); err != nil {
				res.reason = fmt.Sprintf("failed to evaluate message expression: %v", err)
			} else if s, ok := msg.(types.String); ok {
				res.reason = string(s)
			}
		}
		if res.reason == "" {
			res.reason = fmt.Sprintf("CEL expression validation failed at index %d", i)
		}
	}
	if found != "" {
		res.reason += " (" + found + ")"
	}
	return res
}

func (r *ivpRun) note(format string, args ...any) {
	if n := fmt.Sprintf(format, args...); !slices.Contains(r.notes, n) {
		r.notes = append(r.notes, n)
	}
}

func (r *ivpRun) fix(f string) {
	if !slices.Contains(r.fixes, f) {
		r.fixes = append(r.fixes, f)
	}
}

// judged checks that an expression asks about the image judged: dossier
// has no evidence about any other.
func (r *ivpRun) judged(image ref.Val) error {
	s, ok := image.(types.String)
	switch {
	case !ok:
		return fmt.Errorf("an image is a string, not %s", image.Type().TypeName())
	case string(s) != r.image:
		return fmt.Errorf("dossier judges one image at a time and has evidence about %s, not %q", r.image, string(s))
	}
	return nil
}

// attestorList reads a list of attestors.<name> handles; nil run for an
// empty list.
func attestorList(list ref.Val) ([]celHandle, *ivpRun, error) {
	l, ok := list.(traits.Lister)
	if !ok {
		return nil, nil, fmt.Errorf("attestors are given as a list, [attestors.<name>, …]")
	}
	var out []celHandle
	var run *ivpRun
	for it := l.Iterator(); it.HasNext() == types.True; {
		h, ok := handleOf(it.Next(), attestorKind)
		switch {
		case !ok:
			return nil, nil, fmt.Errorf("an attestor is given as attestors.<name>")
		case run != nil && h.run != run:
			return nil, nil, fmt.Errorf("attestors of another evaluation")
		}
		run = h.run
		out = append(out, h)
	}
	return out, run, nil
}

// celVerifyImageSignatures is verifyImageSignatures(image, [attestors]):
// how many of the attestors signed the image, as its verified signatures
// show.
func celVerifyImageSignatures(image, list ref.Val) ref.Val {
	hs, run, err := attestorList(list)
	if err != nil {
		return types.WrapErr(err)
	}
	if run == nil {
		return types.IntZero
	}
	if err := run.judged(image); err != nil {
		return types.WrapErr(err)
	}
	count := 0
	for _, h := range hs {
		ok, err := run.signedBy(h.index)
		if err != nil {
			return types.WrapErr(err)
		}
		if ok {
			count++
		}
	}
	run.record(count > 0)
	return types.Int(count)
}

// celVerifyAttestationSignatures is verifyAttestationSignatures(image,
// attestation, [attestors]): how many of the attestors signed an
// attestation of its type about the image.
func celVerifyAttestationSignatures(args ...ref.Val) ref.Val {
	if len(args) != 3 {
		return types.NewErr("function usage: <image> <attestation> <attestor list>")
	}
	att, ok := handleOf(args[1], attestationKind)
	if !ok {
		return types.NewErr("an attestation is given as attestations.<name>")
	}
	hs, run, err := attestorList(args[2])
	if err != nil {
		return types.WrapErr(err)
	}
	if run == nil {
		return types.IntZero
	}
	if run != att.run {
		return types.NewErr("attestation and attestors of different evaluations")
	}
	if err := run.judged(args[0]); err != nil {
		return types.WrapErr(err)
	}
	count := 0
	for _, h := range hs {
		ok, err := run.attestedBy(att.index, h.index)
		if err != nil {
			return types.WrapErr(err)
		}
		if ok {
			count++
		}
	}
	run.record(count > 0)
	return types.Int(count)
}

// celExtractPayload is extractPayload(image, attestation): the in-toto
// statement of an attestation a verify function found, as a map.
func celExtractPayload(image, attestation ref.Val) ref.Val {
	h, ok := handleOf(attestation, attestationKind)
	if !ok {
		return types.NewErr("an attestation is given as attestations.<name>")
	}
	if err := h.run.judged(image); err != nil {
		return types.WrapErr(err)
	}
	v, err := h.run.payload(h.index)
	if err != nil {
		return types.WrapErr(err)
	}
	return v
}

func (r *ivpRun) record(verified bool) {
	r.attempted = true
	r.verified = r.verified || verified
}

// signedBy reports whether attestor i signed the image. Evidence that
// could not be read is an error, never a count of 0 a negated expression
// would pass.
func (r *ivpRun) signedBy(i int) (bool, error) {
	a := r.prog.attestors[i]
	s := a.signer
	if s.Notation != nil {
		if why, ok := r.ev.Unavailable[evidence.NeedNotation(s.Notation.Digest())]; ok {
			return false, fmt.Errorf("Notation signatures for attestor %s could not be verified: %s", a.name, why)
		}
	} else if why, ok := r.ev.Unavailable[evidence.NeedSignatures]; ok {
		return false, fmt.Errorf("signatures could not be read: %s", why)
	}
	for _, sig := range r.ev.Signatures {
		if s.Accepts(sig.Verification) {
			r.note("attestor %s: signed by %s, stored at %s", a.name, sig.Signer, sig.StoredAt)
			return true, nil
		}
	}
	what := fmt.Sprintf("attestor %s: no signature by %s", a.name, s.String())
	if rej := (&evaluator{ev: r.ev}).rejectedSignatures([]Signer{s}, true); rej != "" {
		what += "; " + rej
	}
	r.note("%s", what)
	r.fix(signFix(r.ev.Subject.String(), []Signer{s}))
	return false, nil
}

// attestedBy reports whether attestor ai signed an attestation of
// attestation ti's type about the image, and keeps those it did for
// extractPayload.
func (r *ivpRun) attestedBy(ti, ai int) (bool, error) {
	t, a := r.prog.attestations[ti], r.prog.attestors[ai]
	if a.signer.Notation != nil {
		return false, fmt.Errorf("attestor %s is a Notary attestor, which verifies referrer attestations only (as Kyverno's), and attestation %s is in-toto", a.name, t.name)
	}
	if why, ok := r.ev.Unavailable[evidence.NeedAttestation(t.predicateType)]; ok {
		return false, fmt.Errorf("%s attestations could not be read: %s", evidence.PredicateShortName(t.predicateType), why)
	}
	found := false
	for _, x := range r.ev.Attestations {
		if x.PredicateType != t.predicateType || !a.signer.Accepts(x.Verification) {
			continue
		}
		if !found {
			r.note("attestor %s: %s attestation by %s, stored at %s", a.name, t.name, x.Signer, x.StoredAt)
		}
		found = true
		if !slices.ContainsFunc(r.statements[ti], func(y evidence.Attestation) bool { return y.StoredAt == x.StoredAt }) {
			r.statements[ti] = append(r.statements[ti], x)
		}
	}
	if !found {
		what := fmt.Sprintf("attestor %s: no %s attestation (%s) by %s", a.name, t.name, t.predicateType, a.signer.String())
		if rej := (&evaluator{ev: r.ev}).rejected(t.predicateType); rej != "" {
			what += "; " + rej
		}
		r.note("%s", what)
		r.fix(attestFix(r.ev.Subject.String(), t.predicateType, []Signer{a.signer}))
	}
	return found, nil
}

// payload is the statement of attestation ti as Kyverno's extractPayload
// gives it: predicateType, subject and predicate. Of several verified,
// the one signed last.
func (r *ivpRun) payload(ti int) (ref.Val, error) {
	if v, ok := r.payloads[ti]; ok {
		return v, nil
	}
	t := r.prog.attestations[ti]
	found := r.statements[ti]
	if len(found) == 0 {
		return nil, fmt.Errorf("the payload of attestation %s cannot be read before it is verified: call verifyAttestationSignatures(image, attestations.%s, [attestors…]) first (as in Kyverno); none verified", t.name, t.name)
	}
	pick := found[0]
	for _, x := range found[1:] {
		if x.SigningTime != nil && (pick.SigningTime == nil || x.SigningTime.After(*pick.SigningTime)) {
			pick = x
		}
	}
	if len(pick.Predicate) > maxPayloadSize {
		return nil, fmt.Errorf("attestation %s stored at %s is larger than %d MiB", t.name, pick.StoredAt, maxPayloadSize>>20)
	}
	var predicate any
	if err := json.Unmarshal(pick.Predicate, &predicate); err != nil {
		return nil, fmt.Errorf("attestation %s stored at %s: predicate does not parse: %v", t.name, pick.StoredAt, err)
	}
	algo, hex, _ := strings.Cut(r.ev.Subject.Digest, ":")
	statement := map[string]any{
		"predicateType": t.predicateType,
		"subject":       []any{map[string]any{"name": r.ev.Subject.Repository, "digest": map[string]any{algo: hex}}},
		"predicate":     predicate,
	}
	v := types.DefaultTypeAdapter.NativeToValue(statement)
	r.payloads[ti] = v
	r.note("payload of %s read from %s", t.name, pick.StoredAt)
	return v, nil
}

// run is the evaluation of p's program about the image judged, made once
// per decision.
func (e *evaluator) run(p *Policy) *ivpRun {
	if r, ok := e.ivpRuns[p.ivp]; ok {
		return r
	}
	if e.ivpRuns == nil {
		e.ivpRuns = map[*ivpProgram]*ivpRun{}
	}
	r := runIVP(p.ivp, e.ev, e.imageNames(p))
	e.ivpRuns[p.ivp] = r
	return r
}

// celRule decides one rule of an ImageValidatingPolicy.
func (e *evaluator) celRule(res *evidence.RuleResult, p *Policy, r *CELRule) {
	run := e.run(p)
	if run.matchErr != nil {
		res.Outcome, res.Reason = evidence.OutcomeFail, run.matchErr.Error()
		return
	}
	if r.Index == requiredCheck {
		e.required(res, p)
		return
	}
	out := run.results[r.Index]
	res.Outcome, res.Reason, res.Fix = evidence.OutcomeFail, out.reason, out.fix
	if out.pass {
		res.Outcome = evidence.OutcomePass
	}
}

// required passes when a verify function with attestors found one of them
// for the image, in p or another ImageValidatingPolicy matching the image
// (Kyverno shares verifications across the policies of a request).
func (e *evaluator) required(res *evidence.RuleResult, p *Policy) {
	policies := []*Policy{p}
	if e.set != nil {
		policies = e.set.Policies
	}
	attempted := false
	for _, q := range policies {
		if q.ivp == nil || !q.matches(e.ev, e.imageNames(q)) {
			continue
		}
		run := e.run(q)
		if run.verified {
			res.Outcome, res.Reason = evidence.OutcomePass, "verified by a signature or attestation check of policy "+q.Name
			return
		}
		attempted = attempted || run.attempted
	}
	res.Outcome = evidence.OutcomeFail
	if attempted {
		res.Reason = fmt.Sprintf("image %s failed signature or attestation verification (validationConfigurations.required)", ivpImage(e.ev))
		return
	}
	res.Reason = fmt.Sprintf("image %s is not verified: no ImageValidatingPolicy performed a signature or attestation check on it (validationConfigurations.required)", ivpImage(e.ev))
}
