package oci

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// A registry answering a manifest past MaxManifestBytes — with its length
// declared, or streamed without one — costs the reader no more than the
// bound: the read ends with ErrManifestTooLarge. A manifest of exactly the
// bound is read.
func TestManifestsReadWithinTheBound(t *testing.T) {
	for _, c := range []struct {
		name     string
		size     int
		declared bool
		tooLarge bool
	}{
		{"declared past the bound", MaxManifestBytes + 1, true, true},
		{"streamed past the bound", MaxManifestBytes + 1, false, true},
		{"streamed far past the bound", 64 * MaxManifestBytes, false, true},
		{"exactly the bound", MaxManifestBytes, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2/" {
					return
				}
				// a JSON index padded with spaces to the size
				body := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`
				w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
				if c.declared {
					w.Header().Set("Content-Length", fmt.Sprint(c.size))
				}
				w.Write([]byte(body))
				pad := []byte(strings.Repeat(" ", 32<<10))
				for left := c.size - len(body); left > 0; left -= len(pad) {
					if left < len(pad) {
						pad = pad[:left]
					}
					if _, err := w.Write(pad); err != nil {
						return
					}
				}
			}))
			defer srv.Close()
			ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://")+"/team/app:v1", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			_, err = remote.Get(ref, RegistryOptions{Retries: 1}.Remote(context.Background())...)
			if got := errors.Is(err, ErrManifestTooLarge); got != c.tooLarge || !c.tooLarge && err != nil {
				t.Errorf("read a %d-byte manifest: %v", c.size, err)
			}
		})
	}
}
