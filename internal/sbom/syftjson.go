package sbom

import (
	"encoding/json"
	"fmt"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// syftDocument is the part of syft's JSON schema dossier reads.
type syftDocument struct {
	Artifacts []struct {
		Name     string `json:"name"`
		Version  string `json:"version"`
		Type     string `json:"type"`
		PURL     string `json:"purl"`
		Licenses []struct {
			Value          string `json:"value"`
			SPDXExpression string `json:"spdxExpression"`
		} `json:"licenses"`
		Locations []struct {
			Path string `json:"path"`
		} `json:"locations"`
	} `json:"artifacts"`
	Source struct {
		Name     string `json:"name"`
		Version  string `json:"version"`
		Type     string `json:"type"`
		Metadata struct {
			ManifestDigest string `json:"manifestDigest"`
		} `json:"metadata"`
	} `json:"source"`
	Descriptor struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"descriptor"`
	Schema struct {
		Version string `json:"version"`
	} `json:"schema"`
}

func decodeSyft(data []byte) (*evidence.Document, error) {
	var s syftDocument
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, &Error{Err: fmt.Errorf("invalid syft JSON: %w", jsonErrorAt(data, err))}
	}
	doc := &evidence.Document{
		SpecVersion: s.Schema.Version,
		SubjectName: s.Source.Name,
		Tool:        s.Descriptor.Name + " " + s.Descriptor.Version,
		Components:  make([]evidence.Component, 0, len(s.Artifacts)),
	}
	if s.Source.Type == "image" {
		digest := s.Source.Metadata.ManifestDigest
		if evidence.ValidDigest(s.Source.Version) {
			digest = s.Source.Version
		}
		if evidence.ValidDigest(digest) {
			doc.Subject = &evidence.Subject{Repository: s.Source.Name, Digest: digest}
		}
	}
	for i, a := range s.Artifacts {
		purl, err := canonicalPURL(a.PURL, fmt.Sprintf("artifacts[%d].purl", i))
		if err != nil {
			return nil, err
		}
		c := evidence.Component{Name: a.Name, Version: a.Version, Type: a.Type, PURL: purl}
		for _, l := range a.Licenses {
			if l.SPDXExpression != "" {
				c.Licenses = append(c.Licenses, l.SPDXExpression)
			} else if l.Value != "" {
				c.Licenses = append(c.Licenses, l.Value)
			}
		}
		for _, l := range a.Locations {
			c.Locations = append(c.Locations, l.Path)
		}
		doc.Components = append(doc.Components, c)
	}
	return doc, nil
}
