#!/usr/bin/env bash
# Runs every Go benchmark once at a fixed iteration budget and prints the
# figures each benchmark reports (throughput, latency percentiles, ratios).
# Benchmarks never assert timings; they print, and people read.
set -euo pipefail
cd "$(dirname "$0")/../.."
go test -run '^$' -bench "${BENCH:-.}" -benchtime "${BENCHTIME:-1x}" -timeout 30m ./... 2>&1 | grep -v '^?' 
