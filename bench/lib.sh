# Shared by the bench scripts: the peers, a built dossier, a CNCF
# distribution registry on a free 127.0.0.1 port, timing helpers.
# Sets: peers, dossier, out (bench/out/NAME), host; needs NAME in $1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
peers=${DOSSIER_PEERS_DIR:-$HOME/.cache/dossier-peers}
out=$(realpath -m "bench/out/$1"); rm -rf "$out"; mkdir -p "$out"
CGO_ENABLED=0 go build -trimpath -o bench/out/dossier ./cmd/dossier
dossier=$(realpath bench/out/dossier)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
cat >"$out/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $out/data}}
http: {addr: $host}
YML
"$peers/bin/registry" serve "$out/registry.yml" >"$out/registry.log" 2>&1 &
regpid=$!
trap 'kill $regpid 2>/dev/null' EXIT
for _ in $(seq 50); do curl -fs "http://$host/v2/" >/dev/null && break; sleep 0.1; done

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
elapsed() { echo "$2 - $1" | bc -l; }
