package version

import "testing"

// Real version strings from each ecosystem's packages and advisories.
func TestCompare(t *testing.T) {
	tests := []struct {
		eco, a, b string
		want      int
	}{
		// Go modules: SemVer with pseudo-versions and +incompatible
		{"Go", "v0.3.5", "0.3.7", -1},
		{"Go", "v0.0.0-20210226172049-e18ecbb05110", "0.7.0", -1},
		{"Go", "v0.0.0-20210226172049-e18ecbb05110", "0.0.0-20210520170846-37e1c6afe023", -1},
		{"Go", "1.26.8", "1.21.0-0", 1},
		{"Go", "v2.0.0+incompatible", "2.0.0", 0},
		// npm: SemVer pre-releases sort before the release
		{"npm", "4.17.20", "4.17.21", -1},
		{"npm", "1.2.5", "1.2.6", -1},
		{"npm", "2.0.0-beta.1", "2.0.0", -1},
		{"npm", "2.0.0-alpha.10", "2.0.0-alpha.9", 1},
		// PyPI: PEP 440
		{"PyPI", "1.26.4", "1.26.5", -1},
		{"PyPI", "2.0.0rc1", "2.0.0", -1},
		{"PyPI", "1.0.post1", "1.0", 1},
		{"PyPI", "1.0.dev0", "1.0a1", -1},
		{"PyPI", "1!0.1", "2.0", 1},
		{"PyPI", "5.4", "5.4.0", 0},
		// Maven: ComparableVersion
		{"Maven", "2.14.1", "2.15.0", -1},
		{"Maven", "2.0.0-beta9", "2.0.0", -1},
		{"Maven", "1.0-RC1", "1.0-SNAPSHOT", -1}, // rc < snapshot < release
		{"Maven", "1.0.Final", "1.0", 0},
		// Debian: epochs and tildes
		{"Debian:12", "3.0.11-1~deb12u2", "3.0.11-1", -1},
		{"Debian", "1:1.2.13.dfsg-1", "1.2.13.dfsg-1", 1},
		{"Debian", "5.4.1-1+deb12u2", "5.4.1-1", 1},
		{"Debian", "1.14.1-1", "1.2.1-1", 1},
		// Alpine: apk, including the -r release the semantic package ignores
		{"Alpine:v3.18", "3.1.4-r0", "3.1.4-r1", -1},
		{"Alpine", "1.2.3-r0", "1.2.3", 1},
		{"Alpine", "1.2.3", "1.2.3-r0", -1},
		{"Alpine", "2.39_p1-r0", "2.39-r0", 1},
		// RPM: epoch:version-release
		{"AlmaLinux:9", "1:3.0.1-43.el9_0", "1:3.0.1-41.el9_0", 1},
		{"AlmaLinux:9", "1:3.0.1-43.el9_0", "3.0.7-1.el9", 1},
		{"Rocky Linux:8", "2.28-225.el8", "2.28-225.el8_8.6", -1},
		// crates.io: SemVer
		{"crates.io", "0.10.45", "0.10.55", -1},
		{"crates.io", "111.22.0+1.1.1q", "111.22.0+1.1.1r", 0},
		// RubyGems, NuGet, Packagist
		{"RubyGems", "1.13.0.rc1", "1.13.0", -1},
		{"NuGet", "4.7.0-preview1", "4.7.0", -1},
		{"Packagist", "5.4.8", "5.4.10", -1},
	}
	for _, tt := range tests {
		got, err := Compare(tt.eco, tt.a, tt.b)
		if err != nil {
			t.Errorf("%s: %s vs %s: %v", tt.eco, tt.a, tt.b, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: compare(%s, %s) = %d, want %d", tt.eco, tt.a, tt.b, got, tt.want)
		}
	}
}

func TestUnknownEcosystem(t *testing.T) {
	if _, err := Parse("Nonesuch", "1.0"); err == nil {
		t.Fatal("want an error for an unknown ecosystem")
	}
}

func FuzzCompare(f *testing.F) {
	for _, s := range [][3]string{
		{"Go", "v0.3.5", "0.3.7"}, {"PyPI", "1!2.0rc1.post3.dev4", "2"}, {"Maven", "1.0-RC1", "1-SNAPSHOT"},
		{"Debian", "1:1.2.13.dfsg-1~", "0"}, {"Alpine", "2.39_p1-r0", "2.39-r0"}, {"AlmaLinux", "1:3.0.1-43.el9_0", "0"},
		{"npm", "2.0.0-alpha.10", "2.0.0"}, {"RubyGems", "1.13.0.rc1", "1"}, {"NuGet", "4.7.0-preview1", "4"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, eco, a, b string) {
		v, err := Parse(eco, a)
		if err != nil {
			return
		}
		c, err := v.Compare(b)
		if err != nil {
			return
		}
		if c < -1 || c > 1 {
			t.Fatalf("compare returned %d", c)
		}
	})
}
