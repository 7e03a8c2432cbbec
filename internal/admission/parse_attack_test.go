package admission

import "testing"

func TestAttackParseImageSpellings(t *testing.T) {
	for _, s := range []string{
		"[::1]:5000/team/app:v1", "[0:0:0:0:0:0:0:1]:5000/team/app:v1", "[0::1]:5000/team/app:v1", "[::A]:5000/team/app:v1", "[::a]:5000/team/app:v1",
		"127.0.0.1:5000/team/app:v1", "127.1:5000/team/app:v1", "127.000.000.001:5000/team/app:v1", "LOCALHOST:5000/team/app:v1", "localhost:5000/team/app:v1",
		"localhost/team/app:v1", "localhost:443/team/app:v1", "127.0.0.1:443/team/app:v1", "127.0.0.1:80/team/app:v1",
		"docker.io:443/busybox", "Docker.IO/busybox", "index.docker.io/busybox", "registry-1.docker.io/busybox", "busybox:1@sha256:" + "0123456789012345678901234567890123456789012345678901234567890123",
		"example.com:0443/x", "example.com:00443/x", "example.com:443/x", "EXAMPLE.com/x", "xn--e1afmkfd.com/x", "example.com:5000/x", "example.com:+5000/x",
		"busybox@sha256:" + "0123456789012345678901234567890123456789012345678901234567890123",
		"busybox:latest", "library/busybox", "docker.io/library/busybox:latest",
	} {
		ref, err := ParseImage(s)
		if err != nil {
			t.Logf("%-60s -> ERR %v", s, err)
			continue
		}
		t.Logf("%-60s -> %s (registry %s)", s, ref.Name(), ref.Context().RegistryStr())
	}
}
