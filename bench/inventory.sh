#!/usr/bin/env bash
# Benchmark: the inventory of CONTAINERS (default 50000) running containers
# per cluster in 2 clusters — two real control planes on 127.0.0.1 (etcd,
# kube-apiserver, kube-controller-manager) with KWOK's fake nodes, Pods of
# 10 pinned containers over 10,000 distinct digests, one dossier cluster
# watch process per cluster into one SQLite store. Prints the time to the
# first full inventory, the watchers' peak RSS, how long a deletion takes
# to leave the inventory, and how many times each API server was asked to
# list Pods while watched. There is no peer that inventories: the figures
# are dossier's own, against the goals in the inventory issue.
# DOSSIER_BENCH_STORE=postgres://… puts the store in PostgreSQL (an empty
# database) instead of SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${DOSSIER_PEERS_DIR:-$HOME/.cache/dossier-peers}/bin:$PATH"
DOSSIER_BENCH_INVENTORY=${CONTAINERS:-50000} go test -tags inventorybench ./test/e2e/ -run '^TestInventoryScale$' -count=1 -v -timeout 90m 2>&1 |
  grep -E 'inventory_scale_test.go|^(--- |ok|FAIL)'
