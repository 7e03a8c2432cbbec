package registry

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
	"github.com/dossier-dev/dossier/internal/tokens"
)

// A store that cannot be reached is answered 503 with a message safe for
// anyone: its error (a database address, a file path) goes to the log,
// never to an unauthenticated client.
func TestStoreErrorsStayInTheLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reported []string
	l, host := testutil.Loopback(t)
	reg, err := New(ctx, Options{Name: host, RootDirectory: t.TempDir(), Store: st, OnError: func(err error) {
		mu.Lock()
		reported = append(reported, err.Error())
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	testutil.ServeOn(t, l, reg)
	st.Close()
	secret, _, err := tokens.New()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+host+"/v2/team/app/manifests/v1", nil)
	req.SetBasicAuth("anyone", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(string(body), "sql") || strings.Contains(string(body), dir) {
		t.Errorf("a request while the store is down: %d %s", resp.StatusCode, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) == 0 || !strings.Contains(reported[0], "sql") {
		t.Errorf("the store's error was not reported: %q", reported)
	}
}
