#!/usr/bin/env bash
# Benchmark: the jobs over every stored digest. BASES Debian bases with
# APPS application images each (bench/layerimages: this machine's real
# package database and libraries, BASE_MB of them per base; the npm and Go
# samples and Python packages as applications) are pushed to a CNCF
# distribution registry on 127.0.0.1 and recorded (dossier record, with the
# layer cache) into a SQLite store, with the OSV npm and Go data imported
# (../shared/vulndata). Then, timed with GNU time (wall, peak RSS):
#   rescan-all      dossier rescan --all (every stored SBOM re-matched)
#   catalogue-all   dossier catalogue --all --force (every digest pulled,
#                   catalogued, scanned and recorded again), CONCURRENCY at
#                   once, with the warm layer cache (CACHE_MIB), and again
#                   with LAYER_CACHE=0 without it
# No peer does these jobs: the figures are dossier's alone.
source "$(dirname "$0")/lib.sh" jobs
bases=${BASES:-4}
apps=${APPS:-50}
data="$out/store"
go run ./bench/layerimages -registry "$host" -bases "$bases" -apps "$apps" -base-mb "${BASE_MB:-10}" >"$out/images"
n=$(wc -l <"$out/images")
"$dossier" db import ../shared/vulndata/osv/npm/all.zip ../shared/vulndata/osv/Go/all.zip --data-dir "$data" >/dev/null
start=$(now)
xargs -n 20 "$dossier" record --data-dir "$data" --layer-cache-mib "${CACHE_MIB:-1024}" -o json <"$out/images" >/dev/null 2>"$out/record.log"
echo "recorded $n images in $(elapsed "$start" "$(now)") s"
timed() { # label command...
  /usr/bin/time -f "%e %M" -o "$out/$1.time" "${@:2}" >"$out/$1.out" 2>"$out/$1.log"
  read -r wall rss <"$out/$1.time"
  printf '%-22s %8.2f s  %7.1f MiB peak RSS  %s\n' "$1" "$wall" "$(echo "$rss / 1024" | bc -l)" "$(grep "^job" "$out/$1.out" | tail -n 1)"
}
timed rescan-all "$dossier" rescan --all --data-dir "$data"
timed catalogue-all "$dossier" catalogue --all --force --concurrency "${CONCURRENCY:-2}" --data-dir "$data" --layer-cache-mib "${CACHE_MIB:-1024}"
if [ "${LAYER_CACHE:-1}" = 0 ]; then
  timed catalogue-all-nocache "$dossier" catalogue --all --force --concurrency "${CONCURRENCY:-2}" --data-dir "$data"
fi
"$dossier" jobs --data-dir "$data"
