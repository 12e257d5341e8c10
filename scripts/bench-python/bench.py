"""Time the numpy/scipy detector and compare it with streetbump's output.

  bench.py run TRIPS_DIR OUT_DIR      end to end: read, preprocess, detect,
                                      h3 cells, write OUT_DIR/bumps.csv and
                                      OUT_DIR/run.json (figures, no timing)
  bench.py core TRIPS_DIR [REPEATS]   the detection core alone on arrays
                                      already read and preprocessed: prints
                                      JSON {samples, seconds} (best of REPEATS)
  bench.py phases TRIPS_DIR           seconds spent reading, preprocessing,
                                      detecting and in h3: JSON
  bench.py compare PY_OUT RUST_OUT    agreement of the two bumps.csv: JSON

Used by scripts/bench-python.sh, which times `run` from outside.
"""

from __future__ import annotations

import bisect
import csv
import json
import os
import sys
import time


def cmd_run(trips_dir: str, out_dir: str) -> None:
    import streetbump_np as sb

    trips = sb.load_trips(trips_dir)
    bumps = sb.Bumps()
    samples = 0
    for trip in trips:
        samples += len(trip.t)
        sb.detect_trip(sb.preprocess(trip), bumps)
    cells = sb.cell_trips(bumps)
    os.makedirs(out_dir, exist_ok=True)
    sb.write_bumps_csv(bumps, os.path.join(out_dir, "bumps.csv"))
    run = {
        "trips": len(trips),
        "samples": samples,
        "bumps": len(bumps),
        "cells": len(cells),
        "cells_3_trips": sum(1 for s in cells.values() if len(s) >= 3),
    }
    with open(os.path.join(out_dir, "run.json"), "w") as f:
        json.dump(run, f, indent=1)
    print(json.dumps(run))


def cmd_core(trips_dir: str, repeats: int) -> None:
    import streetbump_np as sb

    segs = [s for trip in sb.load_trips(trips_dir) for s in sb.preprocess(trip).segments if len(s.vertical)]
    samples = sum(len(s.vertical) for s in segs)
    for s in segs:  # filter design outside the timing, as in the Rust bench
        sb._design(s.fs)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        found = 0
        for s in segs:
            found += len(sb.detect_core(s.vertical, s.speed, s.fs)[0])
        best = min(best, time.perf_counter() - t0)
    print(json.dumps({"samples": samples, "seconds": best, "peaks": found, "segments": len(segs)}))


def cmd_phases(trips_dir: str) -> None:
    import streetbump_np as sb

    t0 = time.perf_counter()
    trips = sb.load_trips(trips_dir)
    t1 = time.perf_counter()
    prepared = [sb.preprocess(t) for t in trips]
    t2 = time.perf_counter()
    bumps = sb.Bumps()
    for p in prepared:
        sb.detect_trip(p, bumps)
    t3 = time.perf_counter()
    sb.cell_trips(bumps)
    t4 = time.perf_counter()
    print(json.dumps({"read": t1 - t0, "preprocess": t2 - t1, "detect": t3 - t2, "h3": t4 - t3, "bumps": len(bumps)}))


def _times(path: str) -> dict[str, list[float]]:
    by_trip: dict[str, list[float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            by_trip.setdefault(row["trip_id"], []).append(float(row["t"]))
    for v in by_trip.values():
        v.sort()
    return by_trip


def _matched(a: dict[str, list[float]], b: dict[str, list[float]], tol: float) -> tuple[int, int]:
    """(bumps of `a`, those with a bump of `b` on the same trip within tol s)."""
    total = hit = 0
    for trip, ts in a.items():
        other = b.get(trip, [])
        for t in ts:
            total += 1
            i = bisect.bisect_left(other, t)
            if any(0 <= j < len(other) and abs(other[j] - t) <= tol for j in (i - 1, i)):
                hit += 1
    return total, hit


def cmd_compare(py_out: str, rust_out: str) -> None:
    py = _times(os.path.join(py_out, "bumps.csv"))
    rust = _times(os.path.join(rust_out, "bumps.csv"))
    n_rust, rust_hit = _matched(rust, py, 1.0)
    n_py, py_hit = _matched(py, rust, 1.0)
    print(
        json.dumps(
            {
                "rust_bumps": n_rust,
                "python_bumps": n_py,
                "rust_with_python_within_1s": rust_hit,
                "python_with_rust_within_1s": py_hit,
            }
        )
    )


def main(argv: list[str]) -> None:
    if len(argv) >= 3 and argv[0] == "run":
        cmd_run(argv[1], argv[2])
    elif len(argv) >= 2 and argv[0] == "core":
        cmd_core(argv[1], int(argv[2]) if len(argv) > 2 else 3)
    elif len(argv) >= 2 and argv[0] == "phases":
        cmd_phases(argv[1])
    elif len(argv) >= 3 and argv[0] == "compare":
        cmd_compare(argv[1], argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
