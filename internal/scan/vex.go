package scan

import (
	"fmt"
	"strings"

	"github.com/openvex/go-vex/pkg/vex"
	"github.com/package-url/packageurl-go"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// VEX is a loaded OpenVEX document.
type VEX struct {
	path string
	doc  *vex.VEX
}

// LoadVEX reads an OpenVEX document (any version go-vex reads).
func LoadVEX(path string) (*VEX, error) {
	doc, err := vex.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable OpenVEX document: %w", path, err)
	}
	for i := range doc.Statements {
		if err := doc.Statements[i].Validate(); err != nil {
			return nil, fmt.Errorf("%s: statements[%d]: %w", path, i, err)
		}
	}
	return &VEX{path: path, doc: doc}, nil
}

// Apply suppresses findings that a not_affected or fixed statement covers:
// the statement names one of the finding's IDs and, as product, the scanned
// image (pkg:oci purl or repository@digest) with the component as a
// subcomponent, or the component itself. The latest matching statement
// wins, so a later "affected" undoes an earlier "not_affected".
func (v *VEX) Apply(findings []evidence.Finding, subject *evidence.Subject) {
	products := subjectProducts(subject)
	for i := range findings {
		f := &findings[i]
		if f.Suppression != nil {
			continue
		}
		if st := v.effective(f, products); st != nil && (st.Status == vex.StatusNotAffected || st.Status == vex.StatusFixed) {
			f.Suppression = &evidence.Suppression{
				Kind: "vex", Status: string(st.Status), Justification: string(st.Justification),
				Reason: st.ImpactStatement, Source: v.path,
			}
		}
	}
}

func (v *VEX) effective(f *evidence.Finding, products []string) *vex.Statement {
	var matched []vex.Statement
	for _, id := range f.IDs() {
		for _, p := range products {
			matched = append(matched, v.doc.Matches(id, p, []string{f.Component.PURL})...)
		}
		if f.Component.PURL != "" {
			matched = append(matched, v.doc.Matches(id, f.Component.PURL, nil)...)
		}
	}
	if len(matched) == 0 {
		return nil
	}
	var t = v.doc.Timestamp
	if t != nil {
		vex.SortStatements(matched, *t)
	}
	return &matched[len(matched)-1]
}

// subjectProducts lists the names a VEX document may use for the image.
func subjectProducts(s *evidence.Subject) []string {
	if s == nil || s.Digest == "" {
		return nil
	}
	name := s.Repository[strings.LastIndexAny(s.Repository, "/:")+1:]
	bare := packageurl.NewPackageURL("oci", "", strings.ToLower(name), s.Digest, nil, "").ToString()
	withRepo := packageurl.NewPackageURL("oci", "", strings.ToLower(name), s.Digest,
		packageurl.Qualifiers{{Key: "repository_url", Value: s.Repository}}, "").ToString()
	return []string{s.String(), bare, withRepo}
}
