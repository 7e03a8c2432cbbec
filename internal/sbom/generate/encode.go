package generate

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/syft/syft/format/common/cyclonedxhelpers"
	"github.com/anchore/syft/syft/format/common/spdxhelpers"
	"github.com/anchore/syft/syft/format/syftjson"
	"github.com/google/uuid"
	"github.com/package-url/packageurl-go"
	"github.com/spdx/tools-golang/spdx/v2/common"

	"github.com/dossier-dev/dossier/internal/oci"
)

// Formats are the SBOM encodings Encode writes.
var Formats = []string{"cyclonedx-json", "spdx-json", "syft-json"}

// Encode writes the SBOM in format. Everything that varies between runs in
// other tools (serial numbers, namespaces, timestamps) is derived from the
// subject, the tool version and Created, so equal inputs give equal bytes.
func (r *Result) Encode(w io.Writer, format string) error {
	switch format {
	case "cyclonedx-json":
		return r.encodeCycloneDX(w)
	case "spdx-json":
		return r.encodeSPDX(w)
	case "syft-json":
		return r.encodeSyftJSON(w)
	default:
		return fmt.Errorf("unknown SBOM format %q (want one of %s)", format, strings.Join(Formats, ", "))
	}
}

// documentID is a name-based UUID: stable for the same subject, tool and time.
func (r *Result) documentID(format string) uuid.UUID {
	seed := strings.Join([]string{format, r.Subject.String(), r.Tool.Version, r.Created.Format(time.RFC3339)}, "\n")
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(seed))
}

// SubjectPURL names an image subject as a pkg:oci purl, the form
// CycloneDX metadata.component and SPDX external references use.
func (r *Result) SubjectPURL() string {
	if !r.source.IsImage() || r.Subject.Digest == "" {
		return ""
	}
	repo := r.Subject.Repository
	nameStart := strings.LastIndexAny(repo, "/:") + 1
	var q packageurl.Qualifiers
	if arch := archOf(r.Platform); arch != "" {
		q = append(q, packageurl.Qualifier{Key: "arch", Value: arch})
	}
	if r.source.Kind == oci.KindRegistry {
		q = append(q, packageurl.Qualifier{Key: "repository_url", Value: repo})
	}
	if r.Tag != "" {
		q = append(q, packageurl.Qualifier{Key: "tag", Value: r.Tag})
	}
	purl := packageurl.NewPackageURL("oci", "", strings.ToLower(repo[nameStart:]), r.Subject.Digest, q, "").ToString()
	// The purl specification writes the digest's colon percent-encoded
	// (pkg:oci/debian@sha256%3A…); packageurl-go leaves it bare.
	return strings.Replace(purl, "@"+r.Subject.Digest, "@"+strings.Replace(r.Subject.Digest, ":", "%3A", 1), 1)
}

func archOf(platform string) string {
	parts := strings.Split(platform, "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

func (r *Result) encodeCycloneDX(w io.Writer) error {
	bom := cyclonedxhelpers.ToFormatModel(*r.sbom)
	bom.SerialNumber = r.documentID("cyclonedx").URN()
	bom.Metadata.Timestamp = r.Created.Format(time.RFC3339)
	bom.Metadata.Tools = &cdx.ToolsChoice{Components: &[]cdx.Component{
		{Type: cdx.ComponentTypeApplication, Name: "dossier", Version: r.Tool.Version},
		{Type: cdx.ComponentTypeLibrary, Author: "anchore", Name: "syft", Version: r.Tool.Syft},
	}}
	if c := bom.Metadata.Component; c != nil {
		c.Name = r.Subject.Repository
		c.Version = r.Subject.Digest
		c.PackageURL = r.SubjectPURL()
	}
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	enc.SetEscapeHTML(false)
	return enc.EncodeVersion(bom, cdx.SpecVersion1_6)
}

func (r *Result) encodeSPDX(w io.Writer) error {
	doc := spdxhelpers.ToFormatModel(*r.sbom)
	if doc == nil {
		return fmt.Errorf("%s: cannot express the SBOM as SPDX", r.Subject)
	}
	kind := strings.SplitN(r.Subject.Repository, ":", 2)[0]
	if r.source.Kind == oci.KindRegistry {
		kind = "image"
	}
	doc.DocumentNamespace = fmt.Sprintf("https://github.com/dossier-dev/dossier/spdx/%s/%s", kind, r.documentID("spdx"))
	doc.CreationInfo.Created = r.Created.Format(time.RFC3339)
	doc.CreationInfo.Creators = []common.Creator{
		{CreatorType: "Tool", Creator: "dossier-" + r.Tool.Version},
		{CreatorType: "Tool", Creator: "syft-" + r.Tool.Syft},
	}
	if purl := r.SubjectPURL(); purl != "" {
		for _, p := range doc.Packages {
			for _, ref := range p.PackageExternalReferences {
				if ref.RefType == "purl" && strings.HasPrefix(ref.Locator, "pkg:oci/") {
					ref.Locator = purl
				}
			}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	return enc.Encode(doc)
}

func (r *Result) encodeSyftJSON(w io.Writer) error {
	doc := syftjson.ToFormatModel(*r.sbom, syftjson.DefaultEncoderConfig())
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	return enc.Encode(doc)
}
