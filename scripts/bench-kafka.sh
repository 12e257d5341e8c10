#!/usr/bin/env bash
# Throughput of the Kafka runtime's workers, stage by stage, with 1 and then
# 2 workers of each kind (docs/deployment.md, "Sizing").
#
# For each worker count N: a fresh database and fresh topics; a simulated
# city is uploaded through an ingest process while no worker runs (so the
# batches wait in Kafka); then N detect workers start and the time until
# every trip is processed is the detect stage's; then N cluster workers start
# and the time until all evidence is stored and no region is dirty is the
# cluster stage's. Times include the workers' start and group join.
#
# Needs the services: scripts/install-services.sh, then
#   eval "$(scripts/start-services.sh)"
# They are restarted (emptied) before each worker count; BENCH_RESTART=0
# keeps them.
# Usage: scripts/bench-kafka.sh [TRIPS] [MINUTES] [WORKERS...]
#   (default 200 trips of 6 minutes, worker counts 1 2)
set -euo pipefail
cd "$(dirname "$0")/.."
trips=${1:-200}
minutes=${2:-6}
shift $(( $# > 2 ? 2 : $# ))
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1 2)

: "${STREETBUMP_TEST_KAFKA:?start the services: eval \"\$(scripts/start-services.sh)\"}"
: "${STREETBUMP_TEST_PG_URL:?start the services: eval \"\$(scripts/start-services.sh)\"}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd .. && pwd)/streetbump-target}"
cargo build --release --bin streetbump >&2
bin="$CARGO_TARGET_DIR/release/streetbump"
psql --version >/dev/null || { echo "bench-kafka: psql is needed" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    # BENCH_KEEP=DIR keeps the workers' logs (RUST_LOG=debug adds per-trip
    # phase timings).
    if [ -n "${BENCH_KEEP:-}" ]; then mkdir -p "$BENCH_KEEP" && cp "$work"/*.log "$BENCH_KEEP"/; fi
    rm -rf "$work"
}
trap cleanup EXIT
# Killed (timeout, Ctrl-C): still stop the workers and keep the logs.
trap 'exit 143' TERM INT

"$bin" simulate --seed 11 --trips "$trips" --minutes "$minutes" --formats json --out "$work/city" >/dev/null
samples=$(python3 - "$work/city/trips" <<'EOF'
import json, os, sys
n = 0
for f in os.listdir(sys.argv[1]):
    for line in open(os.path.join(sys.argv[1], f)):
        if line.strip():
            n += len(json.loads(line)["accel"]["dt"])
print(n)
EOF
)
batches=$(cat "$work"/city/trips/*.jsonl | grep -c .)
echo "city: $trips trips of $minutes min, $batches batches, $samples accelerometer samples" >&2

now() { date +%s.%N; }
# Busy and total jiffies of the whole machine (/proc/stat), to tell how
# much of the two stages' time the cores were working: the broker and
# PostgreSQL run on the same machine as the workers.
cpu() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
# CPU seconds used so far by live processes (by pid).
cpu_s() {
    local t=0 p
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    awk -v t="$t" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz }'
}
# Who used it: the workers of a stage, PostgreSQL, the broker.
split() { echo "$(cpu_s "$@") / $(cpu_s $(pgrep -x postgres)) / $(cpu_s $(pgrep -x noida-db))"; }
sql() { psql "$db" -XAtc "$1"; }
wait_for() { # SQL returning t when done; gives up after BENCH_TIMEOUT s (900)
    local deadline=$((SECONDS + ${BENCH_TIMEOUT:-900}))
    until [ "$(sql "$1")" = t ]; do
        if [ $SECONDS -gt $deadline ]; then
            echo "bench-kafka: timed out waiting for: $1 (BENCH_KEEP=DIR keeps the logs)" >&2
            exit 1
        fi
        sleep 0.2
    done
}

printf '| workers of each | detect: s | detect: trips/s | detect: samples/s | detect: CPU busy | cluster: s | cluster: bumps/s | cluster: CPU busy | bumps | regions |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
for n in "${counts[@]}"; do
    # The test broker keeps every topic in one JSON file and rewrites it
    # after changes (620 MB and most of a core after two runs of 200
    # trips), so each run starts on fresh services unless BENCH_RESTART=0.
    if [ "${BENCH_RESTART:-1}" != 0 ]; then
        scripts/stop-services.sh >/dev/null 2>&1 || true
        env=$(scripts/start-services.sh 2>"$work/services.log") \
            || { echo "bench-kafka: the services did not start: $(tail -n 3 "$work/services.log")" >&2; exit 1; }
        eval "$env"
    fi
    name="bench_${n}_$$_$(date +%s)"
    psql "$STREETBUMP_TEST_PG_URL" -XAtc "CREATE DATABASE $name" >/dev/null
    db="${STREETBUMP_TEST_PG_URL%/*}/$name"
    export STREETBUMP_DATABASE_URL="$db"
    cat > "$work/pipeline.toml" <<EOF
[runtime]
mode = "kafka"
[kafka]
brokers = "$STREETBUMP_TEST_KAFKA"
topic_prefix = "$name."
group_prefix = "$name."
partitions = 4
EOF
    "$bin" devices add --config "$work/pipeline.toml" --from-trips "$work/city/trips" --out "$work/tokens.json" >/dev/null
    "$bin" serve --config "$work/pipeline.toml" --role ingest --listen 127.0.0.1:0 --instance-id ingest \
        > "$work/ingest.out" 2> "$work/ingest.log" &
    pids+=($!)
    until grep -q "listening on" "$work/ingest.out"; do sleep 0.2; done
    url=$(sed -n 's/^listening on //p' "$work/ingest.out")
    "$bin" upload "$work/city/trips" --url "$url" --tokens "$work/tokens.json" --gzip >/dev/null

    c0=$(cpu)
    s0=$(split)
    t0=$(now)
    for i in $(seq 1 "$n"); do
        "$bin" serve --config "$work/pipeline.toml" --role detect --instance-id "detect-$i" 2> "$work/detect-$i.log" &
        pids+=($!)
    done
    wait_for "SELECT COUNT(*) = $trips FROM trips WHERE processed_at IS NOT NULL"
    t1=$(now)
    c1=$(cpu)
    s1=$(split "${pids[@]:1}")
    for i in $(seq 1 "$n"); do
        "$bin" serve --config "$work/pipeline.toml" --role cluster --instance-id "cluster-$i" 2> "$work/cluster-$i.log" &
        pids+=($!)
    done
    wait_for "SELECT (SELECT COUNT(DISTINCT trip_id) FROM coverage) = $trips AND (SELECT COALESCE(SUM(bumps), 0) FROM trips) = (SELECT COUNT(*) FROM bumps) AND NOT EXISTS (SELECT 1 FROM dirty_regions)"
    t2=$(now)
    c2=$(cpu)
    s2=$(split "${pids[@]:$((1 + n))}")
    bumps=$(sql "SELECT COUNT(*) FROM bumps")
    regions=$(sql "SELECT COUNT(DISTINCT region) FROM coverage")
    echo "CPU s (stage's workers / PostgreSQL / broker), workers $n: start $s0; detect done $s1; cluster done $s2" >&2
    python3 - "$n" "$t0" "$t1" "$t2" "$trips" "$samples" "$bumps" "$regions" $c0 $c1 $c2 <<'EOF'
import sys
n, t0, t1, t2, trips, samples, bumps, regions, b0, a0, b1, a1, b2, a2 = sys.argv[1:]
d, c = float(t1) - float(t0), float(t2) - float(t1)
busy = lambda b, a, bb, aa: 100 * (int(bb) - int(b)) / max(1, int(aa) - int(a))
print(f"| {n} | {d:.1f} | {int(trips)/d:.1f} | {int(samples)/d/1e6:.2f} M | {busy(b0, a0, b1, a1):.0f} % "
      f"| {c:.1f} | {int(bumps)/c:.0f} | {busy(b1, a1, b2, a2):.0f} % | {bumps} | {regions} |")
EOF
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        # Processes drain for at most 15 s after SIGTERM; then kill.
        for _ in $(seq 1 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    pids=()
done
