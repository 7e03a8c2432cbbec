package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits on policy and exception files: they are small documents, so
// anything far larger is a mistake or an attack on the loader.
const (
	maxFileSize  = 1 << 20
	maxDocuments = 256
	maxDepth     = 32
	maxNodes     = 100_000
)

// header is what every document starts with.
type header struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   metadata `yaml:"metadata"`
}

type metadata struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// rawDocument is one YAML document of a file, parsed but not yet typed.
type rawDocument struct {
	source string // file name, and "#N" for the Nth document of several
	node   *yaml.Node
	header header
}

// splitDocuments parses every YAML document in data, refusing oversized,
// deeply nested or alias-heavy input before any typed decoding.
func splitDocuments(name string, data []byte) ([]rawDocument, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: %d bytes is larger than the %d KiB a policy or exception file may have", name, len(data), maxFileSize>>10)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []rawDocument
	for i := 0; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: not valid YAML: %v", name, err)
		}
		if len(docs) == maxDocuments {
			return nil, fmt.Errorf("%s: more than %d documents", name, maxDocuments)
		}
		if len(n.Content) == 0 {
			continue // an empty document between separators
		}
		root := n.Content[0]
		if err := checkShape(root, 1, new(int)); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		if root.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s:%d: a document must be a mapping with apiVersion, kind, metadata and spec", name, root.Line)
		}
		d := rawDocument{source: name, node: root}
		if err := decodeStrict(root, &struct {
			header `yaml:",inline"`
			Spec   yaml.Node `yaml:"spec"`
			Status yaml.Node `yaml:"status"`
		}{}, ""); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		if err := root.Decode(&d.header); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		docs = append(docs, d)
	}
	if len(docs) > 1 {
		for i := range docs {
			docs[i].source = fmt.Sprintf("%s#%d", name, i+1)
		}
	}
	return docs, nil
}

// checkShape bounds nesting depth and size, and refuses aliases (a policy
// has no use for them, and they are how YAML bombs expand).
func checkShape(n *yaml.Node, depth int, count *int) error {
	*count++
	switch {
	case depth > maxDepth:
		return fmt.Errorf("line %d: nested deeper than %d levels", n.Line, maxDepth)
	case *count > maxNodes:
		return fmt.Errorf("more than %d YAML nodes", maxNodes)
	case n.Kind == yaml.AliasNode:
		return fmt.Errorf("line %d: YAML aliases (*%s) are not allowed in policy documents", n.Line, n.Value)
	}
	for _, c := range n.Content {
		if err := checkShape(c, depth+1, count); err != nil {
			return err
		}
	}
	return nil
}

// decodeStrict decodes n into v (a pointer to a struct), first refusing
// fields v does not declare, with the line and the path of each.
func decodeStrict(n *yaml.Node, v any, path string) error {
	if err := knownFields(n, reflect.TypeOf(v).Elem(), path); err != nil {
		return err
	}
	if err := n.Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%s: %s", pathOr(path), strings.Join(te.Errors, "; "))
		}
		return fmt.Errorf("%s: %v", pathOr(path), err)
	}
	return nil
}

func pathOr(path string) string {
	if path == "" {
		return "document"
	}
	return path
}

// knownFields walks n alongside type t and reports the first mapping key
// that t has no field for.
func knownFields(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeOf(yaml.Node{}) || reflect.PointerTo(t).Implements(reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()) {
		return nil // decodes itself
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // the type error is reported by Decode
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			ft, ok := fields[key.Value]
			p := join(path, key.Value)
			if !ok {
				names := make([]string, 0, len(fields))
				for k := range fields {
					names = append(names, k)
				}
				sort.Strings(names)
				return fmt.Errorf("line %d: %s: unknown field (known here: %s)", key.Line, p, strings.Join(names, ", "))
			}
			if err := knownFields(val, ft, p); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for i, c := range n.Content {
			if err := knownFields(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := knownFields(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	}
	return nil
}

// yamlFields maps YAML keys to field types, following inline structs.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// specNode returns the document's spec mapping.
func (d rawDocument) specNode() (*yaml.Node, error) {
	for i := 0; i+1 < len(d.node.Content); i += 2 {
		if d.node.Content[i].Value == "spec" {
			return d.node.Content[i+1], nil
		}
	}
	return nil, fmt.Errorf("%s: %s %q has no spec", d.source, d.header.Kind, d.header.Metadata.Name)
}
