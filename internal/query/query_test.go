package query

import (
	"strings"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/store"
)

func TestParseComponent(t *testing.T) {
	cases := []struct {
		in, what string
		rng      []Constraint
	}{
		{"pkg:npm/lodash", "pkg:npm/lodash", nil},
		{"pkg:npm/lodash@<4.17.21", "pkg:npm/lodash", []Constraint{{"<", "4.17.21"}}},
		{"pkg:npm/%40babel/core@>=7.0.0,<7.5", "pkg:npm/%40babel/core", []Constraint{{">=", "7.0.0"}, {"<", "7.5"}}},
		{"pkg:deb/debian/xz-utils?distro=debian-12", "pkg:deb/debian/xz-utils", nil},
		{"xz-utils@5.4.1-1", "xz-utils", []Constraint{{"=", "5.4.1-1"}}},
		{"  golang.org/x/text@!=0.3.5 ", "golang.org/x/text", []Constraint{{"!=", "0.3.5"}}},
	}
	for _, c := range cases {
		spec, err := ParseComponent(c.in)
		if err != nil || spec.What != c.what || len(spec.Range) != len(c.rng) {
			t.Errorf("%q: %+v %v", c.in, spec, err)
			continue
		}
		for i := range c.rng {
			if spec.Range[i] != c.rng[i] {
				t.Errorf("%q: constraint %d is %+v, want %+v", c.in, i, spec.Range[i], c.rng[i])
			}
		}
	}
	for _, bad := range []string{"", "  ", "pkg:", "@1.0", "lodash@", "lodash@<", "lodash@1.0,,2.0"} {
		if _, err := ParseComponent(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRangeInEcosystemOrder(t *testing.T) {
	spec, _ := ParseComponent("x@>=1.2.0,<1.10.0")
	for _, c := range []struct {
		base, version string
		want          bool
	}{
		{"pkg:npm/x", "1.9.0", true},         // semver, not string order
		{"pkg:npm/x", "1.10.0", false},       // the bound is exclusive
		{"pkg:npm/x", "1.2.0-rc.1", false},   // a pre-release sorts before 1.2.0
		{"pkg:deb/debian/x", "1:1.0", false}, // a Debian epoch outranks the version
		{"pkg:deb/debian/x", "1.9~rc1", true},
	} {
		got, err := inRange(c.base, c.version, spec.Range)
		if err != nil || got != c.want {
			t.Errorf("%s %s in %+v: %v %v, want %v", c.base, c.version, spec.Range, got, err, c.want)
		}
	}
}

func TestIdentityExpressionBounded(t *testing.T) {
	if _, err := IdentityExpression(strings.Repeat("a", maxExpression+1)); err == nil {
		t.Error("an over-long expression was accepted")
	}
	if _, err := IdentityExpression("(a"); err == nil {
		t.Error("an expression that does not compile was accepted")
	}
}

func TestTagAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	history := []store.TagMove{{Digest: "sha256:a", ObservedAt: t0}, {Digest: "sha256:b", ObservedAt: t0.Add(time.Hour)}}
	for _, c := range []struct {
		at   time.Time
		want string
	}{{t0.Add(-time.Second), ""}, {t0, "sha256:a"}, {t0.Add(30 * time.Minute), "sha256:a"}, {t0.Add(time.Hour), "sha256:b"}} {
		m, ok := TagAt(history, c.at)
		if (c.want == "") == ok || m.Digest != c.want {
			t.Errorf("at %s: %+v %v, want %q", c.at, m, ok, c.want)
		}
	}
}

// FuzzParseComponent: any text gives a spec or an error, never a panic.
func FuzzParseComponent(f *testing.F) {
	for _, s := range []string{"pkg:npm/lodash@<4.17.21", "xz-utils", "a@>=1,<2", "pkg:x/y?z#w@1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseComponent(s)
		if err == nil && spec.What == "" {
			t.Fatalf("%q: accepted with no package", s)
		}
	})
}
