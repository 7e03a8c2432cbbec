package admission

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// A generated pair serves HTTPS that clients trusting only its CA accept,
// and a renewed pair on disk is served without a restart.
func TestServingCertificateAndReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	write := func() []byte {
		t.Helper()
		ca, cert, key, err := ServingCertificate([]string{"127.0.0.1", "dossier.dossier-system.svc"}, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(certFile, cert, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, key, 0o600); err != nil {
			t.Fatal(err)
		}
		return ca
	}
	ca1 := write()
	files, err := LoadCertificateFiles(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var later atomic.Int64 // the files' clock, moved on instead of waited for
	files.now = func() time.Time { return time.Now().Add(time.Duration(later.Load())) }
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: files.GetCertificate, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	url := "https://" + ln.Addr().String()
	get := func(ca []byte) error {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}, Timeout: 5 * time.Second}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(ca1); err != nil {
		t.Fatalf("the first certificate: %v", err)
	}
	ca2 := write()
	later.Add(int64(time.Second)) // the files are looked at once a second
	if err := get(ca2); err != nil {
		t.Errorf("the renewed certificate: %v", err)
	}
	if err := get(ca1); err == nil {
		t.Error("the old CA still verifies: the renewed certificate was not served")
	}
	if _, err := LoadCertificateFiles(certFile, filepath.Join(dir, "absent")); err == nil {
		t.Error("a missing key was accepted")
	}
	if _, _, _, err := ServingCertificate(nil, time.Hour, time.Now()); err == nil {
		t.Error("a certificate for no host")
	}
}
