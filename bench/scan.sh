#!/usr/bin/env bash
# Benchmark: advisory import, and `dossier scan --sbom` against osv-scanner
# (offline, same zips) on one SBOM of 1,500 real packages (Go, PyPI, crates.io)
# built by bench/mksbom from ../shared/vulndata. Prints wall time and peak RSS
# of each, the ratio osv-scanner/dossier (above 1.0: dossier is faster), and
# checks the findings: every difference must be a documented osv-scanner error
# (bench/scandiff). Needs GNU time and the peers from .ci/install-peers.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
peers=${DOSSIER_PEERS_DIR:-$HOME/.cache/dossier-peers}
osv="$peers/bin/osv-scanner"
vulndata=../shared/vulndata/osv
[ -d "$vulndata" ] || { echo "bench/scan.sh: $vulndata not found" >&2; exit 2; }
out=bench/out/scan
rm -rf "$out"; mkdir -p "$out/osvdb/osv-scalibr"
CGO_ENABLED=0 go build -trimpath -o bench/out/dossier ./cmd/dossier
for z in "$vulndata"/*/all.zip; do
  e=$(basename "$(dirname "$z")"); mkdir -p "$out/osvdb/osv-scalibr/$e"; ln -s "$(realpath "$z")" "$out/osvdb/osv-scalibr/$e/all.zip"
done

/usr/bin/time -f "%e %M" -o "$out/import.time" bench/out/dossier db import --data-dir "$out/data" "$vulndata"/*/all.zip >/dev/null 2>&1
read -r it im <"$out/import.time"
printf "import %s zips: %.2f s, peak RSS %.0f MB\n" "$(ls "$vulndata"/*/all.zip | wc -l)" "$it" "$(echo "$im/1024" | bc -l)"

zips=("$vulndata/Go/all.zip" "$vulndata/PyPI/all.zip" "$vulndata/crates.io/all.zip")
go run ./bench/mksbom -n 1500 "${zips[@]}" >"$out/bench.cdx.json"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
: >"$out/dossier.times"; : >"$out/osv.times"
for _ in $(seq "$runs"); do
  /usr/bin/time -f "%e %M" -a -o "$out/dossier.times" bench/out/dossier scan --data-dir "$out/data" --sbom "$out/bench.cdx.json" -o json >"$out/dossier.json"
  /usr/bin/time -f "%e %M" -a -o "$out/osv.times" "$osv" scan source --offline --local-db-path "$out/osvdb" -L "$out/bench.cdx.json" --format json >"$out/osv.json" 2>/dev/null || [ $? = 1 ]
done
dt=$(cut -d' ' -f1 "$out/dossier.times" | median); ot=$(cut -d' ' -f1 "$out/osv.times" | median)
dm=$(cut -d' ' -f2 "$out/dossier.times" | median); om=$(cut -d' ' -f2 "$out/osv.times" | median)
awk -v dt="$dt" -v ot="$ot" -v dm="$dm" -v om="$om" 'BEGIN {
  printf "scan 1500 components: dossier %.2f s, osv-scanner %.2f s, speed-up %.2fx; peak RSS dossier %.0f MB, osv-scanner %.0f MB\n", dt, ot, ot/dt, dm/1024, om/1024 }'
echo "findings (dossier vs osv-scanner):"
go run ./bench/scandiff "$out/dossier.json" "$out/osv.json" "${zips[@]}"
