#!/usr/bin/env bash
# `make run`: the whole platform on this machine with its local defaults.
# PostgreSQL and Redis (started if needed), the Telegram sandbox with one demo
# bot per demo tenant, migrations, the demo tenants from tenants/, a platform
# operator, then `helpdesk all` in the foreground. Ctrl-C stops everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
data="$root/.data"
mkdir -p "$data" bin

./deploy/dev/services.sh --dev-db

# Local secrets, made once and kept in .data/dev.env (git-ignored).
if [ ! -s "$data/dev.env" ]; then
  umask 077
  {
    echo "HELPDESK_SECRET_KEY=$(head -c 32 /dev/urandom | base64)"
    echo "HELPDESK_JWT_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')"
    echo "DEMO_PASSWORD=Demo-password-$(head -c 6 /dev/urandom | base64 | tr -d '/+=\n')"
  } > "$data/dev.env"
fi
set -a
# shellcheck disable=SC1091
. "$data/dev.env"
set +a

http_addr=${HELPDESK_HTTP_ADDR:-127.0.0.1:8080}
sandbox_addr=${TGSANDBOX_ADDR:-127.0.0.1:8081}
export HELPDESK_HTTP_ADDR=$http_addr
export HELPDESK_PUBLIC_URL=${HELPDESK_PUBLIC_URL:-http://$http_addr}
export HELPDESK_TELEGRAM_API_URL=${HELPDESK_TELEGRAM_API_URL:-http://$sandbox_addr}
export HELPDESK_LOG_FORMAT=${HELPDESK_LOG_FORMAT:-text}

if [ -f frontend/package.json ]; then
  ./deploy/dev/frontend.sh build || echo "[run] the console did not build; the API still runs (see above)" >&2
fi
go build -o bin/helpdesk ./cmd/helpdesk
go build -o bin/tgsandbox ./cmd/tgsandbox

# One sandbox bot per demo tenant: a fixed, well-formed token per template.
demo_token() { printf '70000000%02d:AAdemo-%s' "$1" "$(printf '%s' "$2" | sha256sum | head -c 28)"; }
bot_flags=()
templates=()
i=1
for f in tenants/*/tenant.yaml; do
  [ -f "$f" ] || continue
  name=$(basename "$(dirname "$f")")
  templates+=("$f")
  bot_flags+=(-bot "$(demo_token "$i" "$name")=${name//-/_}_bot")
  i=$((i + 1))
done

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

bin/tgsandbox -addr "$sandbox_addr" "${bot_flags[@]}" > "$data/tgsandbox.log" 2>&1 &
pids+=($!)

bin/helpdesk migrate
for f in "${templates[@]}"; do bin/helpdesk tenant apply "$f"; done
if ! bin/helpdesk operator create --email operator@demo.local --name "Demo operator" --password-stdin <<<"$DEMO_PASSWORD" >/dev/null 2>"$data/operator.err"; then
  grep -q "email_taken\|already" "$data/operator.err" || { cat "$data/operator.err" >&2; exit 1; }
fi

bin/helpdesk all &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS "http://$http_addr/readyz" >/dev/null 2>&1 && break; sleep 0.2; done

# Connect each demo tenant's sandbox bot through the public API, as a tenant
# admin would (a second run finds it connected and leaves it).
i=1
logins=()
for f in "${templates[@]}"; do
  name=$(basename "$(dirname "$f")")
  email=$(sed -n 's/^ *email: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$f" | head -n 1)
  password=$(sed -n 's/^ *password: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$f" | head -n 1)
  if [ -n "$email" ] && [ -n "$password" ]; then
    logins+=("$name: $email / $password")
    token=$(curl -fsS -H 'Content-Type: application/json' \
      -d "{\"email\":\"$email\",\"password\":\"$password\"}" "http://$http_addr/api/v1/auth/login" |
      sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
    if [ -n "$token" ]; then
      curl -sS -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d "{\"token\":\"$(demo_token "$i" "$name")\"}" "http://$http_addr/api/v1/bots" || true
    fi
  fi
  i=$((i + 1))
done

cat <<EOF

  tgdesk is running.

  Console:          http://$http_addr/
  API:              http://$http_addr/api/v1   (docs/openapi.yaml)
  Telegram sandbox: http://$sandbox_addr/       (chat as a user with the demo bots, see the staff group)
  Operator:         operator@demo.local / $DEMO_PASSWORD
  Demo tenants:
$(printf '    %s\n' "${logins[@]}")

  Logs: this terminal; the sandbox's in .data/tgsandbox.log. Ctrl-C stops everything.
EOF
wait "${pids[1]}"
