#!/usr/bin/env bash
# Daily logical backup of the platform database (run from cron or a Kubernetes
# CronJob). Keeps BACKUP_KEEP_DAYS days. Requires pg_dump and the owner URL.
#   HELPDESK_MIGRATE_DATABASE_URL=postgres://helpdesk:...@db/helpdesk BACKUP_DIR=/backups ./backup.sh
set -euo pipefail
: "${HELPDESK_MIGRATE_DATABASE_URL:?set the owner database URL}"
dir=${BACKUP_DIR:-./backups}
keep=${BACKUP_KEEP_DAYS:-14}
mkdir -p "$dir"
file="$dir/helpdesk-$(date -u +%Y%m%dT%H%M%SZ).dump"
pg_dump --format=custom --no-owner --file="$file.partial" "$HELPDESK_MIGRATE_DATABASE_URL"
mv "$file.partial" "$file"
find "$dir" -name 'helpdesk-*.dump' -mtime +"$keep" -delete
echo "backup written: $file"
