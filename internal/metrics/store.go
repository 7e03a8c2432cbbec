package metrics

import (
	"context"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/store"
)

// Store times every operation of an evidence store.
func Store(st store.Store, m *Metrics) store.Store {
	if m == nil {
		return st
	}
	return &timedStore{st: st, m: m}
}

type timedStore struct {
	st store.Store
	m  *Metrics
}

func timed[T any](s *timedStore, operation string, f func() (T, error)) (T, error) {
	start := time.Now()
	v, err := f()
	s.m.StoreQuery(operation, time.Since(start))
	return v, err
}

func timedErr(s *timedStore, operation string, f func() error) error {
	_, err := timed(s, operation, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

func (s *timedStore) Record(ctx context.Context, records ...store.Record) error {
	return timedErr(s, "record", func() error { return s.st.Record(ctx, records...) })
}
func (s *timedStore) Components(ctx context.Context, q store.ComponentQuery) (store.ComponentPage, error) {
	return timed(s, "components", func() (store.ComponentPage, error) { return s.st.Components(ctx, q) })
}
func (s *timedStore) Affected(ctx context.Context, advisory string, page store.Page) (store.FindingPage, error) {
	return timed(s, "affected", func() (store.FindingPage, error) { return s.st.Affected(ctx, advisory, page) })
}
func (s *timedStore) TagHistory(ctx context.Context, repository, tag string) ([]store.TagMove, error) {
	return timed(s, "tag_history", func() ([]store.TagMove, error) { return s.st.TagHistory(ctx, repository, tag) })
}
func (s *timedStore) Signed(ctx context.Context, f store.SignerFilter, from, to time.Time) ([]store.SignedHit, error) {
	return timed(s, "signed", func() ([]store.SignedHit, error) { return s.st.Signed(ctx, f, from, to) })
}
func (s *timedStore) SeenDeployed(ctx context.Context, subject evidence.Subject, namespace, workload string, at time.Time) error {
	return timedErr(s, "seen_deployed", func() error { return s.st.SeenDeployed(ctx, subject, namespace, workload, at) })
}
func (s *timedStore) Admitted(ctx context.Context, admissions []store.Admission) error {
	return timedErr(s, "admitted", func() error { return s.st.Admitted(ctx, admissions) })
}
func (s *timedStore) Admissions(ctx context.Context, since time.Time, outcome string, limit int, scope store.Scope) ([]store.Admission, error) {
	return timed(s, "admissions", func() ([]store.Admission, error) { return s.st.Admissions(ctx, since, outcome, limit, scope) })
}
func (s *timedStore) Dossier(ctx context.Context, subject evidence.Subject) (*store.Dossier, error) {
	return timed(s, "dossier", func() (*store.Dossier, error) { return s.st.Dossier(ctx, subject) })
}
func (s *timedStore) AdvisoryState(ctx context.Context) (map[string]store.AdvisoryFingerprint, error) {
	return timed(s, "advisory_state", func() (map[string]store.AdvisoryFingerprint, error) { return s.st.AdvisoryState(ctx) })
}
func (s *timedStore) ComponentsOf(ctx context.Context, packageKeys []string) ([]store.SubjectComponents, error) {
	return timed(s, "components_of", func() ([]store.SubjectComponents, error) { return s.st.ComponentsOf(ctx, packageKeys) })
}
func (s *timedStore) Rescanned(ctx context.Context, at, databaseVersion time.Time, changed []string, results []store.RescanResult, state map[string]store.AdvisoryFingerprint) ([]store.FindingHit, error) {
	return timed(s, "rescanned", func() ([]store.FindingHit, error) {
		return s.st.Rescanned(ctx, at, databaseVersion, changed, results, state)
	})
}
func (s *timedStore) Trend(ctx context.Context, from time.Time, days int, scope store.Scope) ([]store.Day, error) {
	return timed(s, "trend", func() ([]store.Day, error) { return s.st.Trend(ctx, from, days, scope) })
}
func (s *timedStore) Exceptions(ctx context.Context) ([]evidence.Exception, error) {
	return timed(s, "exceptions", func() ([]evidence.Exception, error) { return s.st.Exceptions(ctx) })
}
func (s *timedStore) CreateToken(ctx context.Context, hash string, t store.Token) (int64, error) {
	return timed(s, "create_token", func() (int64, error) { return s.st.CreateToken(ctx, hash, t) })
}
func (s *timedStore) CreateSession(ctx context.Context, parentHash, hash string, now time.Time, ttl time.Duration) (store.Token, error) {
	return timed(s, "create_session", func() (store.Token, error) { return s.st.CreateSession(ctx, parentHash, hash, now, ttl) })
}
func (s *timedStore) TokenByHash(ctx context.Context, hash string) (*store.Token, error) {
	return timed(s, "token_by_hash", func() (*store.Token, error) { return s.st.TokenByHash(ctx, hash) })
}
func (s *timedStore) Tokens(ctx context.Context) ([]store.Token, error) {
	return timed(s, "tokens", func() ([]store.Token, error) { return s.st.Tokens(ctx) })
}
func (s *timedStore) RevokeToken(ctx context.Context, id int64) (bool, error) {
	return timed(s, "revoke_token", func() (bool, error) { return s.st.RevokeToken(ctx, id) })
}
func (s *timedStore) AddReferrer(ctx context.Context, repository string, r store.Referrer) error {
	return timedErr(s, "add_referrer", func() error { return s.st.AddReferrer(ctx, repository, r) })
}
func (s *timedStore) RemoveReferrer(ctx context.Context, repository, digest string) error {
	return timedErr(s, "remove_referrer", func() error { return s.st.RemoveReferrer(ctx, repository, digest) })
}
func (s *timedStore) IndexBlobs(ctx context.Context, repository, manifest string, evidence bool, blobs []string) error {
	return timedErr(s, "index_blobs", func() error { return s.st.IndexBlobs(ctx, repository, manifest, evidence, blobs) })
}
func (s *timedStore) UnindexBlobs(ctx context.Context, repository, manifest string) error {
	return timedErr(s, "unindex_blobs", func() error { return s.st.UnindexBlobs(ctx, repository, manifest) })
}
func (s *timedStore) ManifestsOfBlob(ctx context.Context, repository, blob string, evidence bool, limit int) ([]string, error) {
	return timed(s, "manifests_of_blob", func() ([]string, error) { return s.st.ManifestsOfBlob(ctx, repository, blob, evidence, limit) })
}
func (s *timedStore) Referrers(ctx context.Context, repository, subject, artifactType string) ([]store.Referrer, error) {
	return timed(s, "referrers", func() ([]store.Referrer, error) { return s.st.Referrers(ctx, repository, subject, artifactType) })
}
func (s *timedStore) ClaimTag(ctx context.Context, repository, tag, digest string, at time.Time) (string, error) {
	return timed(s, "claim_tag", func() (string, error) { return s.st.ClaimTag(ctx, repository, tag, digest, at) })
}
func (s *timedStore) ReleaseTag(ctx context.Context, repository, tag, digest string) error {
	return timedErr(s, "release_tag", func() error { return s.st.ReleaseTag(ctx, repository, tag, digest) })
}
func (s *timedStore) AddRegistryEvent(ctx context.Context, e store.RegistryEvent) error {
	return timedErr(s, "add_registry_event", func() error { return s.st.AddRegistryEvent(ctx, e) })
}
func (s *timedStore) RegistryEvents(ctx context.Context, since time.Time, limit int) ([]store.RegistryEvent, error) {
	return timed(s, "registry_events", func() ([]store.RegistryEvent, error) { return s.st.RegistryEvents(ctx, since, limit) })
}
func (s *timedStore) Setting(ctx context.Context, name string, make func() (string, error)) (string, error) {
	return timed(s, "setting", func() (string, error) { return s.st.Setting(ctx, name, make) })
}
func (s *timedStore) Enqueue(ctx context.Context, kind, repository, digest string, at time.Time) error {
	return timedErr(s, "enqueue", func() error { return s.st.Enqueue(ctx, kind, repository, digest, at) })
}
func (s *timedStore) ClaimJob(ctx context.Context, now, leaseUntil time.Time) (*store.Job, error) {
	return timed(s, "claim_job", func() (*store.Job, error) { return s.st.ClaimJob(ctx, now, leaseUntil) })
}
func (s *timedStore) RenewJob(ctx context.Context, id int64, leaseUntil time.Time) error {
	return timedErr(s, "renew_job", func() error { return s.st.RenewJob(ctx, id, leaseUntil) })
}
func (s *timedStore) FinishJob(ctx context.Context, id int64, at time.Time, jobErr error, maxAttempts int) error {
	return timedErr(s, "finish_job", func() error { return s.st.FinishJob(ctx, id, at, jobErr, maxAttempts) })
}
func (s *timedStore) Jobs(ctx context.Context, repository, digest string, limit int) ([]store.Job, error) {
	return timed(s, "jobs", func() ([]store.Job, error) { return s.st.Jobs(ctx, repository, digest, limit) })
}
func (s *timedStore) QueuedJobs(ctx context.Context) (int, error) {
	return timed(s, "queued_jobs", func() (int, error) { return s.st.QueuedJobs(ctx) })
}
func (s *timedStore) Close() error { return s.st.Close() }
