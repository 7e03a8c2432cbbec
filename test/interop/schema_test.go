package interop

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/dossier-dev/dossier/internal/testutil"
)

// cycloneDXSchema compiles the CycloneDX 1.6 JSON schema from the
// @cyclonedx/cyclonedx-library npm package that .ci/install-peers unpacks.
func cycloneDXSchema(t *testing.T) func(*testing.T, []byte) error {
	t.Helper()
	dir := filepath.Join(testutil.PeersDir(), "npm", "@cyclonedx", "cyclonedx-library@10.3.0", "package", "res", "schema")
	if _, err := os.Stat(dir); err != nil {
		testutil.Missing(t, "CycloneDX schemas not found at %s: run .ci/install-peers", dir)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, name := range []string{"spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json", "bom-1.6.SNAPSHOT.schema.json"} {
		// the schemas refer to each other relative to their $id
		addResource(t, c, filepath.Join(dir, name), "http://cyclonedx.org/schema/"+name)
	}
	s, err := c.Compile("http://cyclonedx.org/schema/bom-1.6.SNAPSHOT.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return func(t *testing.T, data []byte) error { return validate(t, s, data) }
}

// spdxSchema compiles the official SPDX 2.3 JSON schema (shipped in the
// syft module) and adds tools-golang's document validation.
func spdxSchema(t *testing.T) func(*testing.T, []byte) error {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/anchore/syft").Output()
	if err != nil {
		t.Fatalf("locating the syft module: %v", err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "schema", "spdx-json", "spdx-schema-2.3.json")
	c := jsonschema.NewCompiler()
	addResource(t, c, path, "spdx-schema-2.3.json")
	s, err := c.Compile("spdx-schema-2.3.json")
	if err != nil {
		t.Fatal(err)
	}
	return func(t *testing.T, data []byte) error {
		if err := validate(t, s, data); err != nil {
			return err
		}
		doc, err := spdxjson.Read(bytes.NewReader(data))
		if err != nil {
			return err
		}
		return spdxlib.ValidateDocument(doc)
	}
}

func addResource(t *testing.T, c *jsonschema.Compiler, path, url string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
}

func validate(t *testing.T, s *jsonschema.Schema, data []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// sarifSchema compiles the SARIF 2.1.0 JSON schema that the
// @microsoft/jest-sarif npm package ships.
func sarifSchema(t *testing.T) func(*testing.T, []byte) error {
	t.Helper()
	path := filepath.Join(testutil.PeersDir(), "npm", "@microsoft", "jest-sarif@1.0.0-beta.0", "package", "lib", "schemas", "sarif-2.1.0-rtm.5.json")
	if _, err := os.Stat(path); err != nil {
		testutil.Missing(t, "SARIF schema not found at %s: run .ci/install-peers", path)
	}
	c := jsonschema.NewCompiler()
	addResource(t, c, path, "sarif-2.1.0-rtm.5.json")
	s, err := c.Compile("sarif-2.1.0-rtm.5.json")
	if err != nil {
		t.Fatal(err)
	}
	return func(t *testing.T, data []byte) error { return validate(t, s, data) }
}
