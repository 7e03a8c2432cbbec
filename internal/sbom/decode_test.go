package sbom

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/testutil"
)

func decodeFile(t *testing.T, path string) *evidence.Document {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := Decode(f, path)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return doc
}

func purls(doc *evidence.Document) []string {
	var out []string
	for _, c := range doc.Components {
		if c.PURL != "" {
			out = append(out, c.PURL)
		}
	}
	slices.Sort(out)
	return out
}

func TestDecodeEveryFormatOfTheSameImage(t *testing.T) {
	want := testutil.ExpectedPackages(t, "go-app")
	digest := testutil.SampleImageDigest(t, "go-app", "amd64")
	files, err := filepath.Glob("testdata/go-app.syft.*.json")
	if err != nil || len(files) < 6 {
		t.Fatalf("testdata SBOMs: %v %v", files, err)
	}
	var first []string
	for _, f := range files {
		doc := decodeFile(t, f)
		got := purls(doc)
		var keys []string
		for _, p := range got {
			keys = append(keys, testutil.PackageKey(p))
		}
		for _, w := range want {
			if !slices.Contains(keys, w) {
				t.Errorf("%s: missing %s (have %v)", f, w, got)
			}
		}
		if doc.Subject == nil || doc.Subject.Digest != digest {
			t.Errorf("%s: subject %+v, want digest %s", f, doc.Subject, digest)
		}
		if first == nil {
			first = got
		} else if !slices.Equal(first, got) {
			t.Errorf("%s: purls %v differ from %s: %v", f, got, files[0], first)
		}
		formatFromName := strings.Split(filepath.Base(f), ".")[2]
		if !strings.HasPrefix(formatFromName, doc.Format) {
			t.Errorf("%s: detected as %s", f, doc.Format)
		}
	}
}

func TestDecodeNpmLicensesAndLocations(t *testing.T) {
	doc := decodeFile(t, "testdata/npm-app.syft.cyclonedx-json-1.6.json")
	var lodash *evidence.Component
	for i := range doc.Components {
		if doc.Components[i].Name == "lodash" {
			lodash = &doc.Components[i]
		}
	}
	if lodash == nil {
		t.Fatal("no lodash component")
	}
	if lodash.PURL != "pkg:npm/lodash@4.17.20" || !slices.Contains(lodash.Licenses, "MIT") || lodash.Type != "npm" {
		t.Errorf("lodash = %+v", lodash)
	}
	if len(lodash.Locations) == 0 || !strings.Contains(lodash.Locations[0], "node_modules/lodash") {
		t.Errorf("lodash locations = %v", lodash.Locations)
	}
}

func TestDecodeRejectsBadInput(t *testing.T) {
	cdx, err := os.ReadFile("testdata/go-app.syft.cyclonedx-json-1.6.json")
	if err != nil {
		t.Fatal(err)
	}
	spdx, err := os.ReadFile("testdata/go-app.syft.spdx-json-2.3.json")
	if err != nil {
		t.Fatal(err)
	}
	syft, err := os.ReadFile("testdata/go-app.syft.syft-json.json")
	if err != nil {
		t.Fatal(err)
	}
	const textPURL = "pkg:golang/golang.org/x/text@v0.3.5"
	tests := []struct {
		name, data, want string
	}{
		{"not json", "hello", "not JSON"},
		{"truncated", string(cdx[:len(cdx)/2]), "not JSON: line"},
		{"other json", `{"kind":"Pod","apiVersion":"v1"}`, ErrNotSBOM.Error()},
		{"json array", `[1,2]`, "not JSON"},
		{"cdx malformed purl", strings.Replace(string(cdx), `"purl":"`+textPURL, `"purl":"golang.org/x/text`, 1), "malformed purl"},
		{"cdx old spec", strings.Replace(string(cdx), `"specVersion":"1.6"`, `"specVersion":"1.2"`, 1), "CycloneDX 1.2 is not supported"},
		{"cdx null component", strings.Replace(string(cdx), `"components":[{"bom-ref"`, `"components":[null,{"bom-ref"`, 1), "components"},
		{"spdx malformed purl", strings.Replace(string(spdx), `"referenceLocator":"`+textPURL, `"referenceLocator":"golang.org/x/text`, 1), "malformed purl"},
		{"spdx 2.1", strings.Replace(string(spdx), `"spdxVersion":"SPDX-2.3"`, `"spdxVersion":"SPDX-2.1"`, 1), "SPDX-2.1 is not supported"},
		{"spdx null package", strings.Replace(string(spdx), `"packages":[`, `"packages":[null,`, 1), "package"},
		{"syft malformed purl", strings.Replace(string(syft), `"purl":"`+textPURL, `"purl":"pkg:`, 1), "artifacts["},
		{"syft wrong types", `{"artifacts":[{"name":1}],"descriptor":{}}`, "invalid syft JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.data == string(cdx) || tt.data == string(spdx) || tt.data == string(syft) {
				t.Fatal("the corruption did not apply: fix the test data")
			}
			_, err := Decode(strings.NewReader(tt.data), "input.json")
			if err == nil {
				t.Fatal("want an error")
			}
			var e *Error
			if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), "input.json") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q should be an *Error naming input.json and saying %q", err, tt.want)
			}
		})
	}
}

func TestDecodeSizeLimit(t *testing.T) {
	big := bytes.Repeat([]byte(" "), MaxSize+1)
	if _, err := Decode(bytes.NewReader(big), "big.json"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized input: %v", err)
	}
}

func TestSummarize(t *testing.T) {
	doc := decodeFile(t, "testdata/go-app.syft.cyclonedx-json-1.6.json")
	s := Summarize(doc)
	if s.Components != len(doc.Components) || len(s.ByEcosystem) != 1 || s.ByEcosystem[0].Key != "golang" || s.ByEcosystem[0].Count != len(doc.Components) {
		t.Fatalf("summary %+v", s)
	}
	doc.Components = append(doc.Components, evidence.Component{Name: "mystery", Type: "binary"})
	s = Summarize(doc)
	if len(s.WithoutPURL) != 1 || s.WithoutPURL[0].Name != "mystery" {
		t.Fatalf("without purl: %+v", s.WithoutPURL)
	}
}

func BenchmarkDecode(b *testing.B) {
	files, _ := filepath.Glob("testdata/go-app.syft.*.json")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(filepath.Base(f), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Decode(bytes.NewReader(data), f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
