#!/usr/bin/env bash
# Benchmark: the layer cache. SBOMs of a set of images sharing bases
# (bench/layerimages: BASES Debian bases of this machine's real package
# database and libraries, APPS application images on each), pulled from a
# CNCF distribution registry on 127.0.0.1, by the syft CLI and by `dossier
# sbom` in the same run, on the same images:
#   syft      syft registry:IMAGE, each image
#   alone     dossier with an empty cache for each image (what one image
#             costs the first time: its layers catalogued and stored)
#   first     dossier over the whole set in order, from an empty cache (each
#             base catalogued once, by its first image)
#   warm      dossier over the set again (every layer from the cache)
# dossier runs with --layer-cache-mib 1024 (the cache is off by default).
# It prints the total wall and CPU (user+sys) time of each and the ratios to
# syft, and checks that the warm SBOMs name the same purls as syft's. The
# machine may be loaded by other work: the CPU times are the figures to
# compare.
source "$(dirname "$0")/lib.sh" layers
bases=${BASES:-4}
apps=${APPS:-5}
syft="$peers/bin/syft"
export SYFT_CHECK_FOR_APP_UPDATE=false SYFT_REGISTRY_INSECURE_USE_HTTP=true
go run ./bench/layerimages -registry "$host" -bases "$bases" -apps "$apps" >"$out/images"
n=$(wc -l <"$out/images")

run() { # label command... ; adds the wall and CPU seconds to $out/label.times
  /usr/bin/time -f '%e %U %S' -o "$out/time" "${@:2}" >"$out/sbom.json" 2>"$out/stderr" || { cat "$out/stderr" >&2; exit 1; }
  awk '{ print $1, $2 + $3 }' "$out/time" >>"$out/$1.times"
}
purls() { jq -r '[.components[]?.purl // empty] | sort | unique | .[]' "$1"; }

while read -r image; do
  run syft "$syft" scan "registry:$image" -o cyclonedx-json@1.6 -q
  purls "$out/sbom.json" >"$out/syft.$(echo "$image" | tr /: __).purls"
  rm -rf "$out/alone"
  run alone "$dossier" sbom "$image" --data-dir "$out/alone" --layer-cache-mib 1024
done <"$out/images"
while read -r image; do
  run first "$dossier" sbom "$image" --data-dir "$out/shared" --layer-cache-mib 1024
done <"$out/images"
mismatched=0
while read -r image; do
  run warm "$dossier" sbom "$image" --data-dir "$out/shared" --layer-cache-mib 1024
  if ! diff -q <(purls "$out/sbom.json") "$out/syft.$(echo "$image" | tr /: __).purls" >/dev/null; then
    mismatched=$((mismatched + 1))
    echo "purls differ from syft's on $image:" >&2
    diff <(purls "$out/sbom.json") "$out/syft.$(echo "$image" | tr /: __).purls" >&2 || true
  fi
done <"$out/images"

total() { awk -v c="$2" '{ t += $c } END { print t }' "$out/$1.times"; }
syft_wall=$(total syft 1) syft_cpu=$(total syft 2)
printf "%d images (%d bases x %d applications), 3 layers each\n" "$n" "$bases" "$apps"
printf "%-8s %10s %10s %10s %10s %12s\n" run wall_s cpu_s cpu/image syft/wall syft/cpu
for label in syft alone first warm; do
  awk -v l="$label" -v w="$(total "$label" 1)" -v c="$(total "$label" 2)" -v sw="$syft_wall" -v sc="$syft_cpu" -v n="$n" \
    'BEGIN { printf "%-8s %10.2f %10.2f %10.3f %10.2f %12.2f\n", l, w, c, c/n, sw/w, sc/c }'
done
echo "warm SBOMs whose purls differ from syft's: $mismatched of $n"
