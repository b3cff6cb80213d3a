#!/usr/bin/env bash
# Runs the Go benchmarks once each and prints their figures; the last block
# repeats every machine-readable "BENCH name=value [target...]" line.
# Benchmarks never assert timings: they print, and people read.
#
#   BENCH=IdleEndToEnd ./deploy/dev/bench.sh      only benchmarks matching a pattern
#   PKGS=./internal/loadtest/ ./deploy/dev/bench.sh
#   LOADTEST_DURATION=5s LOADTEST_ROUNDS=5 LOADTEST_CONCURRENCY=40 LOADTEST_E2E_SAMPLES=500
#   HELPDESK_TASK_CHECK_INTERVAL=10ms (any HELPDESK_* setting reaches the platform under test)
#   BENCH=Campaign: the broadcast benchmarks (one bot at its scaled limit; 200 bots at once with a live probe);
#   LOADTEST_CAMPAIGN_RECIPIENTS=15000 LOADTEST_CAMPAIGN_SCALE=10 LOADTEST_CAMPAIGN_BOTS=200
#   LOADTEST_CAMPAIGN_BOT_RECIPIENTS=100 LOADTEST_CAMPAIGN_BOTS_SCALE=10 (docs/broadcasts.md)
#
# docs/benchmarks.md explains each figure. PostgreSQL and Redis must answer
# (`make bench` runs deploy/dev/services.sh first); without them the
# benchmarks skip.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
# Only packages that have benchmarks (building every test binary costs
# minutes on a small machine), one package at a time (-p 1) so that two
# benchmarks never share the cores.
pkgs=${PKGS:-$(grep -rl --include='*_test.go' '^func Benchmark' cmd internal 2>/dev/null | xargs -r -n1 dirname | sort -u | sed 's|^|./|')}
if [ -z "$pkgs" ]; then echo "no benchmarks found"; exit 0; fi
# shellcheck disable=SC2086 # pkgs is a list
go test -p 1 -run '^$' -bench "${BENCH:-.}" -benchtime "${BENCHTIME:-1x}" -timeout 20m $pkgs 2>&1 |
  grep -v -e '^?' -e 'no test files' | tee "$out" || status=$?
echo
echo "== figures ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)) =="
grep '^BENCH ' "$out" || echo "(no figures: did the benchmarks skip? see above)"
if grep -q -- '--- FAIL' "$out"; then status=1; fi
exit "$status"
