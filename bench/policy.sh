#!/usr/bin/env bash
# Benchmark: deciding a ClusterImagePolicy (one key authority) for an image
# signed in cosign's legacy layout, dossier policy check vs Sigstore's
# policy-tester v0.13.1, on the same CNCF distribution registry on 127.0.0.1
# in one run; then 50 images, dossier in one process, the tester once per
# image (it takes one). Prints medians and ratios tester/dossier (above
# 1.0: dossier is faster). Needs the peers from .ci/install-peers.
source "$(dirname "$0")/lib.sh" policy
runs=${RUNS:-7}
crane="$peers/bin/crane"; tester="$peers/bin/policy-tester"

export DOSSIER_PASSWORD=bench
"$dossier" key generate --output-prefix "$out/key" 2>/dev/null
"$crane" push --insecure samples/layouts/npm-app "$host/base:v1" >/dev/null 2>&1
refs=()
for i in $(seq 50); do
  "$crane" copy --insecure "$host/base:v1" "$host/pt/app$i:v1" >/dev/null 2>&1
  "$dossier" sign "$host/pt/app$i:v1" --key "$out/key.key" --legacy-tags >/dev/null 2>&1
  refs+=("$host/pt/app$i:v1")
done
{
  printf 'apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: bench}\nspec:\n'
  printf '  images: [{glob: "%s/pt/**"}]\n  authorities:\n    - key:\n        data: |\n' "$host"
  sed 's/^/          /' "$out/key.pub"
} >"$out/cip.yaml"

# both must allow before anything is timed
"$dossier" policy check "${refs[0]}" --policy "$out/cip.yaml" >/dev/null 2>&1
"$tester" -policy "$out/cip.yaml" -image "${refs[0]}" -log-level error >/dev/null 2>&1

: >"$out/dossier.times"; : >"$out/tester.times"
for _ in $(seq "$runs"); do
  t0=$(now); "$dossier" policy check "${refs[0]}" --policy "$out/cip.yaml" >/dev/null 2>&1; t1=$(now)
  "$tester" -policy "$out/cip.yaml" -image "${refs[0]}" -log-level error >/dev/null 2>&1; t2=$(now)
  elapsed "$t0" "$t1" >>"$out/dossier.times"; elapsed "$t1" "$t2" >>"$out/tester.times"
done
dt=$(median <"$out/dossier.times"); tt=$(median <"$out/tester.times")
awk -v d="$dt" -v t="$tt" 'BEGIN { printf "one image: dossier %.3f s, policy-tester %.3f s, ratio %.2fx\n", d, t, t/d }'

t0=$(now); "$dossier" policy check "${refs[@]}" --policy "$out/cip.yaml" >/dev/null 2>&1; t1=$(now)
for r in "${refs[@]}"; do "$tester" -policy "$out/cip.yaml" -image "$r" -log-level error >/dev/null 2>&1; done; t2=$(now)
awk -v d="$(elapsed "$t0" "$t1")" -v t="$(elapsed "$t1" "$t2")" 'BEGIN { printf "50 images: dossier %.2f s (one process), policy-tester %.2f s (one process per image), ratio %.2fx\n", d, t, t/d }'
