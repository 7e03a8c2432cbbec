// Package jsonkeys refuses JSON documents that parsers may read
// differently, before they are decoded.
package jsonkeys

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// Unambiguous refuses a JSON document that parsers may read differently:
// an object with two keys that are equal, or equal but for case. Go's
// decoder matches keys case-insensitively and keeps the last value, other
// parsers keep the first or match exactly, so {"manifests": [...],
// "Manifests": null} is an image manifest to one reader and an index to
// another. what names the document in errors ("a manifest").
func Unambiguous(body []byte, what string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []*jsonObject // nil entries are arrays
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		top := (*jsonObject)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.wantKey {
			switch t := tok.(type) {
			case string:
				folded := foldKey(t)
				if first, ok := top.keys[folded]; ok {
					if first == t {
						return fmt.Errorf("key %q appears twice in one object: %s must read the same to every parser", t, what)
					}
					return fmt.Errorf("keys %q and %q differ only in case: %s must read the same to every parser", first, t, what)
				}
				top.keys[folded] = t
				top.wantKey = false
				continue
			case json.Delim: // the object's end
				stack = stack[:len(stack)-1]
				markValue(stack)
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &jsonObject{keys: map[string]string{}, wantKey: true})
		case json.Delim('['):
			stack = append(stack, nil)
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			markValue(stack)
		default:
			markValue(stack)
		}
	}
}

// jsonObject is an object Unambiguous is inside of.
type jsonObject struct {
	keys    map[string]string // folded → as written
	wantKey bool
}

// markValue notes that a value ended: an object enclosing it expects a key.
func markValue(stack []*jsonObject) {
	if len(stack) > 0 && stack[len(stack)-1] != nil {
		stack[len(stack)-1].wantKey = true
	}
}

// foldKey maps every key encoding/json would match to one string: each
// rune to the smallest of its simple case-folding orbit (k, K and the
// Kelvin sign alike), as bytes.EqualFold compares.
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, s)
}
