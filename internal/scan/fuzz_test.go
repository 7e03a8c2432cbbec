package scan

import (
	"testing"
)

// MapPURL reads purls an image's author writes: it never panics, and what
// it maps is named by an ecosystem dossier matches, with a version, and
// with a release wherever that distribution's records name one — never a
// release-less wildcard over every release.
func FuzzMapPURL(f *testing.F) {
	for _, seed := range []string{
		"pkg:deb/debian/libssl3@3.0.22-1~deb12u2?arch=amd64&distro=debian-12.15&upstream=openssl",
		"pkg:deb/ubuntu/libssl1.1@1.1.1-1ubuntu2.1~18.04.23+esm3?upstream=openssl&distro=ubuntu-esm-infra/bionic",
		"pkg:apk/alpaquita/libcrypto3@3.3.2-r0?distro=alpaquita-23&upstream=openssl",
		"pkg:rpm/opensuse/libopenssl3@3.1.4-150600.5.15.1?distro=opensuse-leap-15.6&upstream=openssl-3-3.1.4-150600.5.15.1.src.rpm",
		"pkg:rpm/openEuler/openssl@3.0.12-15.oe2403sp1?distro=openEuler-24.03&upstream=-.src.rpm",
		"pkg:rpm/redhat/git-lfs@2.13.3-3.el8_6?distro=rhel-8.6&epoch=1",
		"pkg:rpm/sles/curl@8.6.0-1?distro=sles-15.6",
		"pkg:golang/stdlib@go1.26.8", "pkg:pypi/PyYAML@5.3.1", "pkg:deb/echo/x@1", "pkg:rpm/mariner/x@1?distro=mariner-",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, purl string) {
		pkg, err := MapPURL(purl)
		if err != nil {
			return
		}
		if !Matched(pkg.Ecosystem) || pkg.Version == "" {
			t.Fatalf("%q mapped to %+v", purl, pkg)
		}
		for _, d := range distributions {
			if d.ecosystem == pkg.Ecosystem && d.releases != nil && len(pkg.Releases) == 0 {
				t.Fatalf("%q mapped to %+v: %s names releases", purl, pkg, pkg.Ecosystem)
			}
		}
	})
}
