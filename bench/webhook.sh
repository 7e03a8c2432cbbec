#!/usr/bin/env bash
# Benchmark: dossier's admission webhook over HTTPS on 127.0.0.1 against a
# CNCF distribution registry on 127.0.0.1. Images: the npm-app sample made
# into distinct digests (a label each, crane mutate), signed with a key.
# Cold: one Pod per never-judged digest, one at a time. Warm: Pods of 1-8
# containers drawn from judged images, CONCURRENCY (default 16) in flight
# for DURATION (default 10s), then RATE (default 2000) reviews a second
# offered open-loop for DURATION. Decisions are recorded in the store, as in
# production.
source "$(dirname "$0")/lib.sh" webhook
crane="$peers/bin/crane"
export DOSSIER_PASSWORD=bench
"$dossier" key generate --output-prefix "$out/release" >/dev/null
"$crane" push --insecure samples/layouts/npm-app "$host/base:v1" >/dev/null 2>&1
make_images() { # kind count
  for i in $(seq "$2"); do
    "$crane" mutate --insecure "$host/base:v1" --label "dossier.bench=$1-$i" -t "$host/$1$i:v1" >/dev/null 2>&1
    "$dossier" sign "$host/$1$i:v1" --key "$out/release.key" >/dev/null 2>&1
    echo "$host/$1$i:v1"
  done
}
make_images warm 20 >"$out/warm.txt"
make_images cold 50 >"$out/cold.txt"
cat >"$out/policy.yaml" <<YAML
apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: require-signed}
spec:
  mode: enforce
  images: ["$host/**"]
  signers:
    - name: release
      key: {file: release.pub}
  rules:
    - name: signed
      signature: {}
YAML
"$dossier" webhook certificate --host 127.0.0.1 --out-dir "$out/certs" >/dev/null
wport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# reviews carry the API server's bearer token, as an AdmissionConfiguration
# gives it: the webhook checks every one
head -c 32 /dev/urandom | basenc --base64url | tr -d = > "$out/api-server-token"
"$dossier" webhook --policy "$out/policy.yaml" --tls-cert "$out/certs/tls.crt" --tls-key "$out/certs/tls.key" \
  --listen "127.0.0.1:$wport" --data-dir "$out/state" --client-token-file "$out/api-server-token" ${WEBHOOK_FLAGS:-} 2>"$out/webhook.log" &
whpid=$!
trap 'kill $whpid $regpid 2>/dev/null' EXIT
for _ in $(seq 100); do curl -fs --cacert "$out/certs/ca.crt" "https://127.0.0.1:$wport/healthz" && break; sleep 0.1; done
go build -o bench/out/webhookload ./bench/webhookload
bench/out/webhookload ${WEBHOOKLOAD_FLAGS:-} -url "https://127.0.0.1:$wport" -ca "$out/certs/ca.crt" -token-file "$out/api-server-token" -cold "$out/cold.txt" -warm "$out/warm.txt" \
  -concurrency "${CONCURRENCY:-16}" -rate "${RATE:-2000}" -duration "${DURATION:-10s}"
