#!/usr/bin/env bash
# The admin console (frontend/): build it into frontend/dist (embedded by the
# Go binary) or test it.
#
#   deploy/dev/frontend.sh build   npm ci when needed, then tsc + vite build
#   deploy/dev/frontend.sh test    unit tests (vitest), build, then the browser
#                                  end-to-end tests against the real platform
#                                  in Debian's headless Chromium
#   deploy/dev/frontend.sh e2e     only the browser tests (after a build)
#
# npm ci runs only when node_modules is missing or older than package-lock.json.
# Chromium comes from Debian's package (installed here when missing); no
# browser is ever downloaded by npm or Playwright.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
fe="$root/frontend"
cmd=${1:-test}

log() { printf '[frontend] %s\n' "$*" >&2; }
sudo_maybe() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

node_ok() {
  command -v node >/dev/null && command -v npm >/dev/null || return 1
  # Vite 8 needs Node 20.19+ (or 22.12+).
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)||(a===20&&b>=19)||a===21?0:1)'
}

ensure_deps() {
  local lock="$fe/package-lock.json" stamp="$fe/node_modules/.package-lock.json"
  if [ ! -d "$fe/node_modules" ] || [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
    log "npm ci"
    (cd "$fe" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

ensure_chromium() {
  local bin=${CHROMIUM_PATH:-/usr/bin/chromium}
  if [ -x "$bin" ]; then return; fi
  log "installing Debian's chromium package (headless browser for the e2e tests)"
  sudo_maybe apt-get update -qq >/dev/null
  sudo_maybe env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  [ -x "$bin" ] || { log "chromium is still missing at $bin"; exit 1; }
}

build() {
  (cd "$fe" && npm run --silent build)
}

# The browser tests need the Go toolchain, PostgreSQL and Redis (make test
# starts them through deploy/dev/services.sh). Anything missing is a clear skip.
e2e() {
  local why=""
  command -v go >/dev/null || why="the Go toolchain is not installed"
  command -v psql >/dev/null || why="${why:+$why; }psql is not installed"
  command -v redis-cli >/dev/null || why="${why:+$why; }redis-cli is not installed"
  port_open "${PGHOST_ADDR:-127.0.0.1}" "${PGPORT_NUM:-5432}" || why="${why:+$why; }PostgreSQL is not answering (run deploy/dev/services.sh)"
  port_open "${REDIS_HOST:-127.0.0.1}" "${REDIS_PORT:-6379}" || why="${why:+$why; }Redis is not answering (run deploy/dev/services.sh)"
  if [ -n "$why" ]; then
    log "SKIP browser tests: $why"
    return 0
  fi
  ensure_chromium
  (cd "$fe" && npm run --silent e2e)
}

case "$cmd" in
  build)
    if ! node_ok; then
      log "Node.js 20.19+ and npm are needed to build the console; skipping (the binary serves a note instead of the console)"
      exit 0
    fi
    ensure_deps
    build
    ;;
  test)
    node_ok || { log "Node.js 20.19+ and npm are needed to test the console"; exit 1; }
    ensure_deps
    start=$(date +%s)
    (cd "$fe" && npm test --silent)
    build
    e2e
    log "console tests done in $(( $(date +%s) - start )) s"
    ;;
  e2e)
    node_ok || { log "Node.js 20.19+ and npm are needed"; exit 1; }
    ensure_deps
    e2e
    ;;
  *)
    echo "usage: $0 build|test|e2e" >&2
    exit 2
    ;;
esac
