#!/usr/bin/env bash
# Rebuilds the sample images in samples/layouts from real content:
#   go-app   Go binary (linux/amd64 + linux/arm64 index) linking golang.org/x/text v0.3.5
#            and an early-2021 golang.org/x/net, built from samples/src/go-app
#   npm-app  Node.js project from samples/src/npm-app, installed from the npm registry
#            (lodash 4.17.20, minimist 1.2.5) with its package-lock.json
#   debian   Debian 12 packages from samples/src/debian/packages.txt, unpacked with
#            dpkg-deb, with a dpkg status database written from their control files
# Needs: go, npm, apt-get, dpkg-deb. Layouts are written reproducibly (fixed
# timestamps and owners), so the digests change only when the inputs do.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build() { go run ./samples/build "$@"; }

# go-app
for arch in amd64 arm64; do
  mkdir -p "$work/go-$arch/usr/local/bin"
  (cd samples/src/go-app && CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags=-buildid= \
      -o "$work/go-$arch/usr/local/bin/go-app" .)
done
build -out samples/layouts/go-app -entrypoint /usr/local/bin/go-app \
  -image "linux/amd64=$work/go-amd64" -image "linux/arm64=$work/go-arm64"

# npm-app
mkdir -p "$work/npm/app"
cp samples/src/npm-app/{package.json,package-lock.json,index.js} "$work/npm/app/"
(cd "$work/npm/app" && npm ci --no-audit --no-fund --ignore-scripts >/dev/null)
build -out samples/layouts/npm-app -workdir /app -entrypoint /app/index.js -image "linux/amd64=$work/npm"

# debian
mkdir -p "$work/debs" "$work/deb/var/lib/dpkg/info"
mapfile -t pkgs < <(grep -v '^#' samples/src/debian/packages.txt | grep .)
(cd "$work/debs" && apt-get download "${pkgs[@]}" >/dev/null)
status="$work/deb/var/lib/dpkg/status"
: >"$status"
for deb in "$work"/debs/*.deb; do
  name=$(dpkg-deb -f "$deb" Package)
  arch=$(dpkg-deb -f "$deb" Architecture)
  dpkg-deb -x "$deb" "$work/deb"
  # a status stanza is the control file with the installed state after Package
  dpkg-deb -f "$deb" | awk '{print} /^Package:/{print "Status: install ok installed"}' >>"$status"
  echo >>"$status"
  info="$work/deb/var/lib/dpkg/info/$name"
  [ "$(dpkg-deb -f "$deb" Multi-Arch)" = same ] && info="$info:$arch"
  dpkg-deb -c "$deb" | awk '{p=$6; sub(/^\./,"",p); if (p=="/") p="/."; sub(/\/$/,"",p); print p}' >"$info.list"
  dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./md5sums >"$info.md5sums" 2>/dev/null || rm -f "$info.md5sums"
  echo "$name $(dpkg-deb -f "$deb" Version)"
done >"$work/versions"
cp "$work/versions" samples/src/debian/versions.txt
build -out samples/layouts/debian -image "linux/amd64=$work/deb"

du -sh samples/layouts/*
