#!/usr/bin/env bash
# Benchmark: load a corpus built from real SBOMs into the evidence store and
# time the responder's questions (p50/p99 over 200 asks each). Pools: the
# Debian packages of this machine (its dpkg status, catalogued by dossier),
# its Python distributions, the samples, and the Go module versions in the
# module cache; 30 shared base images; real findings from the OSV data.
# DIGESTS (default 10000) sets the size; STORE=postgres://… loads PostgreSQL
# instead of SQLite. Needs ../shared/vulndata.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m bench/out/store); rm -rf "$out"; mkdir -p "$out/debroot/var/lib/dpkg" "$out/debroot/etc"
CGO_ENABLED=0 go build -trimpath -o bench/out/dossier ./cmd/dossier
go build -o bench/out/storecorpus ./bench/storecorpus
dossier=bench/out/dossier
cp /var/lib/dpkg/status "$out/debroot/var/lib/dpkg/"
cp /etc/os-release "$out/debroot/etc/"
"$dossier" sbom "dir:$out/debroot" --output-file "$out/deb.json" 2>/dev/null
"$dossier" sbom dir:/usr/lib/python3/dist-packages --output-file "$out/py.json" 2>/dev/null || echo '{"bomFormat":"CycloneDX","specVersion":"1.6","components":[]}' >"$out/py.json"
for s in go-app npm-app debian; do
  "$dossier" sbom "oci-layout:samples/layouts/$s:latest" --output-file "$out/$s.json" 2>/dev/null
done
"$dossier" db import --data-dir "$out/data" ../shared/vulndata/osv/*/all.zip >/dev/null 2>&1
bench/out/storecorpus -digests "${DIGESTS:-10000}" -data-dir "$out/data" -store "${STORE:-}" \
  "$out/deb.json" "$out/py.json" "$out/go-app.json" "$out/npm-app.json" "$out/debian.json"
