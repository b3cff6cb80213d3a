#!/usr/bin/env bash
# Restores a backup made by backup.sh into an EMPTY database owned by the
# schema owner, then re-applies grants with `helpdesk migrate`.
#   ./restore.sh backups/helpdesk-20260101T000000Z.dump
set -euo pipefail
: "${HELPDESK_MIGRATE_DATABASE_URL:?set the owner database URL}"
file=${1:?usage: restore.sh FILE}
pg_restore --no-owner --exit-on-error --dbname="$HELPDESK_MIGRATE_DATABASE_URL" "$file"
helpdesk migrate
echo "restored $file"
