package generate

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	stereofile "github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/stereoscope/pkg/filetree"
	"github.com/anchore/stereoscope/pkg/image"
	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/source"
	"github.com/anchore/syft/syft/source/stereoscopesource"
	"github.com/bmatcuk/doublestar/v4"
)

// layerOnly is an image of one layer's own files, as the layer holds them
// (its whiteouts left out), read from the image it belongs to: what the
// cataloguers' searches see when a layer is catalogued on its own.
func layerOnly(img *image.Image, index int) (*image.Image, error) {
	layer := img.Layers[index]
	tree, err := layer.Tree.Copy()
	if err != nil {
		return nil, fmt.Errorf("copying the tree of layer %s: %w", layer.Metadata.Digest, err)
	}
	for _, ref := range tree.AllFiles(stereofile.AllTypes()...) {
		if ref.RealPath.IsWhiteout() {
			if err := tree.RemovePath(ref.RealPath); err != nil {
				return nil, fmt.Errorf("layer %s: %w", layer.Metadata.Digest, err)
			}
		}
	}
	own := *layer
	own.SquashedTree = tree
	own.SquashedSearchContext = filetree.NewSearchContext(tree, img.FileCatalog)
	return &image.Image{
		Metadata:              img.Metadata,
		Layers:                []*image.Layer{&own},
		FileCatalog:           img.FileCatalog,
		SquashedSearchContext: own.SquashedSearchContext,
	}, nil
}

// layerResolver is what one layer's cataloguing reads. Searches the
// cataloguers make before reading any file (the discovery searches, as
// cataloguing an empty filesystem shows them) see the layer's own files:
// each file is catalogued in the layer that wrote it, and the merge keeps
// what survives in the squash. Every other question — a path, a file next
// to the one being read (dpkg's file lists, a wheel's RECORD, the release
// files), a search a parser makes — is answered by the image's squash,
// as syft's catalogue of the image answers it, and is recorded: the
// layer's result holds for another image only where the same questions
// have the same answers.
type layerResolver struct {
	own, squash file.Resolver
	diffID      string
	// discovery is the set of discovery searches; nil records them (the
	// cataloguing of an empty filesystem).
	discovery map[string]bool

	mu sync.Mutex
	// searches are the searches made, as discovery keys
	searches map[string]bool
	// paths are the paths asked of the squash
	paths map[string]bool
	// names are patterns of searches beyond discovery that found nothing
	// in other layers: another image must hold no match there
	names map[string]bool
	// globs are searches beyond discovery within one directory (dpkg's
	// "/var/lib/dpkg/info/openssl.*"): answered alike wherever that
	// directory's matching entries are
	globs map[string]bool
	// specific says why the result holds for this image alone ("" when
	// it may be reused)
	specific string
}

var _ file.Resolver = (*layerResolver)(nil)

func newLayerResolver(own, squash file.Resolver, diffID string, discovery map[string]bool) *layerResolver {
	return &layerResolver{own: own, squash: squash, diffID: diffID, discovery: discovery,
		searches: map[string]bool{}, paths: map[string]bool{}, names: map[string]bool{}, globs: map[string]bool{}}
}

// discovered records a search and says whether the layer's own files
// answer it.
func (r *layerResolver) discovered(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.searches[key] = true
	return r.discovery == nil || r.discovery[key]
}

func (r *layerResolver) asked(paths ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range paths {
		if !strings.HasPrefix(p, "/") || path.Clean(p) != p {
			p = path.Clean("/" + p)
		}
		r.paths[p] = true
	}
}

// beyondDiscovery records what a search beyond discovery found: files of
// other layers make the result this image's alone; otherwise no other
// layer of another image may hold a file the pattern may match.
func (r *layerResolver) beyondDiscovery(what string, pattern string, found []file.Location) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range found {
		if l.FileSystemID != r.diffID {
			r.specific = fmt.Sprintf("%s found files of other layers", what)
			return
		}
	}
	if pattern == "" || lastSegment(pattern) == "" {
		r.specific = what + " cannot be checked by name"
		return
	}
	r.names[pattern] = true
}

func (r *layerResolver) HasPath(p string) bool {
	r.asked(p)
	return r.squash.HasPath(p)
}

func (r *layerResolver) FilesByPath(paths ...string) ([]file.Location, error) {
	r.asked(paths...)
	return r.squash.FilesByPath(paths...)
}

func (r *layerResolver) RelativeFileByPath(l file.Location, p string) *file.Location {
	r.asked(p)
	return r.squash.RelativeFileByPath(l, p)
}

func (r *layerResolver) FilesByGlob(patterns ...string) ([]file.Location, error) {
	var out []file.Location
	for _, pattern := range patterns {
		if r.discovered("glob:" + pattern) {
			found, err := r.own.FilesByGlob(pattern)
			if err != nil {
				return nil, err
			}
			out = append(out, found...)
			continue
		}
		found, err := r.squash.FilesByGlob(pattern)
		if err != nil {
			return nil, err
		}
		if inOneDirectory(pattern) {
			r.mu.Lock()
			r.globs[pattern] = true
			r.mu.Unlock()
		} else {
			r.beyondDiscovery("the search "+pattern, pattern, found)
		}
		out = append(out, found...)
	}
	return out, nil
}

// inOneDirectory says a search pattern names one directory (an absolute
// path without wildcards) and matches names in it.
func inOneDirectory(pattern string) bool {
	dir, name := path.Split(pattern)
	return path.IsAbs(pattern) && !strings.ContainsAny(dir, `*?[{\`) && name != "" && !strings.Contains(name, "**") && doublestar.ValidatePattern(name)
}

// lastSegment is the pattern a matching file's name matches, or "" when a
// name alone does not bound the matches ("**", a segment with a slash in
// a brace).
func lastSegment(pattern string) string {
	seg := pattern[strings.LastIndex(pattern, "/")+1:]
	if seg == "" || strings.Contains(seg, "**") || !doublestar.ValidatePattern(seg) {
		return ""
	}
	return seg
}

func (r *layerResolver) FilesByMIMEType(types ...string) ([]file.Location, error) {
	var out []file.Location
	for _, t := range types {
		if r.discovered("mime:" + t) {
			found, err := r.own.FilesByMIMEType(t)
			if err != nil {
				return nil, err
			}
			out = append(out, found...)
			continue
		}
		found, err := r.squash.FilesByMIMEType(t)
		if err != nil {
			return nil, err
		}
		r.beyondDiscovery("the search for "+t+" files", "", found)
		out = append(out, found...)
	}
	return out, nil
}

func (r *layerResolver) AllLocations(ctx context.Context) <-chan file.Location {
	if r.discovered("all") {
		return r.own.AllLocations(ctx)
	}
	r.mu.Lock()
	r.specific = "a listing of every file beyond discovery"
	r.mu.Unlock()
	return r.squash.AllLocations(ctx)
}

// FileContentsByLocation reads a file of this layer through the layer's
// own tree, any other through the squash: links resolve where the
// location was found.
func (r *layerResolver) FileContentsByLocation(l file.Location) (io.ReadCloser, error) {
	if l.FileSystemID == r.diffID {
		if rc, err := r.own.FileContentsByLocation(l); err == nil {
			return rc, nil
		}
	}
	return r.squash.FileContentsByLocation(l)
}

func (r *layerResolver) FileMetadataByLocation(l file.Location) (file.Metadata, error) {
	if l.FileSystemID == r.diffID {
		if m, err := r.own.FileMetadataByLocation(l); err == nil {
			return m, nil
		}
	}
	return r.squash.FileMetadataByLocation(l)
}

// layerSource is a layer's own image with the resolver that records what
// its cataloguing asks.
type layerSource struct {
	source.Source
	resolver *layerResolver
}

func (s layerSource) FileResolver(source.Scope) (file.Resolver, error) { return s.resolver, nil }

// newLayerSource is the source cataloguing layer index of img sees; squash
// answers the questions beyond its own files.
func newLayerSource(img *image.Image, index int, squash file.Resolver, discovery map[string]bool) (layerSource, error) {
	own, err := layerOnly(img, index)
	if err != nil {
		return layerSource{}, err
	}
	src := stereoscopesource.New(own, stereoscopesource.ImageConfig{Reference: img.Layers[index].Metadata.Digest})
	ownResolver, err := src.FileResolver(source.SquashedScope)
	if err != nil {
		return layerSource{}, err
	}
	return layerSource{Source: src, resolver: newLayerResolver(ownResolver, squash, img.Layers[index].Metadata.Digest, discovery)}, nil
}
