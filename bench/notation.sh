#!/usr/bin/env bash
# Benchmark: verifying one Notation signature (JWS, strict level, CRL
# checked on 127.0.0.1, a registry on 127.0.0.1 with the referrers API) by
# dossier and by notation-go v1.3.2's own notation.Verify, in one go test
# run, 5 counts each; prints the medians and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/env
out=$(go test ./internal/notation -run '^$' -bench '^BenchmarkVerify$' -count 5 -benchmem)
echo "$out" | grep '^BenchmarkVerify'
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
d=$(echo "$out" | awk '/BenchmarkVerify\/dossier/ {print $3}' | median)
n=$(echo "$out" | awk '/BenchmarkVerify\/notation-go/ {print $3}' | median)
echo "dossier: median ${d} ns/op; notation-go notation.Verify: median ${n} ns/op"
echo "ratio dossier/notation-go: $(echo "$d / $n" | bc -l | cut -c1-4)"
