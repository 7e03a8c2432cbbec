package registry

import (
	"bytes"
	"encoding/json"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dossier-dev/dossier/internal/oci"
)

// manifest is what the registry reads of a manifest to classify it.
type manifest struct {
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType"`
	Config       *descriptor       `json:"config"`
	Layers       []descriptor      `json:"layers"`
	Manifests    []descriptor      `json:"manifests"`
	Subject      *descriptor       `json:"subject"`
	Annotations  map[string]string `json:"annotations"`
}

type descriptor struct {
	MediaType string   `json:"mediaType"`
	Digest    string   `json:"digest"`
	Size      int64    `json:"size"`
	URLs      []string `json:"urls"`
}

// verifiersRead parses a manifest as verifiers built on
// go-containerregistry do: its types are stricter than distribution's
// (digests of sha256 only, in lower-case hex of the right length, a
// platform's features a list), and a cosign tag they cannot parse is
// rejected whole.
func verifiersRead(body []byte, m manifest) error {
	var err error
	if len(m.Manifests) > 0 {
		_, err = v1.ParseIndexManifest(bytes.NewReader(body))
	} else {
		_, err = v1.ParseManifest(bytes.NewReader(body))
	}
	return err
}

// evidenceLayers are the media types of signatures, attestations and
// documents about other content (cosign's simple signing and DSSE
// envelopes, Sigstore bundles, in-toto statements, Notation's JWS and COSE
// envelopes, SBOMs and reports). No container runtime unpacks a layer of
// these types, so a manifest whose layers are all of them cannot be run.
var evidenceLayers = map[string]bool{
	"application/vnd.dev.cosign.simplesigning.v1+json":     true,
	"application/vnd.dsse.envelope.v1+json":                true,
	"application/vnd.dev.sigstore.bundle.v0.3+json":        true,
	"application/vnd.dev.sigstore.bundle+json;version=0.3": true,
	"application/vnd.in-toto+json":                         true,
	"application/jose+json":                                true,
	"application/cose":                                     true,
	"application/spdx+json":                                true,
	"text/spdx":                                            true,
	"application/vnd.cyclonedx+json":                       true,
	"application/vnd.cyclonedx+xml":                        true,
	"application/sarif+json":                               true,
	"application/vnd.openvex+json":                         true,
}

// evidenceSubject says whether a manifest is evidence about another
// digest — a signature, an attestation or a document attached to it —
// and which digest (from its subject, else from cosign's tag; "" when it
// names none). It is decided by what the manifest is: an image manifest
// with at least one layer, every layer of an evidence media type. Its
// artifactType, subject, tag or config say nothing on their own: a
// runnable image pushed with any of them is an image, scanned and judged.
func evidenceSubject(body []byte, tag string) (subject string, ok bool) {
	var m manifest
	if json.Unmarshal(body, &m) != nil || len(m.Layers) == 0 || len(m.Manifests) > 0 {
		return "", false
	}
	if m.MediaType != "" && m.MediaType != "application/vnd.oci.image.manifest.v1+json" && m.MediaType != "application/vnd.docker.distribution.manifest.v2+json" {
		return "", false
	}
	for _, l := range m.Layers {
		if !evidenceLayers[l.MediaType] || len(l.URLs) > 0 {
			return "", false
		}
	}
	switch {
	case m.Subject != nil && m.Subject.Digest != "":
		return m.Subject.Digest, true
	}
	if subject, _, ok := oci.ParseLegacyTag(tag); ok {
		return subject, true
	}
	return "", true
}
