package vulndb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// DefaultBaseURL is where OSV publishes <Ecosystem>/all.zip.
const DefaultBaseURL = "https://osv-vulnerabilities.storage.googleapis.com"

// DefaultEcosystems are downloaded when none are named: every ecosystem
// the scanner matches components of (a scan test keeps the two lists
// together), so that no component is "not checked" for want of data.
var DefaultEcosystems = []string{"Go", "npm", "PyPI", "Maven", "crates.io", "RubyGems", "NuGet", "Packagist", "Hex", "Pub", "Hackage", "CRAN", "SwiftURL",
	"Debian", "Ubuntu", "Echo", "Alpine", "Wolfi", "Chainguard", "MinimOS", "Alpaquita", "BellSoft Hardened Containers",
	"AlmaLinux", "Rocky Linux", "Red Hat", "Mageia", "Azure Linux", "openEuler", "SUSE", "openSUSE"}

// DownloadOptions control `db update`.
type DownloadOptions struct {
	BaseURL    string
	Ecosystems []string
	// Timeout bounds each download (default 10 minutes); connecting and
	// waiting for headers are bounded separately to 30 s.
	Timeout time.Duration
	// MaxSize bounds one zip (default 2 GiB).
	MaxSize int64
	// Progress, when set, is told the bytes read of each download.
	Progress func(ecosystem string, read, total int64)
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper
}

// Downloaded is one ecosystem's zip after an update.
type Downloaded struct {
	Ecosystem   string `json:"ecosystem"`
	Path        string `json:"path"`
	NotModified bool   `json:"notModified"`
	Bytes       int64  `json:"bytes"`
}

// ErrOffline wraps network failures so callers can point at `db import`.
var ErrOffline = errors.New("advisory source unreachable")

type validators struct {
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"lastModified,omitempty"`
}

// Download fetches BaseURL/<Ecosystem>/all.zip for each ecosystem into
// dataDir/osv/<Ecosystem>/all.zip, conditional on the ETag and
// Last-Modified of the previous download. Each file is written to a
// temporary name and renamed, so an interrupted download keeps the old zip.
func Download(ctx context.Context, dataDir string, opts DownloadOptions) ([]Downloaded, error) {
	if opts.BaseURL == "" {
		opts.BaseURL = DefaultBaseURL
	}
	if len(opts.Ecosystems) == 0 {
		opts.Ecosystems = DefaultEcosystems
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Minute
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = 2 << 30
	}
	transport := opts.Transport
	if transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: 30 * time.Second}).DialContext
		t.ResponseHeaderTimeout = 30 * time.Second
		transport = t
	}
	client := &http.Client{Transport: transport, Timeout: opts.Timeout}
	var out []Downloaded
	for _, eco := range opts.Ecosystems {
		d, err := downloadOne(ctx, client, dataDir, eco, opts)
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
	return out, nil
}

func downloadOne(ctx context.Context, client *http.Client, dataDir, eco string, opts DownloadOptions) (Downloaded, error) {
	dir := filepath.Join(dataDir, "osv", eco)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Downloaded{}, err
	}
	zipPath := filepath.Join(dir, "all.zip")
	metaPath := filepath.Join(dir, "all.zip.validators.json")
	d := Downloaded{Ecosystem: eco, Path: zipPath}
	u := opts.BaseURL + "/" + url.PathEscape(eco) + "/all.zip"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return d, err
	}
	var prev validators
	if _, err := os.Stat(zipPath); err == nil {
		if raw, err := os.ReadFile(metaPath); err == nil {
			_ = json.Unmarshal(raw, &prev)
		}
		if prev.ETag != "" {
			req.Header.Set("If-None-Match", prev.ETag)
		}
		if prev.LastModified != "" {
			req.Header.Set("If-Modified-Since", prev.LastModified)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return d, fmt.Errorf("%s: %w: %v", u, ErrOffline, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		d.NotModified = true
		return d, nil
	case http.StatusOK:
	default:
		return d, fmt.Errorf("%s: HTTP %s", u, resp.Status)
	}
	tmp, err := os.CreateTemp(dir, "all.zip.download-*")
	if err != nil {
		return d, err
	}
	defer os.Remove(tmp.Name())
	body := io.Reader(io.LimitReader(resp.Body, opts.MaxSize+1))
	if opts.Progress != nil {
		body = &progressReader{r: body, report: func(n int64) { opts.Progress(eco, n, resp.ContentLength) }}
	}
	n, err := io.Copy(tmp, body)
	if err == nil && n > opts.MaxSize {
		err = fmt.Errorf("larger than %d MiB", opts.MaxSize>>20)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return d, fmt.Errorf("%s: download failed: %w", u, err)
	}
	if err := os.Rename(tmp.Name(), zipPath); err != nil {
		return d, err
	}
	meta, _ := json.Marshal(validators{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")})
	if err := os.WriteFile(metaPath, meta, 0o600); err != nil {
		return d, err
	}
	d.Bytes = n
	return d, nil
}

type progressReader struct {
	r      io.Reader
	n      int64
	report func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	p.report(p.n)
	return n, err
}
