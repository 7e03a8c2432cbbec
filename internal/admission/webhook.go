package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/metrics"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
)

// Options configure a webhook.
type Options struct {
	Registry oci.RegistryOptions
	// EvidenceTTL bounds how long gathered evidence about a digest is
	// reused (default 5 minutes); TagTTL how long a tag's digest is
	// (default 30 seconds).
	EvidenceTTL, TagTTL time.Duration
	// NamespaceLabels reads a namespace's labels, for policies that select
	// namespaces by label; without it such policies cannot be judged and
	// their images are refused (fail closed).
	NamespaceLabels func(ctx context.Context, namespace string) (map[string]string, error)
	// FailOpen admits, under enforcing policies too, an image whose
	// evidence cannot be had (registry unreachable, namespace labels
	// unreadable); such admissions are warned about and recorded as
	// failed-open. By default they are denied (fail closed).
	FailOpen bool
	// Unclaimed is the answer for an image no policy claims (none whose
	// images and namespaces match it): policy.UnclaimedDeny by default.
	Unclaimed policy.Unclaimed
	// Store, when set, keeps every validating decision, and marks admitted
	// Pods' digests deployed; OnStoreError hears of decisions it lost.
	Store DecisionStore
	// PullSecrets, when set, reads the pull secrets a Pod spec names and
	// its service account's, so that images are resolved and verified with
	// the credentials the kubelet would pull them with.
	PullSecrets PullSecretsReader
	// Cluster names the cluster the webhook admits to: its decisions are
	// recorded under it, and the inventory of that cluster is judged
	// against them.
	Cluster string
	// NamespacedKeys reads Gatekeeper keys written [namespace]image as an
	// image judged in that namespace. Only a template that builds keys
	// from the review's namespace may be trusted so: a key is otherwise
	// whatever a Pod's author wrote as the image.
	NamespacedKeys bool
	OnStoreError   func(error)
	// Metrics, when set, observes reviews, decisions and verifications.
	Metrics *metrics.Metrics
	Now     func() time.Time
}

// Webhook answers AdmissionReviews with the rules in force.
type Webhook struct {
	failOpen  bool
	unclaimed policy.Unclaimed
	cluster   string
	rules     func() *Rules
	judge     *judge
	labels    func(ctx context.Context, namespace string) (map[string]string, error)
	secrets   PullSecretsReader
	recorder  *recorder
	metrics   *metrics.Metrics
	now       func() time.Time
	parsed    parsedImages
	// namespacedKeys: Options.NamespacedKeys
	namespacedKeys bool
}

// New makes a webhook deciding with rules (called on every review, so
// that reloaded policies apply at once).
func New(rules func() *Rules, opts Options) *Webhook {
	if opts.EvidenceTTL <= 0 {
		opts.EvidenceTTL = 5 * time.Minute
	}
	if opts.TagTTL <= 0 {
		opts.TagTTL = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	w := &Webhook{failOpen: opts.FailOpen, unclaimed: opts.Unclaimed, cluster: opts.Cluster, namespacedKeys: opts.NamespacedKeys, rules: rules, judge: newJudge(opts.Registry, opts.EvidenceTTL, opts.TagTTL, opts.Now, opts.Metrics), labels: opts.NamespaceLabels, secrets: opts.PullSecrets,
		metrics: opts.Metrics, now: opts.Now}
	if opts.Store != nil {
		w.recorder = newRecorder(opts.Store, opts.OnStoreError)
	}
	return w
}

// Close writes the decisions still on their way to the store.
func (w *Webhook) Close() {
	if w.recorder != nil {
		w.recorder.close()
	}
}

// Verdict is what the webhook decided about one image of a request.
type Verdict struct {
	Image Image `json:"image"`
	// Matched says the image was judged: a policy's images match it, or
	// no policy does and unclaimed images are not allowed unjudged.
	Matched bool `json:"matched"`
	// Subject is the digest judged (unset when it could not be resolved).
	Subject evidence.Subject `json:"subject"`
	// Decision is the policies' decision about Subject.
	Decision *evidence.Decision `json:"decision,omitempty"`
	// Failure says why no decision could be made (resolution failed, say);
	// Enforced says an enforcing policy matched, so that it denies.
	Failure  string `json:"failure,omitempty"`
	Enforced bool   `json:"enforced"`
	// Unavailable says the failure is one of availability (a registry or
	// the API server that cannot be reached in time), the only kind
	// --fail-open admits: a reference that does not parse or names
	// nothing, or a certificate that does not verify, never is.
	Unavailable bool `json:"unavailable,omitempty"`
	// FailedOpen says the failure was admitted because the webhook fails
	// open.
	FailedOpen bool `json:"failedOpen,omitempty"`
}

// Judgement is the verdicts about one request's images, and the
// workload they belong to ("ReplicaSet/web-7d4b9").
type Judgement struct {
	Verdicts []Verdict
	Workload string
}

func (v Verdict) denies() bool {
	if v.Failure != "" {
		return v.Enforced && !v.FailedOpen
	}
	return v.Decision != nil && !v.Decision.Allowed
}

// Bounds on one review's images: at most maxReviewImages distinct
// references, judged judgeConcurrency at a time. Judged one after another,
// a workload of many cheap images could spend the review's time budget
// and leave a later image to be cut off by it, which --fail-open would
// admit as an outage; side by side, only a registry that is really slow
// runs the budget out, and an image cut off after waiting for its turn is
// denied, not failed open.
const (
	maxReviewImages  = 256
	judgeConcurrency = 16
)

// Judge decides every image of an admission request. The images of one
// reference are judged once however many containers use it, the distinct
// references side by side.
func (w *Webhook) Judge(ctx context.Context, req *admissionv1.AdmissionRequest) (Judgement, error) {
	kind := req.Kind.Kind
	images, object, err := readObject(kind, req.Object.Raw)
	if err != nil {
		return Judgement{}, err
	}
	var out Judgement
	if object != nil {
		out.Workload = workloadOf(req, object)
	}
	rules := w.rules()
	credentials := w.credentials(ctx, kind, req.Namespace, object)
	var references []string
	first := map[string]Image{}
	for _, im := range images {
		if _, ok := first[im.Reference]; !ok {
			first[im.Reference] = im
			references = append(references, im.Reference)
		}
	}
	if len(references) > maxReviewImages {
		return out, fmt.Errorf("%s %s names %d distinct images, more than the %d one review judges", kind, req.Name, len(references), maxReviewImages)
	}
	namespaceLabels := w.labelsOnce(ctx, req.Namespace)
	verdicts := make([]Verdict, len(references))
	var judging sync.WaitGroup
	slots := make(chan struct{}, judgeConcurrency)
	deadline, bounded := ctx.Deadline()
	began := time.Now()
	for i, reference := range references {
		slots <- struct{}{}
		judging.Go(func() {
			defer func() { <-slots }()
			started := time.Now()
			v := w.judgeImage(ctx, rules, req.Namespace, first[reference], namespaceLabels, credentials)
			if v.Unavailable && bounded && ctx.Err() != nil && deadline.Sub(started) < deadline.Sub(began)/2 {
				// the review's other images spent its budget (a registry
				// slow on purpose can): not an outage of this image's
				// registry, and so never admitted by --fail-open
				v.Unavailable = false
				v.Failure += " (judged only after the review's other images had spent half its time budget)"
			}
			verdicts[i] = v
		})
	}
	judging.Wait()
	byReference := map[string]Verdict{}
	for i, reference := range references {
		byReference[reference] = verdicts[i]
	}
	for _, im := range images {
		v := byReference[im.Reference]
		v.Image = im
		v.FailedOpen = v.Failure != "" && v.Unavailable && v.Enforced && w.failOpen
		out.Verdicts = append(out.Verdicts, v)
	}
	return out, nil
}

// labelsOnce reads a namespace's labels once, when a policy that selects
// namespaces by label first asks.
func (w *Webhook) labelsOnce(ctx context.Context, namespace string) func() (map[string]string, error) {
	return sync.OnceValues(func() (map[string]string, error) {
		if w.labels == nil {
			return nil, fmt.Errorf("a policy selects namespaces by label and the webhook cannot read namespace labels")
		}
		return w.labels(ctx, namespace)
	})
}

// credentials reads, once for a review and only when an image is
// resolved, the pull secrets the kubelet would use for the object's Pod
// spec. Secrets that cannot be read or used are left out and said, as the
// kubelet leaves them out: the registry then decides.
func (w *Webhook) credentials(ctx context.Context, kind, namespace string, object *workloadObject) func() (*oci.PullSecrets, error) {
	if w.secrets == nil || object == nil {
		return func() (*oci.PullSecrets, error) { return nil, nil }
	}
	return sync.OnceValues(func() (*oci.PullSecrets, error) {
		names, serviceAccount := object.pullCredentials(kind)
		return w.secrets(ctx, namespace, names, serviceAccount)
	})
}

// judgeImage decides one image reference in a namespace; namespaceLabels
// is asked only when a policy selects namespaces by label.
func (w *Webhook) judgeImage(ctx context.Context, rules *Rules, namespace string, im Image, namespaceLabels func() (map[string]string, error), credentials func() (*oci.PullSecrets, error)) Verdict {
	v := Verdict{Image: im}
	ref, err := w.parsed.parse(im.Reference)
	if err != nil {
		// an image that does not parse cannot be shown to be allowed
		v.Matched, v.Enforced, v.Failure = true, true, err.Error()
		return v
	}
	// the policies whose images match, whatever their namespaces
	probe := &evidence.Collected{Reference: ref.Name(), Subject: evidence.Subject{Repository: ref.Context().Name()}}
	candidates := matchingPolicies(rules.Set, probe)
	if len(candidates) == 0 {
		return w.unclaimedVerdict(v, probe, rules.Set, namespace, namespaceLabels)
	}
	probe.Namespace = namespace
	if needsLabels(candidates) {
		labels, err := namespaceLabels()
		if err != nil {
			v.Matched, v.Enforced = true, anyEnforcing(candidates)
			v.Failure = fmt.Sprintf("namespace %s: %v", namespace, err)
			v.Unavailable = w.labels != nil // the API server's answer, not a configuration
			return v
		}
		probe.NamespaceLabels = labels
	}
	matching := matchingPolicies(rules.Set, probe)
	if len(matching) == 0 {
		return w.unclaimedVerdict(v, probe, rules.Set, namespace, namespaceLabels)
	}
	v.Matched, v.Enforced = true, anyEnforcing(matching)
	secrets, secretsErr := credentials()
	art, err := w.judge.resolve(ctx, ref, secrets)
	if err != nil {
		v.Failure = fmt.Sprintf("resolving %s: %v", im.Reference, err)
		v.Unavailable = unavailable(err)
		if secretsErr != nil {
			// the registry may have refused for want of the credentials
			// that could not be read: not an outage, never failed open
			v.Failure += fmt.Sprintf(" (pull secrets: %v)", secretsErr)
			v.Unavailable = false
		}
		return v
	}
	v.Subject = art.Subject
	ev := *w.judge.gather(ctx, rules, art, ref.Name())
	ev.Namespace, ev.NamespaceLabels = namespace, probe.NamespaceLabels
	d := policy.Evaluate(rules.Set, &ev, w.now())
	v.Decision = &d
	return v
}

// unclaimedVerdict answers for an image no policy claims in namespace,
// as policy.Unclaimed decides.
func (w *Webhook) unclaimedVerdict(v Verdict, probe *evidence.Collected, set *policy.Set, namespace string, namespaceLabels func() (map[string]string, error)) Verdict {
	named := *probe
	named.Namespace = namespace
	d, ok := w.unclaimed.Decide(set, &named, namespaceLabels, w.now())
	if !ok {
		return v
	}
	v.Matched, v.Enforced, v.Decision = true, !d.Allowed, &d
	return v
}

// matchingPolicies are the policies whose images (and namespaces) match
// an image by its full name ("busybox" is
// index.docker.io/library/busybox:latest), as the decision will.
func matchingPolicies(set *policy.Set, probe *evidence.Collected) []*policy.Policy {
	var out []*policy.Policy
	for _, p := range set.Policies {
		if p.Matches(probe) {
			out = append(out, p)
		}
	}
	return out
}

func needsLabels(policies []*policy.Policy) bool {
	return slices.ContainsFunc(policies, func(p *policy.Policy) bool {
		return p.Namespaces != nil && len(p.Namespaces.MatchLabels) > 0
	})
}

func anyEnforcing(policies []*policy.Policy) bool {
	return slices.ContainsFunc(policies, func(p *policy.Policy) bool { return p.Mode == evidence.ModeEnforce })
}

// Validate answers a validating review: denied when an enforcing policy
// refuses an image, with what is wrong and how to fix it; audit failures
// are admitted and returned as warnings.
func (w *Webhook) Validate(ctx context.Context, review *admissionv1.AdmissionReview) (*admissionv1.AdmissionReview, Judgement) {
	resp, j, ok := w.start(ctx, review)
	if !ok {
		return respond(review, resp), j
	}
	var denials []string
	for _, v := range j.Verdicts {
		switch {
		case !v.Matched:
		case v.denies():
			denials = append(denials, denial(v))
		default:
			resp.Warnings = append(resp.Warnings, warnings(v)...)
		}
	}
	resp.Allowed = len(denials) == 0
	decided := admissions(w.cluster, review.Request, j, w.now())
	for _, a := range decided {
		w.metrics.Decision(a.Outcome, a.Namespace, decidingPolicy(a.Decision))
	}
	if w.recorder != nil && (review.Request.DryRun == nil || !*review.Request.DryRun) {
		w.recorder.add(decided)
	}
	if !resp.Allowed {
		resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: 403, Reason: metav1.StatusReasonForbidden,
			Message: "dossier: " + strings.Join(denials, "; ")}
	}
	return respond(review, resp), j
}

// decidingPolicy names the policy behind a decision: the first whose rule
// failed, else the first that matched ("" when there was no decision).
func decidingPolicy(d *evidence.Decision) string {
	if d == nil {
		return ""
	}
	for _, r := range d.Rules {
		if r.Outcome == evidence.OutcomeFail {
			return r.Policy
		}
	}
	if len(d.Policies) > 0 {
		return d.Policies[0]
	}
	return ""
}

// Mutate answers a mutating review: every image a policy matches is
// pinned to the digest the policies judged; nothing else is touched, and
// nothing is refused here (the validating review refuses).
func (w *Webhook) Mutate(ctx context.Context, review *admissionv1.AdmissionReview) (*admissionv1.AdmissionReview, Judgement) {
	resp, j, ok := w.start(ctx, review)
	if !ok {
		resp.Allowed, resp.Result = true, nil // the validating review refuses
		return respond(review, resp), j
	}
	resp.Allowed = true
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value string `json:"value"`
	}
	var patch []op
	rules := w.rules()
	for _, v := range j.Verdicts {
		if !v.Matched || v.Subject.Digest == "" {
			continue
		}
		pinned := v.Subject.String()
		if v.Image.Reference != pinned && claimsSpelling(rules.Set, pinned) {
			patch = append(patch, op{Op: "replace", Path: v.Image.Path, Value: pinned})
		}
	}
	if len(patch) > 0 {
		data, _ := json.Marshal(patch) // strings always marshal
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = data, &pt
	}
	return respond(review, resp), j
}

// claimsSpelling says whether a policy's images match an image spelled
// repository@digest: one only a tag glob claimed ("app:v*") is not pinned,
// or the Pods of the template pinned here would be refused as unclaimed,
// and what runs would not be judged by the policy that admitted it.
func claimsSpelling(set *policy.Set, pinned string) bool {
	if set == nil {
		return true
	}
	subject, err := evidence.ParseSubject(pinned)
	if err != nil {
		return true
	}
	probe := &evidence.Collected{Reference: pinned, Subject: subject}
	return len(matchingPolicies(set, probe)) > 0
}

// start checks a review and judges its request; ok is false when the
// response is already decided (refused as malformed, or nothing to judge).
func (w *Webhook) start(ctx context.Context, review *admissionv1.AdmissionReview) (*admissionv1.AdmissionResponse, Judgement, bool) {
	req := review.Request
	resp := &admissionv1.AdmissionResponse{UID: req.UID}
	if req.Operation == admissionv1.Delete || req.Operation == admissionv1.Connect || len(req.Object.Raw) == 0 {
		resp.Allowed = true
		return resp, Judgement{}, false
	}
	j, err := w.Judge(ctx, req)
	if err != nil {
		resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: 400, Reason: metav1.StatusReasonBadRequest, Message: "dossier: " + err.Error()}
		return resp, j, false
	}
	return resp, j, true
}

func respond(review *admissionv1.AdmissionReview, resp *admissionv1.AdmissionResponse) *admissionv1.AdmissionReview {
	return &admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
}

// denial says why an image is refused, for the developer who deployed it.
func denial(v Verdict) string {
	where := fmt.Sprintf("%s %q (image %s)", listName(v.Image.List), v.Image.Container, v.Image.Reference)
	if v.Failure != "" {
		return fmt.Sprintf("%s cannot be verified: %s", where, v.Failure)
	}
	if v.Subject.Digest != "" && v.Image.Reference != v.Subject.String() {
		where += " = " + v.Subject.String()
	}
	return fmt.Sprintf("%s denied: %s", where, strings.Join(v.Decision.Refusals(), "; "))
}

// warnings are an admitted image's audit failures and waivers.
func warnings(v Verdict) []string {
	where := fmt.Sprintf("%s %q (image %s)", listName(v.Image.List), v.Image.Container, v.Image.Reference)
	if v.FailedOpen {
		return []string{fmt.Sprintf("dossier: %s admitted WITHOUT verification (the webhook fails open): %s", where, v.Failure)}
	}
	if v.Failure != "" {
		return []string{fmt.Sprintf("dossier audit: %s cannot be verified: %s", where, v.Failure)}
	}
	var out []string
	for _, r := range v.Decision.Rules {
		switch {
		case r.Outcome == evidence.OutcomeFail && r.Policy == "":
			out = append(out, fmt.Sprintf("dossier audit: %s: %s", where, r.Reason))
		case r.Outcome == evidence.OutcomeFail:
			out = append(out, fmt.Sprintf("dossier audit: %s: policy %s rule %s: %s", where, r.Policy, r.Rule, r.Reason))
		case r.Outcome == evidence.OutcomeWaived && r.Waiver != nil:
			// a waiver is visible to whoever deploys under it
			out = append(out, fmt.Sprintf("dossier: %s admitted under exception %s (owner %s, expires %s): policy %s rule %s: %s", where,
				r.Waiver.Exception, r.Waiver.Owner, r.Waiver.ExpiresAt.UTC().Format(time.RFC3339), r.Policy, r.Rule, r.Reason))
		}
	}
	return out
}

func listName(list string) string {
	switch list {
	case "initContainers":
		return "init container"
	case "ephemeralContainers":
		return "ephemeral container"
	}
	return "container"
}

// unavailable says an error is the registry's unavailability: a time-out,
// a connection that failed, a name that did not resolve, or a 5xx answer.
// A 4xx answer (the image does not exist, access is refused) or a
// certificate that does not verify is an answer, not an outage; so is 429,
// a rate limit anyone who can create Pods can spend (the kubelet pulls on
// its own quota).
func unavailable(err error) bool {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode >= 500
	}
	var op *net.OpError
	var dns *net.DNSError
	var timeout interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &op) || errors.As(err, &dns) ||
		errors.As(err, &timeout) && timeout.Timeout()
}
