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
