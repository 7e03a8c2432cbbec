package admission

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A Pod spec naming a thousand large pull secrets costs the webhook a
// bounded number of reads, bytes and error text: the first 64 names are
// read, their keychains parsed once and kept within the cache's bytes,
// and the rest are said, briefly.
func TestPullSecretsAreBounded(t *testing.T) {
	entries := map[string]any{}
	for i := 0; len(entries) < 200; i++ {
		entries[fmt.Sprintf("r%05d.example.com", i)] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("u:" + strings.Repeat("p", 40)))}
	}
	cfg, _ := json.Marshal(map[string]any{"auths": entries})
	secret, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
		"data": map[string]any{".dockerconfigjson": base64.StdEncoding.EncodeToString(cfg)}})
	// too many registries for one secret: left out, said
	huge := map[string]any{}
	for i := 0; len(huge) < 1000; i++ {
		huge[fmt.Sprintf("h%05d.example.com", i)] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("u:p"))}
	}
	hugeCfg, _ := json.Marshal(map[string]any{"auths": huge})
	hugeSecret, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
		"data": map[string]any{".dockerconfigjson": base64.StdEncoding.EncodeToString(hugeCfg)}})
	var gets atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		switch {
		case strings.Contains(r.URL.Path, "/serviceaccounts/"):
			w.Write([]byte(`{"apiVersion":"v1","kind":"ServiceAccount"}`))
		case strings.HasSuffix(r.URL.Path, "/huge"):
			w.Write(hugeSecret)
		default:
			w.Write(secret)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca, token := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "token")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(token, []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	read, err := PullSecretsFrom(APIServer{URL: srv.URL, CAFile: ca, TokenFile: token}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"huge"}
	for i := range 1000 {
		names = append(names, fmt.Sprintf("big-%d", i))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	k, err := read(context.Background(), "attacker", names, "")
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := gets.Load(); got != 1+maxPullSecretNames {
		t.Errorf("%d reads for 1,001 names, want the service account and %d secrets", got, maxPullSecretNames)
	}
	if err == nil || !strings.Contains(err.Error(), "1001 pull secrets named: the first 64 read") || !strings.Contains(err.Error(), "1000 registries") || len(err.Error()) > 1000 {
		t.Errorf("the account of what was left out: %.500v (%d bytes)", err, len(fmt.Sprint(err)))
	}
	if k == nil || k.Size() == 0 {
		t.Error("the secrets read make no keychain")
	}
	if held := int64(after.HeapAlloc) - int64(before.HeapAlloc); held > maxCachedBytes+16<<20 {
		t.Errorf("the webhook holds %d MiB after one review's secrets", held>>20)
	}
	// read again: from the cache
	if _, err := read(context.Background(), "attacker", names, ""); gets.Load() != 1+maxPullSecretNames || err == nil {
		t.Errorf("read again: %d reads in all", gets.Load())
	}
}
