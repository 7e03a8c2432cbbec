// Command image builds dossier's container image without a container
// engine: go build (static, reproducible) for each platform, one layer
// holding the binary, CA certificates and an unprivileged user, and an
// OCI image index written to an OCI layout and, when asked, pushed. Then
// `dossier pipeline` catalogues, scans, signs and attests it like any
// other image (build/release.sh does both).
//
//	go run ./build/image --layout out/image [--platform linux/amd64,linux/arm64] [--push REGISTRY/dossier:TAG]
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// options say what to build.
type options struct {
	// Root is the module's directory; Version and Commit go into the
	// binary and the image's labels.
	Root, Version, Commit string
	Platforms             []v1.Platform
	// Created is the image's creation time (the commit's, so that a
	// rebuild of one commit is the same image).
	Created time.Time
	// CACertificates is the bundle copied to /etc/ssl/certs.
	CACertificates string
}

// uid is the unprivileged user the image runs as (distroless's nonroot).
const uid = 65532

func main() {
	var platforms, layoutDir, push string
	var insecure bool
	o := options{Root: ".", CACertificates: "/etc/ssl/certs/ca-certificates.crt"}
	flag.StringVar(&platforms, "platform", runtime.GOOS+"/"+runtime.GOARCH, "comma-separated os/arch[/variant] to build for (linux only)")
	flag.StringVar(&layoutDir, "layout", "", "write the image index to this OCI layout directory")
	flag.StringVar(&push, "push", "", "push the image index to this registry reference")
	flag.BoolVar(&insecure, "insecure", false, "reach the registry over plain HTTP")
	flag.StringVar(&o.Version, "version", "", "version to stamp (default: git describe)")
	flag.StringVar(&o.CACertificates, "ca-certificates", o.CACertificates, "CA bundle to include")
	flag.Parse()
	if layoutDir == "" && push == "" {
		fmt.Fprintln(os.Stderr, "image: give --layout DIR, --push REF or both")
		os.Exit(2)
	}
	if err := run(context.Background(), o, platforms, layoutDir, push, insecure); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, platforms, layoutDir, push string, insecure bool) error {
	for _, p := range strings.Split(platforms, ",") {
		pl, err := v1.ParsePlatform(strings.TrimSpace(p))
		if err != nil {
			return err
		}
		if pl.OS != "linux" {
			return fmt.Errorf("platform %s: the image is for linux", p)
		}
		o.Platforms = append(o.Platforms, *pl)
	}
	if err := o.fromGit(ctx); err != nil {
		return err
	}
	idx, err := build(ctx, o)
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	if layoutDir != "" {
		if err := writeLayout(layoutDir, idx, o.Version); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s to %s\n", digest, layoutDir)
	}
	if push != "" {
		var opts []name.Option
		if insecure {
			opts = append(opts, name.Insecure)
		}
		ref, err := name.ParseReference(push, opts...)
		if err != nil {
			return err
		}
		if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "pushed %s\n", ref.Context().Digest(digest.String()))
	}
	fmt.Println(digest)
	return nil
}

// fromGit fills in the version, commit and creation time the options
// lack from the checkout (SOURCE_DATE_EPOCH wins for the time).
func (o *options) fromGit(ctx context.Context) error {
	git := func(args ...string) string {
		out, err := exec.CommandContext(ctx, "git", append([]string{"-C", o.Root}, args...)...).Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	if o.Commit == "" {
		o.Commit = git("rev-parse", "HEAD")
	}
	if o.Version == "" {
		o.Version = git("describe", "--tags", "--always", "--dirty")
	}
	if o.Version == "" {
		o.Version = "devel"
	}
	if o.Created.IsZero() {
		epoch := os.Getenv("SOURCE_DATE_EPOCH")
		if epoch == "" {
			epoch = git("log", "-1", "--format=%ct")
		}
		if secs, err := strconv.ParseInt(epoch, 10, 64); err == nil {
			o.Created = time.Unix(secs, 0).UTC()
		}
	}
	return nil
}

// build makes the image index: one image per platform.
func build(ctx context.Context, o options) (v1.ImageIndex, error) {
	if len(o.Platforms) == 0 {
		return nil, errors.New("no platform to build for")
	}
	ca, err := os.ReadFile(o.CACertificates)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w", err)
	}
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range o.Platforms {
		bin, err := compile(ctx, o, p)
		if err != nil {
			return nil, err
		}
		img, err := image(o, p, bin, ca)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return idx, nil
}

// compile builds a static dossier for a platform: no cgo (the SQLite
// driver is pure Go), paths trimmed, the build ID empty, so that one
// commit gives one binary.
func compile(ctx context.Context, o options, p v1.Platform) ([]byte, error) {
	dir, err := os.MkdirTemp("", "dossier-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "dossier")
	ldflags := fmt.Sprintf("-s -w -buildid= -X github.com/dossier-dev/dossier/internal/buildinfo.version=%s -X github.com/dossier-dev/dossier/internal/buildinfo.commit=%s", o.Version, o.Commit)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, "./cmd/dossier")
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if p.Architecture == "arm" && p.Variant != "" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build for %s: %v\n%s", p, err, stderr.String())
	}
	return os.ReadFile(out)
}

// image is one platform's image: a single layer over nothing.
func image(o options, p v1.Platform, bin, ca []byte) (v1.Image, error) {
	files, err := rootfs(bin, ca, o.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(files)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	cfg.Created = v1.Time{Time: o.Created}
	cfg.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", uid, uid),
		Entrypoint: []string{"/usr/local/bin/dossier"},
		Cmd:        []string{"serve"},
		WorkingDir: "/home/nonroot",
		Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
			"HOME=/home/nonroot", "DOSSIER_DATA_DIR=/var/lib/dossier"},
		ExposedPorts: map[string]struct{}{"5000/tcp": {}, "8443/tcp": {}},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "dossier",
			"org.opencontainers.image.description": "Evidence for every artifact, bound to its digest: registry, admission webhook, evidence store",
			"org.opencontainers.image.source":      "https://github.com/dossier-dev/dossier",
			"org.opencontainers.image.version":     o.Version,
			"org.opencontainers.image.revision":    o.Commit,
			"org.opencontainers.image.created":     o.Created.Format(time.RFC3339),
			"org.opencontainers.image.licenses":    "Apache-2.0",
		},
	}
	cfg.History = []v1.History{{Created: v1.Time{Time: o.Created}, CreatedBy: "go run ./build/image", Comment: "dossier " + o.Version}}
	return mutate.ConfigFile(img, cfg)
}

// rootfs is the layer's tar: the binary, the CA bundle, the nonroot user
// and the directories it writes to, every entry dated created.
func rootfs(bin, ca []byte, created time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	type entry struct {
		name     string
		mode     int64
		owner    int
		contents []byte
		dir      bool
	}
	entries := []entry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, contents: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", uid))},
		{name: "etc/passwd", mode: 0o644, contents: []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", uid, uid))},
		{name: "etc/ssl/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, contents: ca},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, owner: uid, dir: true},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "usr/", mode: 0o755, dir: true},
		{name: "usr/local/", mode: 0o755, dir: true},
		{name: "usr/local/bin/", mode: 0o755, dir: true},
		{name: "usr/local/bin/dossier", mode: 0o755, contents: bin},
		{name: "var/", mode: 0o755, dir: true},
		{name: "var/lib/", mode: 0o755, dir: true},
		{name: "var/lib/dossier/", mode: 0o700, owner: uid, dir: true},
	}
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.owner, Gid: e.owner, ModTime: created, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(e.contents))}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.contents); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeLayout writes the index into an OCI layout, named by version.
func writeLayout(dir string, idx v1.ImageIndex, version string) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return err
		}
	}
	return p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": version}))
}
