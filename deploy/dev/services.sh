#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer at the configured addresses. When one
# does not, it installs Debian's package if missing and starts a local server
# with its data under .data/ (git-ignored). Then it creates the roles the
# platform uses: helpdesk (owns the schema) and helpdesk_app (the RLS-bound
# application role), and, with --dev-db, the local database "helpdesk".
# Safe to run again and again.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
data="$root/.data"
pg_host=${PGHOST_ADDR:-127.0.0.1}
pg_port=${PGPORT_NUM:-5432}
redis_host=${REDIS_HOST:-127.0.0.1}
redis_port=${REDIS_PORT:-6379}
mkdir -p "$data"

log() { printf '[services] %s\n' "$*" >&2; }

sudo_maybe() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    sudo_maybe apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "installing $*"
  sudo_maybe env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

pg_bin() {
  local b
  b=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$b" ] && echo "$b"
}

ensure_postgres() {
  if port_open "$pg_host" "$pg_port"; then return; fi
  log "PostgreSQL is not answering on $pg_host:$pg_port; starting a local one under .data/pg"
  if [ -z "$(pg_bin)" ]; then apt_install postgresql; fi
  command -v psql >/dev/null || apt_install postgresql-client
  local bin; bin=$(pg_bin)
  local dir="$data/pg" run_as=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home "$data" postgres
    run_as=(runuser -u postgres --)
  fi
  if [ ! -s "$dir/PG_VERSION" ]; then
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown -R postgres "$dir"
    chmod 700 "$dir"
    "${run_as[@]}" "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  mkdir -p "$data/pgsock"; touch "$data/pg.log"
  [ "$(id -u)" = 0 ] && chown postgres "$data/pgsock" "$data/pg.log"
  "${run_as[@]}" "$bin/pg_ctl" -D "$dir" -l "$data/pg.log" -w \
    -o "-p $pg_port -c listen_addresses=$pg_host -k $data/pgsock -c fsync=off -c max_connections=300" start >/dev/null
  port_open "$pg_host" "$pg_port" || { log "PostgreSQL did not start; see .data/pg.log"; exit 1; }
}

ensure_redis() {
  if port_open "$redis_host" "$redis_port"; then return; fi
  log "Redis is not answering on $redis_host:$redis_port; starting a local one under .data/redis"
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p "$data/redis"
  # AOF with fsync every second: an acknowledged webhook survives a Redis
  # crash except for at most the last second (DESIGN.md invariant 2).
  redis-server --daemonize yes --bind "$redis_host" --port "$redis_port" --dir "$data/redis" \
    --appendonly yes --appendfsync everysec --maxmemory-policy noeviction --logfile "$data/redis.log"
  for _ in $(seq 1 50); do port_open "$redis_host" "$redis_port" && return; sleep 0.1; done
  log "Redis did not start; see .data/redis.log"; exit 1
}

psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -h "$pg_host" -p "$pg_port" -U postgres "$@"; }

ensure_roles() {
  command -v psql >/dev/null || apt_install postgresql-client
  psql_admin -d postgres <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'helpdesk') THEN CREATE ROLE helpdesk LOGIN; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'helpdesk_app') THEN CREATE ROLE helpdesk_app LOGIN NOBYPASSRLS; END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
SQL
}

ensure_dev_db() {
  if ! psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'helpdesk'" | grep -q 1; then
    psql_admin -d postgres -c "CREATE DATABASE helpdesk OWNER helpdesk"
  fi
}

ensure_postgres
ensure_redis
ensure_roles
if [ "${1:-}" = "--dev-db" ]; then ensure_dev_db; fi
log "PostgreSQL $pg_host:$pg_port and Redis $redis_host:$redis_port are ready"
