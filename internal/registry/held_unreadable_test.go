package registry

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// A manifest distribution accepts but dossier cannot read as one (a field
// of an unexpected type) is refused as unjudged, never taken as holding nothing.
func TestHeldManifestDossierCannotRead(t *testing.T) {
	for _, c := range []struct{ mt, extra string }{
		{"application/vnd.docker.distribution.manifest.v2+json", ``},
		{"application/vnd.docker.distribution.manifest.v2+json", `"annotations": 5,`},
		{"application/vnd.docker.distribution.manifest.v2+json", `"subject": "x",`},
		{"application/vnd.docker.distribution.manifest.v2+json", `"manifests": {},`},
		{"application/vnd.oci.image.manifest.v1+json", `"manifests": 7,`},
		{"application/vnd.oci.image.manifest.v1+json", `"artifactType": 7,`},
	} {
		t.Run(c.mt+c.extra, func(t *testing.T) {
			s := newServer(t, "team/**:v*")
			img := randomImage(t)
			if err := remote.Write(s.ref(t, "team/app:scratch"), img, s.options(s.admin)...); err != nil {
				t.Fatal(err)
			}
			cfg, _ := img.ConfigName()
			raw, _ := img.RawConfigFile()
			layers, _ := img.Layers()
			ld, _ := layers[0].Digest()
			ls, _ := layers[0].Size()
			cmt, lmt := "application/vnd.docker.container.image.v1+json", "application/vnd.docker.image.rootfs.diff.tar.gzip"
			if c.mt == "application/vnd.oci.image.manifest.v1+json" {
				cmt, lmt = "application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip"
			}
			body := fmt.Sprintf(`{"schemaVersion":2,%s"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[{"mediaType":%q,"digest":%q,"size":%d}]}`,
				c.extra, c.mt, cmt, cfg, len(raw), lmt, ld, ls)
			resp := s.do(t, http.MethodPut, "/v2/team/app/manifests/v1", s.admin, []byte(body), c.mt)
			b, _ := io.ReadAll(resp.Body)
			switch {
			case resp.StatusCode == http.StatusBadRequest:
				// refused at the door: no tag holds what dossier cannot read
				t.Logf("push refused: %s", b)
				return
			case resp.StatusCode != http.StatusCreated:
				t.Fatalf("push: %d %s", resp.StatusCode, b)
			}
			resp = s.do(t, http.MethodDelete, "/v2/team/app/blobs/"+ld.String(), s.admin, nil, "")
			b, _ = io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("FINDING: layer of immutable tag v1's manifest deleted: %d %s", resp.StatusCode, b)
			} else {
				t.Logf("held: %s", b)
			}
			resp = s.do(t, http.MethodGet, "/v2/team/app/manifests/v1", s.pull, nil, "")
			t.Logf("after: GET v1 = %d", resp.StatusCode)
		})
	}
}
