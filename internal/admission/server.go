package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// MaxReviewBytes bounds a review's body: the API server limits an object
// to 3 MiB, and a review of an update carries two.
const MaxReviewBytes = 7 << 20

// reviewTimeout bounds one review, below the API server's longest webhook
// timeout (30 s), so that the answer is dossier's and not a timeout.
const reviewTimeout = 25 * time.Second

// budget is the time one review may take: what the API server says it
// waits (the timeout it adds to the webhook's URL) less a margin for the
// answer to reach it, so that a slow registry gets the configured failure
// answer (deny, or fail open) and never the API server's own time-out;
// reviewTimeout when the request names none, and never more.
func budget(r *http.Request) time.Duration {
	waits, err := time.ParseDuration(r.URL.Query().Get("timeout"))
	if err != nil || waits <= 0 || waits > reviewTimeout {
		return reviewTimeout
	}
	return max(waits-max(waits/10, 500*time.Millisecond), 250*time.Millisecond)
}

// ErrNotJSON says a review body is not JSON at all (HTTP 400).
var ErrNotJSON = errors.New("the body is not JSON")

// DecodeReview reads an AdmissionReview v1 with a request in it.
func DecodeReview(body []byte) (*admissionv1.AdmissionReview, error) {
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		// Unmarshal checks the whole input is JSON before decoding any
		if _, syntax := errors.AsType[*json.SyntaxError](err); syntax {
			return nil, fmt.Errorf("admission review: %w", ErrNotJSON)
		}
		return &review, fmt.Errorf("admission review: %w", err)
	}
	switch {
	case review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview":
		return &review, fmt.Errorf("admission review: apiVersion %q kind %q: want admission.k8s.io/v1 AdmissionReview", review.APIVersion, review.Kind)
	case review.Request == nil:
		return &review, errors.New("admission review: no request")
	case review.Request.UID == "":
		return &review, errors.New("admission review: the request has no uid")
	}
	if ns := review.Request.Namespace; ns != "" {
		if problems := validation.IsDNS1123Label(ns); len(problems) > 0 {
			return &review, fmt.Errorf("admission review: namespace %.70q: %s", ns, problems[0])
		}
	}
	return &review, nil
}

// Handler serves the validating and mutating reviews at
// /admission/validate and /admission/mutate.
func (w *Webhook) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /admission/validate", w.serve("validate", w.Validate))
	mux.Handle("POST /admission/mutate", w.serve("mutate", w.Mutate))
	return mux
}

func (w *Webhook) serve(operation string, answer func(context.Context, *admissionv1.AdmissionReview) (*admissionv1.AdmissionReview, Judgement)) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		defer func() { w.metrics.Admission(operation, time.Since(start)) }()
		body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, MaxReviewBytes))
		if err != nil {
			status := http.StatusBadRequest
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				status = http.StatusRequestEntityTooLarge
			}
			http.Error(rw, fmt.Sprintf("admission review: %v", err), status)
			return
		}
		review, err := DecodeReview(body)
		if errors.Is(err, ErrNotJSON) {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		var out *admissionv1.AdmissionReview
		if err != nil {
			// a malformed review is refused in a well-formed answer
			resp := &admissionv1.AdmissionResponse{Result: &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusBadRequest,
				Reason: metav1.StatusReasonBadRequest, Message: "dossier: " + err.Error()}}
			if review.Request != nil {
				resp.UID = review.Request.UID
			}
			out = &admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Response: resp}
		} else {
			ctx, cancel := context.WithTimeout(r.Context(), budget(r))
			out, _ = answer(ctx, review)
			cancel()
		}
		rw.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(rw).Encode(out); err != nil {
			return // the API server went away
		}
	})
}
