package generate

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"path"
	"slices"
	"sort"
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
	// opaque holds the directories the layer marks opaque
	opaque map[string]bool
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
	c := newLayerChanges(0)
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
	if path.Base(p) == stereofile.OpaqueWhiteout {
		c.opaque[path.Dir(p)] = true
	}
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

func newLayerChanges(n int) *layerChanges {
	return &layerChanges{entries: make(map[string]change, n), implied: map[string]bool{}, opaque: map[string]bool{}}
}

func decodeChanges(lines []string) (*layerChanges, error) {
	c := newLayerChanges(len(lines))
	for _, line := range lines {
		if len(line) < 2 || line[1] != '/' {
			return nil, fmt.Errorf("malformed change %q", line)
		}
		kind, rest := line[0], line[1:]
		p, target, _ := strings.Cut(rest, "\x00")
		switch kind {
		case kindFile, kindDir, kindSymlink, kindWhiteout:
		case kindOpaque:
			if path.Base(p) != stereofile.OpaqueWhiteout {
				return nil, fmt.Errorf("malformed change %q: an opaque marker elsewhere than %s", line, stereofile.OpaqueWhiteout)
			}
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

	maskOnce sync.Once
	// masks holds every path where some layer holds an entry other than a
	// directory or marks the directory opaque: only there does a layer
	// hide what is below a path, and only there is an ancestor of a path
	// contested
	masks map[string]bool
	// links holds every path where some layer holds a symlink
	links map[string]bool
}

func (s *squashView) masking(p string) bool {
	s.index()
	return s.masks[p]
}

// index finds, once, the paths where a layer masks what is below and
// those where a layer holds a link.
func (s *squashView) index() {
	s.maskOnce.Do(func() {
		s.masks, s.links = map[string]bool{}, map[string]bool{}
		for _, c := range s.layers {
			for q, ch := range c.entries {
				if ch.kind != kindDir {
					s.masks[q] = true
				}
				if ch.kind == kindSymlink {
					s.links[q] = true
				}
			}
			for q := range c.opaque {
				s.masks[q] = true
			}
		}
	})
}

// mayResolveElsewhere says resolve may answer p with another path: p is
// not clean and absolute, or a layer holds a link at p or a parent.
func (s *squashView) mayResolveElsewhere(p string) bool {
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p {
		return true
	}
	s.index()
	for q, ok := p, true; ok; q, ok = parentOf(q) {
		if s.links[q] {
			return true
		}
	}
	return false
}

// parentOf is path.Dir of a clean path, and false at the top ("/" or a
// relative path's first segment).
func parentOf(p string) (string, bool) {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "", false
	}
	return p[:i], true
}

// provider is the index of the layer whose entry is at p in the squash,
// and that entry; ok is false when nothing is there.
func (s *squashView) provider(p string) (int, change, bool) {
	for k := len(s.layers) - 1; k >= 0; k-- {
		c := s.layers[k]
		if ch, ok := c.at(p); ok {
			if ch.kind == kindWhiteout {
				return -1, change{}, false
			}
			return k, ch, true
		}
		for a, ok := parentOf(p); ok; a, ok = parentOf(a) {
			if !s.masking(a) {
				continue
			}
			// deleted, or masked by a file or a link
			if ch, ok := c.entries[a]; ok && ch.kind != kindDir {
				return -1, change{}, false
			}
			// an opaque directory above p hides the layers below
			if c.opaque[a] {
				return -1, change{}, false
			}
		}
		if c.opaque["/"] {
			return -1, change{}, false
		}
	}
	return -1, change{}, false
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
	for hops := 0; hops <= maxLinkHops; hops++ {
		if p == "/" {
			return p, -1, true
		}
		// each prefix of p, shortest first, until a link rewrites p
		for end := 0; ; {
			next := strings.IndexByte(p[end+1:], '/')
			if next < 0 {
				end = len(p)
			} else {
				end += 1 + next
			}
			prefix := p[:end]
			k, ch, found := s.provider(prefix)
			if !found {
				return "", -1, false
			}
			if ch.kind != kindSymlink {
				if end == len(p) {
					return prefix, k, true
				}
				continue
			}
			target := ch.target
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(prefix), target)
			}
			p = path.Clean("/" + path.Join(target, p[end:]))
			break
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
	w := newSigWriter()
	w.path(s, p)
	return w.sum()
}

// signatures sums up the signatures of paths, in order.
func (s *squashView) signatures(paths []string) string {
	w := newSigWriter()
	for _, p := range paths {
		w.path(s, p)
	}
	return w.sum()
}

// globSignatures sums up, for each search in one directory, everything in
// the layers that decides its matches: the directory's own signature and,
// in the directory it resolves to, every layer's opaque marker there and
// its entries whose names match (and where each link among them leads).
func (s *squashView) globSignatures(patterns []string) string {
	w := newSigWriter()
	for _, pattern := range patterns {
		dir, name := path.Split(pattern)
		dir = path.Clean(dir)
		w.field(pattern)
		w.path(s, dir)
		real, _, ok := s.resolve(dir)
		if !ok {
			w.buf = append(w.buf, 2) // the directory is not there
			continue
		}
		// names matching the pattern share its literal start: only the
		// children sorted from there are matched
		from := real
		if from != "/" {
			from += "/"
		}
		from += name[:strings.IndexAny(name+"*", `*?[{\`)]
		for k, c := range s.layers {
			if c.opaque[real] {
				w.line(s.diffIDs[k], opaqueMarker(real), change{kind: kindOpaque}, false)
			}
			children := c.childrenOf(real)
			for _, child := range children[sort.SearchStrings(children, from):] {
				if !strings.HasPrefix(child, from) {
					break
				}
				ch := c.entries[child]
				if ch.kind == kindOpaque || !matchName(name, path.Base(child)) {
					continue
				}
				w.line(s.diffIDs[k], child, ch, false)
				if ch.kind == kindSymlink {
					w.path(s, child)
				}
			}
		}
		w.end()
	}
	return w.sum()
}

// sigWriter streams what signatures sum up into one SHA-256, every field
// length-prefixed so that no two different inputs read alike.
type sigWriter struct {
	h    hash.Hash
	buf  []byte
	seen map[string]bool
}

func newSigWriter() *sigWriter {
	return &sigWriter{h: sha256.New(), buf: make([]byte, 0, 64<<10), seen: map[string]bool{}}
}

func (w *sigWriter) field(v string) {
	w.buf = binary.AppendUvarint(w.buf, uint64(len(v)))
	w.buf = append(w.buf, v...)
	if len(w.buf) >= 60<<10 {
		w.h.Write(w.buf)
		w.buf = w.buf[:0]
	}
}

// line records a layer's entry at q.
func (w *sigWriter) line(diffID, q string, ch change, opaque bool) {
	w.buf = append(w.buf, 1, ch.kind)
	if opaque {
		w.buf = append(w.buf, 1)
	} else {
		w.buf = append(w.buf, 0)
	}
	w.field(diffID)
	w.field(q)
	w.field(ch.target)
}

// end closes a path's lines.
func (w *sigWriter) end() { w.buf = append(w.buf, 0) }

// path writes p and every layer's entry at each path its answer passes
// through: p, its parents where contested, and where links lead.
func (w *sigWriter) path(s *squashView, p string) {
	w.field(p)
	clear(w.seen)
	w.visit(s, p, 0)
	w.end()
}

func (w *sigWriter) visit(s *squashView, p string, depth int) {
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p {
		p = path.Clean("/" + p)
	}
	if w.seen[p] || depth > maxLinkHops {
		return
	}
	w.seen[p] = true
	for q, more := p, true; more; {
		// p itself always counts; a parent only where a layer holds
		// something other than a directory or marks it opaque
		if q == p || s.masking(q) {
			for k, c := range s.layers {
				ch, ok := c.at(q)
				opaque := c.opaque[q]
				if !ok && !opaque {
					continue
				}
				w.line(s.diffIDs[k], q, ch, opaque)
				if ch.kind == kindSymlink {
					target := ch.target
					if !path.IsAbs(target) {
						target = path.Join(path.Dir(q), target)
					}
					w.visit(s, path.Join(target, strings.TrimPrefix(p, q)), depth+1)
				}
			}
		}
		switch parent, ok := parentOf(q); {
		case ok:
			q = parent
		case q != "/":
			q = "/"
		default:
			more = false
		}
	}
}

func (w *sigWriter) sum() string {
	w.h.Write(w.buf)
	return hex.EncodeToString(w.h.Sum(nil))
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
