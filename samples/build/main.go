// Command build writes dossier's sample images as OCI layouts from root
// filesystem directories, reproducibly: files are added in sorted order
// with fixed owners and timestamps, so the same inputs give the same digests.
//
//	go run ./samples/build -out samples/layouts/go-app -tag latest \
//	    -image linux/amd64=ROOTFS[,ROOTFS2…] [-image linux/arm64=…] [-entrypoint /usr/local/bin/go-app]
//
// One -image gives a single-platform image; several give an index.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type imageFlags []string

func (f *imageFlags) String() string     { return strings.Join(*f, " ") }
func (f *imageFlags) Set(v string) error { *f = append(*f, v); return nil }

// epoch is the timestamp of every file and of the image config.
var epoch = time.Unix(0, 0).UTC()

func main() {
	var images imageFlags
	out := flag.String("out", "", "OCI layout directory to (re)create")
	tag := flag.String("tag", "latest", "tag recorded in the layout's index.json")
	entrypoint := flag.String("entrypoint", "", "image entrypoint")
	workdir := flag.String("workdir", "", "image working directory")
	flag.Var(&images, "image", "os/arch[/variant]=ROOTFS[,ROOTFS…] (repeatable; each ROOTFS is one layer)")
	flag.Parse()
	if *out == "" || len(images) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := build(*out, *tag, *entrypoint, *workdir, images); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
}

func build(out, tag, entrypoint, workdir string, specs []string) error {
	var built []platformImage
	for _, spec := range specs {
		platform, dirs, ok := strings.Cut(spec, "=")
		if !ok {
			return fmt.Errorf("-image %q: want os/arch=ROOTFS", spec)
		}
		img, p, err := buildImage(platform, strings.Split(dirs, ","), entrypoint, workdir)
		if err != nil {
			return err
		}
		built = append(built, platformImage{img, p})
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	lp, err := layout.Write(out, empty.Index)
	if err != nil {
		return err
	}
	annotations := map[string]string{"org.opencontainers.image.ref.name": tag}
	if len(built) == 1 {
		return lp.AppendImage(built[0].image, layout.WithAnnotations(annotations))
	}
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, b := range built {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        b.image,
			Descriptor: v1.Descriptor{Platform: b.platform},
		})
	}
	return lp.AppendIndex(idx, layout.WithAnnotations(annotations))
}

type platformImage struct {
	image    v1.Image
	platform *v1.Platform
}

func buildImage(platform string, rootfs []string, entrypoint, workdir string) (v1.Image, *v1.Platform, error) {
	parts := strings.Split(platform, "/")
	if len(parts) < 2 {
		return nil, nil, fmt.Errorf("platform %q: want os/arch[/variant]", platform)
	}
	p := &v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, dir := range rootfs {
		data, err := tarDir(dir)
		if err != nil {
			return nil, nil, err
		}
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return nil, nil, err
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
			Created: v1.Time{Time: epoch}, CreatedBy: "dossier samples/build: " + filepath.Base(dir),
		}})
		if err != nil {
			return nil, nil, err
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if entrypoint != "" {
		cfg.Config.Entrypoint = []string{entrypoint}
	}
	cfg.Config.WorkingDir = workdir
	img, err = mutate.ConfigFile(img, cfg)
	return img, p, err
}

// tarDir archives dir with paths relative to it, sorted, owned by root and
// stamped with epoch.
func tarDir(dir string) ([]byte, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, path := range paths {
		info, err := os.Lstat(path)
		if err != nil {
			return nil, err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return nil, err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return nil, err
		}
		rel, _ := filepath.Rel(dir, path)
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "root", "root"
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = epoch, time.Time{}, time.Time{}
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if info.Mode().IsRegular() {
			if err := copyFile(tw, path); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}
