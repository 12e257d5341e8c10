#!/usr/bin/env bash
# Stops the broker and the PostgreSQL cluster that scripts/start-services.sh
# started, found through the pid files under $STREETBUMP_SERVICES_DIR
# (default: streetbump-services beside the clone). Does nothing for a service
# that is not running; never stops a process that it did not start (a pid
# file whose process is not that service's is ignored). Their data and logs
# stay until the next start. Output goes to stderr; exits 0 unless a service
# could not be stopped.
set -uo pipefail
exec 1>&2

repo=$(cd "$(dirname "$0")/.." && pwd)
services_dir=${STREETBUMP_SERVICES_DIR:-$(cd "$repo/.." && pwd)/streetbump-services}
[ -d "$services_dir" ] || exit 0
services_dir=$(cd "$services_dir" && pwd -P)
run_dir="$services_dir/run"
status=0

say() { echo "stop-services: $*"; }

# True when process $1 is alive and its command line contains the text $2
# (the data directory this script family gave it).
is_process() {
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null \
        && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# Waits up to $3 seconds for process $1 (command line containing $2) to end;
# an exited process that its parent has not reaped yet counts as ended.
wait_gone() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        is_process "$1" "$2" || return 0
        sleep 0.1
    done
    return 1
}

# --- the broker -------------------------------------------------------------------

if [ -f "$run_dir/kafka.pid" ]; then
    pid=$(cat "$run_dir/kafka.pid")
    marker="$services_dir/kafka/data"
    if is_process "$pid" "$marker"; then
        kill -TERM "$pid" 2>/dev/null
        if ! wait_gone "$pid" "$marker" 10; then
            say "the broker (pid $pid) did not stop on SIGTERM: sending SIGKILL."
            kill -KILL "$pid" 2>/dev/null
            wait_gone "$pid" "$marker" 5 || { say "could not stop the broker (pid $pid)."; status=1; }
        fi
        is_process "$pid" "$marker" || say "stopped the broker (pid $pid)."
    else
        say "the broker is not running."
    fi
    is_process "$pid" "$marker" || rm -f "$run_dir/kafka.pid"
fi

# --- PostgreSQL ---------------------------------------------------------------------

if [ -f "$run_dir/postgres.datadir" ]; then
    pg_data=$(cat "$run_dir/postgres.datadir")
    pg_bin=$(cat "$run_dir/postgres.bindir" 2>/dev/null || true)
    pid=$(head -n 1 "$pg_data/postmaster.pid" 2>/dev/null || cat "$run_dir/postgres.pid" 2>/dev/null || true)
    if is_process "$pid" "$pg_data"; then
        # pg_ctl runs as the cluster's owner (PostgreSQL refuses root).
        as_owner=()
        owner=$(stat -c %U "$pg_data" 2>/dev/null || true)
        if [ "$(id -u)" -eq 0 ] && [ -n "$owner" ] && [ "$owner" != root ]; then
            as_owner=(runuser -u "$owner" --)
        fi
        if [ -x "$pg_bin/pg_ctl" ] \
            && (cd / && "${as_owner[@]}" "$pg_bin/pg_ctl" -D "$pg_data" stop -m fast -w -t 30 >/dev/null); then
            say "stopped PostgreSQL (pid $pid)."
        else
            say "pg_ctl could not stop PostgreSQL (pid $pid): sending SIGQUIT, then SIGKILL."
            kill -QUIT "$pid" 2>/dev/null
            wait_gone "$pid" "$pg_data" 5 || kill -KILL "$pid" 2>/dev/null
            wait_gone "$pid" "$pg_data" 5 || { say "could not stop PostgreSQL (pid $pid)."; status=1; }
        fi
    else
        say "PostgreSQL is not running."
    fi
    if ! is_process "$pid" "$pg_data"; then
        rm -f "$run_dir/postgres.datadir" "$run_dir/postgres.bindir" "$run_dir/postgres.pid"
    fi
fi

exit "$status"
