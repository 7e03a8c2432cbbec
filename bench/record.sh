#!/usr/bin/env bash
# Benchmark: `dossier record` of an image against `dossier scan` of the
# same image (both catalogue it with syft and match it against the same
# advisory database; record also reads its signatures and attestations and
# writes the evidence store), on the CNCF distribution registry on
# 127.0.0.1, each sample signed and attested first. 5 alternating runs,
# medians; ratio record/scan (goal below 1.2). Needs the peers from
# .ci/install-peers and ../shared/vulndata.
source "$(dirname "$0")/lib.sh" record
runs=${RUNS:-5}
crane="$peers/bin/crane"
data="$out/data"
"$dossier" db import --data-dir "$data" ../shared/vulndata/osv/*/all.zip >/dev/null 2>&1
export DOSSIER_PASSWORD=bench
"$dossier" key generate --output-prefix "$out/key" 2>/dev/null
# an empty trusted root: nothing is fetched, keyless signatures (none here) would stay unverified
"$peers/bin/cosign" trusted-root create --out "$out/trusted-root.json" 2>/dev/null
for sample in debian go-app npm-app; do
  ref="$host/bench/$sample:v1"
  "$crane" push --insecure "samples/layouts/$sample" "$ref" >/dev/null 2>&1
  "$dossier" sign "$ref" --key "$out/key.key" >/dev/null 2>&1
  "$dossier" sbom "$ref" --attest --key "$out/key.key" -o cyclonedx-json >/dev/null 2>&1
  : >"$out/$sample.scan"; : >"$out/$sample.record"
  for _ in $(seq "$runs"); do
    t0=$(now); "$dossier" scan "$ref" --data-dir "$data" -o json >/dev/null 2>&1; t1=$(now)
    "$dossier" record "$ref" --data-dir "$data" --key "$out/key.pub" --trusted-root "$out/trusted-root.json" >/dev/null 2>&1
    t2=$(now)
    elapsed "$t0" "$t1" >>"$out/$sample.scan"; elapsed "$t1" "$t2" >>"$out/$sample.record"
  done
  s=$(median <"$out/$sample.scan"); r=$(median <"$out/$sample.record")
  awk -v n="$sample" -v s="$s" -v r="$r" 'BEGIN { printf "%-8s scan %.2f s, record %.2f s, record/scan %.2f\n", n, s, r, r/s }'
done
