package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/jsonkeys"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
)

// Gatekeeper's external data provider protocol: Gatekeeper POSTs a
// ProviderRequest naming keys (here, container images) and reads a value
// or an error for each from the ProviderResponse. /gatekeeper/verify
// answers each image with the webhook's decision, spelled as Ratify v1
// spells a verification result, so that Ratify's published
// ConstraintTemplate works unchanged; /gatekeeper/mutate answers each
// image with the digest it was judged at, for an Assign mutator.
const (
	ProviderAPIVersion   = "externaldata.gatekeeper.sh/v1beta1"
	providerRequestKind  = "ProviderRequest"
	providerResponseKind = "ProviderResponse"

	// MaxProviderRequestBytes bounds a request's body: keys are image
	// references, and a request carries at most maxProviderKeys of them.
	MaxProviderRequestBytes = 1 << 20
	maxProviderKeys         = maxReviewImages

	// providerBudget is the time a request may take when its URL names
	// no timeout: what Gatekeeper's usual two-second provider timeout
	// leaves once the answer has travelled back.
	providerBudget = 1500 * time.Millisecond

	// ratifyResultVersion is the version of Ratify v1's verification
	// result under its config policy, whose shape /gatekeeper/verify
	// answers in.
	ratifyResultVersion = "0.2.0"
)

// ProviderRequest is Gatekeeper's request to an external data provider.
type ProviderRequest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Request    struct {
		Keys []string `json:"keys"`
	} `json:"request"`
}

// ProviderResponse is the answer Gatekeeper reads: a value or an error per
// key, or a system error for the whole request.
type ProviderResponse struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Response   ProviderResult `json:"response"`
}

// ProviderResult is a ProviderResponse's body.
type ProviderResult struct {
	// Idempotent: the same keys get the same answers (Gatekeeper requires
	// it of providers that mutate).
	Idempotent  bool           `json:"idempotent"`
	Items       []ProviderItem `json:"items,omitempty"`
	SystemError string         `json:"systemError,omitempty"`
}

// ProviderItem is the answer for one key: a value or an error.
type ProviderItem struct {
	Key   string `json:"key"`
	Value any    `json:"value,omitempty"`
	Error string `json:"error,omitempty"`
}

// RatifyResult is a decision spelled as Ratify v1's verification result.
type RatifyResult struct {
	Version   string `json:"version"`
	IsSuccess bool   `json:"isSuccess"`
	// TraceID is the request's ID, as dossier's access log names it.
	TraceID         string         `json:"traceID,omitempty"`
	Timestamp       string         `json:"timestamp,omitempty"`
	VerifierReports []RatifyReport `json:"verifierReports,omitempty"`
}

// RatifyReport is one rule's outcome, spelled as Ratify v1's verifier
// result: the policy and rule are the verifier's name, the reason its
// message and, for a failure, its error reason; the fix its remediation.
type RatifyReport struct {
	Subject      string           `json:"subject,omitempty"`
	IsSuccess    bool             `json:"isSuccess"`
	Name         string           `json:"name"`
	VerifierName string           `json:"verifierName"`
	Type         string           `json:"type"`
	VerifierType string           `json:"verifierType"`
	Message      string           `json:"message"`
	ErrorReason  string           `json:"errorReason,omitempty"`
	Remediation  string           `json:"remediation,omitempty"`
	Extensions   ReportExtensions `json:"extensions"`
}

// ReportExtensions are what dossier adds to a report: the rule's outcome
// and mode, and the exception that waived it.
type ReportExtensions struct {
	Policy  string           `json:"policy,omitempty"`
	Rule    string           `json:"rule"`
	Mode    string           `json:"mode"`
	Outcome string           `json:"outcome"`
	Waiver  *evidence.Waiver `json:"waiver,omitempty"`
}

// providerKey is a key Gatekeeper sent: an image, and the namespace it is
// judged in when namespaced keys are configured and the key names one as
// Ratify's namespaced templates write them ("[payments]registry.example/app:v1").
type providerKey struct {
	image, namespace string
}

// parseProviderKey reads a key; namespaced says the template builds keys
// as [namespace]image. Without it a key is an image as a Pod's author
// wrote it, "[prod]…" included, which no image reference is.
func parseProviderKey(key string, namespaced bool) (providerKey, error) {
	rest, ok := strings.CutPrefix(key, "[")
	if !ok || !namespaced {
		return providerKey{image: key}, nil
	}
	namespace, image, ok := strings.Cut(rest, "]")
	if !ok {
		return providerKey{}, fmt.Errorf("key %.300q opens a namespace with [ and never closes it", key)
	}
	if problems := validation.IsDNS1123Label(namespace); len(problems) > 0 {
		return providerKey{}, fmt.Errorf("key %.300q: namespace %.70q: %s", key, namespace, problems[0])
	}
	return providerKey{image: image, namespace: namespace}, nil
}

// providerBudgetOf is the time a request may take: the timeout its URL
// names (?timeout=2s, set to the Provider's spec.timeout) less a margin
// for the answer to reach Gatekeeper, as for reviews; providerBudget when
// it names none.
func providerBudgetOf(r *http.Request) time.Duration {
	if waits, err := time.ParseDuration(r.URL.Query().Get("timeout")); err != nil || waits <= 0 {
		// none, or one that is no duration: not reviews' longer default
		return providerBudget
	}
	return budget(r)
}

// GatekeeperHandler serves Gatekeeper's external data provider protocol at
// /gatekeeper/verify and /gatekeeper/mutate.
func (w *Webhook) GatekeeperHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /gatekeeper/verify", w.provide("gatekeeper-verify", w.verifyKey))
	mux.Handle("POST /gatekeeper/mutate", w.provide("gatekeeper-mutate", w.mutateKey))
	return mux
}

// keyAnswer decides one key: a value, or an error. Every key is answered
// on the request's clock; one cut off by it is an error, never a success.
type keyAnswer func(ctx context.Context, rules *Rules, key providerKey, trace string) (any, error)

func (w *Webhook) provide(operation string, answer keyAnswer) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		defer func() { w.metrics.Admission(operation, time.Since(start)) }()
		if r.TLS == nil || r.TLS.Version < tls.VersionTLS13 {
			// Gatekeeper speaks TLS 1.3 to providers; anything less is
			// not Gatekeeper
			rw.Header().Set("Upgrade", "TLS/1.3")
			writeProvider(rw, http.StatusUpgradeRequired, ProviderResult{SystemError: "dossier: external data is served over TLS 1.3 only"})
			return
		}
		keys, status, err := readProviderRequest(rw, r)
		if err != nil {
			writeProvider(rw, status, ProviderResult{SystemError: "dossier: " + err.Error()})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), providerBudgetOf(r))
		defer cancel()
		items := w.answerKeys(ctx, keys, rw.Header().Get("X-Request-Id"), answer)
		writeProvider(rw, http.StatusOK, ProviderResult{Idempotent: true, Items: items})
	})
}

// readProviderRequest reads a ProviderRequest strictly: bounded, one JSON
// value with no unknown field, Gatekeeper's apiVersion and kind, at most
// maxProviderKeys keys.
func readProviderRequest(rw http.ResponseWriter, r *http.Request) ([]string, int, error) {
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, MaxProviderRequestBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("provider request larger than %d KiB", MaxProviderRequestBytes>>10)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("provider request: %v", err)
	}
	if !utf8.Valid(body) {
		// JSON is UTF-8; each invalid byte would come back in its key's
		// answer as three
		return nil, http.StatusBadRequest, errors.New("provider request: not UTF-8")
	}
	keys, err := DecodeProviderRequest(body)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	return keys, http.StatusOK, nil
}

// DecodeProviderRequest reads a ProviderRequest's keys: strictly, and
// only a document every JSON parser reads alike (no key twice, none
// differing from another in case alone).
func DecodeProviderRequest(body []byte) ([]string, error) {
	if err := jsonkeys.Unambiguous(body, "a provider request"); err != nil {
		return nil, fmt.Errorf("provider request: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req ProviderRequest
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("provider request: %v", err)
	}
	if dec.More() {
		return nil, errors.New("provider request: more than one JSON value")
	}
	if req.APIVersion != ProviderAPIVersion || req.Kind != providerRequestKind {
		return nil, fmt.Errorf("provider request: apiVersion %.70q kind %.70q: want %s %s", req.APIVersion, req.Kind, ProviderAPIVersion, providerRequestKind)
	}
	if n := len(req.Request.Keys); n > maxProviderKeys {
		return nil, fmt.Errorf("provider request names %d keys, more than the %d one request judges", n, maxProviderKeys)
	}
	return req.Request.Keys, nil
}

func writeProvider(rw http.ResponseWriter, status int, result ProviderResult) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	enc := json.NewEncoder(rw)
	enc.SetEscapeHTML(false) // a key's < and & come back as sent, not six times longer
	_ = enc.Encode(ProviderResponse{APIVersion: ProviderAPIVersion, Kind: providerResponseKind, Response: result})
}

// answerKeys answers each distinct key once, judgeConcurrency at a time
// (as a review's images are), in the order the keys were sent.
func (w *Webhook) answerKeys(ctx context.Context, keys []string, trace string, answer keyAnswer) []ProviderItem {
	rules := w.rules()
	answers := map[string]*ProviderItem{}
	var distinct []string
	for _, k := range keys {
		if _, seen := answers[k]; !seen {
			answers[k] = &ProviderItem{Key: k}
			distinct = append(distinct, k)
		}
	}
	var judging sync.WaitGroup
	slots := make(chan struct{}, judgeConcurrency)
	for _, k := range distinct {
		slots <- struct{}{}
		judging.Go(func() {
			defer func() { <-slots }()
			item := answers[k]
			key, err := parseProviderKey(k, w.namespacedKeys)
			if err == nil {
				item.Value, err = answer(ctx, rules, key, trace)
			}
			if err == nil && ctx.Err() != nil && !allowedValue(item.Value) {
				// a refusal reached only because the budget ran out is
				// not a decision
				err = fmt.Errorf("not decided within the request's time budget")
			}
			if err != nil {
				item.Value, item.Error = nil, "dossier: "+err.Error()
			}
		})
	}
	judging.Wait()
	items := make([]ProviderItem, len(keys))
	for i, k := range keys {
		items[i] = *answers[k]
	}
	return items
}

// allowedValue says whether an answer admits: a successful verification,
// or a mutation (which refuses nothing).
func allowedValue(v any) bool {
	switch v := v.(type) {
	case RatifyResult:
		return v.IsSuccess
	case string:
		return true
	}
	return false
}

// judgeKey decides one key's image as a review would in its namespace (or,
// for a key naming none, as policy check does: every policy whose images
// match applies). Gatekeeper sends no Pod spec, so there are no pull
// secrets: images are read with dossier's own credentials.
func (w *Webhook) judgeKey(ctx context.Context, rules *Rules, key providerKey) Verdict {
	namespaceLabels := func() (map[string]string, error) { return nil, nil } // no namespace, no selection: every policy applies
	if key.namespace != "" {
		namespaceLabels = w.labelsOnce(ctx, key.namespace)
	}
	noSecrets := func() (*oci.PullSecrets, error) { return nil, nil }
	return w.judgeImage(ctx, rules, key.namespace, Image{Reference: key.image}, namespaceLabels, noSecrets)
}

// verifyKey is the decision about a key's image, as Ratify spells it. An
// image that cannot be parsed, resolved or read in time is an error for
// its key, whatever --fail-open says: Gatekeeper's template decides what
// an error means.
func (w *Webhook) verifyKey(ctx context.Context, rules *Rules, key providerKey, trace string) (any, error) {
	v := w.judgeKey(ctx, rules, key)
	if v.Failure != "" {
		return nil, fmt.Errorf("image %.300s cannot be verified: %s", key.image, v.Failure)
	}
	d := v.Decision
	if d == nil && key.namespace == "" && w.unclaimed != policy.UnclaimedAllow {
		// outside a namespace an image no policy claims is refused, as
		// policy check refuses it (warned about under --unclaimed warn)
		unmatched := w.unclaimed.Unmatched(&evidence.Collected{Reference: key.image}, true, w.now())
		d = &unmatched
	}
	out := RatifyResult{Version: ratifyResultVersion, IsSuccess: true, TraceID: trace, Timestamp: w.now().UTC().Format(time.RFC3339Nano)}
	if d == nil {
		why := "no dossier policy claims " + key.image + " in namespace " + key.namespace
		if key.namespace == "" {
			why = "no dossier policy claims " + key.image + " and unclaimed images are allowed"
		}
		out.VerifierReports = []RatifyReport{{IsSuccess: true, Name: "no-policy", VerifierName: "no-policy", Type: "dossier", VerifierType: "dossier",
			Message: why, Extensions: ReportExtensions{Rule: "no-policy", Mode: evidence.ModeAudit, Outcome: evidence.OutcomeNotApplicable}}}
		return out, nil
	}
	out.IsSuccess = d.Allowed
	subject := ""
	if d.Subject.Digest != "" {
		subject = d.Subject.String()
	}
	for _, r := range d.Rules {
		out.VerifierReports = append(out.VerifierReports, ratifyReport(rules.Set, subject, r))
	}
	return out, nil
}

// ratifyReport spells one rule's outcome as a Ratify verifier report: a
// rule of a policy read from a Ratify Verifier or Executor keeps its
// verifier's type (cosign, notation, sbom, …), so templates that look for
// one find it.
func ratifyReport(set *policy.Set, subject string, r evidence.RuleResult) RatifyReport {
	name, kind := r.Rule, "dossier"
	if r.Policy != "" {
		name = r.Policy + "/" + r.Rule
		if p := set.Policy(r.Policy); p != nil {
			if t := p.RatifyVerifierType(r.Rule); t != "" {
				kind = t
			}
		}
	}
	out := RatifyReport{Subject: subject, IsSuccess: r.Outcome != evidence.OutcomeFail, Name: name, VerifierName: name, Type: kind, VerifierType: kind,
		Message: r.Reason, Remediation: r.Fix,
		Extensions: ReportExtensions{Policy: r.Policy, Rule: r.Rule, Mode: r.Mode, Outcome: r.Outcome, Waiver: r.Waiver}}
	if !out.IsSuccess {
		out.ErrorReason = r.Reason
	}
	return out
}

// mutateKey is the image a key names pinned to the digest it was judged
// at (repository@sha256:…), as the mutating review pins it: an image no
// policy claims, or claims only by a tag glob, is left as it is.
func (w *Webhook) mutateKey(ctx context.Context, rules *Rules, key providerKey, _ string) (any, error) {
	v := w.judgeKey(ctx, rules, key)
	switch {
	case v.Failure != "":
		return nil, fmt.Errorf("image %.300s cannot be pinned: %s", key.image, v.Failure)
	case !v.Matched || v.Subject.Digest == "":
		return key.image, nil
	}
	if pinned := v.Subject.String(); claimsSpelling(rules.Set, pinned) {
		return pinned, nil
	}
	return key.image, nil
}
