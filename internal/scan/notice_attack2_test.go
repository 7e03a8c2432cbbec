package scan

import (
	"context"
	"testing"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// A record that is no notice but names a notice's ID among its aliases
// shares the notice's finding. The notice's CVEs that no other record
// matched must still be named by some finding: whether the notice joined
// another CVE's finding or stands alone, a record aliasing it must not
// make them disappear.
func TestAttackNoticeCVEsSurviveARecordAliasingTheNotice(t *testing.T) {
	purl := "pkg:deb/debian/foo@1.0-1?distro=debian-11"
	dsa := osRecord("DSA-9999-1", "Debian:11", "foo", "1.0-2")
	dsa.Aliases = []string{"CVE-2099-1001", "CVE-2099-1002"}
	a := osRecord("DEBIAN-CVE-2099-1001", "Debian:11", "foo", "1.0-2")
	a.Upstream = []string{"CVE-2099-1001"}
	// names the DSA, no CVE
	aliasing := osRecord("DLA-9999-1", "Debian:11", "foo", "1.0-2")
	aliasing.Aliases = []string{"DSA-9999-1"}

	for _, c := range []struct {
		name string
		db   []string
		want []string
	}{
		{"joined to one CVE's finding", nil, []string{"CVE-2099-1001", "CVE-2099-1002"}},
		{"standing alone", []string{"alone"}, []string{"CVE-2099-1001", "CVE-2099-1002"}},
	} {
		db := attackDB(t, nil, dsa, a, aliasing)
		if c.db != nil {
			db = attackDB(t, nil, dsa, aliasing)
		}
		m, err := Match(context.Background(), db, []evidence.Component{{PURL: purl}})
		if err != nil {
			t.Fatal(err)
		}
		named := map[string]int{}
		for _, f := range m.Findings {
			t.Logf("%s: finding %s advisories %v aliases %v", c.name, f.ID, f.Advisories, f.Aliases)
			for _, id := range f.IDs() {
				named[id]++
			}
		}
		for _, cve := range c.want {
			if named[cve] != 1 {
				t.Errorf("%s: %s named by %d findings, want 1", c.name, cve, named[cve])
			}
		}
	}
}
