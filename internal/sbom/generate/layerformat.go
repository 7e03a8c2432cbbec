package generate

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"

	"github.com/anchore/syft/syft/artifact"
	"github.com/anchore/syft/syft/format/syftjson"
	"github.com/anchore/syft/syft/pkg"
	syftsbom "github.com/anchore/syft/syft/sbom"
)

// A stored layer analysis (layerFormat 2) is a gzip of one binary record:
// its fields in a fixed order, strings and byte strings length-prefixed,
// lists counted and front-coded (each string as the bytes it shares with
// the one before and the rest). The catalogue is syft JSON without the
// packages' file lists (a dpkg package's every file and its digest, most
// of an OS layer's bytes), which follow as gob, one list a package: the
// list's type is the metadata's own, so nothing but that type is decoded.

// encode writes the stored form of an analysis.
func (a *layerAnalysis) encode() ([]byte, error) {
	size := len(a.Catalogue) + len(a.Descriptor) + 1024
	for _, l := range [][]string{a.Changes, a.Paths, a.Names, a.Globs} {
		for _, s := range l {
			size += len(s) + 4
		}
	}
	for _, l := range a.FileLists {
		size += len(l.Package) + len(l.List) + 8
	}
	w := recordWriter{buf: make([]byte, 0, size)}
	w.uint(uint64(a.Format))
	w.string(a.Config)
	w.string(a.DiffID)
	w.uint(uint64(a.Size))
	w.list(a.Changes)
	w.list(a.Paths)
	w.string(a.PathsSignature)
	w.list(a.Names)
	w.list(a.Globs)
	w.string(a.GlobsSignature)
	w.bytes(a.Catalogue)
	w.uint(uint64(len(a.FileLists)))
	for _, l := range a.FileLists {
		w.string(l.Package)
		w.bytes(l.List)
	}
	w.bytes(a.Descriptor)
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(w.buf); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// maxAnalysisBytes bounds what a stored analysis unpacks to.
const maxAnalysisBytes = 512 << 20

// decodeAnalysis reads a stored analysis and checks it is the one asked
// for: a format, configuration or layer other than the key's is refused.
func decodeAnalysis(entry []byte, configKey, diffID string) (*layerAnalysis, error) {
	zr, err := gzip.NewReader(bytes.NewReader(entry))
	if err != nil {
		return nil, err
	}
	// gzip's trailer gives the size unpacked (modulo 4 GiB): read into a
	// buffer of that size, as far as the entry's own size makes it likely
	// (an entry may say anything there)
	var buf bytes.Buffer
	if n := len(entry); n >= 4 {
		buf.Grow(int(min(binary.LittleEndian.Uint32(entry[n-4:]), uint32(min(16*n, maxAnalysisBytes)))) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(io.LimitReader(zr, maxAnalysisBytes+1)); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	if len(data) > maxAnalysisBytes {
		return nil, fmt.Errorf("over %d MiB", maxAnalysisBytes>>20)
	}
	r := recordReader{buf: data}
	a := &layerAnalysis{Format: int(r.uint())}
	if r.err == nil && a.Format != layerFormat {
		return nil, fmt.Errorf("format %d, want %d", a.Format, layerFormat)
	}
	a.Config, a.DiffID, a.Size = r.string(), r.string(), int64(r.uint())
	a.Changes, a.Paths, a.PathsSignature = r.list(), r.list(), r.string()
	a.Names, a.Globs, a.GlobsSignature = r.list(), r.list(), r.string()
	a.Catalogue = r.bytes()
	n := r.count()
	for range n {
		a.FileLists = append(a.FileLists, fileList{Package: r.string(), List: r.bytes()})
	}
	a.Descriptor = r.bytes()
	if r.err == nil && len(r.buf) > 0 {
		r.err = fmt.Errorf("%d bytes after the record", len(r.buf))
	}
	if r.err != nil {
		return nil, fmt.Errorf("reading the analysis: %w", r.err)
	}
	if a.Config != configKey || a.DiffID != diffID {
		return nil, fmt.Errorf("stored under layer %s and configuration %s, it is of layer %s and configuration %s", diffID, configKey, a.DiffID, a.Config)
	}
	if a.changes, err = decodeChanges(a.Changes); err != nil {
		return nil, err
	}
	if a.sbom, err = decodeCatalogue(a.Catalogue, a.FileLists); err != nil {
		return nil, err
	}
	a.packages = a.sbom.Artifacts.Packages.Sorted()
	return a, nil
}

// fileList is a package's file list, kept apart from the catalogue.
type fileList struct {
	Package string // the package's ID
	List    []byte // gob of the metadata's Files
}

// filesField is the file list of a package's metadata: its field Files
// when it is a slice (dpkg, RPM, apk, ALPM, Python, Portage …), on a
// copy of the metadata that may be set.
func filesField(metadata any) (copied, files reflect.Value, ok bool) {
	v := reflect.ValueOf(metadata)
	if !v.IsValid() || v.Kind() != reflect.Struct {
		return reflect.Value{}, reflect.Value{}, false
	}
	copied = reflect.New(v.Type()).Elem()
	copied.Set(v)
	files = copied.FieldByName("Files")
	if !files.IsValid() || files.Kind() != reflect.Slice || !files.CanSet() {
		return reflect.Value{}, reflect.Value{}, false
	}
	return copied, files, true
}

// encodeCatalogue is what syft found, as syft JSON with the packages' file
// lists apart (a list gob cannot encode stays in the JSON).
func encodeCatalogue(s *syftsbom.SBOM) ([]byte, []fileList, error) {
	doc := syftjson.ToFormatModel(*s, syftjson.DefaultEncoderConfig())
	var lists []fileList
	for i, p := range doc.Artifacts {
		copied, files, ok := filesField(p.Metadata)
		if !ok || files.Len() == 0 {
			continue
		}
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).EncodeValue(files); err != nil {
			continue
		}
		files.SetZero()
		doc.Artifacts[i].Metadata = copied.Interface()
		lists = append(lists, fileList{Package: p.ID, List: buf.Bytes()})
	}
	data, err := json.Marshal(doc)
	return data, lists, err
}

// decodeCatalogue reads a catalogue and gives its packages their file
// lists back (and the relationships naming them, the packages as they
// are).
func decodeCatalogue(data []byte, lists []fileList) (*syftsbom.SBOM, error) {
	s, _, _, err := syftjson.NewFormatDecoder().Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("reading the catalogue: %w", err)
	}
	if len(lists) == 0 {
		return s, nil
	}
	// the packages as the collection holds them (its Package deep-copies
	// one)
	byID := map[artifact.ID]*pkg.Package{}
	for _, p := range s.Artifacts.Packages.Sorted() {
		byID[p.ID()] = &p
	}
	restored := map[artifact.ID]pkg.Package{}
	for _, l := range lists {
		id := artifact.ID(l.Package)
		p := byID[id]
		if p == nil {
			return nil, fmt.Errorf("reading the catalogue: a file list of package %s, which it does not hold", l.Package)
		}
		copied, files, ok := filesField(p.Metadata)
		if !ok || files.Len() != 0 {
			return nil, fmt.Errorf("reading the catalogue: package %s takes no file list", l.Package)
		}
		if err := gob.NewDecoder(bytes.NewReader(l.List)).DecodeValue(files.Addr()); err != nil {
			return nil, fmt.Errorf("reading the file list of package %s: %w", l.Package, err)
		}
		p.Metadata = copied.Interface()
		s.Artifacts.Packages.Delete(id)
		s.Artifacts.Packages.Add(*p)
		restored[id] = *p
	}
	for i, r := range s.Relationships {
		if p, ok := restored[r.From.ID()]; ok {
			if _, isPkg := r.From.(pkg.Package); isPkg {
				s.Relationships[i].From = p
			}
		}
		if p, ok := restored[r.To.ID()]; ok {
			if _, isPkg := r.To.(pkg.Package); isPkg {
				s.Relationships[i].To = p
			}
		}
	}
	return s, nil
}

// recordWriter and recordReader are the stored record's encoding.
type recordWriter struct{ buf []byte }

func (w *recordWriter) uint(v uint64)   { w.buf = binary.AppendUvarint(w.buf, v) }
func (w *recordWriter) string(s string) { w.uint(uint64(len(s))); w.buf = append(w.buf, s...) }
func (w *recordWriter) bytes(b []byte)  { w.uint(uint64(len(b))); w.buf = append(w.buf, b...) }

// list front-codes a list of strings.
func (w *recordWriter) list(l []string) {
	w.uint(uint64(len(l)))
	prev := ""
	for _, s := range l {
		shared := 0
		for shared < len(s) && shared < len(prev) && s[shared] == prev[shared] {
			shared++
		}
		w.uint(uint64(shared))
		w.string(s[shared:])
		prev = s
	}
}

type recordReader struct {
	buf []byte
	err error
}

var errTruncated = errors.New("truncated")

func (r *recordReader) uint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.err = errTruncated
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

// count reads a count of items, each at least one byte: no more than the
// bytes left.
func (r *recordReader) count() int {
	n := r.uint()
	if r.err == nil && n > uint64(len(r.buf)) {
		r.err = fmt.Errorf("%d items in %d bytes", n, len(r.buf))
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

func (r *recordReader) bytes() []byte {
	n := r.uint()
	if r.err == nil && n > uint64(len(r.buf)) {
		r.err = errTruncated
	}
	if r.err != nil {
		return nil
	}
	b := r.buf[:n:n]
	r.buf = r.buf[n:]
	return b
}

func (r *recordReader) string() string { return string(r.bytes()) }

func (r *recordReader) list() []string {
	n := r.count()
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	prev := ""
	for range n {
		shared, rest := r.uint(), r.bytes()
		if r.err == nil && shared > uint64(len(prev)) {
			r.err = fmt.Errorf("a string sharing %d bytes of one of %d", shared, len(prev))
		}
		if r.err != nil {
			return nil
		}
		s := prev[:shared] + string(rest)
		out = append(out, s)
		prev = s
	}
	return out
}
