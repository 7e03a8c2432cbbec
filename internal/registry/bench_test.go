package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// BenchmarkManifestPull is a pull of a manifest by tag through the
// registry, without gates and with an immutable-tag rule and a quarantine
// (a passing policy, its verdict warm): the difference is the gates'
// cost per manifest request.
func BenchmarkManifestPull(b *testing.B) {
	ctx := context.Background()
	docs, err := policy.Parse("pass.yaml", []byte(`apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: pass}
spec:
  images: [{glob: "**"}]
  authorities: [{name: pass, static: {action: pass}}]
`), policy.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	set := &policy.Set{Policies: docs.Policies}
	all, err := policy.CompileGlob("**")
	if err != nil {
		b.Fatal(err)
	}
	immutable, err := ParseTagRule("**:v*")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"no gates", Options{}},
		{"immutable tags and quarantine", Options{ImmutableTags: []TagRule{immutable},
			Quarantine: []QuarantineRule{{Text: "**=pass", Repositories: all, Rules: func() (*policy.Set, string) { return set, "1" }, PendingPullable: true}}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			st, err := store.Open(ctx, b.TempDir(), "")
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			c.opts.RootDirectory, c.opts.Store = b.TempDir(), st
			l, host := testutil.Loopback(b)
			c.opts.Name = host
			reg, err := New(ctx, c.opts)
			if err != nil {
				b.Fatal(err)
			}
			testutil.ServeOn(b, l, reg)
			s := &server{host: host, st: st, reg: reg}
			s.admin, s.pull = s.token(b, "**", store.RoleAdmin), s.token(b, "**", store.RolePull)
			if err := remote.Write(s.ref(b, "team/app:v1"), randomImage(b), s.options(s.admin)...); err != nil {
				b.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "http://"+s.host+"/v2/team/app/manifests/v1", nil)
			req.SetBasicAuth("bench", s.pull)
			req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
			pull := func() {
				rec := httptest.NewRecorder()
				reg.ServeHTTP(rec, req.Clone(ctx))
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			pull()
			var times []time.Duration
			for b.Loop() {
				start := time.Now()
				pull()
				times = append(times, time.Since(start))
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)*99/100].Microseconds()), "p99-µs")
		})
	}
}
