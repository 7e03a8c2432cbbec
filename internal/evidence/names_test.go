package evidence

import (
	"strings"
	"testing"
)

// Every spelling of one registry names one repository; names that are
// not registry names pass unchanged.
func TestCanonicalRepository(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"REGISTRY.EXAMPLE/team/app", "registry.example/team/app"},
		{"registry.example:443/team/app", "registry.example/team/app"},
		{"registry.example./team/app", "registry.example/team/app"},
		{"registry.example:5000/team/app", "registry.example:5000/team/app"},
		{"localhost:5000/team/app", "127.0.0.1:5000/team/app"},
		{"LocalHost:5000/team/app", "127.0.0.1:5000/team/app"},
		{"127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app"},
		{"docker.io/acme/app", "index.docker.io/acme/app"},
		{"registry-1.docker.io/acme/app", "index.docker.io/acme/app"},
		{"registry.hub.docker.com/acme/app", "index.docker.io/acme/app"},
		{"index.docker.io/nginx", "index.docker.io/library/nginx"},
		{"docker.io/nginx", "index.docker.io/library/nginx"},
		{"[::1]:5000/app", "[::1]:5000/app"},
		{"[::1]:443/app", "[::1]/app"},
		{"[0:0:0:0:0:0:0:1]:5000/app", "[::1]:5000/app"},
		{"[0::1]:5000/app", "[::1]:5000/app"},
		{"[::FFFF:127.0.0.1]:5000/app", "127.0.0.1:5000/app"},
		{"127.0.0.1:05000/team/app", "127.0.0.1:5000/team/app"},
		{"registry.example:0443/team/app", "registry.example/team/app"},
		// numbers that are not an address as written everywhere name no registry
		{"127.1:5000/team/app", "127.1:5000/team/app"},
		{"127.000.000.001:5000/team/app", "127.000.000.001:5000/team/app"},
		// not registry names
		{"oci-layout:/tmp/dir", "oci-layout:/tmp/dir"},
		{"docker-archive:/tmp/image.tar", "docker-archive:/tmp/image.tar"},
		{"team/app", "team/app"},
		{"app", "app"},
		{"**", "**"},
		{"*.example/**", "*.example/**"},
		{"index.docker.io/**", "index.docker.io/**"},
	} {
		if got := CanonicalRepository(c.in); got != c.want {
			t.Errorf("CanonicalRepository(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for host, want := range map[string]bool{"127.0.0.1:5000": true, "[::1]:5000": true, "registry.example": true, "1.example": true,
		"127.1:5000": false, "127.000.000.001": false, "2130706433:5000": false, "0x7f.1:5000": false} {
		if ValidHost(host) != want {
			t.Errorf("ValidHost(%q) = %v, want %v", host, !want, want)
		}
	}
	s, err := ParseSubject("Registry.Example:443/team/app@sha256:" + strings.Repeat("a", 64))
	if err != nil || s.Repository != "registry.example/team/app" {
		t.Errorf("ParseSubject: %+v, %v", s, err)
	}
}

// Canonical names are a fixed point: canonicalising twice changes
// nothing, and never panics.
func FuzzCanonicalRepository(f *testing.F) {
	for _, s := range []string{"REGISTRY.EXAMPLE:443/a/b", "docker.io/x", "oci-layout:/d", "[::1]:80/a", "localhost/a", "a:/b", ":/", "[/", "]:443/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		once := CanonicalRepository(name)
		if twice := CanonicalRepository(once); twice != once {
			t.Errorf("CanonicalRepository(%q) = %q, then %q", name, once, twice)
		}
	})
}

// An image reference names its repository as a container runtime reads
// it: a port is not a tag, Docker Hub is the default, spellings agree.
func TestImageRepository(t *testing.T) {
	for image, want := range map[string]string{
		"127.0.0.1:5000/team/app:v1":              "127.0.0.1:5000/team/app",
		"localhost:5000/team/app@sha256:abc":      "127.0.0.1:5000/team/app",
		"REGISTRY.EXAMPLE:443/team/app:v1@sha256": "registry.example/team/app",
		"busybox":                   "index.docker.io/library/busybox",
		"busybox:1.36":              "index.docker.io/library/busybox",
		"docker.io/acme/app:v2":     "index.docker.io/acme/app",
		"acme/app":                  "index.docker.io/acme/app",
		"registry.example/team/app": "registry.example/team/app",
	} {
		if got := ImageRepository(image); got != want {
			t.Errorf("ImageRepository(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestSplitTag(t *testing.T) {
	for ref, want := range map[string][2]string{
		"registry.example/team/app:v1":      {"registry.example/team/app", "v1"},
		"localhost:5000/app:v1.2":           {"localhost:5000/app", "v1.2"},
		"app:latest":                        {"app", "latest"},
		"localhost:5000/app":                {},
		"registry.example/app@sha256:abcd":  {},
		"registry.example/app:v1@sha256:ab": {},
		"app:":                              {},
		":v1":                               {},
	} {
		repository, tag, ok := SplitTag(ref)
		if ok != (want != [2]string{}) || repository != want[0] || tag != want[1] {
			t.Errorf("SplitTag(%q) = %q, %q, %v; want %q", ref, repository, tag, ok, want)
		}
	}
}
