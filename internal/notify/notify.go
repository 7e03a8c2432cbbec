// Package notify tells people what changed where it matters: outgoing
// webhooks for events about what runs (a running digest gained a finding,
// a workload runs unjudged or drifted, an exception expires soon, a
// denial under enforce), as CloudEvents JSON or Slack-compatible text,
// signed with an HMAC, delivered through a durable outbox in the evidence
// store (queued once per endpoint and event, retried with backoff, leased
// so that replicas share the work and a killed process loses nothing).
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/store"
)

// The event types.
const (
	TypeFinding  = "dev.dossier.running.finding"
	TypeUnjudged = "dev.dossier.workload.unjudged"
	TypeDrifted  = "dev.dossier.workload.drifted"
	TypeExpiring = "dev.dossier.exception.expiring"
	TypeDenied   = "dev.dossier.admission.denied"
)

// Types are every event type.
var Types = []string{TypeFinding, TypeUnjudged, TypeDrifted, TypeExpiring, TypeDenied}

// Endpoint is where notifications go.
type Endpoint struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Format is cloudevents (structured JSON, the default) or slack (a
	// {"text": …} body, as Slack's and Mattermost's incoming webhooks take).
	Format string `json:"format,omitempty"`
	// SecretFile holds the key the body is signed with (HMAC-SHA256, in
	// the Dossier-Signature header); readable by its owner only.
	SecretFile string `json:"secretFile,omitempty"`
	// Events are the types sent there (all when empty); MinSeverity the
	// least severity of a finding sent (default high).
	Events      []string `json:"events,omitempty"`
	MinSeverity string   `json:"minSeverity,omitempty"`

	secret []byte
}

// Config is the notification endpoints, and how long before an
// exception's expiry it is announced (default 7 days).
type Config struct {
	Endpoints      []Endpoint `json:"endpoints"`
	ExpiringWithin string     `json:"expiringWithin,omitempty"`

	expiringWithin time.Duration
}

// ExpiringWithinDuration is how long before an exception's expiry it is
// announced.
func (c *Config) ExpiringWithinDuration() time.Duration { return c.expiringWithin }

// Load reads and checks a notification configuration file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("notifications %s: %w", path, err)
	}
	c.expiringWithin = 7 * 24 * time.Hour
	if c.ExpiringWithin != "" {
		if c.expiringWithin, err = time.ParseDuration(c.ExpiringWithin); err != nil || c.expiringWithin <= 0 {
			return nil, fmt.Errorf("notifications %s: expiringWithin %q: want a duration such as 168h", path, c.ExpiringWithin)
		}
	}
	if len(c.Endpoints) == 0 {
		return nil, fmt.Errorf("notifications %s: no endpoints", path)
	}
	names := map[string]bool{}
	for i := range c.Endpoints {
		e := &c.Endpoints[i]
		where := fmt.Sprintf("notifications %s: endpoint %d (%q)", path, i+1, e.Name)
		if e.Name == "" || names[e.Name] {
			return nil, fmt.Errorf("%s: each endpoint needs a name of its own", where)
		}
		names[e.Name] = true
		u, err := url.Parse(e.URL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) {
			return nil, fmt.Errorf("%s: url %q: want https://… (http:// on loopback only)", where, e.URL)
		}
		switch e.Format {
		case "":
			e.Format = "cloudevents"
		case "cloudevents", "slack":
		default:
			return nil, fmt.Errorf("%s: format %q: want cloudevents or slack", where, e.Format)
		}
		for _, t := range e.Events {
			if !slices.Contains(Types, t) {
				return nil, fmt.Errorf("%s: event type %q: want one of %s", where, t, strings.Join(Types, ", "))
			}
		}
		if e.MinSeverity == "" {
			e.MinSeverity = evidence.SeverityHigh
		} else if !evidence.ValidSeverity(e.MinSeverity) {
			return nil, fmt.Errorf("%s: minSeverity %q: want low, medium, high or critical", where, e.MinSeverity)
		}
		if e.SecretFile != "" {
			secretFile := e.SecretFile
			if !strings.HasPrefix(secretFile, "/") {
				secretFile = strings.TrimSuffix(path, baseName(path)) + secretFile
			}
			info, err := os.Stat(secretFile)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			if info.Mode().Perm()&0o077 != 0 {
				return nil, fmt.Errorf("%s: %s is readable by others (%v): chmod 600 it", where, secretFile, info.Mode().Perm())
			}
			if e.secret, err = os.ReadFile(secretFile); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			if e.secret = bytes.TrimSpace(e.secret); len(e.secret) < 16 {
				return nil, fmt.Errorf("%s: the secret in %s is shorter than 16 bytes", where, secretFile)
			}
		}
	}
	return &c, nil
}

func baseName(path string) string {
	if i := strings.LastIndex(path, "/"); i >= 0 {
		return path[i+1:]
	}
	return path
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1" || strings.HasPrefix(host, "127.")
}

// Event is something to tell: its ID names it for good (the same event is
// sent once per endpoint however often it is seen again).
type Event struct {
	ID      string
	Type    string
	Source  string
	Subject string
	Time    time.Time
	// Severity, for a finding: what endpoints' MinSeverity is compared with.
	Severity string
	Data     any
	// Text is the event for people (the Slack form).
	Text string
}

// MinFindingSeverity is the least severity of a finding any endpoint
// takes ("" when none takes findings).
func (c *Config) MinFindingSeverity() string {
	least := ""
	for _, e := range c.Endpoints {
		if len(e.Events) > 0 && !slices.Contains(e.Events, TypeFinding) {
			continue
		}
		if least == "" || evidence.SeverityRank(e.MinSeverity) < evidence.SeverityRank(least) {
			least = e.MinSeverity
		}
	}
	return least
}

// wants says whether an endpoint takes an event.
func (e *Endpoint) wants(ev Event) bool {
	if len(e.Events) > 0 && !slices.Contains(e.Events, ev.Type) {
		return false
	}
	if ev.Type == TypeFinding && evidence.SeverityRank(ev.Severity) < evidence.SeverityRank(e.MinSeverity) {
		return false
	}
	return true
}

// body is the event as an endpoint of format takes it.
func body(format string, ev Event) (string, error) {
	var v any
	if format == "slack" {
		// Slack reads <…> as mentions and links, & as an entity: text that
		// names what a Pod chose must not ping a channel or hide a link
		v = map[string]string{"text": slackEscaper.Replace(ev.Text)}
	} else {
		v = map[string]any{"specversion": "1.0", "id": ev.ID, "source": ev.Source, "type": ev.Type, "subject": ev.Subject,
			"time": ev.Time.UTC().Format(time.RFC3339Nano), "datacontenttype": "application/json", "data": ev.Data}
	}
	data, err := json.Marshal(v)
	return string(data), err
}

// slackEscaper escapes what Slack's text format reads as markup.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Outbox is where events wait for delivery (the evidence store).
type Outbox interface {
	Notify(ctx context.Context, endpoints []string, events []store.OutboxEvent, at time.Time) (int, error)
	ClaimDelivery(ctx context.Context, endpoint string, now, leaseUntil time.Time) (*store.Delivery, error)
	Delivered(ctx context.Context, id int64, at time.Time) error
	DeliveryFailed(ctx context.Context, id int64, next time.Time, reason string) error
}

// Queue puts each event in the outbox for every endpoint that takes it,
// once; it says how many deliveries were new.
func (c *Config) Queue(ctx context.Context, box Outbox, events []Event, now time.Time) (int, error) {
	added := 0
	for _, e := range c.Endpoints {
		var queued []store.OutboxEvent
		for _, ev := range events {
			if !e.wants(ev) {
				continue
			}
			b, err := body(e.Format, ev)
			if err != nil {
				return added, fmt.Errorf("notification %s: %w", ev.ID, err)
			}
			queued = append(queued, store.OutboxEvent{ID: ev.ID, Type: ev.Type, Body: b})
		}
		if len(queued) == 0 {
			continue
		}
		n, err := box.Notify(ctx, []string{e.Name}, queued, now)
		if err != nil {
			return added, err
		}
		added += n
	}
	return added, nil
}

// leaseTime is how long a delivery is a deliverer's: twice what a send
// may take, so that a live deliverer is never overtaken.
const leaseTime = 2 * sendTimeout

// sendTimeout bounds one delivery.
const sendTimeout = 15 * time.Second

// Deliver sends what the outbox holds until ctx ends, each endpoint by a
// deliverer of its own (a slow or dead endpoint delays only itself): each
// delivery leased, signed and posted; a 2xx answer marks it delivered
// (never sent again), anything else — a redirect included: the body and
// its signature go only to the configured URL — retries it later, backing
// off from 2 s to an hour. A deliverer killed mid-delivery leaves its
// lease to run out, and the delivery is sent again: receivers tell
// repeats by the event's id.
func (c *Config) Deliver(ctx context.Context, box Outbox, client *http.Client, now func() time.Time, log *slog.Logger) {
	noRedirects := *client
	noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var done sync.WaitGroup
	for i := range c.Endpoints {
		e := &c.Endpoints[i]
		done.Go(func() { e.deliver(ctx, box, &noRedirects, now, log) })
	}
	done.Wait()
}

func (e *Endpoint) deliver(ctx context.Context, box Outbox, client *http.Client, now func() time.Time, log *slog.Logger) {
	idle := time.NewTimer(0)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-idle.C:
		}
		for ctx.Err() == nil {
			d, err := box.ClaimDelivery(ctx, e.Name, now(), now().Add(leaseTime))
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("notifications: the outbox cannot be read", "endpoint", e.Name, "err", err)
				}
				break
			}
			if d == nil {
				break
			}
			if err := e.send(ctx, client, d.Event.Body, now()); err != nil {
				next := now().Add(backoff(d.Attempts))
				log.Warn("notification not delivered", "endpoint", e.Name, "event", d.Event.ID, "attempt", d.Attempts, "next", next, "err", err)
				_ = box.DeliveryFailed(context.WithoutCancel(ctx), d.ID, next, err.Error())
				continue
			}
			if err := box.Delivered(context.WithoutCancel(ctx), d.ID, now()); err != nil {
				log.Warn("notification delivered but not marked so", "endpoint", e.Name, "event", d.Event.ID, "err", err)
			}
		}
		idle.Reset(time.Second)
	}
}

// backoff is the wait before attempt n+1.
func backoff(attempts int) time.Duration {
	if attempts > 12 {
		return time.Hour
	}
	return min(time.Hour, time.Duration(1<<attempts)*time.Second)
}

// send posts a body, signed when the endpoint has a secret.
func (e *Endpoint) send(ctx context.Context, client *http.Client, body string, at time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if e.Format == "cloudevents" {
		req.Header.Set("Content-Type", "application/cloudevents+json")
	}
	req.Header.Set("User-Agent", "dossier")
	if len(e.secret) > 0 {
		req.Header.Set("Dossier-Signature", Sign(e.secret, at, []byte(body)))
	}
	resp, err := client.Do(req)
	if err != nil {
		// never the URL: a chat webhook's carries its token
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return fmt.Errorf("posting to %s: %v", e.Name, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s", e.Name, resp.Status)
	}
	return nil
}

// Sign is the Dossier-Signature header of a body sent at a time:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">", so that a
// receiver checks both the body and its age.
func Sign(secret []byte, at time.Time, body []byte) string {
	t := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(t + "."))
	mac.Write(body)
	return "t=" + t + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a Dossier-Signature header against a body: signed with
// secret, no older than maxAge at now. Receivers written in Go can use it.
func Verify(secret []byte, header string, body []byte, now time.Time, maxAge time.Duration) error {
	var t, v1 string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			t = v
		case "v1":
			v1 = v
		}
	}
	sec, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v1 == "" {
		return errors.New("the signature header is not t=…,v1=…")
	}
	if age := now.Sub(time.Unix(sec, 0)); age > maxAge || age < -maxAge {
		return fmt.Errorf("the signature is %s old", age.Round(time.Second))
	}
	want, err := hex.DecodeString(v1)
	if err != nil {
		return errors.New("the signature is not hex")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(t + "."))
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), want) {
		return errors.New("the signature does not match the body")
	}
	return nil
}
