package security

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// Class 1: the registry's identity never comes from the request. A pull
// token sending another Host (or reaching the server by another name)
// finds the same quarantine; a pusher's Host names neither the tag history
// nor the evidence recorded.
func TestHostHeaderIsNotIdentity(t *testing.T) {
	dir := t.TempDir()
	kp, held := signingPolicy(t, dir, "held", "**")
	s := startServe(t, "", "--quarantine", "team/**="+held, "--scan-workers", "1")
	_, port, _ := strings.Cut(s.addr, ":")
	pull, push := s.token(t, "team/**", store.RolePull), s.token(t, "team/**", store.RolePush)
	digest := s.push(t, "team/app:v1", s.admin, randomImage(t))
	s.waitJob(t, "scan", s.addr+"/team/app", digest)

	hosts := []string{"", "localhost:" + port, "LOCALHOST:" + port, "evil.example", "127.0.0.1:" + port + ".", "[::1]:" + port, "127.0.0.1"}
	for _, host := range hosts {
		for _, ref := range []string{"v1", digest} {
			if code, body := s.request(t, http.MethodGet, "/v2/team/app/manifests/"+ref, pull, host, nil, ""); code != http.StatusForbidden || !strings.Contains(body, "quarantined") {
				t.Errorf("Host %q: a reader's pull of the unsigned %s: %d %s", host, ref, code, body)
			}
		}
	}
	// reached by another name, with a real client
	other := "localhost:" + port
	crane := testutil.Peer(t, "crane")
	cmd := exec.Command(crane, "manifest", "--insecure", other+"/team/app:v1")
	cmd.Env = append(cmd.Environ(), "HOME="+t.TempDir(), "DOCKER_CONFIG=")
	login := exec.Command(crane, "auth", "login", other, "-u", "me", "-p", pull)
	login.Env = cmd.Env
	if out, err := login.CombinedOutput(); err != nil {
		t.Fatalf("crane auth login: %v %s", err, out)
	}
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "quarantined") {
		t.Errorf("crane manifest by the name localhost: %v %s", err, out)
	}

	// a pusher's Host names nothing: the tag and the evidence are the
	// registry's own name's
	img := randomImage(t)
	if err := pushWithHost(t, s, "team/app", "v2", push, "evil.example", img); err != nil {
		t.Fatal(err)
	}
	d2, _ := img.Digest()
	s.waitJob(t, "scan", s.addr+"/team/app", d2.String())
	for _, j := range s.jobs(t) {
		if !strings.HasPrefix(j.Repository, s.addr+"/") {
			t.Errorf("a job under another name: %+v", j)
		}
	}
	var history []store.TagMove
	if err := json.Unmarshal([]byte(s.dossier(t, "query", "tag", s.addr+"/team/app:v2", "-o", "json")), &history); err != nil || len(history) == 0 {
		t.Errorf("the tag pushed with a forged Host is not under the registry's name: %v %+v", err, history)
	}

	// the legitimate path: once signed, the reader pulls, by any name
	s.signImage(t, "team/app", digest, push, kp)
	s.waitJob(t, "verify", s.addr+"/team/app", digest)
	for _, host := range hosts {
		eventually(t, "a reader's pull of the signed image, Host "+host, func() string {
			if code, body := s.request(t, http.MethodGet, "/v2/team/app/manifests/v1", pull, host, nil, ""); code != http.StatusOK {
				return fmt.Sprintf("%d %s", code, body)
			}
			return ""
		})
	}
}

// pushWithHost pushes an image's blobs and manifest with raw requests that
// carry a forged Host header.
func pushWithHost(t *testing.T, s *server, repo, tag, token, host string, img v1.Image) error {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	cfgDigest, err := img.ConfigName()
	if err != nil {
		return err
	}
	blobs := map[string][]byte{cfgDigest.String(): cfg}
	for _, l := range layers {
		d, _ := l.Digest()
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		buf.ReadFrom(rc)
		rc.Close()
		blobs[d.String()] = buf.Bytes()
	}
	for d, data := range blobs {
		if code, body := s.upload(t, repo, token, host, data); code != http.StatusCreated {
			return fmt.Errorf("blob %s: %d %s", d, code, body)
		}
	}
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	mt, _ := img.MediaType()
	if code, body := s.request(t, http.MethodPut, "/v2/"+repo+"/manifests/"+tag, token, host, raw, string(mt)); code != http.StatusCreated {
		return fmt.Errorf("manifest: %d %s", code, body)
	}
	return nil
}

// Class 2: a runnable image is judged whatever it claims to be — an
// artifactType, a subject, a cosign signature's tag, an unusual config —
// while real signatures stay readable for verification.
func TestDisguisedImagesAreJudged(t *testing.T) {
	dir := t.TempDir()
	kp, held := signingPolicy(t, dir, "held", "**")
	s := startServe(t, "", "--quarantine", "team/**="+held, "--scan-workers", "1")
	pull, push := s.token(t, "team/**", store.RolePull), s.token(t, "team/**", store.RolePush)
	victim := s.push(t, "team/app:v1", push, randomImage(t))

	img := randomImage(t)
	s.push(t, "team/base:v1", push, img) // the blobs the disguises name
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	disguise := func(change func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		// the OCI shape, which artifactType and subject belong to
		m["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
		m["config"].(map[string]any)["mediaType"] = "application/vnd.oci.image.config.v1+json"
		for _, l := range m["layers"].([]any) {
			l.(map[string]any)["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
		}
		change(m)
		out, _ := json.Marshal(m)
		return out
	}
	victimHex := strings.TrimPrefix(victim, "sha256:")
	// scanFails, when set, is why the scan of that disguise must fail
	// (which keeps it quarantined); attaches marks a disguise that attaches
	// to the victim (a subject, a cosign tag), which quarantine refuses at
	// the push: only evidence attaches where quarantine holds what is not
	// evidence, so it can never hide the victim's signatures
	cases := []struct {
		name, tag string
		manifest  []byte
		scanFails string
		attaches  bool
	}{
		{"artifactType", "disguised-1", disguise(func(m map[string]any) { m["artifactType"] = "application/vnd.example.helm.chart" }), "", false},
		{"subject", "disguised-2", disguise(func(m map[string]any) {
			m["subject"] = map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": victim, "size": 100}
		}), "", true},
		{"cosign signature tag", "sha256-" + victimHex + ".sig", disguise(func(m map[string]any) { m["annotations"] = map[string]string{"disguise": "sig"} }), "", true},
		{"cosign attestation tag", "sha256-" + victimHex + ".att", disguise(func(m map[string]any) { m["annotations"] = map[string]string{"disguise": "att"} }), "", true},
		{"unusual config", "disguised-3", disguise(func(m map[string]any) {
			m["config"].(map[string]any)["mediaType"] = "application/vnd.example.config.v1+json"
		}), "", false},
		{"all at once", "sha256-" + victimHex + ".sbom", disguise(func(m map[string]any) {
			m["artifactType"] = "application/vnd.dev.cosign.artifact.sig.v1+json"
			m["subject"] = map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": victim, "size": 100}
			m["config"].(map[string]any)["mediaType"] = "application/vnd.oci.empty.v1+json"
		}), "", true},
		{"signature layers beside a runnable one", "disguised-4", disguise(func(m map[string]any) {
			layers := m["layers"].([]any)
			layers[0].(map[string]any)["mediaType"] = "application/vnd.dev.cosign.simplesigning.v1+json"
		}), "unsupported layer media type", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := s.request(t, http.MethodPut, "/v2/team/base/manifests/"+c.tag, push, "", c.manifest, "application/vnd.oci.image.manifest.v1+json")
			if c.attaches {
				if code != http.StatusForbidden || !strings.Contains(body, "is not evidence") {
					t.Errorf("push of an image attaching to the victim: %d %s", code, body)
				}
				return
			}
			if code != http.StatusCreated {
				t.Fatalf("push: %d %s", code, body)
			}
			digest := fmt.Sprintf("sha256:%x", sha256.Sum256(c.manifest))
			for _, ref := range []string{c.tag, digest} {
				if code, body := s.request(t, http.MethodGet, "/v2/team/base/manifests/"+ref, pull, "", nil, ""); code != http.StatusForbidden {
					t.Errorf("a reader's pull of the disguised image by %s: %d %s", ref, code, body)
				}
			}
			// it was queued as what it is: an image to scan
			job := s.waitJob(t, "scan", s.addr+"/team/base", digest)
			if c.scanFails == "" && job.State != store.JobDone || c.scanFails != "" && (job.State != store.JobFailed || !strings.Contains(job.Error, c.scanFails)) {
				t.Errorf("its scan: %+v", job)
			}
		})
	}

	// the legitimate evidence: a real signature of the victim is pullable
	// by the reader who verifies it, though the victim is quarantined
	s.signImage(t, "team/app", victim, push, kp)
	s.waitJob(t, "verify", s.addr+"/team/app", victim)
	code, body := s.request(t, http.MethodGet, "/v2/team/app/referrers/"+victim, pull, "", nil, "")
	var index struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &index) != nil || len(index.Manifests) == 0 {
		t.Fatalf("the victim's referrers: %d %s", code, body)
	}
	for _, m := range index.Manifests {
		if code, body := s.request(t, http.MethodGet, "/v2/team/app/manifests/"+m.Digest, pull, "", nil, ""); code != http.StatusOK {
			t.Errorf("a reader's pull of the signature %s: %d %s", m.Digest, code, body)
		}
	}
}

// Class 4: a push token on one repository cannot read another's blobs
// by mounting them — whether the source is in the query, the form body,
// a multipart body or repeated — nor by a foreign layer's URL that the
// scan of its own push would follow.
func TestBlobMountsStayInScope(t *testing.T) {
	s := startServe(t, "", "--scan-workers", "1")
	secret := randomImage(t)
	s.push(t, "team-b/app:v1", s.admin, secret)
	layers, err := secret.Layers()
	if err != nil {
		t.Fatal(err)
	}
	layer, _ := layers[0].Digest()
	size, _ := layers[0].Size()
	pusher := s.token(t, "team-a/**", store.RolePush)

	attacks := []struct {
		name, query, contentType string
		body                     []byte
		want                     int
	}{
		{"query", "?mount=" + layer.String() + "&from=team-b/app", "", nil, http.StatusForbidden},
		{"form body", "", "application/x-www-form-urlencoded", []byte("mount=" + layer.String() + "&from=team-b/app"), http.StatusUnsupportedMediaType},
		{"mount in the query, source in the form", "?mount=" + layer.String(), "application/x-www-form-urlencoded", []byte("from=team-b/app"), http.StatusUnsupportedMediaType},
		{"form with a charset", "?mount=" + layer.String(), "Application/X-WWW-Form-Urlencoded; charset=utf-8", []byte("from=team-b/app"), http.StatusUnsupportedMediaType},
		{"multipart", "?mount=" + layer.String(), "", nil, http.StatusUnsupportedMediaType},
		{"repeated source", "?mount=" + layer.String() + "&from=team-a/own&from=team-b/app", "", nil, http.StatusForbidden},
		{"repeated source, the other first", "?mount=" + layer.String() + "&from=team-b/app&from=team-a/own", "", nil, http.StatusForbidden},
		{"escaped source", "?mount=" + layer.String() + "&from=" + url.QueryEscape("team-b/app"), "", nil, http.StatusForbidden},
	}
	for _, a := range attacks {
		body, contentType := a.body, a.contentType
		if a.name == "multipart" {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			mw.WriteField("from", "team-b/app")
			mw.Close()
			body, contentType = buf.Bytes(), mw.FormDataContentType()
		}
		if code, resp := s.request(t, http.MethodPost, "/v2/team-a/app/blobs/uploads/"+a.query, pusher, "", body, contentType); code != a.want {
			t.Errorf("%s: %d %s, want %d", a.name, code, resp, a.want)
		}
	}
	if code, _ := s.request(t, http.MethodGet, "/v2/team-a/app/blobs/"+layer.String(), pusher, "", nil, ""); code != http.StatusNotFound {
		t.Errorf("team-b's layer is readable in team-a: %d", code)
	}

	// a foreign layer naming team-b's blob, on this registry and on
	// another host: the scan of team-a's push does not read it
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + layer.String() + `"]}}`)
	cfgDigest := fmt.Sprintf("sha256:%x", sha256.Sum256(cfg))
	if code, body := s.upload(t, "team-a/app", pusher, "", cfg); code != http.StatusCreated {
		t.Fatalf("config: %d %s", code, body)
	}
	for i, u := range []string{"https://" + s.addr + "/v2/team-b/app/blobs/" + layer.String(), "https://example.invalid/v2/team-b/app/blobs/" + layer.String()} {
		manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},
"layers":[{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":%q,"size":%d,"urls":[%q]}]}`, cfgDigest, len(cfg), layer, size, u)
		tag := fmt.Sprintf("foreign-%d", i)
		if code, body := s.request(t, http.MethodPut, "/v2/team-a/app/manifests/"+tag, pusher, "", []byte(manifest), "application/vnd.oci.image.manifest.v1+json"); code != http.StatusCreated {
			t.Fatalf("the foreign-layer manifest: %d %s", code, body)
		}
		digest := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(manifest)))
		job := s.waitJob(t, "scan", s.addr+"/team-a/app", digest)
		if job.State == store.JobDone {
			t.Errorf("the scan of a manifest whose layer lives in team-b read it: %+v", job)
		}
	}

	// the legitimate mount, within the token's reach
	own := randomImage(t)
	s.push(t, "team-a/src:v1", pusher, own)
	ownLayers, _ := own.Layers()
	ownLayer, _ := ownLayers[0].Digest()
	if code, body := s.request(t, http.MethodPost, "/v2/team-a/app/blobs/uploads/?mount="+ownLayer.String()+"&from=team-a/src", pusher, "", nil, ""); code != http.StatusCreated {
		t.Errorf("a mount within team-a: %d %s", code, body)
	}
}

// Repositories whose names hold the route words of the distribution API —
// team/app/blobs/uploads/x is a repository distribution serves manifests
// of — are judged as any other (helper-11: dossier read such a path as an
// upload to team/app, and the image was pulled unjudged, never queued nor
// recorded); a token of exactly one repository reaches no repository
// named below it.
func TestRouteWordsInRepositoryNames(t *testing.T) {
	dir := t.TempDir()
	_, held := signingPolicy(t, dir, "held", "**")
	s := startServe(t, "", "--quarantine", "team/**="+held, "--scan-workers", "1")
	pull, push := s.token(t, "team/**", store.RolePull), s.token(t, "team/**", store.RolePush)
	for _, repo := range []string{"team/app/blobs/uploads/x", "team/blobs/uploads/app", "team/app/blobs/x", "team/app/manifests/x",
		"team/app/referrers/x", "team/app/blobs/uploads/blobs/uploads/x", "team/app/tags/list/x"} {
		digest := s.push(t, repo+":v1", push, randomImage(t))
		s.waitJob(t, store.JobScan, s.addr+"/"+repo, digest)
		for _, ref := range []string{repo + ":v1", repo + "@" + digest} {
			if _, err := remote.Image(s.ref(t, ref), s.remote(pull)...); err == nil || !strings.Contains(err.Error(), "DENIED") {
				t.Errorf("%s: the unsigned image was pulled under quarantine: %v", ref, err)
			}
		}
	}
	exact := s.token(t, "team/app", store.RolePull)
	for _, path := range []string{"/v2/team/app/blobs/uploads/x/manifests/v1", "/v2/team/app/blobs/uploads/x/tags/list"} {
		if code, body := s.request(t, http.MethodGet, path, exact, "", nil, ""); code != http.StatusForbidden {
			t.Errorf("a token of team/app only: GET %s: %d %s", path, code, body)
		}
	}
}

// A manifest the quarantine gate allows is served by the route as read:
// helper-12 asked for team/app's allowed tag "manifests" with a trailing
// slash, and the gate's rewrite of the spelled path made it a manifest of
// team/app/manifests, a repository the token does not reach (an oracle of
// what it holds, past its gate).
func TestTrailingSlashServesTheRouteRead(t *testing.T) {
	dir := t.TempDir()
	kp, held := signingPolicy(t, dir, "held", "**")
	s := startServe(t, "", "--quarantine", "team/**="+held, "--scan-workers", "1")
	push := s.token(t, "team/**", store.RolePush)
	exact := s.token(t, "team/app", store.RolePull)
	img := randomImage(t)
	d := s.push(t, "team/app:manifests", s.admin, img)
	s.waitJob(t, store.JobScan, s.addr+"/team/app", d)
	s.signImage(t, "team/app", d, push, kp)
	s.waitJob(t, store.JobVerify, s.addr+"/team/app", d)
	eventually(t, "team/app:manifests allowed", func() string {
		if code, body := s.request(t, http.MethodGet, "/v2/team/app/manifests/manifests", exact, "", nil, ""); code != http.StatusOK {
			return fmt.Sprintf("%d %s", code, body)
		}
		return ""
	})
	// read as team/app's tag: answered from team/app (the rewrite of the
	// spelled path asked team/app/manifests, which has no such digest)
	code, body := s.request(t, http.MethodGet, "/v2/team/app/manifests/manifests/", exact, "", nil, "")
	if code != http.StatusOK || !strings.Contains(body, `"schemaVersion"`) {
		t.Errorf("team/app's allowed tag asked with a trailing slash: %d %.200s", code, body)
	}
}
