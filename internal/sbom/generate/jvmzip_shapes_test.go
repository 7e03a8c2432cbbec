package generate

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// logWhatGoSees logs the entries Go's zip reader finds in jar, read as
// it is, or why it finds none.
func logWhatGoSees(t *testing.T, jar []byte) {
	t.Helper()
	r, err := zip.NewReader(bytes.NewReader(jar), int64(len(jar)))
	if err != nil {
		t.Logf("Go's archive/zip: %v", err)
		return
	}
	for _, f := range r.File {
		t.Logf("Go's archive/zip sees %q", f.Name)
	}
}

// centralHeader is one minimal, valid zip central directory header.
func centralHeader(name string) []byte {
	h := make([]byte, 46, 46+len(name))
	copy(h, "PK\x01\x02")
	binary.LittleEndian.PutUint16(h[4:], 20)
	binary.LittleEndian.PutUint16(h[6:], 20)
	binary.LittleEndian.PutUint16(h[28:], uint16(len(name)))
	return append(h, name...)
}

// decoyBaseOffset prefixes a real jar with filler in which, at the
// absolute offset the jar's end record names as its central directory
// offset, a decoy central directory of as many entries sits. The JVM
// always reads the CEN at endpos-cenlen and the LOCs relative to
// endpos-cenlen-cenoff (a prefixed jar, like a launch-script jar). Go's
// archive/zip computes baseOffset = P > 0 and then, because a valid
// central header is found at the unadjusted offset, silently switches to
// baseOffset 0 and reads the decoy directory instead.
func decoyBaseOffset(t *testing.T, jar []byte) []byte {
	t.Helper()
	end := len(jar) - 22
	count := int(binary.LittleEndian.Uint16(jar[end+10:]))
	cenoff := int(binary.LittleEndian.Uint32(jar[end+16:]))
	var decoy []byte
	for i := range count {
		decoy = append(decoy, centralHeader(strings.Repeat("x", i+1)+".txt")...)
	}
	prefix := make([]byte, cenoff+len(decoy)+16)
	copy(prefix, "just some text\n")
	copy(prefix[cenoff:], decoy)
	return append(prefix, jar...)
}

func TestJVMZipDecoyDirectoryBeforeTheJar(t *testing.T) {
	jar := decoyBaseOffset(t, runnableLog4j(t))
	// what Go's reader sees
	if _, err := zip.NewReader(bytes.NewReader(jar), int64(len(jar))); err != nil {
		t.Fatalf("Go's zip reader does not read it: the shape tests nothing: %v", err)
	}
	logWhatGoSees(t, jar)
	log4jFoundOrRefused(t, jar, "app/lib/log4j-core-2.14.1.jar", "app/lib/a.jar", "app/lib/a.bin")
}

// zip64Relocated rewrites a jar so that its (non-zip64) end record is
// preceded by a zip64 locator and a zip64 end record repeating the end
// record's own values. The JVM (ZipFile.Source.findEND: "must check for a
// ZIP64 end record; it is always permitted to be present") then takes
// endpos from the locator and reads the central directory just before the
// zip64 end record. A reader that looks for zip64 only when the end record holds
// 0xffff/0xffffffff looks for the central directory just before
// the 22-byte end record, finds filler there, and says "no JVM loads it".
func zip64Relocated(t *testing.T, jar []byte, filler []byte) []byte {
	t.Helper()
	end := len(jar) - 22
	count := binary.LittleEndian.Uint16(jar[end+10:])
	cenlen := int(binary.LittleEndian.Uint32(jar[end+12:]))
	cenoff := int(binary.LittleEndian.Uint32(jar[end+16:]))
	out := []byte("#!/bin/sh\n# a launch stub, as some executable jars have\n")
	out = append(out, jar[:end]...) // LOCs and CEN
	out = appendZip64End(out, int(count), cenlen, cenoff, filler)
	return append(out, jar[end:]...) // the same end record: count, cenlen, cenoff
}

func TestJVMZip64LocatorWithoutMarkers(t *testing.T) {
	plain := runnableLog4j(t)
	cenlen := int(binary.LittleEndian.Uint32(plain[len(plain)-22+12:]))
	for name, filler := range map[string][]byte{
		"filler": bytes.Repeat([]byte{'z'}, cenlen),
	} {
		t.Run(name, func(t *testing.T) {
			jar := zip64Relocated(t, plain, filler)
			logWhatGoSees(t, jar)
			log4jFoundOrRefused(t, jar, "app/lib/log4j-core-2.14.1.jar", "app/lib/a.jar")
		})
	}
}

// zip64WithDecoyInComment turns a jar's end into a zip64 end (0xffff /
// 0xffffffff in the end record, a locator and a zip64 end record with the
// real values) whose comment reaches the end of the file and holds a decoy
// central header and a decoy end record. The JVM, scanning back, meets the
// decoy record first: its comment does not reach the end and its "first
// local header" is no local header, so the JVM skips it and takes the
// real zip64 record. jvmZip skips the decoy too, but then hands Go's
// archive/zip the file up to the end of the real record's comment, which
// holds the decoy: Go takes the last end signature whose comment fits
// (findSignatureInBlock), checks no local header, and reads the decoy.
// appendZip64End appends a zip64 end record of count entries and a
// central directory of cenlen bytes at cenoff, then filler, then the zip64
// locator pointing back at the record.
func appendZip64End(out []byte, count, cenlen, cenoff int, filler []byte) []byte {
	end64pos := len(out)
	e64 := make([]byte, 56)
	copy(e64, "PK\x06\x06")
	binary.LittleEndian.PutUint64(e64[4:], 44)
	binary.LittleEndian.PutUint16(e64[12:], 45)
	binary.LittleEndian.PutUint16(e64[14:], 45)
	binary.LittleEndian.PutUint64(e64[24:], uint64(count))
	binary.LittleEndian.PutUint64(e64[32:], uint64(count))
	binary.LittleEndian.PutUint64(e64[40:], uint64(cenlen))
	binary.LittleEndian.PutUint64(e64[48:], uint64(cenoff))
	out = append(append(out, e64...), filler...)
	loc := make([]byte, 20)
	copy(loc, "PK\x06\x07")
	binary.LittleEndian.PutUint64(loc[8:], uint64(end64pos))
	binary.LittleEndian.PutUint32(loc[16:], 1)
	return append(out, loc...)
}

func zip64WithDecoyInComment(t *testing.T, jar []byte) []byte {
	t.Helper()
	end := len(jar) - 22
	count := binary.LittleEndian.Uint16(jar[end+10:])
	cenlen := int(binary.LittleEndian.Uint32(jar[end+12:]))
	cenoff := int(binary.LittleEndian.Uint32(jar[end+16:]))
	out := appendZip64End(bytes.Clone(jar[:end]), int(count), cenlen, cenoff, nil)

	decoyCEN := centralHeader("readme.txt")
	decoyEnd := make([]byte, 22)
	copy(decoyEnd, "PK\x05\x06")
	binary.LittleEndian.PutUint16(decoyEnd[8:], 1)
	binary.LittleEndian.PutUint16(decoyEnd[10:], 1)
	binary.LittleEndian.PutUint32(decoyEnd[12:], uint32(len(decoyCEN)))
	binary.LittleEndian.PutUint32(decoyEnd[16:], 0) // "LOC" = the CEN itself: no LOC signature, the JVM skips it
	comment := append(append(bytes.Clone(decoyCEN), decoyEnd...), '\n')

	rec := make([]byte, 22)
	copy(rec, "PK\x05\x06")
	binary.LittleEndian.PutUint16(rec[8:], 0xffff)
	binary.LittleEndian.PutUint16(rec[10:], 0xffff)
	binary.LittleEndian.PutUint32(rec[12:], 0xffffffff)
	binary.LittleEndian.PutUint32(rec[16:], 0xffffffff)
	binary.LittleEndian.PutUint16(rec[20:], uint16(len(comment)))
	out = append(out, rec...)
	return append(out, comment...)
}

func TestJVMZip64CommentHidingADecoy(t *testing.T) {
	jar := zip64WithDecoyInComment(t, runnableLog4j(t))
	logWhatGoSees(t, jar)
	log4jFoundOrRefused(t, jar, "app/lib/log4j-core-2.14.1.jar", "app/lib/a.jar")
}

// A zip64 record naming sizes and offsets past any file (values a signed
// reading makes negative) is no zip, never a panic.
func TestJVMZip64OutOfRange(t *testing.T) {
	plain := runnableLog4j(t)
	end := len(plain) - 22
	for _, v := range []int{-1, 1 << 62} {
		count := int(binary.LittleEndian.Uint16(plain[end+10:]))
		jar := appendZip64End(bytes.Clone(plain[:end]), count, v, v, nil)
		record := bytes.Clone(plain[end:])
		copy(record[12:20], bytes.Repeat([]byte{0xff}, 8)) // sizes in the zip64 record
		jar = append(jar, record...)
		if _, err := jvmZip(bytes.NewReader(jar), int64(len(jar))); err != nil && !errors.Is(err, errUnreadableJavaZip) {
			t.Errorf("zip64 values %d: %v", v, err)
		}
	}
}

// FuzzJVMZip reads arbitrary bytes as a JVM would read a jar: a zip, no
// zip, or errUnreadableJavaZip, never a panic.
func FuzzJVMZip(f *testing.F) {
	jar := rawZip(f, log4jManifest, log4jPOM)
	f.Add(jar)
	f.Add(append(bytes.Clone(jar), fakeEndRecord()...))
	f.Add(entryCount(jar, 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := jvmZip(bytes.NewReader(data), int64(len(data)))
		if err != nil && !errors.Is(err, errUnreadableJavaZip) {
			return // a read of the bytes themselves failed: nothing to check
		}
		if r != nil {
			for _, f := range r.File {
				if rc, err := f.Open(); err == nil {
					io.Copy(io.Discard, io.LimitReader(rc, 1<<20))
					rc.Close()
				}
			}
		}
	})
}

// twoZipsInOneFile puts two zips in one file (helper-9): other's local
// headers at 0, its central directory at the absolute offset len(jvm's
// local headers), then jvm's local headers and central directory, and one
// end record that points at jvm's directory with jvm's own (relative)
// offset — which is also the absolute offset of other's directory — and
// other's entry count. The JVM reads the directory before the end record
// and counts its entries itself: jvm. Go's archive/zip, finding a valid
// header at the absolute offset, drops its base offset to 0 and reads
// other, whose count matches, and so would a cataloguer.
func twoZipsInOneFile(t *testing.T, jvm, other []byte) []byte {
	t.Helper()
	split := func(z []byte) (locals, central []byte) {
		end := bytes.LastIndex(z, []byte("PK\x05\x06"))
		size := binary.LittleEndian.Uint32(z[end+12:])
		offset := binary.LittleEndian.Uint32(z[end+16:])
		return z[:offset], z[offset : offset+size]
	}
	jvmLocals, jvmCentral := split(jvm)
	otherLocals, otherCentral := split(other)
	if len(otherLocals) > len(jvmLocals) {
		t.Fatal("the other zip must be the smaller")
	}
	f := append([]byte{}, otherLocals...)
	f = append(f, make([]byte, len(jvmLocals)-len(otherLocals))...)
	f = append(f, otherCentral...)
	f = append(f, make([]byte, 64)...)
	f = append(f, jvmLocals...)
	f = append(f, jvmCentral...)
	jvmEnd := bytes.LastIndex(jvm, []byte("PK\x05\x06"))
	otherEnd := bytes.LastIndex(other, []byte("PK\x05\x06"))
	end := append([]byte{}, jvm[jvmEnd:jvmEnd+22]...) // jvm's size and relative offset
	copy(end[8:12], other[otherEnd+8:otherEnd+12])    // other's counts
	return append(f, end...)
}

func TestJVMZipTwoZipsInOneFile(t *testing.T) {
	app := rawZip(t, [2]string{"META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n"},
		[2]string{"META-INF/maven/com.example/app/pom.properties", "groupId=com.example\nartifactId=app\nversion=1.0\n"})
	jar := twoZipsInOneFile(t, runnableLog4j(t), app)
	r, err := zip.NewReader(bytes.NewReader(jar), int64(len(jar)))
	if err != nil || len(r.File) != 2 || r.File[1].Name != "META-INF/maven/com.example/app/pom.properties" {
		t.Fatalf("Go's zip reader does not read the other zip: the shape tests nothing (%v)", err)
	}
	log4jFoundOrRefused(t, jar, "app/lib/app.jar", "app/lib/log4j-core-2.14.1.jar")
}
