package jsonkeys

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestUnambiguous(t *testing.T) {
	for body, want := range map[string]string{
		`{"schemaVersion":2,"layers":[{"digest":"sha256:00"}]}`: "",
		`{"keys":["a"],"keys":["b"]}`:                           `key "keys" appears twice in one object: a request must read the same to every parser`,
		`{"manifests":[],"Manifests":null}`:                     `keys "manifests" and "Manifests" differ only in case`,
		`{"a":[{"b":1,"B":2}]}`:                                 `keys "b" and "B" differ only in case`,
		"{\"\u212a\":1,\"k\":2}":                                `differ only in case`,
		`{"a":{"b":1},"b":{"a":1}}`:                             "",
	} {
		err := Unambiguous([]byte(body), "a request")
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}

// Unambiguous accepts only JSON in which no two keys of an object are
// equal, or equal but for case: every key the document writes (a colon
// outside a string) is a key of the decoded value, and no two of an
// object's keys fold alike.
func FuzzUnambiguous(f *testing.F) {
	for _, seed := range []string{
		`{"schemaVersion":2,"layers":[{"digest":"sha256:00"}]}`,
		`{"manifests":[{"platform":5}],"Manifests":null}`,
		`{"a":{"b":1,"B":2}}`, `{"\u212a":1,"k":2}`, `[{"x":[{"y":1,"y":2}]}]`, `{"a:b":"c:d"}`, `{"a":`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) || Unambiguous(body, "a document") != nil {
			return
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		if written, read := colonsOutsideStrings(body), keysOf(t, v); written != read {
			t.Fatalf("accepted %q: %d keys written, %d read", body, written, read)
		}
	})
}

func colonsOutsideStrings(body []byte) int {
	n, inString, escaped := 0, false, false
	for _, b := range body {
		switch {
		case escaped:
			escaped = false
		case inString && b == '\\':
			escaped = true
		case b == '"':
			inString = !inString
		case !inString && b == ':':
			n++
		}
	}
	return n
}

// keysOf counts an decoded value's keys, failing on two that fold alike.
func keysOf(t *testing.T, v any) int {
	switch v := v.(type) {
	case map[string]any:
		n := len(v)
		for k, inner := range v {
			for other := range v {
				if k != other && strings.EqualFold(k, other) {
					t.Fatalf("accepted keys %q and %q", k, other)
				}
			}
			n += keysOf(t, inner)
		}
		return n
	case []any:
		n := 0
		for _, inner := range v {
			n += keysOf(t, inner)
		}
		return n
	}
	return 0
}
