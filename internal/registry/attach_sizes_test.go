package registry

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/policy"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
)

// lyingLayer uploads a small blob and returns a descriptor for it that
// declares size bytes: the registry stores the manifest (distribution
// checks the blob exists, not the size the manifest declares for it).
func lyingLayer(t *testing.T, s *server, token, mediaType string, size int64) map[string]any {
	t.Helper()
	l := static.NewLayer([]byte(fmt.Sprint("junk ", time.Now().UnixNano())), types.MediaType(mediaType))
	if err := remote.WriteLayer(s.ref(t, "team/app:x").Context(), l, s.options(token)...); err != nil {
		t.Fatal(err)
	}
	d, _ := l.Digest()
	return map[string]any{"mediaType": mediaType, "digest": d.String(), "size": size}
}

func putManifest(t *testing.T, s *server, token, ref string, m any) *http.Response {
	t.Helper()
	body, _ := json.Marshal(m)
	return s.do(t, http.MethodPut, "/v2/team/app/manifests/"+ref, token, body, "application/vnd.oci.image.manifest.v1+json")
}

// One referrer, far under the 500-referrer bound, whose bundle layer
// declares 65 MiB, is refused: verifiers fail the whole subject on a
// bundle past their bound, so taking it would blind them to the release's
// real signatures.
func TestOversizedReferrerRefused(t *testing.T) {
	s := newServer(t, "team/**:v*")
	_, desc, _, verified := signedRelease(t, s, true, true)
	pusher := s.token(t, "team/**", store.RolePush)
	config := lyingLayer(t, s, pusher, "application/vnd.oci.empty.v1+json", 0)
	config["size"] = 0
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"artifactType":  sign.BundleMediaType,
		"config":        config,
		"layers":        []any{lyingLayer(t, s, pusher, sign.BundleMediaType, 65<<20)},
		"subject":       map[string]any{"mediaType": string(desc.MediaType), "digest": desc.Digest.String(), "size": desc.Size},
	}
	resp := putManifest(t, s, pusher, "junk", m)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("push of one referrer with a 65 MiB-declared bundle: %d %s", resp.StatusCode, b)
	}
	// a size smaller than the blob's is a lie too
	m["layers"] = []any{lyingLayer(t, s, pusher, sign.BundleMediaType, 1)}
	resp = putManifest(t, s, pusher, "junk", m)
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "declares layer") {
		t.Errorf("push of one referrer whose layer is declared smaller than it is: %d %s", resp.StatusCode, b)
	}
	if n, err := verified(); n != 2 || err != nil {
		t.Errorf("the release's signatures after one referrer push by a push token: %d verified, err %v", n, err)
	}
}

// The .sig tag of a release, "appended to" as cosign does (every old layer
// kept as it was) with one layer that declares 300 MiB, is refused: under
// the 500-layer bound, but past the 256 MiB verifiers read of a subject.
func TestOversizedSignatureLayerRefused(t *testing.T) {
	s := newServer(t, "team/**:v*")
	_, desc, _, verified := signedRelease(t, s, true, true)
	pusher := s.token(t, "team/**", store.RolePush)
	tag := "sha256-" + desc.Digest.Hex + ".sig"
	got, err := remote.Get(s.ref(t, "team/app:"+tag), s.options(pusher)...)
	if err != nil {
		t.Fatal(err)
	}
	var cur map[string]any
	if err := json.Unmarshal(got.Manifest, &cur); err != nil {
		t.Fatal(err)
	}
	cur["layers"] = append(cur["layers"].([]any), lyingLayer(t, s, pusher, "application/vnd.dev.cosign.simplesigning.v1+json", 300<<20))
	resp := putManifest(t, s, pusher, tag, cur)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("append of one 300 MiB-declared layer: %d %s", resp.StatusCode, b)
	}
	if n, err := verified(); n != 2 || err != nil {
		t.Errorf("the release's signatures after one .sig append by a push token: %d verified, err %v", n, err)
	}
}

// Referrers each within the bounds of one bundle, whose bytes together pass
// the 256 MiB verifiers read of one subject: helper-7's last open class.
// Four referrers of 60 MiB bundles are taken, the fifth is refused, and so
// it is when the first four were indexed before the store counted their
// layers (they are read from storage then); the release still verifies.
func TestAttachedBytesStayWithinTheReadBound(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "team/**:v*")
	_, desc, _, verified := signedRelease(t, s, false, true)
	pusher := s.token(t, "team/**", store.RolePush)
	bundle := static.NewLayer(make([]byte, 60<<20), sign.BundleMediaType)
	if err := remote.WriteLayer(s.ref(t, "team/app:x").Context(), bundle, s.options(pusher)...); err != nil {
		t.Fatal(err)
	}
	d, _ := bundle.Digest()
	config := lyingLayer(t, s, pusher, "application/vnd.oci.empty.v1+json", 0)
	config["size"] = 0
	referrer := func(i int) map[string]any {
		return map[string]any{
			"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "artifactType": sign.BundleMediaType,
			"config":      config,
			"layers":      []any{map[string]any{"mediaType": sign.BundleMediaType, "digest": d.String(), "size": 60 << 20}},
			"subject":     map[string]any{"mediaType": string(desc.MediaType), "digest": desc.Digest.String(), "size": desc.Size},
			"annotations": map[string]string{"n": fmt.Sprint(i)},
		}
	}
	for i := range 4 {
		resp := putManifest(t, s, pusher, fmt.Sprint("junk", i), referrer(i))
		if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusCreated {
			t.Fatalf("referrer %d of 60 MiB: %d %s", i, resp.StatusCode, b)
		}
	}
	refused := func(what string) {
		t.Helper()
		resp := putManifest(t, s, pusher, "junk4", referrer(4))
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "attached to it as referrers") {
			t.Errorf("%s: the fifth referrer of 60 MiB: %d %s", what, resp.StatusCode, b)
		}
	}
	refused("counted at push")
	// the index as a store of an older version left it: bytes unknown
	referrers, err := s.st.Referrers(ctx, "team/app", desc.Digest.String(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range referrers {
		if err := s.st.RemoveReferrer(ctx, "team/app", ref.Digest); err != nil {
			t.Fatal(err)
		}
		ref.AttachedBytes = -1
		if err := s.st.AddReferrer(ctx, "team/app", ref); err != nil {
			t.Fatal(err)
		}
	}
	refused("counted from storage")
	if referrers, err = s.st.Referrers(ctx, "team/app", desc.Digest.String(), ""); err != nil {
		t.Fatal(err)
	}
	// the push reads referrers until their bytes pass the bound: all four
	// 60 MiB ones are needed to pass it, the release's own signature may
	// come after them and stay unread
	large := 0
	for _, ref := range referrers {
		if _, junk := ref.Annotations["n"]; junk {
			large++
			if ref.AttachedBytes != 60<<20 {
				t.Errorf("referrer %s counted %d bytes after the push that read it, not its 60 MiB layer", ref.Digest, ref.AttachedBytes)
			}
		}
	}
	if large != 4 {
		t.Errorf("%d referrers of 60 MiB indexed, not 4", large)
	}
	if n, err := verified(); n != 1 || err != nil {
		t.Errorf("the release's signature after the pushes: %d %v", n, err)
	}
}

// Where quarantine holds what is not evidence, only evidence attaches: a
// push token's "bundle" referrer over a tar layer, or a cosign .sig tag of
// one (new, or appended to the release's real one), would be held from
// readers, and readers then could not read the release's signatures at
// all (helper-8: the webhook denied a correctly signed release). Each is
// refused; a real signature pushed by the same token is taken.
func TestAttachmentsMustBeEvidenceUnderQuarantine(t *testing.T) {
	ctx := context.Background()
	team, err := policy.CompileGlob("team/**")
	if err != nil {
		t.Fatal(err)
	}
	set := &policy.Set{AllowUnmatched: true}
	s := newServerWith(t, func(o *Options) {
		o.Quarantine = []QuarantineRule{{Text: "team/**=any", Repositories: team, Rules: func() (*policy.Set, string) { return set, "v1" }}}
	})
	_, desc, kp, _ := signedRelease(t, s, true, true)
	pusher := s.token(t, "team/**", store.RolePush)
	config := lyingLayer(t, s, pusher, "application/vnd.oci.empty.v1+json", 0)
	config["size"] = 0
	tarLayer := lyingLayer(t, s, pusher, "application/vnd.oci.image.layer.v1.tar", 0)
	tarLayer["size"] = int64(len(fmt.Sprint("junk ", time.Now().UnixNano()))) // lyingLayer's content, as long as it is
	subject := map[string]any{"mediaType": string(desc.MediaType), "digest": desc.Digest.String(), "size": desc.Size}
	refused := func(what, ref string, m map[string]any) {
		t.Helper()
		resp := putManifest(t, s, pusher, ref, m)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "is not evidence") {
			t.Errorf("%s: %d %s", what, resp.StatusCode, b)
		}
	}
	refused("a bundle-typed referrer over a tar layer", "junk", map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "artifactType": sign.BundleMediaType,
		"config": config, "layers": []any{tarLayer}, "subject": subject})
	legacyTag := "sha256-" + desc.Digest.Hex + ".sig"
	refused("a cosign tag of a tar layer", legacyTag, map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config, "layers": []any{tarLayer}})
	// the release's real .sig, every layer kept, a tar layer appended
	current, err := remote.Get(s.ref(t, "team/app:"+legacyTag), s.options(pusher)...)
	if err != nil {
		t.Fatal(err)
	}
	var appended map[string]any
	if err := json.Unmarshal(current.Manifest, &appended); err != nil {
		t.Fatal(err)
	}
	appended["layers"] = append(appended["layers"].([]any), tarLayer)
	refused("the release's .sig with a tar layer appended", legacyTag, appended)
	// evidence still attaches: the owner's key signs again, by the push token
	pushed, err := oci.OpenRegistry(s.host+"/team/app", oci.RegistryOptions{Keychain: staticKeychain{pusher}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sign.SignLegacy(ctx, pushed, desc.Digest, kp, nil); err != nil {
		t.Errorf("a real signature appended by the push token: %v", err)
	}
}

// What verifiers cannot parse does not attach (helper-9). A push token
// put on a release's .sig tag a signature layer named by a sha384 digest
// (distribution stores it; go-containerregistry, as every verifier, reads
// sha256 only) and every read of the release's signatures ended there;
// and a docker manifest whose "manifests" was a string passed the
// attachment gates unread, since they judged only what they could parse.
// The first is refused as an attachment, the second as no manifest; the
// release's signature still verifies.
func TestAttachmentsVerifiersCannotParseRefused(t *testing.T) {
	s := newServer(t, "team/**:v*")
	_, desc, _, verified := signedRelease(t, s, false, true)
	pusher := s.token(t, "team/**", store.RolePush)
	tag := "sha256-" + desc.Digest.Hex + ".sig"

	content := []byte(fmt.Sprint("junk ", time.Now().UnixNano()))
	sha384 := fmt.Sprintf("sha384:%x", sha512.Sum384(content))
	resp := s.do(t, http.MethodPost, "/v2/team/app/blobs/uploads/", pusher, nil, "")
	location, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("starting an upload: %d %v", resp.StatusCode, err)
	}
	q := location.Query()
	q.Set("digest", sha384)
	resp = s.do(t, http.MethodPut, location.Path+"?"+q.Encode(), pusher, content, "application/octet-stream")
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusCreated {
		t.Fatalf("a sha384 blob: %d %s (the registry must take it, or the attack tests nothing)", resp.StatusCode, b)
	}
	config := lyingLayer(t, s, pusher, "application/vnd.oci.empty.v1+json", 0)
	resp = putManifest(t, s, pusher, tag, map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config,
		"layers": []any{map[string]any{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": sha384, "size": len(content)}},
	})
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "verifiers cannot read it") {
		t.Errorf("a .sig tag of a sha384 layer: %d %s", resp.StatusCode, b)
	}

	schema2 := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","manifests":"not an array",` +
		`"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"` + config["digest"].(string) + `","size":0},"layers":[]}`)
	attTag := "sha256-" + desc.Digest.Hex + ".att"
	resp = s.do(t, http.MethodPut, "/v2/team/app/manifests/"+attTag, pusher, schema2, "application/vnd.docker.distribution.manifest.v2+json")
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "MANIFEST_INVALID") {
		t.Errorf("a .att tag of a manifest dossier cannot read: %d %s", resp.StatusCode, b)
	}
	if n, err := verified(); n != 1 || err != nil {
		t.Errorf("the release's signature after the pushes: %d %v", n, err)
	}
}

// An append to a release's .sig tag that distribution reads and verifiers
// cannot (helper-10: what image-spec ignores or does not check,
// go-containerregistry's types refuse) would have them reject the whole
// tag, the release's real signature with it, and the tag cannot be
// repaired (what is attached is not removed). Each is refused.
func TestSignatureTagAppendsVerifiersCannotParseRefused(t *testing.T) {
	platform := func(features any) map[string]any {
		return map[string]any{"architecture": "amd64", "os": "linux", "features": features}
	}
	subject := func(digest string) map[string]any {
		return map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 1}
	}
	for name, change := range map[string]func(m map[string]any, newLayer func() map[string]any){
		"a new layer whose platform's features are a string": func(m map[string]any, newLayer func() map[string]any) {
			layer := newLayer()
			layer["platform"] = platform("not-a-list")
			m["layers"] = append(m["layers"].([]any), layer)
		},
		"the config's platform's features a number": func(m map[string]any, _ func() map[string]any) {
			m["config"].(map[string]any)["platform"] = platform(7)
		},
		"a subject digest of no hex": func(m map[string]any, _ func() map[string]any) { m["subject"] = subject("sha256:not-hex") },
		"a subject digest in upper-case hex": func(m map[string]any, _ func() map[string]any) {
			m["subject"] = subject("sha256:" + strings.Repeat("AB", 32))
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := newServer(t, "team/**:v*")
			_, desc, _, verified := signedRelease(t, s, true, false)
			pusher := s.token(t, "team/**", store.RolePush)
			tag := "sha256-" + desc.Digest.Hex + ".sig"
			got, err := remote.Get(s.ref(t, "team/app:"+tag), s.options(pusher)...)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(got.Manifest, &m); err != nil {
				t.Fatal(err)
			}
			change(m, func() map[string]any {
				return lyingLayer(t, s, pusher, "application/vnd.dev.cosign.simplesigning.v1+json", 24) // "junk " and 19 digits: its true size
			})
			resp := putManifest(t, s, pusher, tag, m)
			if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "verifiers cannot read it") {
				t.Errorf("push: %d %s", resp.StatusCode, b)
			}
			if n, err := verified(); n != 1 || err != nil {
				t.Errorf("the release's signature after the push: %d %v", n, err)
			}
		})
	}
}
