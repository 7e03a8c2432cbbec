package generate

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// jarImage is an image holding one jar, /app/app.jar.
func jarImage(t *testing.T, content []byte) *oci.Artifact {
	t.Helper()
	return layoutOf(t, testutil.FileImage(t, "app/app.jar", content))
}

// A fat jar's nested jars are catalogued: log4j inside a Spring Boot jar
// is found.
func TestNestedJarsCatalogued(t *testing.T) {
	doc, err := Document(context.Background(), jarImage(t, testutil.FatJar(t)), Options{Created: created})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, c := range doc.Components {
		found[c.PURL] = true
	}
	for _, want := range []string{"pkg:maven/org.example/app@1.0.0", "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"} {
		if !found[want] {
			t.Errorf("%s not catalogued: %v", want, found)
		}
	}
}

// A jar of jars of zeros — kilobytes that unpack to far more than the
// bound, each nested jar storing its zeros uncompressed so that unpacking
// the outer jar writes them all — fails cataloguing with the archive
// named, never fills the disk, and leaves nothing behind.
func TestNestedArchivesAreBounded(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	const bound = 16 << 20
	bomb := testutil.MavenJar(t, "org.example", "zeros", "1", map[string]io.Reader{"zeros.bin": io.LimitReader(zeros{}, 64<<20)}, "zeros.bin")
	nested := map[string]io.Reader{}
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		nested["BOOT-INF/lib/"+name+".jar"] = bytes.NewReader(bomb)
	}
	outer := testutil.MavenJar(t, "org.example", "app", "1.0.0", nested)
	a := jarImage(t, outer)

	var peak int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			peak = max(peak, du(tmp))
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	_, err := Generate(context.Background(), a, Options{MaxArchiveBytes: bound})
	close(done)
	wg.Wait()
	var notCatalogued *ErrArchiveNotCatalogued
	if !errors.As(err, &notCatalogued) || notCatalogued.Path != "/app/app.jar" {
		t.Errorf("want app.jar not catalogued, got %v", err)
	}
	if peak > 2*bound {
		t.Errorf("cataloguing a %d KiB jar wrote %d MiB to disk, bound %d MiB", len(outer)>>10, peak>>20, bound>>20)
	}
	if left := du(tmp); left != 0 {
		t.Errorf("%d bytes left behind in the temporary directory", left)
	}
}

// du is the bytes of the regular files under dir.
func du(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}
