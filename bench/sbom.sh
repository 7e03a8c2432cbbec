#!/usr/bin/env bash
# Benchmark: `dossier sbom` against the syft CLI on each sample image, in one
# run, on the same input and the same machine. Each tool runs RUNS times per
# image (alternating); the script prints the median wall time and the peak RSS
# of each, and the ratios dossier/syft (below 1.0 means dossier is faster or
# smaller). Needs GNU time (/usr/bin/time) and the peers from .ci/install-peers.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
peers=${DOSSIER_PEERS_DIR:-$HOME/.cache/dossier-peers}
syft="$peers/bin/syft"
out=bench/out
mkdir -p "$out"
CGO_ENABLED=0 go build -trimpath -o "$out/dossier" ./cmd/dossier  # as syft is installed
export SYFT_CHECK_FOR_APP_UPDATE=false

measure() { # label command... ; appends "seconds kilobytes" to $out/label.times
  /usr/bin/time -f "%e %M" -o "$out/last" "${@:2}" >/dev/null 2>"$out/stderr" || { cat "$out/stderr" >&2; exit 1; }
  cat "$out/last" >>"$out/$1.times"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

printf "%-8s %12s %12s %7s %14s %14s %7s\n" image dossier_s syft_s ratio dossier_rss_MB syft_rss_MB ratio
for image in samples/layouts/*/; do
  name=$(basename "$image")
  rm -f "$out/dossier.times" "$out/syft.times"
  for _ in $(seq "$runs"); do
    measure dossier "$out/dossier" sbom "oci-layout:$image" -o cyclonedx-json
    measure syft "$syft" scan "oci-dir:$image" -o cyclonedx-json@1.6 -q
  done
  dt=$(cut -d' ' -f1 "$out/dossier.times" | median); st=$(cut -d' ' -f1 "$out/syft.times" | median)
  dm=$(cut -d' ' -f2 "$out/dossier.times" | median); sm=$(cut -d' ' -f2 "$out/syft.times" | median)
  awk -v n="$name" -v dt="$dt" -v st="$st" -v dm="$dm" -v sm="$sm" 'BEGIN {
    printf "%-8s %12.2f %12.2f %7.2f %14.1f %14.1f %7.2f\n", n, dt, st, dt/st, dm/1024, sm/1024, dm/sm }'
done
