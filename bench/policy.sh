#!/usr/bin/env bash
# Benchmark: deciding a ClusterImagePolicy (one key authority) for an image
# signed in cosign's legacy layout, dossier policy check vs Sigstore's
# policy-tester v0.13.1, on the same CNCF distribution registry on 127.0.0.1
# in one run; then 50 images, dossier in one process, the tester once per
# image (it takes one). Then the same requirement as a Kyverno ClusterPolicy
# and as a SupplyChainPolicy: dossier with each form against the Kyverno
# CLI v1.19.1 (kyverno apply, one Pod per image, all in one run). Prints
# medians and ratios peer/dossier (above 1.0: dossier is faster) and
# Kyverno/native for dossier. Needs the peers from .ci/install-peers.
source "$(dirname "$0")/lib.sh" policy
runs=${RUNS:-7}
crane="$peers/bin/crane"; tester="$peers/bin/policy-tester"; kyverno="$peers/bin/kyverno"

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

# The same requirement as a Kyverno ClusterPolicy (a keys attestor; no
# Rekor entry or SCT for a key signature, as dossier sign writes none) and
# as dossier's own SupplyChainPolicy.
{
  printf 'apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: bench}\nspec:\n  rules:\n    - name: signed\n'
  printf '      match: {any: [{resources: {kinds: [Pod]}}]}\n      verifyImages:\n'
  printf '        - imageReferences: ["%s/pt/*"]\n          failureAction: Enforce\n          attestors:\n' "$host"
  printf '            - entries:\n                - keys:\n                    rekor: {ignoreTlog: true}\n                    ctlog: {ignoreSCT: true}\n                    publicKeys: |-\n'
  sed 's/^/                      /' "$out/key.pub"
} >"$out/kyverno.yaml"
{
  printf 'apiVersion: dossier.dev/v1alpha1\nkind: SupplyChainPolicy\nmetadata: {name: bench}\nspec:\n'
  printf '  images: ["%s/pt/**"]\n  signers:\n    - name: release-key\n      key:\n        data: |\n' "$host"
  sed 's/^/          /' "$out/key.pub"
  printf '  rules:\n    - name: signed\n      signature: {}\n'
} >"$out/native.yaml"
pods() { # one Pod per image named
  local i=0 r
  for r in "$@"; do
    i=$((i + 1))
    printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: app%d}\nspec:\n  containers: [{name: app, image: "%s"}]\n' "$i" "$r"
  done
}
pods "${refs[0]}" >"$out/pod.yaml"; pods "${refs[@]}" >"$out/pods.yaml"
# the CLI reads registries with the Docker keychain: none here
kyverno_apply() { DOCKER_CONFIG="$out" HOME="$out" "$kyverno" apply "$out/kyverno.yaml" --resource "$1" --policy-report --output-format json 2>&1; }
# all three must allow before anything is timed
for form in kyverno native; do
  "$dossier" policy check "${refs[@]}" --policy "$out/$form.yaml" >/dev/null 2>&1 || { echo "dossier refuses the images under the $form form" >&2; exit 1; }
done
report=$(kyverno_apply "$out/pods.yaml" || true)
summary=$(grep -o '"summary":{[^}]*}' <<<"$report" || true)
pass=$(sed -n 's/.*"pass":\([0-9]*\).*/\1/p' <<<"$summary")
if [ -z "$pass" ] || [ "$pass" -lt 50 ] || ! grep -q '"fail":0,"warn":0,"error":0' <<<"$summary"; then
  echo "kyverno apply does not pass all 50 images: ${summary:-$report}" >&2; exit 1
fi

# three_ways LABEL PODS REF...: dossier with each form and kyverno apply on
# the same images, $runs times alternating; prints the medians and ratios
three_ways() {
  local label=$1 pods=$2 t0 t1 t2 t3 nt kt ct
  shift 2
  : >"$out/native.times"; : >"$out/kyverno.times"; : >"$out/kyverno-cli.times"
  for _ in $(seq "$runs"); do
    t0=$(now); "$dossier" policy check "$@" --policy "$out/native.yaml" >/dev/null 2>&1; t1=$(now)
    "$dossier" policy check "$@" --policy "$out/kyverno.yaml" >/dev/null 2>&1; t2=$(now)
    kyverno_apply "$pods" >/dev/null || true; t3=$(now)
    elapsed "$t0" "$t1" >>"$out/native.times"; elapsed "$t1" "$t2" >>"$out/kyverno.times"; elapsed "$t2" "$t3" >>"$out/kyverno-cli.times"
  done
  nt=$(median <"$out/native.times"); kt=$(median <"$out/kyverno.times"); ct=$(median <"$out/kyverno-cli.times")
  awk -v l="$label" -v n="$nt" -v k="$kt" -v c="$ct" 'BEGIN { printf "%s: dossier native %.3f s, dossier Kyverno %.3f s (Kyverno/native %.2fx), kyverno apply %.3f s, ratio kyverno apply/dossier Kyverno %.2fx\n", l, n, k, k/n, c, c/k }'
}
three_ways "one image" "$out/pod.yaml" "${refs[0]}"
three_ways "50 images (kyverno apply: 50 Pods in one run)" "$out/pods.yaml" "${refs[@]}"
