package sbom

import (
	"sort"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// Summary is what `dossier sbom inspect` reports about a document.
type Summary struct {
	Format      string               `json:"format"`
	SpecVersion string               `json:"specVersion,omitempty"`
	Subject     *evidence.Subject    `json:"subject,omitempty"`
	SubjectName string               `json:"subjectName,omitempty"`
	Tool        string               `json:"tool,omitempty"`
	Created     string               `json:"created,omitempty"`
	Components  int                  `json:"components"`
	ByType      []Count              `json:"byType"`
	ByEcosystem []Count              `json:"byEcosystem"`
	WithoutPURL []evidence.Component `json:"withoutPurl"`
}

// Count is one row of a per-type or per-ecosystem tally.
type Count struct {
	Key   string `json:"key"`
	Count int    `json:"count"`
}

// Summarize tallies a document's components by type and purl ecosystem and
// lists those that have no purl (and so cannot be matched to advisories).
func Summarize(doc *evidence.Document) Summary {
	s := Summary{
		Format: doc.Format, SpecVersion: doc.SpecVersion, Subject: doc.Subject, SubjectName: doc.SubjectName,
		Tool: doc.Tool, Created: doc.Created, Components: len(doc.Components),
		WithoutPURL: []evidence.Component{},
	}
	byType, byEco := map[string]int{}, map[string]int{}
	for _, c := range doc.Components {
		byType[orNone(c.Type)]++
		if c.PURL == "" {
			s.WithoutPURL = append(s.WithoutPURL, c)
			continue
		}
		byEco[orNone(c.Ecosystem())]++
	}
	s.ByType, s.ByEcosystem = sortedCounts(byType), sortedCounts(byEco)
	return s
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func sortedCounts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{Key: k, Count: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	return out
}
