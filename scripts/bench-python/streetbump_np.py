"""Bump detection "the usual way": numpy and scipy, vectorised.

What an analyst would write instead of streetbump's Rust pipeline, for the
comparison in docs/performance.md ("Against numpy/scipy"). It follows the
same steps with the same defaults (pipeline.toml, docs/algorithms.md) but
does each the idiomatic array way, so it is close to the Rust detector,
not identical to it:

- read the JSONL upload batches (docs/formats.md) with the standard json
  module; sort, drop repeated time stamps;
- GPS: drop invalid and inaccurate fixes and single-fix jumps (a fix too
  fast from both neighbours); reported speed, else a central difference;
- resample each gap-free segment to the median rate with np.interp;
- gravity: zero-phase Butterworth low-pass (sosfiltfilt) per axis; the
  vertical is the projection on it minus its norm; samples where a fast
  (1 Hz) estimate disagrees with it by more than 25 degrees, +-1 s, get no
  speed (the phone moved);
- band-pass: 2nd-order Butterworth high-pass at 0.7 Hz, 4th-order
  low-pass at 20 Hz when below 0.45 x the rate, causal (sosfilt) and
  started settled on the first value, like the Rust filters;
- threshold max(0.4 v, 3 sigma, 1 m/s2), sigma from an exponential mean of
  |a| over 10 s (two lfilter passes: the second clips at 3 sigma of the
  first, instead of the Rust loop's clipping against its own running value);
- crossings of the threshold chained into one bump while each follows the
  last within max(5 m / v, 0.5 s), as the Rust detector does (grouped with
  np.diff/np.cumsum); the peak is the largest |a|/threshold. SB_PEAKS=find_peaks
  instead picks local maxima with scipy.signal.find_peaks (distance 0.5 s)
  and merges peaks closer than max(5 m / v, 0.5 s): the textbook way, which
  splits long events (rough patches, humps at low speed) into several bumps;
- per bump: position and speed interpolated at the peak, peak |a| within
  +-0.25 s, band energies from a Hann-windowed rfft of 1.28 s;
- bumps within 200 m of the track's first or last fix dropped (privacy);
- cells: h3 resolution 13, distinct trips per cell.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import numpy as np
from scipy import signal

G = 9.80665
EARTH_RADIUS_M = 6_371_008.8

# pipeline.toml defaults.
MAX_ABS_ACCEL = 156.9064
MAX_GAP_S = 1.0
MAX_GPS_EXTRAPOLATION_S = 5.0
MIN_SEGMENT_S = 2.0
MAX_ACCURACY_M = 50.0
MAX_SPEED_MPS = 70.0
GRAVITY_CUTOFF_HZ = 0.2
SHIFT_CUTOFF_HZ = 1.0
SHIFT_ANGLE_DEG = 25.0
HIGHPASS_HZ = 0.7
LOWPASS_HZ = 20.0
MIN_SPEED_MPS = 2.0
ACCEL_PER_SPEED_HZ = 0.4
K_SIGMA = 3.0
NOISE_WINDOW_S = 10.0
MIN_THRESHOLD_MPS2 = 1.0
MERGE_DISTANCE_M = 5.0
MERGE_MIN_S = 0.5
FEATURE_WINDOW_S = 1.28
BAND_EDGES_HZ = (0.5, 2.0, 5.0, 10.0, 20.0, 50.0)
TRIM_M = 200.0
H3_RESOLUTION = 13
# How threshold crossings become bumps: "chain" (the Rust detector's rule,
# vectorised) or "find_peaks" (scipy.signal.find_peaks with distance, then
# merging of close peaks). SB_PEAKS overrides.
PEAKS = os.environ.get("SB_PEAKS", "chain")


@dataclass
class Trip:
    trip_id: str
    device_id: str
    t: np.ndarray  # (n,) UTC s
    xyz: np.ndarray  # (n, 3) m/s2, device frame
    gps: np.ndarray  # (m, 5): t, lat, lon, speed (nan = none), accuracy (nan = none)


@dataclass
class Segment:
    t0: float
    fs: float
    vertical: np.ndarray
    speed: np.ndarray


@dataclass
class Prepared:
    trip: Trip
    segments: list[Segment]
    track: np.ndarray  # (k, 4): t, lat, lon, speed


@dataclass
class Bumps:
    trip_id: list[str] = field(default_factory=list)
    t: list[np.ndarray] = field(default_factory=list)
    lat: list[np.ndarray] = field(default_factory=list)
    lon: list[np.ndarray] = field(default_factory=list)
    speed: list[np.ndarray] = field(default_factory=list)
    score: list[np.ndarray] = field(default_factory=list)
    peak: list[np.ndarray] = field(default_factory=list)
    bands: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(t) for t in self.t)


# --- reading -----------------------------------------------------------------


def batch_files(root: str) -> list[str]:
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in files if f.endswith((".jsonl", ".json"))]
    return sorted(out)


def load_trips(root: str) -> list[Trip]:
    """Every trip in the .json/.jsonl batch files under `root`."""
    batches: dict[str, dict[int, dict]] = {}
    for path in batch_files(root):
        with open(path, "rb") as f:
            if path.endswith(".jsonl"):
                docs = [json.loads(line) for line in f if line.strip()]
            else:
                doc = json.load(f)
                docs = doc if isinstance(doc, list) else [doc]
        for b in docs:
            batches.setdefault(b["trip_id"], {}).setdefault(b["seq"], b)
    trips = []
    for trip_id in sorted(batches):
        bs = [batches[trip_id][s] for s in sorted(batches[trip_id])]
        ts, xyz, fixes = [], [], []
        for b in bs:
            a = b["accel"]
            k = G if a["unit"] == "g" else 1.0
            ts.append(a["t0"] + np.asarray(a["dt"], dtype=float))
            xyz.append(np.column_stack([a["x"], a["y"], a["z"]]).astype(float) * k)
            fixes += [
                (g["t"], g["lat"], g["lon"], g.get("speed_mps", math.nan), g.get("accuracy_m", math.nan))
                for g in b.get("gps", [])
            ]
        trips.append(
            Trip(
                trip_id=trip_id,
                device_id=bs[0]["device_id"],
                t=np.concatenate(ts),
                xyz=np.concatenate(xyz),
                gps=np.asarray(fixes, dtype=float).reshape(-1, 5),
            )
        )
    return trips


# --- preprocessing -------------------------------------------------------------


def haversine_m(lat1, lon1, lat2, lon2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


def clean_track(gps: np.ndarray) -> np.ndarray:
    """(t, lat, lon, speed) of the usable fixes."""
    t, lat, lon, spd, acc = gps.T
    ok = (
        np.isfinite(t)
        & (np.abs(lat) <= 90)
        & (np.abs(lon) <= 180)
        & ~((lat == 0) & (lon == 0))
        & ~(acc > MAX_ACCURACY_M)
    )
    g = gps[ok]
    g = g[np.argsort(g[:, 0], kind="stable")]
    g = g[np.r_[True, np.diff(g[:, 0]) != 0]]
    if len(g) >= 3:
        # A single fix too fast from both neighbours is a jump.
        v = haversine_m(g[:-1, 1], g[:-1, 2], g[1:, 1], g[1:, 2]) / np.maximum(np.diff(g[:, 0]), 1e-3)
        fast_in = np.r_[False, v > MAX_SPEED_MPS]
        fast_out = np.r_[v > MAX_SPEED_MPS, False]
        g = g[~(fast_in & fast_out)]
    t, lat, lon, spd = g[:, 0], g[:, 1], g[:, 2], g[:, 3]
    n = len(t)
    if n == 0:
        return np.empty((0, 4))
    a, b = np.maximum(np.arange(n) - 1, 0), np.minimum(np.arange(n) + 1, n - 1)
    dt = t[b] - t[a]
    with np.errstate(invalid="ignore", divide="ignore"):
        derived = np.where(dt > 0, haversine_m(lat[a], lon[a], lat[b], lon[b]) / dt, 0.0)
    moved = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]).sum() if n > 1 else 0.0
    valid = np.isfinite(spd) & (spd >= 0) & (spd <= MAX_SPEED_MPS)
    if moved > 100 and np.all(~np.isfinite(spd) | (spd == 0)):
        valid[:] = False
    speed = np.where(valid, spd, derived)
    return np.column_stack([t, lat, lon, speed])


def _filtfilt(sos, x):
    padlen = min(3 * (2 * len(sos) + 1), len(x) - 1)
    return signal.sosfiltfilt(sos, x, axis=0, padlen=padlen)


def preprocess(trip: Trip) -> Prepared:
    t, a = trip.t, trip.xyz
    ok = np.isfinite(t) & np.isfinite(a).all(axis=1) & (np.abs(a).max(axis=1) <= MAX_ABS_ACCEL)
    t, a = t[ok], a[ok]
    order = np.argsort(t, kind="stable")
    t, a = t[order], a[order]
    keep = np.r_[True, np.diff(t) != 0]
    t, a = t[keep], a[keep]
    track = clean_track(trip.gps)
    segments: list[Segment] = []
    if len(t) < 2:
        return Prepared(trip, segments, track)
    d = np.diff(t)
    fs = 1.0 / np.median(d[d > 0])
    gravity_included = np.median(np.linalg.norm(a, axis=1)) > 0.3 * G
    sos_slow = signal.butter(2, GRAVITY_CUTOFF_HZ, "low", fs=fs, output="sos")
    sos_fast = signal.butter(2, min(SHIFT_CUTOFF_HZ, 0.4 * fs), "low", fs=fs, output="sos")
    cos_shift = math.cos(math.radians(SHIFT_ANGLE_DEG))
    bounds = np.r_[0, np.flatnonzero(d > MAX_GAP_S) + 1, len(t)]
    for s, e in zip(bounds[:-1], bounds[1:]):
        if e - s < 2:
            continue
        ts = t[s:e]
        n = int(math.floor((ts[-1] - ts[0]) * fs + 1e-9)) + 1
        if n / fs < MIN_SEGMENT_S:
            continue
        grid = ts[0] + np.arange(n) / fs
        xyz = np.column_stack([np.interp(grid, ts, a[s:e, k]) for k in range(3)])
        unsettled = np.zeros(n, dtype=bool)
        if gravity_included:
            g = _filtfilt(sos_slow, xyz)
            gn = np.linalg.norm(g, axis=1)
            vertical = np.einsum("ij,ij->i", xyz, g) / np.where(gn > 0, gn, 1.0) - gn
            gf = _filtfilt(sos_fast, xyz)
            cos = np.einsum("ij,ij->i", g, gf) / np.maximum(gn * np.linalg.norm(gf, axis=1), 1e-12)
            moved = cos < cos_shift
            if moved.any():
                w = int(math.ceil(fs))
                unsettled = np.convolve(moved, np.ones(2 * w + 1), mode="same") > 0
        else:
            vertical = xyz[:, np.argmax(xyz.var(axis=0))]
        if len(track):
            speed = np.interp(grid, track[:, 0], track[:, 3])
            far = (grid < track[0, 0] - MAX_GPS_EXTRAPOLATION_S) | (grid > track[-1, 0] + MAX_GPS_EXTRAPOLATION_S)
            speed[far | unsettled] = np.nan
        else:
            speed = np.full(n, np.nan)
        segments.append(Segment(float(ts[0]), float(fs), vertical, speed))
    return Prepared(trip, segments, track)


# --- detection core ------------------------------------------------------------

_design_cache: dict[float, tuple] = {}


def _design(fs: float):
    if fs not in _design_cache:
        sos = signal.butter(2, HIGHPASS_HZ, "high", fs=fs, output="sos")
        if LOWPASS_HZ < 0.45 * fs:
            sos = np.vstack([sos, signal.butter(4, LOWPASS_HZ, "low", fs=fs, output="sos")])
        win = max(4, round(FEATURE_WINDOW_S * fs))
        nfft = max(8, 1 << (win - 1).bit_length())
        hann = 0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(win) + 0.5) / win)
        _design_cache[fs] = (sos, signal.sosfilt_zi(sos), win, nfft, hann, float(np.mean(hann**2)))
    return _design_cache[fs]


def _ema_before(u: np.ndarray, alpha: float, m0: float) -> np.ndarray:
    """Exponential mean of `u` as it stood before each sample."""
    m, _ = signal.lfilter([alpha], [1.0, alpha - 1.0], u, zi=[(1.0 - alpha) * m0])
    return np.r_[m0, m[:-1]]


def _strongest(idx: np.ndarray, group: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The index with the largest `r` in each group, in order."""
    order = np.lexsort((-r, group))
    first = np.r_[True, np.diff(group[order]) != 0]
    return np.sort(idx[order[first]])


def detect_core(vertical: np.ndarray, speed: np.ndarray, fs: float):
    """Band-pass, threshold, peaks and merging, features.

    Returns (peak indices, score, peak |a|, band energies (k, 5))."""
    sos, zi, win, nfft, hann, hann_power = _design(fs)
    n = len(vertical)
    y, _ = signal.sosfilt(sos, vertical, zi=zi * vertical[0])
    ay = np.abs(y)
    alpha = 1.0 - math.exp(-1.0 / fs / max(NOISE_WINDOW_S, 1.0 / fs))
    head = min(max(int(math.ceil(fs)), 1), n)
    m0 = float(ay[:head].mean())
    sigma1 = 1.2533 * _ema_before(ay, alpha, m0)
    sigma = 1.2533 * _ema_before(np.minimum(ay, 3.0 * np.maximum(sigma1, 1e-3)), alpha, m0)
    thr = np.maximum.reduce(
        [ACCEL_PER_SPEED_HZ * np.fmax(speed, MIN_SPEED_MPS), K_SIGMA * sigma, np.full(n, MIN_THRESHOLD_MPS2)]
    )
    with np.errstate(invalid="ignore"):
        active = (ay > thr) & (speed >= MIN_SPEED_MPS)
    ratio = np.where(active, ay / thr, 0.0)
    if PEAKS == "find_peaks":
        # The textbook way: local maxima at least 0.5 s apart, then peaks
        # closer than max(5 m / v, 0.5 s) merged, keeping the strongest.
        peaks, _ = signal.find_peaks(ratio, height=1.0, distance=max(1, round(MERGE_MIN_S * fs)))
        if len(peaks) > 1:
            v = np.fmax(speed[peaks], MIN_SPEED_MPS)
            window = np.maximum(MERGE_DISTANCE_M / v[:-1], MERGE_MIN_S) * fs
            group = np.r_[0, np.cumsum(np.diff(peaks) > window)]
            peaks = _strongest(peaks, group, ratio[peaks])
    else:
        # The detector's rule: crossings chain into one event while each
        # follows the last within max(5 m / v, 0.5 s); its peak is the
        # strongest crossing.
        idx = np.flatnonzero(active)
        if len(idx) > 1:
            v = np.fmax(speed[idx], MIN_SPEED_MPS)
            reach = np.ceil(np.maximum(MERGE_DISTANCE_M / v[:-1], MERGE_MIN_S) * fs)
            group = np.r_[0, np.cumsum(np.diff(idx) > reach)]
            idx = _strongest(idx, group, ratio[idx])
        peaks = idx
    score = ratio[peaks]
    # Peak |a| within +-0.25 s.
    pad = int(math.ceil(0.25 * fs))
    idx = np.clip(peaks[:, None] + np.arange(-pad, pad + 1), 0, n - 1)
    peak_mps2 = ay[idx].max(axis=1) if len(peaks) else np.empty(0)
    # Band energies: Hann-windowed rfft of `win` samples around each peak.
    frm = np.maximum(peaks - win // 2, 0)
    cols = frm[:, None] + np.arange(win)
    inside = cols < n
    w = np.where(inside, y[np.minimum(cols, n - 1)], 0.0)
    count = np.maximum(inside.sum(axis=1, keepdims=True), 1)
    w = np.where(inside, (w - w.sum(axis=1, keepdims=True) / count) * hann, 0.0)
    spec = np.abs(np.fft.rfft(w, n=nfft, axis=1)) ** 2
    spec[:, 1 : nfft // 2] *= 2.0
    f = np.arange(nfft // 2 + 1) * fs / nfft
    nyq = fs / 2
    scale = 1.0 / fs / nfft / hann_power
    bands = np.full((len(peaks), 5), np.nan)
    for b in range(5):
        lo, hi = BAND_EDGES_HZ[b], BAND_EDGES_HZ[b + 1]
        if lo >= nyq:
            continue
        hi = nyq + fs / nfft / 2 if hi >= nyq else hi
        sel = (f >= lo) & (f < hi)
        bands[:, b] = spec[:, sel].sum(axis=1) * scale
    return peaks, score, peak_mps2, bands


# --- per trip, and clustering ----------------------------------------------------


def detect_trip(p: Prepared, out: Bumps) -> None:
    tr = p.track
    for seg in p.segments:
        if len(seg.vertical) == 0:
            continue
        peaks, score, peak_mps2, bands = detect_core(seg.vertical, seg.speed, seg.fs)
        if len(peaks) == 0 or len(tr) == 0:
            continue
        t = seg.t0 + peaks / seg.fs
        lat = np.interp(t, tr[:, 0], tr[:, 1])
        lon = np.interp(t, tr[:, 0], tr[:, 2])
        if TRIM_M > 0:
            near = (haversine_m(lat, lon, tr[0, 1], tr[0, 2]) < TRIM_M) | (
                haversine_m(lat, lon, tr[-1, 1], tr[-1, 2]) < TRIM_M
            )
            keep = ~near
        else:
            keep = np.ones(len(t), dtype=bool)
        out.trip_id.append(p.trip.trip_id)
        out.t.append(t[keep])
        out.lat.append(lat[keep])
        out.lon.append(lon[keep])
        out.speed.append(seg.speed[peaks][keep])
        out.score.append(score[keep])
        out.peak.append(peak_mps2[keep])
        out.bands.append(bands[keep])


def cell_trips(bumps: Bumps) -> dict[str, set[str]]:
    """Distinct trips with a bump in each H3 cell of resolution 13."""
    import h3

    cells: dict[str, set[str]] = {}
    for trip_id, lats, lons in zip(bumps.trip_id, bumps.lat, bumps.lon):
        for lat, lon in zip(lats.tolist(), lons.tolist()):
            cells.setdefault(h3.latlng_to_cell(lat, lon, H3_RESOLUTION), set()).add(trip_id)
    return cells


def write_bumps_csv(bumps: Bumps, path: str) -> None:
    with open(path, "w") as f:
        f.write("trip_id,t,lat,lon,speed_mps,peak_mps2,score," + ",".join(
            f"band_{lo:g}_{hi:g}_hz".replace(".", "_") for lo, hi in zip(BAND_EDGES_HZ, BAND_EDGES_HZ[1:])
        ) + "\n")
        for i, trip_id in enumerate(bumps.trip_id):
            rows = np.column_stack(
                [bumps.t[i], bumps.lat[i], bumps.lon[i], bumps.speed[i], bumps.peak[i], bumps.score[i], bumps.bands[i]]
            )
            for r in rows:
                f.write(trip_id + "," + ",".join("" if math.isnan(v) else f"{v:.7f}" for v in r) + "\n")
