#!/usr/bin/env bash
# Benchmark: load a corpus built from real SBOMs into the evidence store,
# time the responder's questions (p50/p99 over 200 asks each), then import
# a one-day advisory change and time the rescan. Pools: the
# Debian packages of this machine (its dpkg status, catalogued by dossier),
# its Python distributions, the samples, and the Go module versions in the
# module cache; 30 shared base images; real findings from the OSV data.
# DIGESTS (default 10000) sets the size, BATCH (default 1: one transaction
# per record, as `dossier record` writes) the records per transaction of
# the load; STORE=postgres loads a private PostgreSQL server started here
# (durable settings, shared_buffers 1 GB) instead of SQLite, and
# STORE=postgres://… an existing one. Needs ../shared/vulndata.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "bench/out/store${STORE:+-postgres}"); rm -rf "$out"; mkdir -p "$out/debroot/var/lib/dpkg" "$out/debroot/etc"
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
if [ "${STORE:-}" = postgres ]; then
  pg=$(POSTGRES_OPTIONS="-c shared_buffers=1GB -c max_wal_size=4GB" bash .ci/postgres start)
  STORE=${pg% *}
  # KEEP_POSTGRES=1 leaves the cluster running, for a look afterwards
  [ -n "${KEEP_POSTGRES:-}" ] || trap 'bash .ci/postgres stop "${pg#* }"' EXIT
  echo "PostgreSQL: $pg"
fi
# the advisory database as of the day before: everything but one day's change
go build -o bench/out/osvdelta ./bench/osvdelta
bench/out/osvdelta -out "$out/osv" -go "${GO_DELTA:-10}" ../shared/vulndata/osv/*/all.zip
"$dossier" db import --data-dir "$out/data" "$out"/osv/before/*.zip >/dev/null 2>&1
sboms=("$out/deb.json" "$out/py.json" "$out/go-app.json" "$out/npm-app.json" "$out/debian.json")
if [ -z "${STORE:-}" ]; then
  bench/out/storecorpus -digests "${DIGESTS:-10000}" -batch "${BATCH:-1}" -data-dir "$out/data" "${sboms[@]}"
else
  # PostgreSQL: load, then VACUUM ANALYZE as after any bulk load (autovacuum
  # would get there on its own schedule), then the questions
  bench/out/storecorpus -digests "${DIGESTS:-10000}" -batch "${BATCH:-1}" -data-dir "$out/data" -store "$STORE" -questions=false "${sboms[@]}"
  psql=$(ls /usr/lib/postgresql/*/bin/psql | sort -V | tail -1)
  start=$(date +%s)
  "$psql" "$STORE" -qc 'VACUUM ANALYZE'
  echo "VACUUM ANALYZE: $(( $(date +%s) - start )) s"
  echo "size on disk: $("$psql" "$STORE" -Atc 'SELECT pg_size_pretty(pg_database_size(current_database()))')"
  bench/out/storecorpus -digests "${DIGESTS:-10000}" -load=false -data-dir "$out/data" -store "$STORE" "${sboms[@]}"
fi
# the day's change arrives; the rescan re-matches what it touches
"$dossier" db import --data-dir "$out/data" "$out/osv/delta.zip" >/dev/null 2>&1
store=(); [ -n "${STORE:-}" ] && store=(--store "$STORE")
start=$(date +%s%N)
"$dossier" rescan --data-dir "$out/data" "${store[@]}" >"$out/rescan.txt"
end=$(date +%s%N)
echo "rescan after the day's change: $(head -1 "$out/rescan.txt") (command: $(( (end - start) / 1000000 )) ms)"
