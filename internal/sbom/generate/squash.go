package generate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	stereofile "github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/stereoscope/pkg/filetree/filenode"
	"github.com/anchore/stereoscope/pkg/image"
)

// The kinds of entry a layer holds at a path.
const (
	kindFile     = 'f'
	kindDir      = 'd'
	kindSymlink  = 'l'
	kindWhiteout = 'w' // the path is deleted from the layers below
	kindOpaque   = 'o' // the directory's content in the layers below is hidden
)

// layerChanges is what one layer does to the filesystem below it, as the
// squash reads it: its entries at their literal paths (a hardlink is the
// file it names), its whiteouts and its opaque directories. Directories a
// layer only implies (the parents of its entries) are directories too.
type layerChanges struct {
	entries map[string]change
	// implied holds every parent directory of an entry
	implied map[string]bool
	// children indexes entries by their directory, once asked
	indexOnce sync.Once
	children  map[string][]string
}

type change struct {
	kind   byte
	target string // a symlink's destination, as written
}

// changesOf reads a layer's own tree (stereoscope keeps its whiteouts).
func changesOf(l *image.Layer) (*layerChanges, error) {
	c := &layerChanges{entries: map[string]change{}, implied: map[string]bool{}}
	for _, n := range l.Tree.TreeReader().Nodes() {
		fn, ok := n.(*filenode.FileNode)
		if !ok || fn == nil {
			continue
		}
		p := fn.RealPath
		switch {
		case p.IsDirWhiteout():
			parent, err := p.UnWhiteoutPath()
			if err != nil {
				return nil, err
			}
			c.add(opaqueMarker(string(parent)), change{kind: kindOpaque})
		case p.IsWhiteout():
			deleted, err := p.UnWhiteoutPath()
			if err != nil {
				return nil, err
			}
			c.add(string(deleted), change{kind: kindWhiteout})
		case fn.FileType == stereofile.TypeDirectory:
			if p != "/" {
				c.add(string(p), change{kind: kindDir})
			}
		case fn.FileType == stereofile.TypeSymLink:
			c.add(string(p), change{kind: kindSymlink, target: string(fn.LinkPath)})
		default:
			c.add(string(p), change{kind: kindFile})
		}
	}
	return c, nil
}

// add records an entry. An opaque marker is kept at the marker's own path
// (DIR/.wh..wh..opq) so that a layer may hold both the directory and it.
func (c *layerChanges) add(p string, ch change) {
	c.entries[p] = ch
	for dir := path.Dir(p); dir != "/" && dir != "."; dir = path.Dir(dir) {
		if c.implied[dir] {
			break
		}
		c.implied[dir] = true
	}
}

// encode lists the changes, sorted: "KIND PATH[\x00TARGET]".
func (c *layerChanges) encode() []string {
	out := make([]string, 0, len(c.entries))
	for p, ch := range c.entries {
		line := string(ch.kind) + p
		if ch.kind == kindSymlink {
			line += "\x00" + ch.target
		}
		out = append(out, line)
	}
	slices.Sort(out)
	return out
}

func decodeChanges(lines []string) (*layerChanges, error) {
	c := &layerChanges{entries: make(map[string]change, len(lines)), implied: map[string]bool{}}
	for _, line := range lines {
		if len(line) < 2 || line[1] != '/' {
			return nil, fmt.Errorf("malformed change %q", line)
		}
		kind, rest := line[0], line[1:]
		p, target, _ := strings.Cut(rest, "\x00")
		switch kind {
		case kindFile, kindDir, kindSymlink, kindWhiteout, kindOpaque:
		default:
			return nil, fmt.Errorf("malformed change %q", line)
		}
		c.add(p, change{kind: kind, target: target})
	}
	return c, nil
}

// at is what the layer holds at exactly p: an entry, or an implied
// directory.
func (c *layerChanges) at(p string) (change, bool) {
	if ch, ok := c.entries[p]; ok {
		return ch, true
	}
	if c.implied[p] {
		return change{kind: kindDir}, true
	}
	return change{}, false
}

// squashView answers what the squash of an image's layers holds at a path
// from the layers' changes alone, as stereoscope's squash decides it:
// upper entries apply at their literal paths; a whiteout deletes a path
// and everything under it; an opaque directory hides what lower layers
// hold in it; anything but a directory over a directory masks what was
// under the lower path.
type squashView struct {
	diffIDs []string
	layers  []*layerChanges
}

// provider is the index of the layer whose entry is at p in the squash,
// and that entry; ok is false when nothing is there.
func (s *squashView) provider(p string) (int, change, bool) {
	ancestors := ancestorsOf(p)
	for k := len(s.layers) - 1; k >= 0; k-- {
		c := s.layers[k]
		if ch, ok := c.at(p); ok {
			if ch.kind == kindWhiteout {
				return -1, change{}, false
			}
			return k, ch, true
		}
		for _, a := range ancestors {
			if ch, ok := c.entries[a]; ok && ch.kind != kindDir {
				// deleted, or masked by a file or a link
				return -1, change{}, false
			}
		}
		// an opaque directory above p hides the layers below
		for _, a := range append(ancestors, "/") {
			if _, ok := c.entries[opaqueMarker(a)]; ok {
				return -1, change{}, false
			}
		}
	}
	return -1, change{}, false
}

// ancestorsOf lists p's parent directories, nearest first, "/" left out.
func ancestorsOf(p string) []string {
	var out []string
	for dir := path.Dir(p); dir != "/" && dir != "."; dir = path.Dir(dir) {
		out = append(out, dir)
	}
	return out
}

// opaqueMarker is where a layer marks a directory opaque.
func opaqueMarker(dir string) string { return path.Join(dir, stereofile.OpaqueWhiteout) }

// maxLinkHops bounds link resolution, as the kernel's limit of 40 does.
const maxLinkHops = 40

// resolve follows symlinks in p and its parents through the squash: the
// real path and its providing layer, or ok false for a path that does
// not resolve to an entry.
func (s *squashView) resolve(p string) (real string, layer int, ok bool) {
	p = path.Clean("/" + p)
	for hops := 0; hops <= maxLinkHops; {
		if p == "/" {
			return p, -1, true
		}
		parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
		rewritten := false
		for i := range parts {
			prefix := "/" + strings.Join(parts[:i+1], "/")
			k, ch, found := s.provider(prefix)
			if !found {
				return "", -1, false
			}
			if ch.kind != kindSymlink {
				if i == len(parts)-1 {
					return prefix, k, true
				}
				continue
			}
			target := ch.target
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(prefix), target)
			}
			p = path.Clean("/" + path.Join(append([]string{target}, parts[i+1:]...)...))
			hops++
			rewritten = true
			break
		}
		if !rewritten {
			return "", -1, false
		}
	}
	return "", -1, false
}

// signature sums up everything in the image's layers that decides what
// the squash answers at p: every layer's entry at p and at each path the
// answer passes through (links followed), and at their parents wherever
// a layer holds something other than a directory there. Two images whose
// signatures at p are equal answer alike there; layers that hold nothing
// that matters (an application layer elsewhere) do not change it.
func (s *squashView) signature(p string) string {
	h := sha256.New()
	seen := map[string]bool{}
	var visit func(p string, depth int)
	visit = func(p string, depth int) {
		p = path.Clean("/" + p)
		if seen[p] || depth > maxLinkHops {
			return
		}
		seen[p] = true
		paths := append(append([]string{p}, ancestorsOf(p)...), "/")
		for _, q := range paths {
			contested := q == p
			for _, c := range s.layers {
				if ch, ok := c.entries[q]; ok && ch.kind != kindDir {
					contested = true
				}
				if _, ok := c.entries[opaqueMarker(q)]; ok {
					contested = true
				}
			}
			if !contested {
				continue
			}
			for k, c := range s.layers {
				ch, ok := c.at(q)
				_, opaque := c.entries[opaqueMarker(q)]
				if !ok && !opaque {
					continue
				}
				fmt.Fprintf(h, "%s\x00%s\x00%c\x00%s\x00%t\n", s.diffIDs[k], q, ch.kind, ch.target, opaque)
				if ch.kind == kindSymlink {
					target := ch.target
					if !path.IsAbs(target) {
						target = path.Join(path.Dir(q), target)
					}
					visit(path.Join(target, strings.TrimPrefix(p, q)), depth+1)
				}
			}
		}
	}
	visit(p, 0)
	return hex.EncodeToString(h.Sum(nil))
}

// signatures sums up the signatures of paths, in order.
func (s *squashView) signatures(paths []string) string {
	h := sha256.New()
	for _, p := range paths {
		fmt.Fprintf(h, "%s\x00%s\n", p, s.signature(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// globSignatures sums up, for each search in one directory, everything in
// the layers that decides its matches: the directory's own signature and,
// in the directory it resolves to, every layer's entries whose names
// match (and where each link among them leads) and its opaque markers.
func (s *squashView) globSignatures(patterns []string) string {
	h := sha256.New()
	for _, pattern := range patterns {
		dir, name := path.Split(pattern)
		dir = path.Clean(dir)
		fmt.Fprintf(h, "%s\x00%s\n", pattern, s.signature(dir))
		real, _, ok := s.resolve(dir)
		if !ok {
			continue
		}
		for k, c := range s.layers {
			for _, child := range c.childrenOf(real) {
				base := path.Base(child)
				ch := c.entries[child]
				if ch.kind != kindOpaque && !matchName(name, base) {
					continue
				}
				fmt.Fprintf(h, "%s\x00%s\x00%c\x00%s\n", s.diffIDs[k], child, ch.kind, ch.target)
				if ch.kind == kindSymlink {
					fmt.Fprintf(h, "%s\n", s.signature(child))
				}
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// childrenOf lists the layer's entries directly in dir.
func (c *layerChanges) childrenOf(dir string) []string {
	c.indexOnce.Do(func() {
		c.children = map[string][]string{}
		for p := range c.entries {
			c.children[path.Dir(p)] = append(c.children[path.Dir(p)], p)
		}
		for _, list := range c.children {
			slices.Sort(list)
		}
	})
	return c.children[dir]
}

// mayMatchOutside says whether a search pattern may match, in the squash,
// a file of a layer other than the one of diffID. For a pattern of a
// leading "**/" and literal segments after it, a match is an entry of
// another layer whose path matches, or one reached through a link whose
// name matches one of those segments (or a link of the layer itself that
// matches, whose target may be anywhere); for any other pattern, an
// entry of another layer whose name matches its last segment.
func (s *squashView) mayMatchOutside(diffID, pattern string) bool {
	rest, leading := strings.CutPrefix(pattern, "**/")
	segments := strings.Split(rest, "/")
	byPath := leading && !slices.Contains(segments, "**")
	last := lastSegment(pattern)
	for k, c := range s.layers {
		own := s.diffIDs[k] == diffID
		for p, ch := range c.entries {
			if ch.kind != kindFile && ch.kind != kindSymlink {
				continue
			}
			name := path.Base(p)
			if !byPath {
				if !own && matchName(last, name) {
					return true
				}
				continue
			}
			if ch.kind == kindSymlink && slices.ContainsFunc(segments[:len(segments)-1], func(seg string) bool { return matchName(seg, name) }) {
				return true
			}
			if (!own || ch.kind == kindSymlink) && matchName(pattern, strings.TrimPrefix(p, "/")) {
				return true
			}
		}
	}
	return false
}
