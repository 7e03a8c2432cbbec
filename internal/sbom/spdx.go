package sbom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// spdxVersions are the SPDX versions dossier reads.
var spdxVersions = []string{"SPDX-2.2", "SPDX-2.3"}

func decodeSPDX(data []byte) (*evidence.Document, error) {
	var probe struct {
		SPDXVersion string            `json:"spdxVersion"`
		Packages    []json.RawMessage `json:"packages"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, &Error{Err: fmt.Errorf("invalid SPDX JSON: %w", err)}
	}
	for i, p := range probe.Packages {
		if string(p) == "null" {
			return nil, &Error{Where: fmt.Sprintf("packages[%d]", i), Err: fmt.Errorf("null package")}
		}
	}
	if !slices.Contains(spdxVersions, probe.SPDXVersion) {
		return nil, &Error{Where: "spdxVersion", Err: fmt.Errorf("%s is not supported (want %s)", probe.SPDXVersion, strings.Join(spdxVersions, ", "))}
	}
	d, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		return nil, &Error{Err: fmt.Errorf("invalid SPDX JSON: %w", err)}
	}
	doc := &evidence.Document{SpecVersion: strings.TrimPrefix(probe.SPDXVersion, "SPDX-"), SubjectName: d.DocumentName, Components: []evidence.Component{}}
	if ci := d.CreationInfo; ci != nil {
		doc.Created = ci.Created
		for _, c := range ci.Creators {
			if c.CreatorType == "Tool" {
				doc.Tool = c.Creator
				break
			}
		}
	}
	described := spdxDescribed(d)
	for i, p := range d.Packages {
		if p == nil {
			return nil, &Error{Where: fmt.Sprintf("packages[%d]", i), Err: fmt.Errorf("null package")}
		}
		purl, err := canonicalPURL(spdxPURL(p), fmt.Sprintf("packages[%d] (%s).externalRefs", i, p.PackageSPDXIdentifier))
		if err != nil {
			return nil, err
		}
		if described[p.PackageSPDXIdentifier] && doc.Subject == nil {
			if s := spdxSubject(p, purl); s != nil {
				doc.Subject = s
				doc.SubjectName = p.PackageName
				continue
			}
		}
		doc.Components = append(doc.Components, evidence.Component{
			Name:     p.PackageName,
			Version:  p.PackageVersion,
			Type:     strings.ToLower(p.PrimaryPackagePurpose),
			PURL:     purl,
			Licenses: nonEmpty(p.PackageLicenseConcluded, p.PackageLicenseDeclared),
		})
	}
	for i := range doc.Components {
		doc.Components[i].Licenses = slices.Compact(doc.Components[i].Licenses)
	}
	return doc, nil
}

// spdxDescribed returns the elements the document DESCRIBES.
func spdxDescribed(d *spdx.Document) map[spdx.ElementID]bool {
	out := map[spdx.ElementID]bool{}
	for _, r := range d.Relationships {
		if r == nil {
			continue
		}
		switch {
		case r.Relationship == "DESCRIBES" && r.RefA.ElementRefID == "DOCUMENT":
			out[r.RefB.ElementRefID] = true
		case r.Relationship == "DESCRIBED_BY" && r.RefB.ElementRefID == "DOCUMENT":
			out[r.RefA.ElementRefID] = true
		}
	}
	return out
}

func spdxPURL(p *spdx.Package) string {
	for _, ref := range p.PackageExternalReferences {
		if ref != nil && ref.RefType == "purl" {
			return ref.Locator
		}
	}
	return ""
}

// spdxSubject reads an image subject from the described package: its
// pkg:oci purl, or a container package with a SHA-256 checksum.
func spdxSubject(p *spdx.Package, purl string) *evidence.Subject {
	if s := subjectFromPURL(purl, p.PackageName); s != nil {
		return s
	}
	if !strings.EqualFold(p.PrimaryPackagePurpose, "CONTAINER") {
		return nil
	}
	for _, c := range p.PackageChecksums {
		if c.Algorithm == "SHA256" {
			return &evidence.Subject{Repository: p.PackageName, Digest: "sha256:" + strings.ToLower(c.Value)}
		}
	}
	return nil
}
