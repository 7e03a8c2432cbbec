package security

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/store"
)

// review is the webhook's answer to one Pod's AdmissionReview.
type review struct {
	Allowed bool   `json:"allowed"`
	Patch   []byte `json:"patch"`
	Result  *struct {
		Message string `json:"message"`
	} `json:"status"`
	Warnings []string `json:"warnings"`
}

func (r review) message() string {
	if r.Result == nil {
		return ""
	}
	return r.Result.Message
}

// admit sends the webhook a Pod with one container running image.
func (s *server) admit(t *testing.T, operation, image string) review {
	t.Helper()
	body := fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1","operation":"CREATE",
"kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"prod","name":"web","object":{"metadata":{"name":"web","namespace":"prod"},
"spec":{"containers":[{"name":"app","image":%q}]}}}}`, image)
	resp, err := s.client.Post(s.scheme+"://"+s.webhook+"/admission/"+operation, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var answer struct {
		Response review `json:"response"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(out, &answer) != nil {
		t.Fatalf("%s of %s: %d %s", operation, image, resp.StatusCode, out)
	}
	return answer.Response
}

// Class 3: every spelling of a registry meets the policies written for
// it. The webhook runs with unclaimed images allowed, so that a spelling
// the policies failed to claim would be admitted unjudged: each must be
// judged (denied here, the image being unsigned) and pinned to the
// canonical name; once signed, the same spellings are admitted.
func TestAdmissionSpellings(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	runDossier(t, "webhook", "certificate", "--host", "127.0.0.1", "--out-dir", certs)
	policies := filepath.Join(dir, "policies")
	if err := os.MkdirAll(policies, 0o700); err != nil {
		t.Fatal(err)
	}
	kp, _ := signingPolicy(t, policies, "team", "127.0.0.1:*/team/**")
	signingPolicy(t, policies, "hub", "docker.io/acme/**", "DOCKER.IO/library/nginx")
	s := startServe(t, certs, "--policy", policies, "--unclaimed", "allow", "--evidence-ttl", "1s")
	_, port, _ := strings.Cut(s.addr, ":")
	push := s.token(t, "team/**", store.RolePush)
	s.login(t, s.token(t, "team/**", store.RolePull))
	digest := s.push(t, "team/app:v1", push, randomImage(t))
	canonical := s.addr + "/team/app@" + digest

	spellings := []string{
		s.addr + "/team/app:v1",
		"localhost:" + port + "/team/app:v1",
		"LOCALHOST:" + port + "/team/app:v1",
		"LocalHost:" + port + "/team/app@" + digest,
		s.addr + "/team/app@" + digest,
	}
	for _, image := range spellings {
		r := s.admit(t, "validate", image)
		if r.Allowed || !strings.Contains(r.message(), "policy team rule signed") {
			t.Errorf("%s: admitted or not judged by the team policy: %+v %s", image, r, r.message())
		}
		// pinned to the canonical digest reference (already so: untouched)
		m := s.admit(t, "mutate", image)
		if image != canonical && !strings.Contains(string(m.Patch), canonical) || image == canonical && len(m.Patch) != 0 {
			t.Errorf("%s: not pinned to %s: %s", image, canonical, m.Patch)
		}
	}
	// Docker Hub's names: the hub policy claims each (its images cannot be
	// fetched from here, so each is denied as unverifiable, never admitted)
	for _, image := range []string{"registry-1.docker.io/acme/app:v1", "docker.io/acme/app:v1", "index.docker.io/acme/app:v1", "acme/app:v1",
		"registry.hub.docker.com/acme/app:v1", "nginx:1.27", "docker.io/library/nginx:1.27", "index.docker.io/nginx:1.27"} {
		if r := s.admit(t, "validate", image); r.Allowed || !strings.Contains(r.message(), "cannot be verified") {
			t.Errorf("%s: admitted, or not claimed by the hub policy: %+v %s", image, r, r.message())
		}
	}
	// what no policy claims is admitted only because this webhook says so
	if r := s.admit(t, "validate", "other.example/app:v1"); !r.Allowed {
		t.Errorf("an unclaimed image under --unclaimed=allow: %+v", r)
	}

	// the legitimate path: signed, every spelling is admitted
	s.signImage(t, "team/app", digest, push, kp)
	for _, image := range spellings {
		eventually(t, "admission of the signed "+image, func() string {
			if r := s.admit(t, "validate", image); !r.Allowed {
				return r.message()
			}
			return ""
		})
	}
}

// An image no policy claims is denied by default, with what to do.
func TestUnclaimedImagesDenied(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	runDossier(t, "webhook", "certificate", "--host", "127.0.0.1", "--out-dir", certs)
	_, policy := signingPolicy(t, dir, "team", "registry.example/team/**")
	s := startServe(t, certs, "--policy", policy)
	for _, image := range []string{"other.example/app:v1", "registry.example/elsewhere/app:v1", "busybox"} {
		r := s.admit(t, "validate", image)
		if r.Allowed || !strings.Contains(r.message(), "no policy matches") || !strings.Contains(r.message(), "add a policy whose images match") {
			t.Errorf("%s: %+v %s", image, r, r.message())
		}
	}
}
