package sbom

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// cycloneDXVersions are the specification versions dossier reads.
var cycloneDXVersions = []string{"1.4", "1.5", "1.6", "1.7"}

func decodeCycloneDX(data []byte) (*evidence.Document, error) {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return nil, &Error{Err: fmt.Errorf("invalid CycloneDX JSON: %w", err)}
	}
	version := bom.SpecVersion.String()
	if !slices.Contains(cycloneDXVersions, version) {
		return nil, &Error{Where: "specVersion", Err: fmt.Errorf("CycloneDX %s is not supported (want %s)", version, strings.Join(cycloneDXVersions, ", "))}
	}
	doc := &evidence.Document{SpecVersion: version, Components: []evidence.Component{}}
	if m := bom.Metadata; m != nil {
		doc.Created = m.Timestamp
		doc.Tool = cycloneDXTool(m.Tools)
		if c := m.Component; c != nil {
			doc.SubjectName = c.Name
			doc.Subject = subjectFromPURL(c.PackageURL, c.Name)
			if doc.Subject == nil && c.Type == cdx.ComponentTypeContainer && evidence.ValidDigest(c.Version) {
				doc.Subject = &evidence.Subject{Repository: c.Name, Digest: c.Version}
			}
		}
	}
	if bom.Components != nil {
		if err := appendCycloneDX(doc, *bom.Components, "components"); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// appendCycloneDX flattens nested components. File components describe
// files, not software, and are left out of the component model.
func appendCycloneDX(doc *evidence.Document, comps []cdx.Component, path string) error {
	for i, c := range comps {
		where := fmt.Sprintf("%s[%d]", path, i)
		if c.Name == "" {
			return &Error{Where: where, Err: fmt.Errorf("component has no name")}
		}
		if c.Type != cdx.ComponentTypeFile {
			purl, err := canonicalPURL(c.PackageURL, where+".purl")
			if err != nil {
				return err
			}
			doc.Components = append(doc.Components, evidence.Component{
				Name:      c.Name,
				Version:   c.Version,
				Type:      cycloneDXType(c),
				PURL:      purl,
				Licenses:  cycloneDXLicenses(c.Licenses),
				Locations: cycloneDXLocations(c.Properties),
			})
		}
		if c.Components != nil {
			if err := appendCycloneDX(doc, *c.Components, where+".components"); err != nil {
				return err
			}
		}
	}
	return nil
}

// cycloneDXType prefers syft's finer package type when the SBOM records it.
func cycloneDXType(c cdx.Component) string {
	if c.Properties != nil {
		for _, p := range *c.Properties {
			if p.Name == "syft:package:type" {
				return p.Value
			}
		}
	}
	return string(c.Type)
}

func cycloneDXLicenses(ls *cdx.Licenses) []string {
	if ls == nil {
		return nil
	}
	var out []string
	for _, l := range *ls {
		switch {
		case l.Expression != "":
			out = append(out, l.Expression)
		case l.License != nil:
			out = append(out, nonEmpty(l.License.ID, l.License.Name)...)
		}
	}
	return out
}

func cycloneDXLocations(props *[]cdx.Property) []string {
	if props == nil {
		return nil
	}
	var out []string
	for _, p := range *props {
		if strings.HasPrefix(p.Name, "syft:location:") && strings.HasSuffix(p.Name, ":path") {
			out = append(out, p.Value)
		}
	}
	return out
}

func cycloneDXTool(tools *cdx.ToolsChoice) string {
	if tools == nil {
		return ""
	}
	if tools.Components != nil && len(*tools.Components) > 0 {
		t := (*tools.Components)[0]
		return strings.TrimSpace(t.Name + " " + t.Version)
	}
	if tools.Tools != nil && len(*tools.Tools) > 0 {
		t := (*tools.Tools)[0]
		return strings.TrimSpace(t.Name + " " + t.Version)
	}
	return ""
}
