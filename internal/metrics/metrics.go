// Package metrics is what dossier's servers expose to Prometheus: the
// admission webhook's latency and decisions, verification time and cache
// hits, the registry's request latency, the scan queue, the advisory
// database's age, the evidence store's query time and the exceptions in
// force. Everything registers on one registry of its own (never the
// default one, which libraries write to). A nil *Metrics measures
// nothing, so that packages used without a server need no metrics.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dossier-dev/dossier/internal/store"
)

// Metrics holds the collectors.
type Metrics struct {
	registry *prometheus.Registry

	admissionDuration    *prometheus.HistogramVec
	admissionDecisions   *prometheus.CounterVec
	verificationDuration prometheus.Histogram
	verificationCache    *prometheus.CounterVec
	registryDuration     *prometheus.HistogramVec
	scanDuration         *prometheus.HistogramVec
	storeDuration        *prometheus.HistogramVec

	// namespaces labelled so far: a bounded set, so that reviews naming
	// ever new namespaces cannot grow the series without end
	mu         sync.Mutex
	namespaces map[string]bool
}

// maxNamespaces bounds the namespace label's values; decisions in
// namespaces beyond it count under otherNamespaces.
const (
	maxNamespaces   = 500
	otherNamespaces = "(other)"
)

// latency buckets: 1 ms to 10 s, what an admission deadline allows
var latency = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New makes the collectors on a registry of their own, with the Go
// runtime's and the process's.
func New() *Metrics {
	m := &Metrics{registry: prometheus.NewRegistry()}
	m.admissionDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dossier_admission_request_duration_seconds",
		Help: "Time to answer an AdmissionReview or a Gatekeeper external data request, by operation (validate, mutate, gatekeeper-verify, gatekeeper-mutate).", Buckets: latency}, []string{"operation"})
	m.admissionDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dossier_admission_decisions_total",
		Help: "Admission decisions about images, by result (allowed, denied, audited, waived, failed-open), namespace and deciding policy."},
		[]string{"result", "namespace", "policy"})
	m.verificationDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dossier_verification_duration_seconds",
		Help: "Time to gather and verify the evidence about one digest (signatures, attestations, scan) when the cache did not hold it.", Buckets: latency})
	m.verificationCache = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dossier_verification_cache_requests_total",
		Help: "Evidence lookups of the admission webhook, by result (hit, miss)."}, []string{"result"})
	m.registryDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dossier_registry_request_duration_seconds",
		Help: "Time to answer a registry (/v2/) request, by method, route (manifests, blobs, uploads, referrers, tags, catalog, base) and status code.", Buckets: latency},
		[]string{"method", "route", "code"})
	m.scanDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dossier_scan_duration_seconds",
		Help: "Time a scan-on-push job took, by kind (scan, scan-remote, verify) and result (done, failed).", Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}},
		[]string{"kind", "result"})
	m.storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dossier_store_query_duration_seconds",
		Help: "Time of an evidence-store operation, by operation.", Buckets: latency}, []string{"operation"})
	m.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.admissionDuration, m.admissionDecisions, m.verificationDuration, m.verificationCache, m.registryDuration, m.scanDuration, m.storeDuration)
	// the label sets known up front are there from the first scrape, so a
	// quiet server shows zeros rather than absent series; decisions and
	// requests appear with their first (their labels name namespaces,
	// policies, routes and status codes)
	for _, operation := range []string{"validate", "mutate"} {
		m.admissionDuration.WithLabelValues(operation)
	}
	for _, result := range []string{"hit", "miss"} {
		m.verificationCache.WithLabelValues(result)
	}
	for _, kind := range store.JobKinds {
		for _, result := range []string{"done", "failed"} {
			m.scanDuration.WithLabelValues(kind, result)
		}
	}
	return m
}

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry, Timeout: 10 * time.Second, ErrorHandling: promhttp.ContinueOnError})
}

// Gauges are values read when Prometheus scrapes: each reader is given a
// bounded context and its errors leave the gauge out of that scrape.
type Gauges struct {
	// QueuedJobs is the scan queue's depth.
	QueuedJobs func(ctx context.Context) (int, error)
	// AdvisoryDatabase is when the local advisory database's data was
	// imported, false when there is none.
	AdvisoryDatabase func(ctx context.Context) (time.Time, bool, error)
	// Exceptions counts the exceptions in force and those of them
	// expiring within a week.
	Exceptions func(ctx context.Context) (active, expiring int, err error)
	// Running counts the containers running now in the inventoried
	// clusters.
	Running func(ctx context.Context) ([]store.RunningCount, error)
	// Clusters reads when each inventoried cluster's watch last reported.
	Clusters func(ctx context.Context) ([]store.ClusterState, error)
	// Outbox counts the notifications not yet delivered, and when the
	// oldest of them was queued.
	Outbox func(ctx context.Context) (pending int, oldest time.Time, err error)
	Now    func() time.Time
}

// scrapeTimeout bounds what one gauge may take to read.
const scrapeTimeout = 5 * time.Second

// Watch registers the gauges that have a reader.
func (m *Metrics) Watch(g Gauges) {
	if g.Now == nil {
		g.Now = time.Now
	}
	if g.QueuedJobs != nil {
		m.registry.MustRegister(&gaugeFunc{desc: prometheus.NewDesc("dossier_scan_queue_depth", "Scan-on-push jobs queued or running.", nil, nil),
			read: func(ctx context.Context) ([]float64, error) {
				n, err := g.QueuedJobs(ctx)
				return []float64{float64(n)}, err
			}})
	}
	if g.AdvisoryDatabase != nil {
		m.registry.MustRegister(&gaugeFunc{desc: prometheus.NewDesc("dossier_advisory_database_age_seconds", "Age of the local advisory database's data.", nil, nil),
			read: func(ctx context.Context) ([]float64, error) {
				v, ok, err := g.AdvisoryDatabase(ctx)
				if !ok || err != nil {
					return nil, err
				}
				return []float64{g.Now().Sub(v).Seconds()}, nil
			}})
	}
	if g.Exceptions != nil {
		m.registry.MustRegister(&gaugeFunc{desc: prometheus.NewDesc("dossier_exceptions", "Exceptions in force, by state (active, expiring: within 7 days).", []string{"state"}, nil),
			labels: [][]string{{"active"}, {"expiring"}},
			read: func(ctx context.Context) ([]float64, error) {
				active, expiring, err := g.Exceptions(ctx)
				return []float64{float64(active), float64(expiring)}, err
			}})
	}
	if g.Running != nil {
		m.registry.MustRegister(&labelledGauge{desc: prometheus.NewDesc("dossier_running_containers",
			"Containers running now in the inventoried clusters, by cluster, state (admitted, drifted, unjudged: no dossier decision admitted them, unresolved: digest not known) and pinned (the image names a digest).",
			[]string{"cluster", "state", "pinned"}, nil),
			read: func(ctx context.Context) ([]float64, [][]string, error) {
				counts, err := g.Running(ctx)
				values, labels := make([]float64, len(counts)), make([][]string, len(counts))
				for i, c := range counts {
					values[i], labels[i] = float64(c.Containers), []string{c.Cluster, c.State, strconv.FormatBool(c.Pinned)}
				}
				return values, labels, err
			}})
	}
	if g.Outbox != nil {
		m.registry.MustRegister(&gaugeFunc{desc: prometheus.NewDesc("dossier_notifications_pending",
			"Notifications not yet delivered, and the age of the oldest (state: count, oldest_seconds).", []string{"measure"}, nil),
			labels: [][]string{{"count"}, {"oldest_seconds"}},
			read: func(ctx context.Context) ([]float64, error) {
				n, oldest, err := g.Outbox(ctx)
				age := 0.0
				if n > 0 {
					age = g.Now().Sub(oldest).Seconds()
				}
				return []float64{float64(n), age}, err
			}})
	}
	if g.Clusters != nil {
		m.registry.MustRegister(&labelledGauge{desc: prometheus.NewDesc("dossier_inventory_age_seconds",
			"Time since each inventoried cluster's watch last reported: what runs there may have changed since.", []string{"cluster"}, nil),
			read: func(ctx context.Context) ([]float64, [][]string, error) {
				clusters, err := g.Clusters(ctx)
				values, labels := make([]float64, len(clusters)), make([][]string, len(clusters))
				for i, c := range clusters {
					values[i], labels[i] = g.Now().Sub(c.SeenAt).Seconds(), []string{c.Name}
				}
				return values, labels, err
			}})
	}
}

// labelledGauge is a gauge read at scrape time whose label values (the
// clusters) are known only then.
type labelledGauge struct {
	desc *prometheus.Desc
	read func(ctx context.Context) (values []float64, labels [][]string, err error)
}

func (g *labelledGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *labelledGauge) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	values, labels, err := g.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(g.desc, err)
		return
	}
	for i, v := range values {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v, labels[i]...)
	}
}

// gaugeFunc is a gauge read at scrape time whose reader may fail (the
// client library's GaugeFunc cannot say so).
type gaugeFunc struct {
	desc   *prometheus.Desc
	labels [][]string
	read   func(ctx context.Context) ([]float64, error)
}

func (g *gaugeFunc) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *gaugeFunc) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	values, err := g.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(g.desc, err)
		return
	}
	for i, v := range values {
		var labels []string
		if g.labels != nil {
			labels = g.labels[i]
		}
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v, labels...)
	}
}

// Admission observes one answered review.
func (m *Metrics) Admission(operation string, took time.Duration) {
	if m != nil {
		m.admissionDuration.WithLabelValues(operation).Observe(took.Seconds())
	}
}

// Decision counts one admission decision about an image.
func (m *Metrics) Decision(result, namespace, policy string) {
	if m != nil {
		m.admissionDecisions.WithLabelValues(result, m.namespaceLabel(namespace), policy).Inc()
	}
}

// namespaceLabel is namespace while fewer than maxNamespaces have been
// labelled, else otherNamespaces for a namespace not seen before; a
// value longer than a namespace can be (63) is never a label.
func (m *Metrics) namespaceLabel(namespace string) string {
	if len(namespace) > 63 {
		return otherNamespaces
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.namespaces[namespace] {
		return namespace
	}
	if len(m.namespaces) >= maxNamespaces {
		return otherNamespaces
	}
	if m.namespaces == nil {
		m.namespaces = map[string]bool{}
	}
	m.namespaces[namespace] = true
	return namespace
}

// Verification observes one gathering of evidence that the cache did not
// hold.
func (m *Metrics) Verification(took time.Duration) {
	if m != nil {
		m.verificationDuration.Observe(took.Seconds())
	}
}

// CacheLookup counts an evidence lookup, hit or miss.
func (m *Metrics) CacheLookup(hit bool) {
	if m == nil {
		return
	}
	result := "miss"
	if hit {
		result = "hit"
	}
	m.verificationCache.WithLabelValues(result).Inc()
}

// RegistryRequest observes one answered registry request.
func (m *Metrics) RegistryRequest(method, route string, code int, took time.Duration) {
	if m != nil {
		m.registryDuration.WithLabelValues(method, route, strconv.Itoa(code)).Observe(took.Seconds())
	}
}

// Scan observes one finished scan-on-push job.
func (m *Metrics) Scan(kind string, failed bool, took time.Duration) {
	if m == nil {
		return
	}
	result := "done"
	if failed {
		result = "failed"
	}
	m.scanDuration.WithLabelValues(kind, result).Observe(took.Seconds())
}

// StoreQuery observes one evidence-store operation.
func (m *Metrics) StoreQuery(operation string, took time.Duration) {
	if m != nil {
		m.storeDuration.WithLabelValues(operation).Observe(took.Seconds())
	}
}
