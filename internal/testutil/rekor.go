package testutil

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/strfmt"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/types"
	_ "github.com/sigstore/rekor/pkg/types/dsse/v0.0.1" // the entry kind bundles log
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
)

// Rekor is a transparency log on 127.0.0.1 (see StartRekor).
type Rekor struct {
	URL     string
	entries atomic.Int64
}

// Entries counts the entries the log has accepted.
func (r *Rekor) Entries() int64 { return r.entries.Load() }

// StartRekor runs a transparency log on 127.0.0.1 that speaks Rekor's
// POST /api/v1/log/entries, backed by sigstore-go's offline log: entries
// are canonicalised by Rekor's own types and returned with a signed entry
// timestamp and an inclusion proof.
func StartRekor(t testing.TB, vs *ca.VirtualSigstore) *Rekor {
	t.Helper()
	logID, err := vs.RekorLogID()
	if err != nil {
		t.Fatal(err)
	}
	rekor := &Rekor{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/log/entries" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		pe, err := models.UnmarshalProposedEntry(r.Body, runtime.JSONConsumer())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		impl, err := types.CreateVersionedEntry(pe)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body, err := types.CanonicalizeEntry(r.Context(), impl)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		integrated, index := time.Now().Unix(), int64(0)
		set, err := vs.RekorSignPayload(tlog.RekorPayload{Body: base64.StdEncoding.EncodeToString(body), IntegratedTime: integrated, LogIndex: index, LogID: logID})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		proof, err := vs.GetInclusionProof(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		sum := sha256.Sum256(body)
		uuid := hex.EncodeToString(sum[:])
		entry := models.LogEntryAnon{
			Body: base64.StdEncoding.EncodeToString(body), IntegratedTime: &integrated, LogID: &logID, LogIndex: &index,
			Verification: &models.LogEntryAnonVerification{InclusionProof: proof, SignedEntryTimestamp: strfmt.Base64(set)},
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", uuid)
		w.Header().Set("Location", "/api/v1/log/entries/"+uuid)
		rekor.entries.Add(1)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]models.LogEntryAnon{uuid: entry})
	}))
	t.Cleanup(srv.Close)
	rekor.URL = srv.URL
	return rekor
}
