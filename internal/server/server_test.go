package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Every request gets an ID and one log line; a plain ID a proxy sent is
// kept, anything else replaced; headers and queries never reach the log.
func TestLogged(t *testing.T) {
	var logged bytes.Buffer
	var observed []int
	h := Logged(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte("short and stout"))
	}), slog.New(slog.NewJSONHandler(&logged, nil)), func(_ *http.Request, status int, _ time.Duration) { observed = append(observed, status) })
	for _, sent := range []string{"", "edge-7f3a.42", "bad id\nwith a newline", strings.Repeat("x", 65)} {
		logged.Reset()
		req := httptest.NewRequest(http.MethodGet, "/v2/team/app/blobs/uploads/1?_state=SECRETSTATE", nil)
		req.Header.Set("Authorization", "Bearer dsr_SECRETTOKEN")
		if sent != "" {
			req.Header.Set("X-Request-Id", sent)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		id := rec.Header().Get("X-Request-Id")
		if id == "" || (sent == "edge-7f3a.42") != (id == sent) {
			t.Errorf("sent %q, got request ID %q", sent, id)
		}
		var entry struct {
			Msg, Method, Path string
			Status            int
			Bytes             int64
		}
		line := logged.String()
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if entry.Msg != "request" || entry.Path != "/v2/team/app/blobs/uploads/1" || entry.Status != http.StatusTeapot || entry.Bytes != 15 ||
			!strings.Contains(line, `"request_id":"`+id+`"`) {
			t.Errorf("log line: %s", line)
		}
		if strings.Contains(line, "SECRET") {
			t.Errorf("a header or the query was logged: %s", line)
		}
	}
	if len(observed) != 4 || observed[0] != http.StatusTeapot {
		t.Errorf("observed %v", observed)
	}
}
