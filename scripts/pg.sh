#!/usr/bin/env bash
# A private, throwaway PostgreSQL cluster for tests, the demo and benchmarks.
#
#   scripts/pg.sh start DIR PORT   initdb into DIR (wiped first), start on 127.0.0.1:PORT,
#                                  print the superuser's DATABASE_URL on stdout
#   scripts/pg.sh stop DIR         stop it (fast shutdown) and leave DIR for inspection
#   scripts/pg.sh restart DIR      restart it (fast shutdown): every connection is dropped
#   scripts/pg.sh resume DIR       start a cluster that `stop` stopped, its data kept
#
# Same settings as the peer benchmark's pg-up.sh: fsync and synchronous_commit on
# (the defaults, stated), shared_buffers 256MB, trust auth on loopback only.
# LEDGERSYNC_PG_PROFILE=fast turns fsync, synchronous_commit and full_page_writes off: for
# the test suite, where no test is about surviving a crash of the server or the machine
# (workers are killed, the server is only ever stopped cleanly), and every commit waiting
# for the disk only makes 2 cores slower. The demo and the benchmarks keep the durable one.
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.
set -euo pipefail

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$PGBIN/initdb" ] || { echo "pg.sh: no PostgreSQL server found (install the postgresql package)" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then RUN=(runuser -u postgres --); else RUN=(); fi

# The server outlives this script; it must not keep the caller's descriptors (a pipe a
# test harness reads to its end, a process monitor's socket) open for its whole life.
# They are closed in the child just before pg_ctl runs (not in this shell: bash reads
# this very script through one of them).
without_inherited_fds() {
    python3 -c 'import os, sys; os.closerange(3, 65536); os.execvp(sys.argv[1], sys.argv[1:])' "$@"
}

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: pg.sh start DIR PORT | pg.sh stop DIR" >&2; exit 64; }

case "$cmd" in
start)
    port=${3:?usage: pg.sh start DIR PORT}
    case ${LEDGERSYNC_PG_PROFILE:-durable} in
    durable) fsync=on ;;
    fast) fsync=off ;;
    *) echo "pg.sh: LEDGERSYNC_PG_PROFILE must be durable or fast" >&2; exit 64 ;;
    esac
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; fi
    chmod 700 "$dir"
    "${RUN[@]}" "$PGBIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 \
        || { cat "$dir.initdb.log" >&2; exit 1; }
    cat >>"$dir/postgresql.conf" <<CONF
# --- ledgersync scripts/pg.sh ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
shared_buffers = 256MB
fsync = $fsync
synchronous_commit = $fsync
full_page_writes = $fsync
max_connections = 300
logging_collector = off
log_min_messages = warning
CONF
    without_inherited_fds "${RUN[@]}" "$PGBIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start </dev/null >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
restart)
    without_inherited_fds "${RUN[@]}" "$PGBIN/pg_ctl" -D "$dir" -l "$dir/server.log" -m fast -w -t 60 restart </dev/null >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    ;;
resume)
    without_inherited_fds "${RUN[@]}" "$PGBIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start </dev/null >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    ;;
stop)
    if [ -f "$dir/postmaster.pid" ]; then
        "${RUN[@]}" "$PGBIN/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null || true
    fi
    ;;
*)
    echo "usage: pg.sh start DIR PORT | pg.sh restart DIR | pg.sh stop DIR | pg.sh resume DIR" >&2; exit 64 ;;
esac
