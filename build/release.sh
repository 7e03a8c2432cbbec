#!/usr/bin/env bash
# dossier's own release: build the image (build/image: go build and an OCI
# index, no container engine), push it, then run dossier pipeline on the
# pushed digest — SBOM, scan gate, signature, SBOM and scan attestations,
# provenance, record. Extra arguments go to the pipeline:
#
#   build/release.sh ghcr.io/dossier-dev/dossier:v0.4.0 --keyless --provenance
set -euo pipefail
cd "$(dirname "$0")/.."
ref=${1:?usage: build/release.sh REGISTRY/REPOSITORY:TAG [dossier pipeline flags...]}
shift
digest=$(go run ./build/image --platform "${PLATFORMS:-linux/amd64,linux/arm64}" --push "$ref")
name=${ref##*/}
repository=${ref%/*}/${name%%:*}
go run ./cmd/dossier pipeline "$repository@$digest" "$@"
