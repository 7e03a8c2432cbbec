// Package server runs dossier's HTTP servers (dossier serve, dossier
// webhook): one listener, TLS when certificates are given, a request ID
// and a structured access-log line for every request, /healthz and
// /metrics, and a graceful stop.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"time"
)

// Options configure a server.
type Options struct {
	Listen  string
	Handler http.Handler
	// Certificate, when set, serves TLS with the certificate it returns
	// (re-read when renewed).
	Certificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// ClientCAs, when set with Certificate, has TLS ask clients for a
	// certificate and verify any presented against them (the handler
	// decides whether one is required).
	ClientCAs *x509.CertPool
	// Metrics, when set, is served at /metrics.
	Metrics http.Handler
	// Observe, when set, hears of every request when it ends.
	Observe func(req *http.Request, status int, took time.Duration)
	Log     *slog.Logger
}

// Run serves until ctx ends, then stops gracefully: requests in flight
// finish (for up to 30 seconds).
func Run(ctx context.Context, o Options) error {
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", Logged(o.Handler, o.Log, o.Observe))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(o.Log.Handler(), slog.LevelWarn)}
	scheme := "http"
	if o.Certificate != nil {
		scheme = "https"
		srv.TLSConfig = &tls.Config{GetCertificate: o.Certificate, MinVersion: tls.VersionTLS12}
		if o.ClientCAs != nil {
			srv.TLSConfig.ClientCAs, srv.TLSConfig.ClientAuth = o.ClientCAs, tls.VerifyClientCertIfGiven
		}
	}
	o.Log.Info("listening on "+scheme+"://"+ln.Addr().String(), "address", ln.Addr().String())
	served := make(chan error, 1)
	go func() {
		if o.Certificate != nil {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// a request ID a client or proxy sent is kept when it is this plain
var plainID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Logged gives every request an ID (the X-Request-Id it came with, else a
// new one), returns it in X-Request-Id, and logs one line when the
// request ends: method, path, status, bytes, duration, client and ID;
// observe, when set, hears of it too. Headers and query strings are never
// logged: they carry tokens and upload state.
func Logged(h http.Handler, log *slog.Logger, observe func(req *http.Request, status int, took time.Duration)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id := req.Header.Get("X-Request-Id")
		if !plainID.MatchString(id) {
			b := make([]byte, 8)
			rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		start := time.Now()
		rw := &recorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rw, req)
		took := time.Since(start)
		if observe != nil {
			observe(req, rw.status, took)
		}
		log.LogAttrs(req.Context(), slog.LevelInfo, "request",
			slog.String("request_id", id), slog.String("method", req.Method), slog.String("path", req.URL.Path),
			slog.Int("status", rw.status), slog.Int64("bytes", rw.bytes), slog.Float64("duration_ms", float64(took.Microseconds())/1000),
			slog.String("remote", req.RemoteAddr))
	})
}

// recorder remembers a response's status and size.
type recorder struct {
	http.ResponseWriter
	status  int
	bytes   int64
	written bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.written {
		r.status, r.written = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.written = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() { http.NewResponseController(r.ResponseWriter).Flush() }

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
