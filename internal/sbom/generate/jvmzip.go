package generate

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/mholt/archives"
)

// A JVM does not find a jar's central directory as Go's archive/zip (and
// the zip readers syft uses) do: it searches back from the end for an end
// record whose comment reaches the end of the file, or whose central
// directory and first local header really are where it says (skipping a
// record that fails both, such as a bogus one appended after the real
// one), and it counts the central directory's entries itself instead of
// trusting the record's count. A jar spelled to pass the JVM's checks and
// fail Go's would load, yet look like no zip at all to a cataloguer.
// jvmZip reads a file as the JVM does and hands Go's reader that view.

const (
	endSignature       = "PK\x05\x06"
	centralSignature   = "PK\x01\x02"
	localSignature     = "PK\x03\x04"
	endRecordBytes     = 22
	centralHeaderBytes = 46
	maxZipComment      = 0xffff
	// maxCentralDirectoryBytes bounds the central directory dossier reads
	// of one file: a jar of 100,000 entries has some 8 MiB.
	maxCentralDirectoryBytes = 64 << 20
)

// errUnreadableJavaZip says a file is a zip a JVM opens that dossier
// cannot read the same way.
var errUnreadableJavaZip = errors.New("a zip a JVM opens that dossier cannot read as the JVM does")

// jvmZip returns the zip a JVM would find in a file of size bytes, nil
// when a JVM would find none, or errUnreadableJavaZip when it would and
// dossier cannot read it so. Go's reader is handed only what the JVM
// reads — from the JVM's first local header to the end of its central
// directory, then an end record of the JVM's values — so that it has no
// other end record, comment or base offset to choose.
func jvmZip(at io.ReaderAt, size int64) (*zip.Reader, error) {
	tailStart := max(0, size-endRecordBytes-maxZipComment)
	tail := make([]byte, size-tailStart)
	if _, err := at.ReadAt(tail, tailStart); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	for i := bytes.LastIndex(tail, []byte(endSignature)); i >= 0; i = bytes.LastIndex(tail[:i], []byte(endSignature)) {
		if i+endRecordBytes > len(tail) {
			continue
		}
		end := tail[i : i+endRecordBytes]
		endAt := tailStart + int64(i)
		entries := int64(binary.LittleEndian.Uint16(end[10:]))
		centralBytes := int64(binary.LittleEndian.Uint32(end[12:]))
		centralOffset := int64(binary.LittleEndian.Uint32(end[16:]))
		commentBytes := int64(binary.LittleEndian.Uint16(end[20:]))
		reachesTheEnd := endAt+endRecordBytes+commentBytes == size
		pointsAtAZip := hasSignature(at, endAt-centralBytes, centralSignature) && hasSignature(at, endAt-centralBytes-centralOffset, localSignature)
		if !reachesTheEnd && !pointsAtAZip {
			continue // the JVM skips a record that points at nothing
		}
		// the JVM always looks for a zip64 locator before the record, and
		// takes the zip64 record's values where they do not contradict it
		if zip64At, ok := zip64Locator(at, endAt); ok {
			if z, ok := zip64End(at, zip64At); ok &&
				(centralBytes == 0xffffffff || z.centralBytes == centralBytes) &&
				(centralOffset == 0xffffffff || z.centralOffset == centralOffset) &&
				(entries == 0xffff || z.entries == entries) {
				centralBytes, centralOffset, endAt = z.centralBytes, z.centralOffset, zip64At
			}
		}
		centralAt := endAt - centralBytes
		base := centralAt - centralOffset
		if centralBytes < 0 || centralOffset < 0 || centralAt < 0 || base < 0 {
			return nil, nil // the JVM refuses it too
		}
		if centralBytes > maxCentralDirectoryBytes {
			return nil, fmt.Errorf("%w: its central directory has %d MiB, more than the %d MiB dossier reads", errUnreadableJavaZip, centralBytes>>20, maxCentralDirectoryBytes>>20)
		}
		count, ok := countCentralHeaders(at, centralAt, centralBytes)
		if !ok {
			return nil, nil // the JVM refuses a central directory it cannot walk
		}
		if count > 0xffff || centralAt-base > 0xffffffff {
			return nil, fmt.Errorf("%w: %d entries, or a central directory past 4 GiB", errUnreadableJavaZip, count)
		}
		record := make([]byte, endRecordBytes)
		copy(record, endSignature)
		binary.LittleEndian.PutUint16(record[8:], uint16(count))
		binary.LittleEndian.PutUint16(record[10:], uint16(count))
		binary.LittleEndian.PutUint32(record[12:], uint32(centralBytes))
		binary.LittleEndian.PutUint32(record[16:], uint32(centralAt-base))
		view := &overlay{ReaderAt: at, base: base, length: centralAt + centralBytes - base, record: record}
		r, err := zip.NewReader(view, view.length+endRecordBytes)
		if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
			return nil, fmt.Errorf("%w: %v", errUnreadableJavaZip, err)
		}
		if len(r.File) != count {
			return nil, fmt.Errorf("%w: %d entries where the JVM counts %d", errUnreadableJavaZip, len(r.File), count)
		}
		// cataloguers open the whole file with Go's reader, which may
		// choose another base offset (two zips in one file): what they
		// read must be what the JVM loads
		if raw, err := zip.NewReader(at, size); err == nil && !sameEntries(raw.File, r.File) {
			return nil, fmt.Errorf("%w: Go's zip reader, as cataloguers open the file, finds other entries than the JVM", errUnreadableJavaZip)
		}
		return r, nil
	}
	return nil, nil
}

// sameEntries says whether two readings of a zip list the same entries:
// names, checksums and sizes, in order.
func sameEntries(a, b []*zip.File) bool {
	return slices.EqualFunc(a, b, func(x, y *zip.File) bool {
		return x.Name == y.Name && x.CRC32 == y.CRC32 && x.UncompressedSize64 == y.UncompressedSize64
	})
}

// zip64Locator says where the zip64 end record is, when a locator stands
// just before the end record at endAt.
func zip64Locator(at io.ReaderAt, endAt int64) (int64, bool) {
	if endAt < 20 {
		return 0, false
	}
	locator := make([]byte, 20)
	if n, _ := at.ReadAt(locator, endAt-20); n != 20 || string(locator[:4]) != "PK\x06\x07" {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(locator[8:])), true
}

type zip64Record struct{ entries, centralBytes, centralOffset int64 }

// zip64End reads the zip64 end record at offset.
func zip64End(at io.ReaderAt, offset int64) (zip64Record, bool) {
	if offset < 0 {
		return zip64Record{}, false
	}
	b := make([]byte, 56)
	if n, _ := at.ReadAt(b, offset); n != 56 || string(b[:4]) != "PK\x06\x06" {
		return zip64Record{}, false
	}
	return zip64Record{entries: int64(binary.LittleEndian.Uint64(b[32:])), centralBytes: int64(binary.LittleEndian.Uint64(b[40:])),
		centralOffset: int64(binary.LittleEndian.Uint64(b[48:]))}, true
}

// hasSignature says the four bytes at offset are signature.
func hasSignature(at io.ReaderAt, offset int64, signature string) bool {
	if offset < 0 {
		return false
	}
	b := make([]byte, 4)
	n, _ := at.ReadAt(b, offset)
	return n == 4 && string(b) == signature
}

// countCentralHeaders walks a central directory of length bytes at offset
// as the JVM does, saying how many headers it holds, or false when one is
// not a central header.
func countCentralHeaders(at io.ReaderAt, offset, length int64) (int, bool) {
	directory := make([]byte, length)
	if n, _ := at.ReadAt(directory, offset); int64(n) != length {
		return 0, false
	}
	count := 0
	for pos := 0; pos+centralHeaderBytes <= len(directory); count++ {
		header := directory[pos:]
		if string(header[:4]) != centralSignature {
			return 0, false
		}
		pos += centralHeaderBytes + int(binary.LittleEndian.Uint16(header[28:])) + int(binary.LittleEndian.Uint16(header[30:])) + int(binary.LittleEndian.Uint16(header[32:]))
	}
	return count, true
}

// overlay is length bytes of a file from base, then an end record.
type overlay struct {
	io.ReaderAt
	base, length int64
	record       []byte
}

func (o *overlay) ReadAt(p []byte, off int64) (int, error) {
	size := o.length + int64(len(o.record))
	if off < 0 || off >= size {
		return 0, io.EOF
	}
	n := 0
	if off < o.length {
		head := p[:min(int64(len(p)), o.length-off)]
		m, err := o.ReaderAt.ReadAt(head, o.base+off)
		n += m
		if m < len(head) {
			return n, err
		}
	}
	if rest := p[n:]; len(rest) > 0 {
		n += copy(rest, o.record[off+int64(n)-o.length:])
	}
	if off+int64(n) >= size && n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// archiveAtHead names the archive or compression format a file is from
// its head, as cataloguers identify files (mholt/archives, which syft
// reads archives with, by content alone): "" for none, or for a zip (a
// jar's own local header; a launch script before an executable jar).
func archiveAtHead(ctx context.Context, at io.ReaderAt, size int64) string {
	format, _, err := archives.Identify(ctx, "", io.NewSectionReader(at, 0, size))
	if err != nil {
		return "" // archives.NoMatch, or a head it cannot read: nothing a cataloguer reads as an archive
	}
	if _, zip := format.(archives.Zip); zip {
		return ""
	}
	return strings.TrimPrefix(format.Extension(), ".") + " archive"
}
