package audit

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Bounds on what a CI file may be: real workflows are kilobytes, a few
// levels deep, and use anchors sparingly.
const (
	maxFileBytes = 1 << 20
	maxDepth     = 64
	// maxNodes bounds the nodes a file stands for once its aliases are
	// expanded: an alias bomb of a few lines stands for billions
	maxNodes = 100_000
)

// InputError is a file that cannot be audited: its name, the line, and
// what is wrong.
type InputError struct {
	File string
	Line int
	Err  string
}

func (e *InputError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Err)
}

// readYAML checks a CI file before anything parses it for what would make
// a parser misbehave or the audit wrong — size, encoding, nesting, alias
// expansion, duplicate keys — and returns its document node.
func readYAML(file string, data []byte) (*yaml.Node, error) {
	if len(data) > maxFileBytes {
		return nil, &InputError{File: file, Err: fmt.Sprintf("%d bytes: larger than the %d a CI file may be", len(data), maxFileBytes)}
	}
	if !utf8.Valid(data) {
		line := 1 + bytes.Count(data[:invalidUTF8(data)], []byte("\n"))
		return nil, &InputError{File: file, Line: line, Err: "not valid UTF-8"}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &InputError{File: file, Err: err.Error()}
	}
	if doc.Kind == 0 {
		return nil, &InputError{File: file, Err: "empty: no YAML document"}
	}
	expanded := map[*yaml.Node]int{}
	if _, err := check(file, &doc, 0, expanded); err != nil {
		return nil, err
	}
	return &doc, nil
}

// invalidUTF8 is the offset of the first byte that is not UTF-8.
func invalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(data)
}

// check walks the tree, counting the nodes it stands for with aliases
// expanded (each anchor's size computed once), and refuses deep nesting,
// oversized expansion and duplicate mapping keys.
func check(file string, n *yaml.Node, depth int, expanded map[*yaml.Node]int) (int, error) {
	if depth > maxDepth {
		return 0, &InputError{File: file, Line: n.Line, Err: fmt.Sprintf("nested more than %d levels deep", maxDepth)}
	}
	if n.Kind == yaml.AliasNode {
		if size, ok := expanded[n.Alias]; ok {
			return size, nil
		}
		size, err := check(file, n.Alias, depth+1, expanded)
		if err != nil {
			return 0, err
		}
		expanded[n.Alias] = size
		return size, nil
	}
	size := 1
	if n.Kind == yaml.MappingNode {
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && k.Value != "<<" {
				if first, dup := seen[k.Value]; dup {
					return 0, &InputError{File: file, Line: k.Line, Err: fmt.Sprintf("key %q is given twice (first on line %d)", k.Value, first)}
				}
				seen[k.Value] = k.Line
			}
		}
	}
	for _, c := range n.Content {
		s, err := check(file, c, depth+1, expanded)
		if err != nil {
			return 0, err
		}
		size += s
		if size > maxNodes {
			return 0, &InputError{File: file, Line: c.Line, Err: fmt.Sprintf("stands for more than %d values once its aliases are expanded (an alias bomb?)", maxNodes)}
		}
	}
	return size, nil
}
