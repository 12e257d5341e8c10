#!/usr/bin/env bash
# streetbump's Rust pipeline against the same detection written "the usual
# way" in numpy/scipy (scripts/bench-python/), on the same trip batches.
#
#   scripts/bench-python.sh [TRIPS_DIR]
#
# Without TRIPS_DIR a city is simulated (seed 3, 100 trips x 10 minutes,
# JSON batches). Prints a table of samples, wall seconds and samples/s, end
# to end (reading included) and for the detection core alone, and how far
# the two detectors agree. Results are in docs/performance.md.
#
# Environment (all optional):
#   CARGO_TARGET_DIR   where the release binary lives
#   BENCH_VENV         virtualenv to use/create (default under TMPDIR)
#   BENCH_WORK         scratch folder (default: a new one under TMPDIR)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
py_dir="$here/bench-python"
tmp="${TMPDIR:-/tmp}"
target="${CARGO_TARGET_DIR:-$root/target}"
export CARGO_TARGET_DIR="$target"
venv="${BENCH_VENV:-$tmp/streetbump-bench-python-venv}"
work="${BENCH_WORK:-$(mktemp -d "$tmp/streetbump-bench-python.XXXXXX")}"
mkdir -p "$work"
bin="$target/release/streetbump"

now() { date +%s.%N; }
say() { printf '%s\n' "$*" >&2; }

# 1. Python environment, outside the repository.
if [ ! -x "$venv/bin/python" ]; then
    say "creating virtualenv $venv"
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --require-hashes --only-binary=:all: -r "$py_dir/requirements.txt"
# OpenBLAS overrides some machines set slow numpy down; not for this run.
py() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH="$py_dir" "$venv/bin/python" "$@"; }

# 2. The release binary (a no-op when it is up to date).
(cd "$root" && cargo build --release --quiet --bin streetbump)

# 3. Input.
if [ $# -ge 1 ]; then
    trips="$1"
else
    say "simulating: seed 3, 100 trips x 10 min, JSON batches"
    "$bin" simulate --seed 3 --trips 100 --minutes 10 --formats json --out "$work/sim" >/dev/null
    trips="$work/sim/trips"
fi

# 4. Rust end to end: `streetbump replay` (read, preprocess, detect,
#    cluster, classify, write CSV + Parquet), default 2 workers, then 1.
printf '[replay]\nworkers = 1\n' >"$work/one-worker.toml"
t0=$(now)
(cd "$work" && "$bin" replay "$trips" --out "$work/rust" --quiet)
t1=$(now)
(cd "$work" && "$bin" replay "$trips" --config "$work/one-worker.toml" --out "$work/rust-1" --quiet)
t2=$(now)
elapsed() { py -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$1" "$2"; }
rust_wall=$(elapsed "$t0" "$t1")
rust1_wall=$(elapsed "$t1" "$t2")

# 5. Python end to end (read, preprocess, detect, h3 cells, write CSV), one
#    process timed from outside; then the detection core alone.
t0=$(now)
py "$py_dir/bench.py" run "$trips" "$work/py" >/dev/null
t1=$(now)
py_wall=$(elapsed "$t0" "$t1")
py "$py_dir/bench.py" core "$trips" 3 >"$work/py-core.json"
py "$py_dir/bench.py" compare "$work/py" "$work/rust" >"$work/agreement.json"

# 6. Rust detection core over the same trips' segments, in memory, on one
#    thread and on every core: `streetbump bench --core`.
"$bin" bench --core "$trips" --out "$work/rust-core.json" >/dev/null

# 7. The table.
py - "$work" "$rust_wall" "$rust1_wall" "$py_wall" <<'EOF'
import json, os, sys
work, rust_wall, rust1_wall, py_wall = sys.argv[1], *map(float, sys.argv[2:])
summary = json.load(open(os.path.join(work, "rust", "summary.json")))
rust_samples = summary["samples"]
run = json.load(open(os.path.join(work, "py", "run.json")))
core = json.load(open(os.path.join(work, "py-core.json")))
rust_core = json.load(open(os.path.join(work, "rust-core.json")))
agree = json.load(open(os.path.join(work, "agreement.json")))
py_rate = run["samples"] / py_wall
py_core = core["samples"] / core["seconds"]
rows = [
    ("end to end, Rust replay (2 workers)", rust_samples, rust_wall, rust_samples / rust_wall, (rust_samples / rust_wall) / py_rate),
    ("end to end, Rust replay (1 worker)", rust_samples, rust1_wall, rust_samples / rust1_wall, (rust_samples / rust1_wall) / py_rate),
    ("end to end, numpy/scipy (1 process)", run["samples"], py_wall, py_rate, None),
    *[(f"detection core, Rust ({r['threads']} thread{'s' if r['threads'] > 1 else ''}, all segments, best pass)",
       rust_core["input"]["samples"], r["seconds"], r["samples_per_s"], r["samples_per_s"] / py_core)
      for r in rust_core["core"]],
    ("detection core, numpy/scipy (all segments, best of 3)", core["samples"], core["seconds"], py_core, None),
]
print(f"{'':58} {'samples':>12} {'wall s':>9} {'samples/s':>12} {'Rust/Python':>12}")
for name, n, wall, rate, ratio in rows:
    print(f"{name:58} {'' if n is None else f'{n:,}':>12} {'' if wall is None else f'{wall:.3f}':>9} "
          f"{rate / 1e6:>10.2f} M {'' if ratio is None else f'{ratio:.1f}x':>12}")
print()
rb, pb = agree["rust_bumps"], agree["python_bumps"]
print(f"bumps: Rust {rb:,}, Python {pb:,}")
print(f"Rust bumps with a Python bump within 1 s on the same trip: "
      f"{agree['rust_with_python_within_1s']:,} ({100 * agree['rust_with_python_within_1s'] / max(rb, 1):.1f} %)")
print(f"Python bumps with a Rust bump within 1 s on the same trip: "
      f"{agree['python_with_rust_within_1s']:,} ({100 * agree['python_with_rust_within_1s'] / max(pb, 1):.1f} %)")
print(f"Python h3 cells (res 13) with a bump: {run['cells']:,}, with >= 3 distinct trips: {run['cells_3_trips']:,}")
import numpy, scipy, h3
import streetbump_np
print(f"numpy {numpy.__version__}, scipy {scipy.__version__}, h3 {h3.__version__}; peaks: {streetbump_np.PEAKS}; "
      f"trips {run['trips']}; files in {work}")
EOF
