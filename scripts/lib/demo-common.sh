# Shared by scripts/demo.sh and scripts/queue-demo.sh (sourced, not run): install and build,
# a throwaway PostgreSQL cluster unless DATABASE_URL is set, background processes that are
# stopped on every way out, and a `sql` helper.
#
# Environment read here:
#   DATABASE_URL            use this database instead of a throwaway cluster.
#   LEDGERSYNC_BUILD_FLAGS  extra flags for `swift build`, e.g. `--scratch-path /tmp/b`.
#   LEDGERSYNC_DEMO_PORT    port of the throwaway cluster (default: a free one in 26000-27999).

step() { printf '\n==> %s\n' "$*"; }
psql_bin=$(command -v psql || echo /usr/bin/psql)
sql() { "$psql_bin" "$DATABASE_URL" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

workdir=$(mktemp -d /tmp/ledgersync-demo.XXXXXX)
chmod 755 "$workdir"   # the server may run as `postgres` and must reach its data dir
pgdata=""
succeeded=false
bg_pids=()    # every process started with `start_bg`, stopped in reverse order
bg_names=()

# start_bg NAME COMMAND…: runs COMMAND in the background with its output in $workdir/NAME.log.
start_bg() {
    local name=$1; shift
    "$@" >"$workdir/$name.log" 2>&1 &
    bg_pids+=("$!")
    bg_names+=("$name")
}

# SIGTERM to each (workers finish running jobs within their grace period), newest first;
# whatever has not exited 15 s later is killed.
stop_bg() {
    local i pid deadline=$((SECONDS + 15))
    for ((i = ${#bg_pids[@]} - 1; i >= 0; i--)); do kill -TERM "${bg_pids[$i]}" 2>/dev/null || true; done
    for ((i = ${#bg_pids[@]} - 1; i >= 0; i--)); do
        pid=${bg_pids[$i]}
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "${bg_names[$i]} (pid $pid) did not stop in time; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    bg_pids=()
    bg_names=()
}

# Exits when a background process is gone: stopped by a signal (Ctrl-C reaches the whole
# process group; psql catches it, so this shell may not see it) or crashed.
check_bg() {
    local i
    for i in "${!bg_pids[@]}"; do
        kill -0 "${bg_pids[$i]}" 2>/dev/null && continue
        if grep -q 'shutting down' "$workdir/${bg_names[$i]}.log" 2>/dev/null; then
            echo "interrupted: ${bg_names[$i]} was stopped by a signal" >&2
            exit 130
        fi
        echo "${bg_names[$i]} (pid ${bg_pids[$i]}) died:" >&2
        tail -n 20 "$workdir/${bg_names[$i]}.log" >&2
        exit 1
    done
}

# Waits until N processes started as worker-1…worker-N have logged that they run (and so
# have published their kinds' default max_attempts); exits if one dies or 30 s pass.
wait_for_workers() {
    local deadline=$((SECONDS + 30))
    until [ "$(cat "$workdir"/worker-*.log | grep -c 'worker started')" -ge "$1" ]; do
        check_bg
        [ "$SECONDS" -lt "$deadline" ] || { echo "workers did not start within 30 s" >&2; cat "$workdir"/worker-*.log >&2; exit 1; }
        sleep 0.1
    done
}

demo_cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop_bg
    if [ -n "$pgdata" ]; then scripts/pg.sh stop "$pgdata" || true; rm -rf "$pgdata" "$pgdata.initdb.log"; fi
    if [ "$succeeded" = false ] && compgen -G "$workdir/*.log" >/dev/null; then
        echo "demo did not finish; logs are kept in $workdir" >&2
    else
        rm -rf "$workdir"
    fi
    exit "$status"
}
trap demo_cleanup EXIT
trap 'echo; echo "interrupted: stopping everything the demo started" >&2; exit 130' INT TERM

# Installs what is missing and builds; sets $ledgersync to the binary.
install_and_build() {
    step "installing missing system packages (scripts/install-deps.sh)"
    scripts/install-deps.sh
    local build_flags
    read -r -a build_flags <<<"${LEDGERSYNC_BUILD_FLAGS:-}"
    step "building (swift build ${LEDGERSYNC_BUILD_FLAGS:-})"
    swift build ${build_flags[@]+"${build_flags[@]}"}
    ledgersync="$(swift build ${build_flags[@]+"${build_flags[@]}"} --show-bin-path)/ledgersync"
}

# A free TCP port on 127.0.0.1 in [$1, $1 + 2000).
free_port() {
    local port
    for _ in $(seq 1 20); do
        port=$(($1 + RANDOM % 2000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
    done
    echo "no free port found near $1" >&2
    return 1
}

# DATABASE_URL, or a throwaway cluster; exports DATABASE_URL. $1 says what is touched.
start_database() {
    if [ -n "${DATABASE_URL:-}" ]; then
        step "using DATABASE_URL ($1)"
    else
        local port=${LEDGERSYNC_DEMO_PORT:-$(free_port 26000)}
        pgdata="$workdir/pgdata"
        step "starting a throwaway PostgreSQL cluster on port $port (scripts/pg.sh)"
        DATABASE_URL=$(scripts/pg.sh start "$pgdata" "$port")
    fi
    export DATABASE_URL
    echo "DATABASE_URL=$DATABASE_URL"
}
