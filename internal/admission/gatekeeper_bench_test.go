package admission

import (
	"bytes"
	"net/http"
	"slices"
	"testing"
	"time"
)

// BenchmarkGatekeeperVerify is one /gatekeeper/verify request of ten
// keys (eight signed images and two unsigned) over
// HTTPS with a kept-alive TLS 1.3 connection, once the caches are warm:
// what a Pod of ten containers costs Gatekeeper to ask. It reports the
// 50th and 99th percentiles of the requests it timed.
func BenchmarkGatekeeperVerify(b *testing.B) {
	f := newFixture(b, signedPolicy)
	w := New(func() *Rules { return f.rules }, Options{})
	srv := gatekeeperServer(b, w, nil)
	client := gatekeeperClient(srv, nil, 0)
	// ten distinct images, as a Pod of ten containers names: eight tags
	// of the signed image and two unsigned ones, judged without a
	// namespace (every policy that matches applies)
	keys := append(signedTags(b, f, f.host, 8), f.host+"/team/unsigned:v1", f.host+"/team/unsigned@"+f.unsigned)
	body := providerRequest(keys...)
	ask := func() {
		resp, err := client.Post(srv.URL+"/gatekeeper/verify", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("HTTP %d %v: %s", resp.StatusCode, err, buf.Bytes())
		}
	}
	ask()
	var took []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		ask()
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}
