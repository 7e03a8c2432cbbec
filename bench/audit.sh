#!/usr/bin/env bash
# Benchmark: the workflow audit of 1,000 workflow files (the audit corpus,
# copied over and over into one .github/workflows) by dossier and by
# actionlint v1.7.12 (shellcheck and pyflakes off, as neither is here), in
# one run, 5 times each; prints the medians and the ratio.
source "$(dirname "$0")/lib.sh" audit
repo="$out/repo/.github/workflows"; mkdir -p "$repo"
corpus=(internal/audit/testdata/corpus/*.yml)
for i in $(seq 0 999); do cp "${corpus[$((i % ${#corpus[@]}))]}" "$repo/w$i.yml"; done
run() { local s e; s=$(now); "$@" >/dev/null 2>&1 || true; e=$(now); elapsed "$s" "$e"; }
d=(); a=()
for _ in 1 2 3 4 5; do
  d+=("$(run "$dossier" audit workflows "$out/repo")")
  a+=("$(run "$peers/bin/actionlint" -shellcheck= -pyflakes= "$repo"/*.yml)")
done
dm=$(printf '%s\n' "${d[@]}" | median); am=$(printf '%s\n' "${a[@]}" | median)
echo "dossier audit workflows, 1000 files: median ${dm} s (runs: ${d[*]})"
echo "actionlint v1.7.12, 1000 files: median ${am} s (runs: ${a[*]})"
echo "ratio dossier/actionlint: $(echo "$dm / $am" | bc -l | cut -c1-4)"
