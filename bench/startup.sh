#!/usr/bin/env bash
# Benchmark: what a short command costs end to end, as a user runs it —
# process start (every package's init), opening what it reads, the answer.
# Each command runs RUNS times (default 21) after one unmeasured run; the
# median and the fastest wall time are printed, and the peak RSS of the
# last run. Commands: `dossier version`; `dossier query component` on a
# small store (the three samples recorded); `dossier scan --sbom` of an
# SBOM with no components and of the samples' npm-app SBOM, against the
# advisory database of ../shared/vulndata (bench/scan.sh's). Needs GNU time.
# On a machine shared with other work, RT=1 runs each timed command (not the
# build) at real-time priority (chrt -f 10), so that it is not queued behind
# others: what is measured is then the command, not the machine's load.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-21}
out=$(realpath -m bench/out/startup)
vulndata=../shared/vulndata/osv
[ -d "$vulndata" ] || { echo "bench/startup.sh: $vulndata not found" >&2; exit 2; }
mkdir -p "$out"
# DOSSIER=path measures that binary (an earlier build, to compare) on the same data
if [ -n "${DOSSIER:-}" ]; then
  dossier=$(realpath "$DOSSIER")
else
  CGO_ENABLED=0 go build -trimpath -o bench/out/dossier ./cmd/dossier
  dossier=$(realpath bench/out/dossier)
fi
data="$out/data"
# the database and the store are made once and kept: only the binary changes between runs
if [ ! -s "$data/vulndb.sqlite" ] || [ ! -s "$data/evidence.sqlite" ] || [ -n "${FRESH:-}" ]; then
  rm -rf "$data"
  "$dossier" db import --data-dir "$data" "$vulndata"/*/all.zip >/dev/null 2>&1
  for s in go-app npm-app debian; do
    "$dossier" record --data-dir "$data" "oci-layout:samples/layouts/$s:latest" >/dev/null 2>&1
  done
fi
echo '{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"components":[]}' >"$out/empty.cdx.json"
[ -s "$out/npm-app.cdx.json" ] || "$dossier" sbom oci-layout:samples/layouts/npm-app:latest -o cyclonedx-json --output-file "$out/npm-app.cdx.json" 2>/dev/null

# measure NAME CMD...: RUNS timed runs (bash's clock, no process of its own)
measure() {
  local name=$1; shift
  [ -z "${RT:-}" ] || set -- chrt -f 10 "$@"
  "$@" >/dev/null 2>&1 || [ $? = 1 ]
  : >"$out/$name.times"
  for _ in $(seq "$runs"); do
    local t0=$EPOCHREALTIME
    "$@" >/dev/null 2>&1 || [ $? = 1 ]
    local t1=$EPOCHREALTIME
    echo "$t1 - $t0" | bc -l >>"$out/$name.times"
  done
  /usr/bin/time -f "%M" -o "$out/$name.rss" "$@" >/dev/null 2>&1 || [ $? = 1 ]
  sort -n "$out/$name.times" | awk -v name="$name" -v rss="$(cat "$out/$name.rss")" '{a[NR]=$1} END {
    m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2
    printf "%-28s median %6.1f ms  min %6.1f ms  peak RSS %4.0f MB  (%d runs)\n", name, m*1000, a[1]*1000, rss/1024, NR }'
}

measure version "$dossier" version
measure "query component" "$dossier" query component minimist --data-dir "$data"
measure "scan empty SBOM" "$dossier" scan --data-dir "$data" --sbom "$out/empty.cdx.json" -o json
measure "scan npm-app SBOM" "$dossier" scan --data-dir "$data" --sbom "$out/npm-app.cdx.json" -o json
