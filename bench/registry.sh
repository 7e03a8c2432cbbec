#!/usr/bin/env bash
# Benchmark: dossier serve against the CNCF distribution registry binary on
# the same machine, same load (bench/registryload): a 100 MB image pushed
# and pulled, then 1,000 small images pushed and their manifests pulled,
# 8 at once. dossier runs with its gates on — tokens, immutable tags on
# every v* tag, a quarantine on every repository (a passing policy, pending
# digests pullable, so that every pull is decided) — and scan on push off
# (measured on its own after). Prints each figure and dossier's ratio.
source "$(dirname "$0")/lib.sh" registry
go build -o bench/out/registryload ./bench/registryload
cat >"$out/pass.yaml" <<YAML
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: pass}
spec:
  images: [{glob: "**"}]
  authorities: [{name: pass, static: {action: pass}}]
YAML
dport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$dossier" serve --listen "127.0.0.1:$dport" --data-dir "$out/dossier" --immutable-tags '**:v*' \
  --quarantine "**=$out/pass.yaml" --pending-pullable '**' --scan-workers 0 2>"$out/serve.log" &
spid=$!
trap 'kill $spid $regpid 2>/dev/null' EXIT
for _ in $(seq 100); do grep -q "listening on" "$out/serve.log" && break; sleep 0.1; done

writer=$("$dossier" token create --repo '**' --role push --data-dir "$out/dossier" 2>/dev/null)
echo "== distribution v3.1.2"
bench/out/registryload -registry "$host" | tee "$out/distribution.txt"
echo "== dossier serve (gates on, scan on push off)"
bench/out/registryload -registry "127.0.0.1:$dport" -token "$writer" | tee "$out/dossier.txt"
python3 - "$out/distribution.txt" "$out/dossier.txt" <<'PY'
import re, sys
def figures(path):
    text = open(path).read()
    push, pull = map(float, re.search(r"push ([\d.]+) s, pull ([\d.]+) s", text).groups())
    small = [float(x) for x in re.findall(r": ([\d.]+) s, [\d.]+/s", text)]
    return {"large push": push, "large pull": pull, "small pushes": small[0], "manifest pulls": small[1]}
d, o = figures(sys.argv[1]), figures(sys.argv[2])
for k in d:
    print(f"{k}: distribution {d[k]:.3f} s, dossier {o[k]:.3f} s, ratio {o[k]/d[k]:.2f}x")
PY

# Scan on push on its own: the three samples pushed to 20 repositories
# each (100 manifests: go-app is an index of two images, each scanned),
# then the time until the two workers have catalogued, scanned and
# recorded all of them.
kill $spid 2>/dev/null; wait $spid 2>/dev/null || true
"$dossier" serve --listen "127.0.0.1:$dport" --data-dir "$out/scan" --scan-workers 2 2>"$out/scan.log" &
spid=$!
for _ in $(seq 100); do grep -q "listening on" "$out/scan.log" && break; sleep 0.1; done
scanner=$(cat "$out/scan/admin-token")
export DOCKER_CONFIG="$out/docker"; mkdir -p "$DOCKER_CONFIG"
"$peers/bin/crane" auth login "127.0.0.1:$dport" -u bench -p "$scanner" >/dev/null 2>&1
start=$(now)
for i in $(seq 20); do
  for s in debian go-app npm-app; do "$peers/bin/crane" push --insecure "samples/layouts/$s" "127.0.0.1:$dport/scan$i/$s:v1" >/dev/null 2>&1; done
done
pushed=$(now)
# every push queued its jobs before answering: the set is complete
until "$dossier" query jobs --data-dir "$out/scan" --limit 0 -o json | python3 -c 'import json,sys; j=json.load(sys.stdin); sys.exit(0 if all(x["state"] in ("done","failed") for x in j) else 1)'; do sleep 0.5; done
done_at=$(now)
"$dossier" query jobs --data-dir "$out/scan" --limit 0 -o json | python3 -c 'import json,sys; j=json.load(sys.stdin); print("scan jobs:", sum(x["state"]=="done" for x in j), "done,", sum(x["state"]=="failed" for x in j), "failed")'
jobs=$("$dossier" query jobs --data-dir "$out/scan" --limit 0 -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
echo "scan on push: $jobs manifests pushed in $(elapsed "$start" "$pushed") s; all scanned and recorded $(elapsed "$start" "$done_at") s after the first push: $(echo "$jobs * 60 / $(elapsed "$start" "$done_at")" | bc -l | xargs printf '%.0f') per minute with 2 workers"
