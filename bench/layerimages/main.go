// Command layerimages pushes a set of images sharing bases to a registry,
// for bench/layers.sh: BASES Debian bases, each made of this machine's real
// Debian package database (dpkg status, file lists, copyright files) and a
// distinct share of its shared libraries and programs, and APPS application
// images on each, whose one layer holds a real application: the npm and Go
// samples, or a share of this machine's Python packages. Every layer is
// distinct where it should be (a base's own marker, an application's id),
// so that bases are shared only by their own applications. It prints the
// references pushed, one a line.
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
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	registry := flag.String("registry", "", "host:port of the registry (plain HTTP)")
	bases := flag.Int("bases", 4, "base images")
	apps := flag.Int("apps", 5, "application images on each base")
	baseMB := flag.Int64("base-mb", 40, "bytes of libraries and programs in each base's second layer, MB")
	samples := flag.String("samples", "samples/layouts", "the sample layouts (npm-app, go-app)")
	flag.Parse()
	if err := run(*registry, *bases, *apps, *baseMB<<20, *samples); err != nil {
		fmt.Fprintln(os.Stderr, "layerimages:", err)
		os.Exit(1)
	}
}

func run(registry string, bases, apps int, baseBytes int64, samples string) error {
	packagesDB, err := hostFiles(nil, "/etc/os-release", "/usr/lib/os-release", "/etc/debian_version", "/var/lib/dpkg/status", "/var/lib/dpkg/info", "/usr/share/doc")
	if err != nil {
		return err
	}
	packagesDB = slices.DeleteFunc(packagesDB, func(f hostFile) bool {
		return strings.HasPrefix(f.path, "/usr/share/doc/") && filepath.Base(f.path) != "copyright" && f.mode.IsRegular()
	})
	programs, err := hostFiles(func(f hostFile) bool { return f.mode.IsRegular() }, "/usr/lib/x86_64-linux-gnu", "/usr/bin", "/usr/sbin")
	if err != nil {
		return err
	}
	python, err := hostFiles(nil, "/usr/lib/python3/dist-packages")
	if err != nil {
		return err
	}
	npm, err := sampleLayer(samples, "npm-app")
	if err != nil {
		return err
	}
	goApp, err := sampleLayer(samples, "go-app")
	if err != nil {
		return err
	}
	for b := range bases {
		osLayer, err := layerOf(append(slices.Clone(packagesDB), marker("/etc/base-id", fmt.Sprint("base ", b))))
		if err != nil {
			return err
		}
		var share []hostFile
		var size int64
		for i, f := range programs {
			if i%bases == b && size+f.size <= baseBytes {
				share = append(share, f)
				size += f.size
			}
		}
		libLayer, err := layerOf(share)
		if err != nil {
			return err
		}
		for a := range apps {
			id := marker("/app/id", fmt.Sprintf("base %d app %d", b, a))
			var app v1.Layer
			switch a % 3 {
			case 0:
				app, err = withFile(npm, id)
			case 1:
				app, err = withFile(goApp, id)
			default:
				var pkgs []hostFile
				for i, f := range python {
					if i%(apps+1) == a%(apps+1) {
						pkgs = append(pkgs, f)
					}
				}
				app, err = layerOf(append(pkgs, id))
			}
			if err != nil {
				return err
			}
			img, err := mutate.AppendLayers(empty.Image, osLayer, libLayer, app)
			if err != nil {
				return err
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				return err
			}
			cfg = cfg.DeepCopy()
			cfg.OS, cfg.Architecture = "linux", "amd64"
			if img, err = mutate.ConfigFile(img, cfg); err != nil {
				return err
			}
			ref, err := name.ParseReference(fmt.Sprintf("%s/bench/base%d:app%d", registry, b, a), name.Insecure)
			if err != nil {
				return err
			}
			if err := remote.Write(ref, img); err != nil {
				return err
			}
			fmt.Println(ref.String())
		}
	}
	return nil
}

type hostFile struct {
	path, link string
	mode       fs.FileMode
	size       int64
	body       []byte // set for made-up files
}

func marker(path, body string) hostFile {
	return hostFile{path: path, mode: 0o644, size: int64(len(body)), body: []byte(body)}
}

// hostFiles lists files of this machine under roots (directories and
// links included, unless keep refuses them), sorted.
func hostFiles(keep func(hostFile) bool, roots ...string) ([]hostFile, error) {
	var out []hostFile
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // unreadable: left out
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			f := hostFile{path: p, mode: info.Mode(), size: info.Size()}
			if info.Mode()&fs.ModeSymlink != 0 {
				if f.link, err = os.Readlink(p); err != nil {
					return nil
				}
			}
			if keep == nil || keep(f) {
				out = append(out, f)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b hostFile) int { return strings.Compare(a.path, b.path) })
	return out, nil
}

func layerOf(files []hostFile) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: strings.TrimPrefix(f.path, "/"), Mode: int64(f.mode.Perm()), Uname: "root", Gname: "root"}
		switch {
		case f.mode.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case f.mode&fs.ModeSymlink != 0:
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.link
		case f.mode.IsRegular():
			h.Typeflag, h.Size = tar.TypeReg, f.size
		default:
			continue
		}
		body := f.body
		if h.Typeflag == tar.TypeReg && body == nil {
			var err error
			if body, err = os.ReadFile(f.path); err != nil {
				continue
			}
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
}

// sampleLayer reads the one layer of a sample's linux/amd64 image as files.
func sampleLayer(samples, sample string) ([]hostFile, error) {
	p, err := layout.FromPath(filepath.Join(samples, sample))
	if err != nil {
		return nil, err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	// a layout's index may name the image's index
	if len(m.Manifests) == 1 && m.Manifests[0].MediaType.IsIndex() {
		if idx, err = idx.ImageIndex(m.Manifests[0].Digest); err != nil {
			return nil, err
		}
		if m, err = idx.IndexManifest(); err != nil {
			return nil, err
		}
	}
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.Architecture != "amd64" {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		layers, err := img.Layers()
		if err != nil {
			return nil, err
		}
		rc, err := layers[0].Uncompressed()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		var files []hostFile
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return files, nil
			}
			if err != nil {
				return nil, err
			}
			body, err := io.ReadAll(tr)
			if err != nil {
				return nil, err
			}
			f := hostFile{path: "/" + strings.TrimSuffix(h.Name, "/"), mode: h.FileInfo().Mode(), size: int64(len(body)), body: body, link: h.Linkname}
			files = append(files, f)
		}
	}
	return nil, fmt.Errorf("sample %s has no linux/amd64 image", sample)
}

func withFile(files []hostFile, f hostFile) (v1.Layer, error) {
	return layerOf(append(slices.Clone(files), f))
}
