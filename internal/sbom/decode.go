// Package sbom reads SBOMs (CycloneDX JSON 1.4–1.7, SPDX JSON 2.2–2.3 and
// syft JSON) into dossier's one component model, evidence.Document, and
// summarises them. Generation lives in package sbom/generate so that
// readers of SBOMs do not link the cataloguer.
package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/package-url/packageurl-go"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// MaxSize bounds how much of an SBOM is read (256 MiB).
const MaxSize = 256 << 20

// Format names, as accepted by -o and reported in Document.Format.
const (
	FormatCycloneDX = "cyclonedx-json"
	FormatSPDX      = "spdx-json"
	FormatSyft      = "syft-json"
)

// Error says which SBOM input failed and why.
type Error struct {
	Input  string
	Format string
	// Where locates the problem inside the document ("components[3].purl").
	Where string
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Input)
	if e.Format != "" {
		b.WriteString(" (" + e.Format + ")")
	}
	if e.Where != "" {
		b.WriteString(": " + e.Where)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrNotSBOM is wrapped when the input is JSON but no known SBOM format.
var ErrNotSBOM = errors.New("not a CycloneDX, SPDX or syft JSON SBOM")

// Decode reads an SBOM of any supported format; input names it in errors.
func Decode(r io.Reader, input string) (*evidence.Document, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, &Error{Input: input, Err: fmt.Errorf("reading: %w", err)}
	}
	if len(data) > MaxSize {
		return nil, &Error{Input: input, Err: fmt.Errorf("larger than %d MiB", MaxSize>>20)}
	}
	format, err := Detect(data)
	if err != nil {
		return nil, &Error{Input: input, Err: err}
	}
	doc, err := decodeFormat(format, data)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Input, e.Format = input, format
			return nil, e
		}
		return nil, &Error{Input: input, Format: format, Err: err}
	}
	doc.Format = format
	return doc, nil
}

// decodeFormat runs the decoder for format. The CycloneDX and SPDX
// libraries can panic on hostile documents (a null package, for one); such
// a panic becomes an error about the input, never a crash.
func decodeFormat(format string, data []byte) (doc *evidence.Document, err error) {
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, fmt.Errorf("malformed document: the %s parser failed: %v", format, r)
		}
	}()
	switch format {
	case FormatCycloneDX:
		return decodeCycloneDX(data)
	case FormatSPDX:
		return decodeSPDX(data)
	default:
		return decodeSyft(data)
	}
}

// Detect names the SBOM format of data from its top-level fields.
func Detect(data []byte) (string, error) {
	var probe struct {
		BOMFormat   string          `json:"bomFormat"`
		SPDXVersion string          `json:"spdxVersion"`
		Artifacts   json.RawMessage `json:"artifacts"`
		Descriptor  json.RawMessage `json:"descriptor"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return "", fmt.Errorf("not JSON: %w", jsonErrorAt(data, err))
	}
	switch {
	case probe.BOMFormat == "CycloneDX":
		return FormatCycloneDX, nil
	case strings.HasPrefix(probe.SPDXVersion, "SPDX-"):
		return FormatSPDX, nil
	case probe.Artifacts != nil && probe.Descriptor != nil:
		return FormatSyft, nil
	}
	return "", ErrNotSBOM
}

// jsonErrorAt adds the line of a syntax error.
func jsonErrorAt(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset <= int64(len(data)) {
		line := 1 + bytes.Count(data[:se.Offset], []byte("\n"))
		return fmt.Errorf("line %d: %w", line, err)
	}
	return err
}

// canonicalPURL validates a purl and returns it as written. It is not
// re-rendered: packageurl-go lowercases golang names, and Go module paths
// are case-sensitive (github.com/BurntSushi/toml).
func canonicalPURL(purl, where string) (string, error) {
	purl = strings.TrimSpace(purl)
	if purl == "" {
		return "", nil
	}
	if _, err := packageurl.FromString(purl); err != nil {
		return "", &Error{Where: where, Err: fmt.Errorf("malformed purl %q: %w", purl, err)}
	}
	return purl, nil
}

// subjectFromPURL reads the subject of a pkg:oci purl whose version is a
// digest: repository_url when present, else the SBOM's own name for the
// subject (fullName, which keeps the path a purl name drops), else the name.
func subjectFromPURL(purl, fullName string) *evidence.Subject {
	p, err := packageurl.FromString(purl)
	if err != nil || p.Type != "oci" || !evidence.ValidDigest(p.Version) {
		return nil
	}
	repo := p.Name
	if fullName != "" {
		repo = fullName
	}
	if u := p.Qualifiers.Map()["repository_url"]; u != "" {
		repo = u
	}
	return &evidence.Subject{Repository: repo, Digest: p.Version}
}

func nonEmpty(values ...string) []string {
	var out []string
	for _, v := range values {
		if v != "" && v != "NOASSERTION" && v != "NONE" {
			out = append(out, v)
		}
	}
	return out
}
