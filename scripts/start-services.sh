#!/usr/bin/env bash
# Starts, on 127.0.0.1, the services that the Kafka and PostgreSQL end-to-end
# tests talk to (installed by scripts/install-services.sh):
#
# - the Kafka-compatible broker of noida-db on $STREETBUMP_KAFKA_PORT
#   (default 9092), with a fresh data directory each run;
# - a fresh PostgreSQL cluster (initdb each run, trust authentication, TCP on
#   127.0.0.1 only, no Unix socket) on $STREETBUMP_PG_PORT (default 55432),
#   with a database streetbump_test owned by the superuser `postgres`.
#
# Data, logs and pid files live under $STREETBUMP_SERVICES_DIR (default:
# streetbump-services beside the clone). Services left running by a previous
# run of this script are stopped first (scripts/stop-services.sh). Waits until
# each one answers (Kafka: ApiVersions and Metadata requests; PostgreSQL:
# pg_isready and `select 1`), at most $STREETBUMP_SERVICES_TIMEOUT seconds
# (default 60) each.
#
# Progress goes to stderr; stdout gets only `export` lines, so use it as
#     eval "$(scripts/start-services.sh)"
# On failure it prints why and the end of the service's log, stops whatever it
# started, prints no export line and exits non-zero.
set -euo pipefail
# fd 3 is the caller's stdout, kept for the export lines; everything else goes
# to stderr. Services are started with fd 3 closed so that a caller's
# "$(...)" does not wait for them.
exec 3>&1 1>&2

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
services_dir=${STREETBUMP_SERVICES_DIR:-$(cd "$repo/.." && pwd)/streetbump-services}
mkdir -p "$services_dir" || { echo "start-services: cannot create $services_dir" >&2; exit 1; }
services_dir=$(cd "$services_dir" && pwd -P)
venv="$services_dir/venv"
run_dir="$services_dir/run"
kafka_dir="$services_dir/kafka"
host=127.0.0.1
kafka_port=${STREETBUMP_KAFKA_PORT:-9092}
pg_port=${STREETBUMP_PG_PORT:-55432}
pg_user=postgres
pg_db=streetbump_test
timeout=${STREETBUMP_SERVICES_TIMEOUT:-60}

say() { echo "start-services: $*"; }

started=0
fail() {
    echo "start-services: ERROR: $1" >&2
    if [ -n "${2:-}" ] && [ -f "$2" ]; then
        echo "start-services: last lines of $2:" >&2
        tail -n 40 "$2" | sed 's/^/    /' >&2
    fi
    if [ "$started" -eq 1 ]; then
        "$here/stop-services.sh" 3>&- || true
    fi
    exit 1
}

port_open() {
    (exec 4<>"/dev/tcp/$1/$2") 2>/dev/null
}

# --- what install-services.sh installed -------------------------------------

broker_bin=$("$venv/bin/python" - 2>/dev/null <<'EOF'
import os
import noida_db
print(os.path.join(os.path.dirname(noida_db.__file__), "noida-db"))
EOF
) || broker_bin=""
if [ -z "$broker_bin" ] || [ ! -x "$broker_bin" ]; then
    fail "noida-db is not installed in $venv: run scripts/install-services.sh first."
fi

pg_bin=""
while IFS= read -r d; do
    if [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
        pg_bin=$d
        break
    fi
done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r)
[ -n "$pg_bin" ] || fail "no PostgreSQL server under /usr/lib/postgresql/*/bin: run scripts/install-services.sh first."

# PostgreSQL refuses to run as root: as root, run it as the `postgres` user.
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
    id "$pg_user" >/dev/null 2>&1 || fail "the '$pg_user' system user is missing: PostgreSQL cannot run as root."
    as_pg=(runuser -u "$pg_user" --)
fi
# Runs a command as the PostgreSQL owner, from / so that it never lacks
# access to the current directory.
pg_run() { (cd / && "${as_pg[@]}" "$@"); }

# --- stop what a previous run left -------------------------------------------

"$here/stop-services.sh" 3>&- || true

port_open "$host" "$kafka_port" \
    && fail "$host:$kafka_port is already in use by a process this script did not start (set STREETBUMP_KAFKA_PORT to use another port)."
port_open "$host" "$pg_port" \
    && fail "$host:$pg_port is already in use by a process this script did not start (set STREETBUMP_PG_PORT to use another port)."

mkdir -p "$run_dir"
started=1

# --- the broker: started now, waited for after PostgreSQL is up -------------

rm -rf "$kafka_dir"
mkdir -p "$kafka_dir/data"
kafka_log="$kafka_dir/broker.log"
say "starting the Kafka-compatible broker (noida-db) on $host:$kafka_port, log $kafka_log."
"$broker_bin" start --only kafka --host "$host" --kafka-port "$kafka_port" \
    --data-dir "$kafka_dir/data" </dev/null >"$kafka_log" 2>&1 3>&- &
kafka_pid=$!
echo "$kafka_pid" >"$run_dir/kafka.pid"
kafka_start=$SECONDS

# --- PostgreSQL ---------------------------------------------------------------

pg_base="$services_dir/pg"
if [ "${#as_pg[@]}" -gt 0 ] && ! runuser -u "$pg_user" -- test -x "$services_dir"; then
    # The postgres user cannot reach the services directory (a parent
    # directory is private): keep the cluster in the temporary directory.
    pg_base="${TMPDIR:-/tmp}/streetbump-pg-$(printf '%s' "$services_dir" | cksum | cut -d' ' -f1)"
fi
rm -rf "$pg_base"
mkdir -p "$pg_base"
if [ "${#as_pg[@]}" -gt 0 ]; then
    chown "$pg_user:" "$pg_base"
fi
chmod 700 "$pg_base"
pg_data="$pg_base/data"
pg_log="$pg_base/postgres.log"
echo "$pg_bin" >"$run_dir/postgres.bindir"
echo "$pg_data" >"$run_dir/postgres.datadir"

say "creating a PostgreSQL cluster in $pg_data ($pg_bin)."
pg_run "$pg_bin/initdb" -D "$pg_data" -U "$pg_user" --auth=trust --encoding=UTF8 \
    --no-locale --no-sync >"$services_dir/initdb.log" 2>&1 3>&- \
    || fail "initdb failed." "$services_dir/initdb.log"
# A throwaway test cluster: TCP on 127.0.0.1 only, no Unix socket (its
# default directory may not exist), and no waiting for the disk.
cat >>"$pg_data/postgresql.conf" <<EOF

# streetbump test cluster (scripts/start-services.sh)
listen_addresses = '$host'
port = $pg_port
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF

say "starting PostgreSQL on $host:$pg_port, log $pg_log."
pg_run "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_log" -w -t "$timeout" start \
    </dev/null >"$services_dir/pg_ctl.log" 2>&1 3>&- \
    || fail "PostgreSQL did not start within ${timeout}s (pg_ctl: $(tail -n 1 "$services_dir/pg_ctl.log"))." "$pg_log"
head -n 1 "$pg_data/postmaster.pid" >"$run_dir/postgres.pid"

deadline=$((SECONDS + timeout))
until "$pg_bin/pg_isready" -q -h "$host" -p "$pg_port" -U "$pg_user" -d postgres; do
    [ "$SECONDS" -lt "$deadline" ] \
        || fail "PostgreSQL does not accept connections on $host:$pg_port after ${timeout}s." "$pg_log"
    sleep 0.2
done
"$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$host" -p "$pg_port" -U "$pg_user" -d postgres \
    -c "create database $pg_db" </dev/null \
    || fail "could not create the database $pg_db." "$pg_log"
pg_url="postgres://$pg_user@$host:$pg_port/$pg_db"
answer=$("$pg_bin/psql" -X -At -v ON_ERROR_STOP=1 -d "$pg_url" -c 'select 1' </dev/null) \
    || fail "'select 1' failed on $pg_url." "$pg_log"
[ "$answer" = 1 ] || fail "'select 1' on $pg_url answered '$answer'." "$pg_log"
say "PostgreSQL is up: $pg_url"

# --- wait for the broker --------------------------------------------------------

# One Kafka protocol round trip: ApiVersions (v0), then Metadata (v0) for all
# topics; checks that the broker advertises the address it was started on.
kafka_probe() {
    "$venv/bin/python" - "$host" "$kafka_port" <<'EOF'
import socket, struct, sys

host, port = sys.argv[1], int(sys.argv[2])

def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise RuntimeError("connection closed by the broker")
        buf += chunk
    return buf

def call(sock, api_key, version, corr, body=b""):
    client = b"streetbump-start-services"
    msg = struct.pack(">hhih", api_key, version, corr, len(client)) + client + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    data = recv_exact(sock, size)
    if struct.unpack(">i", data[:4])[0] != corr:
        raise RuntimeError("wrong correlation id in the answer")
    return data[4:]

try:
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.settimeout(5)
        answer = call(sock, 18, 0, 1)  # ApiVersions v0
        (error,) = struct.unpack(">h", answer[:2])
        if error:
            raise RuntimeError(f"ApiVersions answered error {error}")
        answer = call(sock, 3, 0, 2, struct.pack(">i", 0))  # Metadata v0, all topics
        (brokers,) = struct.unpack(">i", answer[:4])
        if brokers < 1:
            raise RuntimeError("Metadata lists no broker")
        (node_id, host_len) = struct.unpack(">ih", answer[4:10])
        advertised = answer[10:10 + host_len].decode()
        (advertised_port,) = struct.unpack(">i", answer[10 + host_len:14 + host_len])
except (OSError, RuntimeError, struct.error) as e:
    print(f"not ready: {e}")
    sys.exit(1)
if (advertised, advertised_port) != (host, port):
    print(f"the broker advertises {advertised}:{advertised_port}, not {host}:{port}")
    sys.exit(2)
print(f"ApiVersions and Metadata answered: broker {node_id} at {advertised}:{advertised_port}")
EOF
}

deadline=$((kafka_start + timeout))
while :; do
    kill -0 "$kafka_pid" 2>/dev/null || fail "the broker exited during startup." "$kafka_log"
    status=0
    probe=$(kafka_probe 3>&-) || status=$?
    [ "$status" -eq 0 ] && break
    [ "$status" -eq 2 ] && fail "$probe" "$kafka_log"
    [ "$SECONDS" -lt "$deadline" ] \
        || fail "the broker does not answer Kafka requests on $host:$kafka_port after ${timeout}s ($probe)." "$kafka_log"
    sleep 0.2
done
say "the broker is up on $host:$kafka_port (pid $kafka_pid): $probe"

printf 'export STREETBUMP_TEST_KAFKA=%q\n' "$host:$kafka_port" >&3
printf 'export STREETBUMP_TEST_PG_URL=%q\n' "$pg_url" >&3
