// Package oci names artifacts and resolves them to digests. It reads
// registries, OCI layout directories and docker-archive tarballs through
// go-containerregistry, and describes plain directories and files so that
// every producer works from one resolved Artifact.
package oci

import (
	"archive/tar"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Kind says where an artifact comes from.
type Kind string

// The source kinds, which are also the explicit scheme prefixes.
const (
	KindRegistry      Kind = "registry"
	KindOCILayout     Kind = "oci-layout"
	KindDockerArchive Kind = "docker-archive"
	KindDir           Kind = "dir"
	KindFile          Kind = "file"
)

var kinds = []Kind{KindRegistry, KindOCILayout, KindDockerArchive, KindDir, KindFile}

// Source is a parsed user input: what to read, not yet read.
type Source struct {
	Kind Kind
	// Input is the text the user gave.
	Input string
	// Reference is the registry reference (KindRegistry only).
	Reference string
	// Path is the local directory or file (all other kinds).
	Path string
	// Tag and Digest select a manifest inside an OCI layout.
	Tag    string
	Digest string
}

// IsImage reports whether the source holds OCI/Docker images (as opposed to
// a plain directory or file).
func (s Source) IsImage() bool {
	return s.Kind == KindRegistry || s.Kind == KindOCILayout || s.Kind == KindDockerArchive
}

// ParseSource understands "scheme:rest" for every Kind and, without a
// scheme, detects the kind when that is unambiguous: an existing directory
// with an oci-layout file is a layout, another directory is a dir, a tar
// with a manifest.json is a docker archive, another file is a file, and
// anything else that parses as an image reference is a registry reference.
func ParseSource(input string) (Source, error) {
	if strings.TrimSpace(input) == "" {
		return Source{}, errors.New("empty source: give an image reference, oci-layout:DIR, docker-archive:FILE, dir:PATH or file:PATH")
	}
	for _, k := range kinds {
		// "registry:5000/team/app" names a host called registry, not the
		// registry scheme: a port after the colon is a host's port
		if rest, ok := strings.CutPrefix(input, string(k)+":"); ok && !startsWithPort(rest) {
			return parseExplicit(k, input, rest)
		}
	}
	return detect(input)
}

func parseExplicit(k Kind, input, rest string) (Source, error) {
	if rest == "" {
		return Source{}, fmt.Errorf("source %q: nothing after %q", input, string(k)+":")
	}
	switch k {
	case KindRegistry:
		if _, err := name.ParseReference(rest); err != nil {
			return Source{}, fmt.Errorf("source %q: not an image reference: %w", input, err)
		}
		return Source{Kind: k, Input: input, Reference: rest}, nil
	case KindOCILayout:
		return parseLayout(input, rest)
	default:
		return Source{Kind: k, Input: input, Path: rest}, nil
	}
}

// parseLayout splits "DIR", "DIR:tag" and "DIR@sha256:…". A colon is a tag
// separator only when what precedes it is an existing directory, so that
// paths containing colons still work.
func parseLayout(input, rest string) (Source, error) {
	src := Source{Kind: KindOCILayout, Input: input, Path: rest}
	if i := strings.LastIndex(rest, "@"); i > 0 && strings.Contains(rest[i:], ":") {
		src.Path, src.Digest = rest[:i], rest[i+1:]
		if _, err := name.NewDigest("x@" + src.Digest); err != nil {
			return Source{}, fmt.Errorf("source %q: %q is not a digest: %w", input, src.Digest, err)
		}
		return src, nil
	}
	if isDir(rest) {
		return src, nil
	}
	if i := strings.LastIndex(rest, ":"); i > 0 && !strings.Contains(rest[i:], "/") && isDir(rest[:i]) {
		src.Path, src.Tag = rest[:i], rest[i+1:]
	}
	return src, nil
}

func detect(input string) (Source, error) {
	info, err := os.Stat(input)
	switch {
	case err == nil && info.IsDir():
		if isLayout(input) {
			return Source{Kind: KindOCILayout, Input: input, Path: input}, nil
		}
		return Source{Kind: KindDir, Input: input, Path: input}, nil
	case err == nil:
		if isDockerArchive(input) {
			return Source{Kind: KindDockerArchive, Input: input, Path: input}, nil
		}
		return Source{Kind: KindFile, Input: input, Path: input}, nil
	}
	if i := strings.LastIndexAny(input, "@:"); i > 0 && isLayout(input[:i]) {
		return parseLayout(input, input)
	}
	if i := strings.LastIndex(input, "@"); i > 0 && isLayout(input[:i]) {
		return parseLayout(input, input)
	}
	if looksLikePath(input) {
		return Source{}, fmt.Errorf("source %q: %w", input, err)
	}
	if _, perr := name.ParseReference(input); perr != nil {
		return Source{}, fmt.Errorf("source %q: neither a local path nor an image reference (%v)", input, perr)
	}
	return Source{Kind: KindRegistry, Input: input, Reference: input}, nil
}

func looksLikePath(s string) bool {
	return strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") ||
		strings.HasPrefix(s, "~") || strings.HasSuffix(s, ".tar") || strings.HasSuffix(s, ".json")
}

func isLayout(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "oci-layout"))
	return err == nil
}

func isDir(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.IsDir()
}

// isDockerArchive reports whether path is a tar whose entries include a
// top-level manifest.json, the mark of `docker save` output.
func isDockerArchive(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for range 10000 {
		h, err := tr.Next()
		if err != nil {
			return false
		}
		if filepath.Clean(h.Name) == "manifest.json" {
			return true
		}
	}
	return false
}

// startsWithPort reports whether s begins with a port number followed by
// a path ("5000/team/app"), as the rest of "host:5000/team/app" does.
func startsWithPort(s string) bool {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i > 0 && i <= 5 && i < len(s) && s[i] == '/'
}
