#!/usr/bin/env bash
# Benchmark: sign + attest + verify one digest, dossier vs cosign, on the same
# CNCF distribution registry on 127.0.0.1 in one run (key-based, no log, the
# same key for both), then verification of 100 signed digests in one process.
# Prints medians and ratios cosign/dossier (above 1.0: dossier is faster).
# Needs the peers from .ci/install-peers.
source "$(dirname "$0")/lib.sh" sign
runs=${RUNS:-5}
cosign="$peers/bin/cosign"; crane="$peers/bin/crane"

export DOSSIER_PASSWORD=bench COSIGN_PASSWORD=bench
"$dossier" key generate --output-prefix "$out/key" 2>/dev/null
"$cosign" signing-config create --out "$out/signing-config.json" 2>/dev/null
"$cosign" trusted-root create --out "$out/trusted-root.json" 2>/dev/null
"$dossier" sbom oci-layout:samples/layouts/npm-app --output-file "$out/sbom.json" 2>/dev/null
"$crane" push --insecure samples/layouts/npm-app "$host/base:v1" >/dev/null 2>&1
insecure=(--allow-insecure-registry --allow-http-registry)

: >"$out/dossier.times"; : >"$out/cosign.times"
for i in $(seq "$runs"); do
  "$crane" copy --insecure "$host/base:v1" "$host/d$i:v1" >/dev/null 2>&1
  "$crane" copy --insecure "$host/base:v1" "$host/c$i:v1" >/dev/null 2>&1
  t0=$(now)
  "$dossier" sign "$host/d$i:v1" --key "$out/key.key" >/dev/null 2>&1
  "$dossier" attest "$host/d$i:v1" --key "$out/key.key" --type cyclonedx --predicate "$out/sbom.json" >/dev/null 2>&1
  "$dossier" verify "$host/d$i:v1" --key "$out/key.pub" >/dev/null 2>&1
  t1=$(now)
  "$cosign" sign --key "$out/key.key" --signing-config "$out/signing-config.json" --trusted-root "$out/trusted-root.json" "${insecure[@]}" -y "$host/c$i:v1" >/dev/null 2>&1
  "$cosign" attest --key "$out/key.key" --type cyclonedx --predicate "$out/sbom.json" --signing-config "$out/signing-config.json" --trusted-root "$out/trusted-root.json" "${insecure[@]}" -y "$host/c$i:v1" >/dev/null 2>&1
  "$cosign" verify --key "$out/key.pub" --insecure-ignore-tlog=true "${insecure[@]}" "$host/c$i:v1" >/dev/null 2>&1
  t2=$(now)
  echo "$t1 - $t0" | bc -l >>"$out/dossier.times"; echo "$t2 - $t1" | bc -l >>"$out/cosign.times"
done
dt=$(median <"$out/dossier.times"); ct=$(median <"$out/cosign.times")
awk -v d="$dt" -v c="$ct" 'BEGIN { printf "sign+attest+verify one digest: dossier %.2f s, cosign %.2f s, ratio %.2fx\n", d, c, c/d }'

refs=()
for i in $(seq 100); do
  "$crane" copy --insecure "$host/base:v1" "$host/v$i:v1" >/dev/null 2>&1
  "$dossier" sign "$host/v$i:v1" --key "$out/key.key" >/dev/null 2>&1
  refs+=("$host/v$i:v1")
done
t0=$(now); "$dossier" verify --key "$out/key.pub" "${refs[@]}" >/dev/null 2>&1; t1=$(now)
"$cosign" verify --key "$out/key.pub" --insecure-ignore-tlog=true "${insecure[@]}" "${refs[@]}" >/dev/null 2>&1; t2=$(now)
awk -v d="$(echo "$t1 - $t0" | bc -l)" -v c="$(echo "$t2 - $t1" | bc -l)" 'BEGIN { printf "verify 100 digests in one process: dossier %.2f s, cosign %.2f s, ratio %.2fx\n", d, c, c/d }'
