#!/usr/bin/env bash
# Build-time step of the PostgreSQL image (also runnable by hand to check it):
#   build-seed.sh OUTPUT.sql.gz
# Starts a throwaway PostgreSQL server on a private Unix socket, lets MovieRec itself create the
# schema (`movierec db upgrade`: Alembic stays the only author of the schema) and load MovieLens
# from MOVIELENS_URL (`movierec data load`: the same validation and preparation as everywhere
# else), then dumps the database as plain SQL for /docker-entrypoint-initdb.d/. The dump carries
# Alembic's revision, so `movierec db upgrade` on a newer image migrates it like any database.
set -euo pipefail

out=${1:?usage: build-seed.sh OUTPUT.sql.gz}
: "${MOVIELENS_URL:?set MOVIELENS_URL to the MovieLens zip (https://, http:// or file://)}"
export MOVIELENS_URL MOVIELENS_SHA256="${MOVIELENS_SHA256:-}"
[ -n "$MOVIELENS_SHA256" ] || unset MOVIELENS_SHA256

# PostgreSQL refuses to run as root: the server runs as `postgres`, the clients as whoever we are.
if [ "$(id -u)" = 0 ]; then
    if command -v gosu >/dev/null; then as_server=(gosu postgres); else as_server=(runuser -u postgres --); fi
else
    as_server=()
fi

work=$(mktemp -d)
pgdata="$work/data"
socket="$work/socket"
mkdir -p "$pgdata" "$socket"
[ "$(id -u)" != 0 ] || chown -R postgres:postgres "$work"

stop_server() {
    "${as_server[@]}" pg_ctl -D "$pgdata" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap stop_server EXIT

"${as_server[@]}" initdb -D "$pgdata" --username=postgres --auth=trust --encoding=UTF8 \
    --locale=C.UTF-8 >/dev/null
"${as_server[@]}" pg_ctl -D "$pgdata" -w -l "$work/server.log" \
    -o "-c listen_addresses='' -k $socket -c fsync=off -c full_page_writes=off" start >/dev/null
"${as_server[@]}" createdb -h "$socket" -U postgres movierec

export DATABASE_URL="postgresql+psycopg://postgres@/movierec?host=$socket"
movierec db upgrade
movierec data load --source "$MOVIELENS_URL"

mkdir -p "$(dirname "$out")"
pg_dump -h "$socket" -U postgres --no-owner --no-privileges movierec | gzip -9 > "$out"
echo "wrote $out ($(du -h "$out" | cut -f1))"
