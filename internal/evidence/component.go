package evidence

// Component is one piece of software found in an artifact, whatever SBOM
// format described it. PURL is the key the rest of dossier matches on.
type Component struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// Type is the SBOM's own classification: "library", "application",
	// "operating-system", a syft package type such as "go-module", ….
	Type string `json:"type,omitempty"`
	// PURL is the package URL in canonical form; empty when the SBOM gave
	// none (such components cannot be matched and are reported as such).
	PURL      string   `json:"purl,omitempty"`
	Licenses  []string `json:"licenses,omitempty"`
	Locations []string `json:"locations,omitempty"`
}

// Ecosystem is the purl type ("golang", "npm", "deb", …) or "" without a purl.
func (c Component) Ecosystem() string {
	if c.PURL == "" {
		return ""
	}
	rest := c.PURL
	if len(rest) > 4 && rest[:4] == "pkg:" {
		rest = rest[4:]
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] == '/' {
			return rest[:i]
		}
	}
	return ""
}

// Document is an SBOM decoded into dossier's component model.
type Document struct {
	// Format is "cyclonedx-json", "spdx-json" or "syft-json".
	Format string `json:"format"`
	// SpecVersion is the version of the format's specification or schema.
	SpecVersion string `json:"specVersion,omitempty"`
	// Subject is the artifact the SBOM describes, when it names a digest.
	Subject *Subject `json:"subject,omitempty"`
	// SubjectName is the SBOM's own name for what it describes.
	SubjectName string `json:"subjectName,omitempty"`
	// Tool names the producer, "name version".
	Tool string `json:"tool,omitempty"`
	// Cataloguer names the cataloguer and settings of an SBOM dossier
	// made (generate.Cataloguer); empty for one made elsewhere.
	Cataloguer string      `json:"cataloguer,omitempty"`
	Created    string      `json:"created,omitempty"`
	Components []Component `json:"components"`
}
