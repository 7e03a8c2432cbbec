package generate

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
// dossier cannot read it so.
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
		entries := binary.LittleEndian.Uint16(end[10:])
		centralBytes := int64(binary.LittleEndian.Uint32(end[12:]))
		centralOffset := int64(binary.LittleEndian.Uint32(end[16:]))
		commentBytes := int64(binary.LittleEndian.Uint16(end[20:]))
		centralAt := endAt - centralBytes
		reachesTheEnd := endAt+endRecordBytes+commentBytes == size
		pointsAtAZip := hasSignature(at, centralAt, centralSignature) && hasSignature(at, centralAt-centralOffset, localSignature)
		if !reachesTheEnd && !pointsAtAZip {
			continue // the JVM skips a record that points at nothing
		}
		if entries == 0xffff || centralBytes == 0xffffffff || centralOffset == 0xffffffff {
			// zip64: Go's reader follows the locator before this record
			cut := min(size, endAt+endRecordBytes+commentBytes)
			r, err := zip.NewReader(io.NewSectionReader(at, 0, cut), cut)
			if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
				return nil, fmt.Errorf("%w (zip64: %v)", errUnreadableJavaZip, err)
			}
			return r, nil
		}
		if centralAt < 0 || centralAt-centralOffset < 0 {
			return nil, nil // the JVM refuses it too
		}
		if centralBytes > maxCentralDirectoryBytes {
			return nil, fmt.Errorf("%w: its central directory has %d MiB, more than the %d MiB dossier reads", errUnreadableJavaZip, centralBytes>>20, maxCentralDirectoryBytes>>20)
		}
		count, ok := countCentralHeaders(at, centralAt, centralBytes)
		if !ok {
			return nil, nil // the JVM refuses a central directory it cannot walk
		}
		// the file up to the record the JVM chose, then that record with
		// the count the JVM counted and no comment
		record := bytes.Clone(end)
		binary.LittleEndian.PutUint16(record[8:], uint16(count))
		binary.LittleEndian.PutUint16(record[10:], uint16(count))
		binary.LittleEndian.PutUint16(record[20:], 0)
		r, err := zip.NewReader(&overlay{ReaderAt: at, at: endAt, record: record}, endAt+endRecordBytes)
		if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
			return nil, fmt.Errorf("%w: %v", errUnreadableJavaZip, err)
		}
		return r, nil
	}
	return nil, nil
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

// overlay is a file cut at an end record, with that record replaced.
type overlay struct {
	io.ReaderAt
	at     int64
	record []byte
}

func (o *overlay) ReadAt(p []byte, off int64) (int, error) {
	size := o.at + int64(len(o.record))
	if off >= size {
		return 0, io.EOF
	}
	n := 0
	if off < o.at {
		head := p[:min(int64(len(p)), o.at-off)]
		m, err := o.ReaderAt.ReadAt(head, off)
		n += m
		if m < len(head) {
			return n, err
		}
	}
	if rest := p[n:]; len(rest) > 0 {
		n += copy(rest, o.record[off+int64(n)-o.at:])
	}
	if off+int64(n) >= size && n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
