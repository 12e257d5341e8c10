/*!
Clustering bumps across trips into one entry per physical defect.

Street Bump's rule was that a spot becomes a candidate once three
different people hit it. This crate does better by also counting who
passed without hitting it: every trip's GPS track contributes
**coverage** (the H3 cells it drove through at speed), so each cluster
knows its passes as well as its hits, and a repaired pothole fades.

**Cells.** Bumps and coverage are indexed with h3o at resolution 13
(hexagons of about 3.5 m edge, 44 m²), finer than GPS error, so evidence
can be smoothed over neighbouring cells instead of being cut at cell
boundaries.

**Clusters**, computed from the evidence alone (so the result does not
depend on the order bumps and passes arrived — tested by property):

1. each cell scores the number of distinct trips with a bump in it;
2. a smoothed score sums the scores over the cell's disk of
   `smooth_k` rings (about 7 m at k = 1);
3. every bump's cell climbs to its best neighbour (higher smoothed
   score, then lower cell index) until no neighbour is better: a mode of
   the evidence, as in mean shift;
4. modes within `merge_k` rings of a stronger mode merge into it (one
   defect smeared by GPS error), while modes further apart stay separate
   (two defects a few metres apart, when the evidence allows).

**Passes** are the distinct trips whose coverage touches the cluster's
disk of `pass_k` rings, plus any trip that hit it (a trip whose track
dropped out still passed if it hit).

**Confidence** (documented in `docs/clustering.md`): the hit rate `p` of
passes that produce a bump has the posterior
Beta(`prior_hits` + hits, `prior_misses` + passes − hits) of a
beta-binomial model; confidence is the
posterior probability that `p` exceeds `min_hit_rate`. It rises with
consistent hits and falls as trips pass without hitting. A cluster needs
`min_trips` distinct trips before it can be `likely`; one whose last
passes, all after its last hit, found nothing is `probably_fixed` when
they are at least `fixed_after_misses` and a defect still there would
miss so many in a row with at most `fixed_probability`
([`run_probability`]).
*/

pub mod classify;
pub mod codebook;
pub mod forest;
pub mod known;
pub mod window;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bump_core::{BumpId, DeviceId, TripId};
pub use classify::{CLASSES, Classified, Model, ModelError, UNKNOWN, class_of_kind, classify_clusters};
pub use h3o::CellIndex;
use h3o::{LatLng, Resolution};
pub use known::{KnownMatch, KnownObstacle, match_known};
use serde::{Deserialize, Serialize};

/// Parameters of clustering and confidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterParams {
    /// Rings of cells over which trip counts are smoothed.
    pub smooth_k: u32,
    /// Modes within this many rings of a stronger mode merge into it.
    pub merge_k: u32,
    /// Coverage within this many rings of a cluster's centre is a pass.
    pub pass_k: u32,
    /// Distinct trips needed before a cluster can be `likely`.
    pub min_trips: usize,
    /// Prior pseudo-count of hits (Beta α₀).
    pub prior_hits: f64,
    /// Prior pseudo-count of passes without a hit (Beta β₀).
    pub prior_misses: f64,
    /// Hit rate a real defect exceeds.
    pub min_hit_rate: f64,
    /// Confidence from which a cluster is `likely`.
    pub likely_confidence: f64,
    /// Fewest consecutive passes without a hit, after the last hit, that
    /// can make a cluster `probably_fixed`...
    pub fixed_after_misses: usize,
    /// ...and only when a defect still there, hitting at the rate the
    /// passes before the run showed, would miss that many in a row with at
    /// most this probability (the beta-binomial predictive, see
    /// [`run_probability`]); 1 leaves the count alone.
    pub fixed_probability: f64,
    /// Coverage below this speed is not a pass (the detector is off), m/s.
    pub min_pass_speed_mps: f64,
    /// Trips whose phone sampled slower than this give no passes (their
    /// hits still count), Hz: a phone that cannot resolve a short impact
    /// is no evidence that a pothole is gone. Applied by the stage that
    /// computes coverage, which marks such a trip's coverage as giving no
    /// passes; it still shows where the trip drove.
    pub min_pass_rate_hz: f64,
    /// A trip passed a cluster only when its course through the cluster's
    /// disk lies within this of the cluster's axis (of its heading, for a
    /// one-way cluster), degrees; 180 counts every trip.
    pub pass_heading_tol_deg: f64,
    /// Distance between the points of a track where coverage looks up the
    /// cell, m (see [`coverage_cells`]).
    pub coverage_step_m: f64,
    /// The hits of one direction of travel become a cluster of their own
    /// when the posterior probability that the other direction's hit rate
    /// is higher reaches this (a defect in one lane, the other lane's
    /// bumps something else); 1 never splits.
    pub split_confidence: f64,
    /// Clusters whose modes lie within this many rings are neighbours
    /// when a cluster's dominance is measured (about 6 m a ring).
    pub surround_k: u32,
    /// A support jolt counts as a hit of the nearest cluster whose centre
    /// lies within this distance, m (0: support jolts count for nothing)...
    pub support_radius_m: f64,
    /// ...when bumps of at least this many distinct trips formed it.
    pub support_min_trips: usize,
    /// Two clusters hit the same way only (a defect in one lane) whose
    /// centres lie within this distance and that no trip hit both are one
    /// defect that GPS error split in two: one pass over a point defect
    /// gives one bump. The weaker joins the stronger. m; 0 never rejoins.
    pub rejoin_radius_m: f64,
}

impl Default for ClusterParams {
    fn default() -> Self {
        Self {
            smooth_k: 1,
            merge_k: 2,
            pass_k: 2,
            min_trips: 3,
            prior_hits: 1.0,
            prior_misses: 1.0,
            min_hit_rate: 0.15,
            likely_confidence: 0.8,
            fixed_after_misses: 3,
            fixed_probability: 0.02,
            min_pass_speed_mps: 2.0,
            min_pass_rate_hz: 20.0,
            pass_heading_tol_deg: 60.0,
            coverage_step_m: 4.0,
            split_confidence: 1.0,
            surround_k: 5,
            support_radius_m: 8.0,
            support_min_trips: 2,
            rejoin_radius_m: 0.0,
        }
    }
}

/// Length of a cluster's signature feature vector.
pub const N_FEATURES: usize = 9;

/// The H3 resolution of every index in this crate.
pub const RESOLUTION: Resolution = Resolution::Thirteen;

/// Appended to the mode cell in the id of a cluster split off by direction
/// of travel: the other lane's hits at the same spot.
pub const OTHER_LANE_SUFFIX: &str = "-2";

/// The mode cell of a cluster id (either kind), `None` when it is not one.
#[must_use]
pub fn cell_of_cluster_id(id: &str) -> Option<CellIndex> {
    id.strip_suffix(OTHER_LANE_SUFFIX).unwrap_or(id).parse().ok()
}

/// The cell of a WGS84 position, `None` when the position is invalid.
#[must_use]
pub fn cell_of(lat: f64, lon: f64) -> Option<CellIndex> {
    LatLng::new(lat, lon).ok().map(|ll| ll.to_cell(RESOLUTION))
}

/// What clustering needs of a bump. Unknown values are NaN, which JSON
/// writes as `null` and reads back as NaN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BumpObs {
    /// Stable id (duplicates are ignored).
    pub bump_id: BumpId,
    /// The trip.
    pub trip_id: TripId,
    /// The device.
    pub device_id: DeviceId,
    /// UTC seconds.
    #[serde(deserialize_with = "crate::de_f64")]
    pub t: f64,
    /// Degrees.
    #[serde(deserialize_with = "crate::de_f64")]
    pub lat: f64,
    /// Degrees.
    #[serde(deserialize_with = "crate::de_f64")]
    pub lon: f64,
    /// Course, degrees; NaN when unknown.
    #[serde(deserialize_with = "crate::de_f64")]
    pub heading_deg: f64,
    /// Peak vertical acceleration, m/s².
    #[serde(deserialize_with = "crate::de_f64")]
    pub peak_mps2: f64,
    /// Whether the first excursion was upward.
    pub up_first: bool,
    /// Speed at the bump, m/s.
    #[serde(deserialize_with = "crate::de_f64")]
    pub speed_mps: f64,
    /// Time above half the threshold, s.
    #[serde(deserialize_with = "crate::de_f64")]
    pub duration_s: f64,
    /// Share of the 0.5–5 Hz energy below 2 Hz (body bounce against
    /// sharper content); NaN when unknown.
    #[serde(deserialize_with = "crate::de_f64")]
    pub low_band_share: f64,
    /// The window model's vote over [`CLASSES`]; empty without one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub window_probs: Vec<f64>,
    /// A support jolt (`bump_core::Bump::is_support`), not a bump: it
    /// only adds its trip to the hitting trips of a cluster that bumps
    /// formed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub support: bool,
}

impl BumpObs {
    /// What clustering needs of a detected bump.
    #[must_use]
    pub fn from_bump(b: &bump_core::Bump) -> Self {
        Self {
            bump_id: b.bump_id,
            trip_id: b.trip_id.clone(),
            device_id: b.device_id.clone(),
            t: b.t,
            lat: b.lat,
            lon: b.lon,
            heading_deg: b.heading_deg,
            peak_mps2: b.peak_mps2,
            up_first: b.first == bump_core::Excursion::Up,
            speed_mps: b.speed_mps,
            duration_s: b.duration_s,
            low_band_share: b.band_energy[0] / (b.band_energy[0] + b.band_energy[1]),
            window_probs: b.window_probs.clone(),
            support: b.is_support(),
        }
    }
}

/// One point of a trip's track, for coverage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackSample {
    /// UTC seconds.
    pub t: f64,
    /// Degrees.
    pub lat: f64,
    /// Degrees.
    pub lon: f64,
    /// m/s.
    pub speed_mps: f64,
}

impl From<&bump_geo::track::TrackPoint> for TrackSample {
    fn from(p: &bump_geo::track::TrackPoint) -> Self {
        Self {
            t: p.t,
            lat: p.lat,
            lon: p.lon,
            speed_mps: p.speed_mps,
        }
    }
}

/// The cells a track drove through at speed, with the first time in each.
///
/// Segments between points are sampled every `step_m` (clamped to 0.5–50
/// m). Where two successive samples fall in cells that do not touch, the
/// line between them is halved (up to three times) until they do, and the
/// grid's path fills in whatever is left (times interpolated). With steps
/// under the 6 m between neighbouring cells' centres (the default 4 m),
/// every cell the line runs through for a step or more is found; longer
/// steps take fewer look-ups but miss more of the cells whose corner the
/// line crosses between two cells that touch (measured in
/// `docs/clustering.md`).
#[must_use]
pub fn coverage_cells(track: &[TrackSample], min_speed_mps: f64, step_m: f64) -> BTreeMap<CellIndex, f64> {
    walk(track, min_speed_mps, step_m, None)
}

/// [`coverage_cells`] restricted to the cells of `near`: exactly the full
/// coverage's entries for those cells, with cells looked up only where the
/// track comes near them. A replay that knows its clusters' modes (so the
/// cells [`ClusterIndex::pass_cells`] names) needs no more, and skips the
/// look-ups along the rest of every track.
#[must_use]
pub fn coverage_cells_near(
    track: &[TrackSample],
    min_speed_mps: f64,
    step_m: f64,
    near: &NearCells,
) -> BTreeMap<CellIndex, f64> {
    let mut out = walk(track, min_speed_mps, step_m, Some(near));
    out.retain(|c, _| near.cells.contains(c));
    out
}

fn step_or_default(step_m: f64) -> f64 {
    if step_m.is_finite() {
        step_m.clamp(0.5, 50.0)
    } else {
        4.0
    }
}

/// A point of the walk along a track: its cell once looked up, and
/// whether it lies near a wanted cell.
#[derive(Debug, Clone, Copy)]
struct Step {
    t: f64,
    lat: f64,
    lon: f64,
    ll: LatLng,
    near: bool,
    cell: Option<CellIndex>,
}

impl Step {
    fn placed(&mut self) -> Placed {
        let cell = *self.cell.get_or_insert_with(|| self.ll.to_cell(RESOLUTION));
        Placed {
            cell,
            t: self.t,
            lat: self.lat,
            lon: self.lon,
        }
    }
}

/// The walk behind [`coverage_cells`]: with `near`, a pair of successive
/// points is bridged only when one of them is near a wanted cell, which
/// every pair that can note one is (see [`NearCells`]).
fn walk(track: &[TrackSample], min_speed_mps: f64, step_m: f64, near: Option<&NearCells>) -> BTreeMap<CellIndex, f64> {
    let step_m = step_or_default(step_m);
    let mut out: BTreeMap<CellIndex, f64> = BTreeMap::new();
    let mut note = |c: CellIndex, t: f64| {
        let e = out.entry(c).or_insert(t);
        *e = e.min(t);
    };
    let mut probe = near.map(NearCells::probe);
    // The last point of a run of segments at speed.
    let mut last: Option<Step> = None;
    for w in track.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a.speed_mps.min(b.speed_mps) < min_speed_mps {
            last = None;
            continue;
        }
        let d = bump_geo::distance_m(a.lat, a.lon, b.lat, b.lon);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "bounded, positive"
        )]
        let steps = ((d / step_m).ceil() as usize).clamp(1, 10_000);
        // While a run goes on, this segment's start is the last one's end.
        let first = usize::from(last.is_some());
        for k in first..=steps {
            #[allow(clippy::cast_precision_loss, reason = "small")]
            let f = k as f64 / steps as f64;
            let (t, lat, lon) = if k == steps {
                (b.t, b.lat, b.lon)
            } else {
                (
                    a.t + f * (b.t - a.t),
                    a.lat + f * (b.lat - a.lat),
                    a.lon + f * (b.lon - a.lon),
                )
            };
            let Ok(ll) = LatLng::new(lat, lon) else {
                last = None;
                continue;
            };
            let mut here = Step {
                t,
                lat,
                lon,
                ll,
                near: probe.as_mut().is_none_or(|p| p.near(lat, lon)),
                cell: None,
            };
            match &mut last {
                Some(p) if p.near || here.near => {
                    let from = p.placed();
                    bridge(from, here.placed(), BISECTIONS, &mut note);
                }
                Some(_) => {}
                None if here.near => {
                    let at = here.placed();
                    note(at.cell, t);
                }
                None => {}
            }
            last = Some(here);
        }
    }
    out
}

/// The cells some clusters read coverage of, and the ground near them.
///
/// A pair of successive points of the walk notes cells within about two
/// cells of the line between them, and the points are at most a step
/// apart, so a pair that notes a wanted cell has a point within a step
/// and five edge lengths of its centre (the reach). Wanted cells' centres
/// are filed in bins of the reach's size, under every bin their reach
/// touches; a position is near when a centre filed under its bin is
/// within the reach (distances on a local plane, degrees scaled by a
/// rounded-down 110 km, so never over). Near the poles and the
/// antimeridian, where bins of degrees stop matching metres, everything
/// counts as near.
#[derive(Debug, Clone)]
pub struct NearCells {
    cells: HashSet<CellIndex>,
    /// Per bin: the centres filed.
    bins: HashMap<Bin, Vec<Centre>>,
    bin_deg: f64,
    reach_m: f64,
    everywhere: bool,
}

/// Metres per degree of latitude, rounded down (110.57 km at the equator).
const M_PER_DEG: f64 = 110_000.0;

/// A bin of [`NearCells`]: degrees of latitude and longitude over its size.
type Bin = (i64, i64);

/// A wanted cell's centre: latitude, longitude (degrees) and metres per
/// degree of longitude (rounded down over its reach).
type Centre = [f64; 3];

/// How far from the line between two successive points of a coverage walk
/// with `step_m` steps a cell it notes can have its centre, m, with a
/// margin of about two (see [`NearCells`]).
#[must_use]
pub fn coverage_reach_m(step_m: f64) -> f64 {
    step_or_default(step_m) + 5.0 * RESOLUTION.edge_length_m()
}

impl NearCells {
    /// The ground within reach of `cells` for walks of `step_m` steps.
    #[must_use]
    pub fn new(cells: HashSet<CellIndex>, step_m: f64) -> Self {
        let reach_m = coverage_reach_m(step_m);
        let bin_deg = reach_m / M_PER_DEG;
        let mut bins: HashMap<Bin, Vec<Centre>> = HashMap::new();
        let mut everywhere = false;
        for c in &cells {
            let ll = LatLng::from(*c);
            let (lat, lon) = (ll.lat(), ll.lng());
            let dlat = reach_m / M_PER_DEG;
            let cos = (lat.abs() + dlat).min(90.0).to_radians().cos();
            if cos < 0.05 {
                everywhere = true;
                break;
            }
            let dlon = dlat / cos;
            if lon.abs() + dlon >= 180.0 {
                everywhere = true;
                break;
            }
            let (i0, i1) = (bin(lat - dlat, bin_deg), bin(lat + dlat, bin_deg));
            let (j0, j1) = (bin(lon - dlon, bin_deg), bin(lon + dlon, bin_deg));
            for i in i0..=i1 {
                for j in j0..=j1 {
                    bins.entry((i, j)).or_default().push([lat, lon, M_PER_DEG * cos]);
                }
            }
        }
        Self {
            cells,
            bins,
            bin_deg,
            reach_m,
            everywhere,
        }
    }

    /// The wanted cells.
    #[must_use]
    pub fn cells(&self) -> &HashSet<CellIndex> {
        &self.cells
    }

    fn probe(&self) -> Probe<'_> {
        Probe { near: self, last: None }
    }
}

#[allow(clippy::cast_possible_truncation, reason = "degrees over bins of metres fit i64")]
fn bin(deg: f64, bin_deg: f64) -> i64 {
    (deg / bin_deg).floor() as i64
}

/// Tests positions against [`NearCells`], remembering the last bin (a walk
/// stays in one for several steps).
struct Probe<'a> {
    near: &'a NearCells,
    last: Option<(Bin, &'a [Centre])>,
}

impl Probe<'_> {
    fn near(&mut self, lat: f64, lon: f64) -> bool {
        let near = self.near;
        if near.everywhere {
            return true;
        }
        let key = (bin(lat, near.bin_deg), bin(lon, near.bin_deg));
        let centres = match self.last {
            Some((k, c)) if k == key => c,
            _ => {
                let c = near.bins.get(&key).map_or(&[][..], Vec::as_slice);
                self.last = Some((key, c));
                c
            }
        };
        let r2 = near.reach_m * near.reach_m;
        centres.iter().any(|&[clat, clon, m_lon]| {
            let (dy, dx) = ((lat - clat) * M_PER_DEG, (lon - clon) * m_lon);
            dx * dx + dy * dy <= r2
        })
    }
}

/// How many times the line between two samples may be halved to find the
/// cells between them, before the grid's path stands in for it.
const BISECTIONS: u32 = 3;

/// A point of a track and its cell.
#[derive(Debug, Clone, Copy)]
struct Placed {
    cell: CellIndex,
    t: f64,
    lat: f64,
    lon: f64,
}

impl Placed {
    fn at(t: f64, lat: f64, lon: f64) -> Option<Self> {
        cell_of(lat, lon).map(|cell| Self { cell, t, lat, lon })
    }

    fn midpoint(self, b: Self) -> Option<Self> {
        Self::at(
            f64::midpoint(self.t, b.t),
            f64::midpoint(self.lat, b.lat),
            f64::midpoint(self.lon, b.lon),
        )
    }
}

/// Notes the cells from `a` (noted already) to `b` along the line: `b`
/// when it is `a`'s cell or next to it; else the cells found by halving
/// the line, at most `depth` times, and the grid's path from there.
fn bridge(a: Placed, b: Placed, depth: u32, note: &mut impl FnMut(CellIndex, f64)) {
    if a.cell == b.cell {
        return;
    }
    if a.cell.is_neighbor_with(b.cell).unwrap_or(false) {
        note(b.cell, b.t);
        return;
    }
    match a.midpoint(b) {
        Some(m) if depth > 0 => {
            bridge(a, m, depth - 1, note);
            bridge(m, b, depth - 1, note);
        }
        _ => fill_path(a.cell, a.t, b.cell, b.t, note),
    }
}

/// Notes the cells on the grid path from `p` (noted already, at `tp`) to
/// `c` (at `t`), times spread evenly; just `c` when no path is known.
fn fill_path(p: CellIndex, tp: f64, c: CellIndex, t: f64, note: &mut impl FnMut(CellIndex, f64)) {
    let path: Vec<CellIndex> = match p.grid_path_cells(c) {
        Ok(it) => it.collect::<Result<Vec<_>, _>>().unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    if path.len() < 2 {
        note(c, t);
        return;
    }
    #[allow(clippy::cast_precision_loss, reason = "short paths")]
    let n = (path.len() - 1) as f64;
    for (i, cell) in path.into_iter().enumerate().skip(1) {
        #[allow(clippy::cast_precision_loss, reason = "short paths")]
        let f = i as f64 / n;
        note(cell, tp + f * (t - tp));
    }
}

/// How sure the system is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Fewer than `min_trips` distinct trips.
    Insufficient,
    /// Enough trips, confidence below `likely_confidence`.
    Uncertain,
    /// Enough trips and confidence.
    Likely,
    /// Was seen, but the latest passes found nothing.
    ProbablyFixed,
}

impl Status {
    /// The snake-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Insufficient => "insufficient",
            Self::Uncertain => "uncertain",
            Self::Likely => "likely",
            Self::ProbablyFixed => "probably_fixed",
        }
    }
}

/// One cluster: the evidence for one physical defect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// The mode cell, as H3 text: stable while the evidence's peak stays.
    pub cluster_id: String,
    /// Mean position of its bumps, degrees.
    #[serde(deserialize_with = "crate::de_f64")]
    pub lat: f64,
    /// Mean position of its bumps, degrees.
    #[serde(deserialize_with = "crate::de_f64")]
    pub lon: f64,
    /// Bumps.
    pub hits: usize,
    /// Distinct trips with a bump or a support jolt.
    pub trips: usize,
    /// Of those, the trips counted by a support jolt only.
    #[serde(default)]
    pub support_trips: usize,
    /// Distinct devices with a bump.
    pub devices: usize,
    /// Distinct trips that passed (hit or not).
    pub passes: usize,
    /// `trips / passes`.
    #[serde(deserialize_with = "crate::de_f64")]
    pub hit_rate: f64,
    /// Median peak vertical acceleration, m/s².
    #[serde(deserialize_with = "crate::de_f64")]
    pub magnitude_median_mps2: f64,
    /// 90th percentile of the same.
    #[serde(deserialize_with = "crate::de_f64")]
    pub magnitude_p90_mps2: f64,
    /// First bump, UTC seconds.
    #[serde(deserialize_with = "crate::de_f64")]
    pub first_seen: f64,
    /// Last bump, UTC seconds.
    #[serde(deserialize_with = "crate::de_f64")]
    pub last_seen: f64,
    /// Circular mean of the bumps' headings, degrees; NaN if unknown.
    #[serde(deserialize_with = "crate::de_f64")]
    pub heading_deg: f64,
    /// Share of bumps whose first excursion was upward.
    #[serde(deserialize_with = "crate::de_f64")]
    pub up_first_share: f64,
    /// Passes after the last hit, none of which hit.
    pub misses_since_last_hit: usize,
    /// Whether every hitting trip travelled the same way (two or more
    /// trips, none against the heading): a defect in one lane, whose
    /// passes count only trips going that way.
    #[serde(default)]
    pub one_way: bool,
    /// Mean of its bumps' window votes over [`CLASSES`]; empty when no bump
    /// carries one.
    #[serde(default)]
    pub window_votes: Vec<f64>,
    /// Posterior probability that the hit rate exceeds `min_hit_rate`.
    #[serde(deserialize_with = "crate::de_f64")]
    pub confidence: f64,
    /// Status.
    pub status: Status,
    /// Signature statistics of its bumps, for classification.
    pub signature: Signature,
    /// The bumps, by id.
    pub bump_ids: Vec<BumpId>,
}

/// Signature statistics of a cluster's bumps: the features the
/// signature classifier reads (see `docs/clustering.md`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    /// Share of bumps whose first excursion was upward.
    #[serde(deserialize_with = "crate::de_f64")]
    pub up_first_share: f64,
    /// Median time above half the threshold, s.
    #[serde(deserialize_with = "crate::de_f64")]
    pub duration_median_s: f64,
    /// Median of peak over speed, (m/s²)/(m/s) = 1/s.
    #[serde(deserialize_with = "crate::de_f64")]
    pub peak_per_speed_median_hz: f64,
    /// Median share of 0.5–5 Hz energy below 2 Hz.
    #[serde(deserialize_with = "crate::de_f64")]
    pub low_band_share_median: f64,
    /// Median speed of the hits, m/s.
    #[serde(deserialize_with = "crate::de_f64")]
    pub speed_median_mps: f64,
    /// Share of bumps travelling against the cluster's main heading
    /// (0: one direction; about 0.5: both).
    #[serde(deserialize_with = "crate::de_f64")]
    pub opposite_share: f64,
    /// Distinct trips against those of the strongest other cluster within
    /// `surround_k` rings: `trips / (trips + theirs)`, 1 when alone. A
    /// point defect stands out from the road around it; rough surface
    /// spreads its hits over many weak clusters side by side. NaN when
    /// unknown (views stored before it existed).
    #[serde(default = "nan", deserialize_with = "crate::de_f64")]
    pub dominance: f64,
    /// Bumps per hitting trip: one for a pothole crossed once, more for
    /// rough pavement jolting a car several times as it passes. NaN when
    /// unknown (views stored before it existed).
    #[serde(default = "nan", deserialize_with = "crate::de_f64")]
    pub bumps_per_trip: f64,
}

fn nan() -> f64 {
    f64::NAN
}

impl Signature {
    /// The feature names, in [`Signature::features`] order.
    pub const NAMES: [&'static str; N_FEATURES] = [
        "up_first_share",
        "ln_duration_median_s",
        "ln_peak_per_speed_median_hz",
        "low_band_share_median",
        "speed_median_mps",
        "opposite_share",
        "hit_rate",
        "dominance",
        "ln_bumps_per_trip",
    ];

    /// The feature vector (with the cluster's hit rate); NaN where unknown.
    #[must_use]
    pub fn features(&self, hit_rate: f64) -> [f64; N_FEATURES] {
        [
            self.up_first_share,
            self.duration_median_s.max(1e-3).ln(),
            self.peak_per_speed_median_hz.max(1e-3).ln(),
            self.low_band_share_median,
            self.speed_median_mps,
            self.opposite_share,
            hit_rate,
            self.dominance,
            self.bumps_per_trip.max(1e-3).ln(),
        ]
    }
}

/// The `q` quantile (nearest rank) of sorted values; NaN when empty.
#[must_use]
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "index in range"
    )]
    let i = ((sorted.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    sorted[i]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        f64::midpoint(v[n / 2 - 1], v[n / 2])
    }
}

/// An `f64` written by `serde_json`, which writes NaN as `null`.
///
/// # Errors
///
/// When the value is neither a number nor null.
pub fn de_f64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// [`de_f64`] for an array.
///
/// # Errors
///
/// When an element is neither a number nor null.
pub fn de_f64s<'de, D: serde::Deserializer<'de>, const N: usize>(d: D) -> Result<[f64; N], D::Error> {
    let v: Vec<Option<f64>> = Vec::deserialize(d)?;
    let n = v.len();
    let arr: [Option<f64>; N] = v
        .try_into()
        .map_err(|_| serde::de::Error::invalid_length(n, &"an array of the classes' probabilities"))?;
    Ok(arr.map(|x| x.unwrap_or(f64::NAN)))
}

/// The evidence, and clusters computed from it.
#[derive(Debug, Clone, Default)]
pub struct ClusterIndex {
    params: ClusterParams,
    /// Bumps in arrival order, with their cells; [`ClusterIndex::clusters`]
    /// sorts them by id so its result does not depend on that order.
    bumps: Vec<(CellIndex, BumpObs)>,
    /// Where each bump is in `bumps` (a small hashed entry per bump makes
    /// the insert cheap; the bump itself is never moved again).
    bump_at: HashMap<BumpId, u32>,
    /// Per cell, the numbers of the trips with a bump in it, sorted.
    cell_trips: HashMap<CellIndex, Vec<u32>>,
    /// Trip ids by number: coverage is the largest state (every trip times
    /// every cell it drove through), so it names trips by a `u32`.
    trip_ids: HashMap<TripId, u32>,
    /// The same, by number.
    trip_names: Vec<TripId>,
    /// Per cell, (trip number, first time), sorted by trip number.
    coverage: HashMap<CellIndex, Vec<(u32, f64)>>,
}

impl ClusterIndex {
    /// An empty index.
    #[must_use]
    pub fn new(params: ClusterParams) -> Self {
        Self {
            params,
            ..Self::default()
        }
    }

    /// Adds a bump; returns false (and changes nothing) when its id was
    /// already there or its position is invalid.
    pub fn add_bump(&mut self, b: BumpObs) -> bool {
        if self.bump_at.contains_key(&b.bump_id) {
            return false;
        }
        let Some(cell) = cell_of(b.lat, b.lon) else {
            return false;
        };
        let n = self.trip_number(&b.trip_id);
        if !b.support {
            // Support jolts seed no cluster: only bumps shape the evidence.
            let trips = self.cell_trips.entry(cell).or_default();
            if let Err(i) = trips.binary_search(&n) {
                trips.insert(i, n);
            }
        }
        let at = u32::try_from(self.bumps.len()).unwrap_or(u32::MAX);
        self.bump_at.insert(b.bump_id, at);
        self.bumps.push((cell, b));
        true
    }

    /// Adds a trip's coverage (from [`coverage_cells`]). Adding the same
    /// trip twice changes nothing.
    pub fn add_coverage(&mut self, trip: &TripId, cells: &BTreeMap<CellIndex, f64>) {
        let n = self.trip_number(trip);
        for (c, t) in cells {
            let list = self.coverage.entry(*c).or_default();
            // Trips get increasing numbers, so this is nearly always a push.
            match list.binary_search_by_key(&n, |&(k, _)| k) {
                Ok(i) => list[i].1 = list[i].1.min(*t),
                Err(i) => list.insert(i, (n, *t)),
            }
        }
    }

    /// Takes a trip's bumps and coverage out, as when the trip is processed
    /// again after a late batch and its new evidence replaces the old.
    /// Returns whether the index held anything of it. Costs one pass over
    /// the bumps and the covered cells, not a reload.
    pub fn remove_trip(&mut self, trip: &TripId) -> bool {
        let Some(&n) = self.trip_ids.get(trip) else {
            return false;
        };
        let before = self.bumps.len();
        let mut cells = HashSet::new();
        self.bumps.retain(|(cell, b)| {
            let keep = b.trip_id != *trip;
            if !keep {
                cells.insert(*cell);
            }
            keep
        });
        let mut found = self.bumps.len() != before;
        if found {
            self.bump_at = self
                .bumps
                .iter()
                .enumerate()
                .map(|(i, (_, b))| (b.bump_id, u32::try_from(i).unwrap_or(u32::MAX)))
                .collect();
            for c in cells {
                if let Some(list) = self.cell_trips.get_mut(&c) {
                    if let Ok(i) = list.binary_search(&n) {
                        list.remove(i);
                    }
                    if list.is_empty() {
                        self.cell_trips.remove(&c);
                    }
                }
            }
        }
        self.coverage.retain(|_, list| {
            if let Ok(i) = list.binary_search_by_key(&n, |&(k, _)| k) {
                list.remove(i);
                found = true;
            }
            !list.is_empty()
        });
        found
    }

    /// The cells whose coverage [`ClusterIndex::clusters`] reads, given the
    /// bumps held now: those within `pass_k` of a mode. Coverage elsewhere
    /// changes no cluster until more bumps come, so a caller that has all
    /// its bumps may add only these (the replay keeps the rest on disk).
    #[must_use]
    pub fn pass_cells(&self) -> HashSet<CellIndex> {
        let mut memo = HashMap::new();
        let mut climbed = HashSet::new();
        let mut modes = HashSet::new();
        for (cell, _) in self.bumps.iter().filter(|(_, b)| !b.support) {
            if climbed.insert(*cell) {
                modes.insert(self.climb(*cell, &mut memo));
            }
        }
        // Merging keeps one of these modes per cluster, so their disks
        // cover every cluster's.
        modes
            .iter()
            .flat_map(|m| m.grid_disk::<Vec<_>>(self.params.pass_k))
            .collect()
    }

    fn trip_number(&mut self, trip: &TripId) -> u32 {
        if let Some(&n) = self.trip_ids.get(trip) {
            return n;
        }
        let n = u32::try_from(self.trip_names.len()).unwrap_or(u32::MAX);
        self.trip_ids.insert(trip.clone(), n);
        self.trip_names.push(trip.clone());
        n
    }

    /// Number of bumps held, support jolts included.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bumps.len()
    }

    /// Whether no bump is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bumps.is_empty()
    }

    fn score(&self, c: CellIndex) -> usize {
        self.cell_trips.get(&c).map_or(0, Vec::len)
    }

    fn smoothed(&self, c: CellIndex, memo: &mut HashMap<CellIndex, usize>) -> usize {
        if let Some(v) = memo.get(&c) {
            return *v;
        }
        let v = c
            .grid_disk::<Vec<_>>(self.params.smooth_k)
            .into_iter()
            .map(|d| self.score(d))
            .sum();
        memo.insert(c, v);
        v
    }

    /// Mode of the evidence reached from `c` by steepest ascent.
    fn climb(&self, mut c: CellIndex, memo: &mut HashMap<CellIndex, usize>) -> CellIndex {
        loop {
            let key = |d: CellIndex, memo: &mut HashMap<CellIndex, usize>| {
                (self.smoothed(d, memo), std::cmp::Reverse(u64::from(d)))
            };
            let mut best = c;
            let mut best_key = key(c, memo);
            for d in c.grid_disk::<Vec<_>>(1) {
                let k = key(d, memo);
                if k > best_key {
                    best = d;
                    best_key = k;
                }
            }
            if best == c {
                return c;
            }
            c = best;
        }
    }

    /// The clusters, strongest first (then by id). A pure function of the
    /// evidence held.
    #[must_use]
    pub fn clusters(&self) -> Vec<Cluster> {
        let mut memo = HashMap::new();
        // Modes and their bumps.
        let mut modes: BTreeMap<CellIndex, Vec<BumpId>> = BTreeMap::new();
        let mut mode_of_cell: HashMap<CellIndex, CellIndex> = HashMap::new();
        let mut ids: Vec<(BumpId, CellIndex)> = self
            .bumps
            .iter()
            .filter(|(_, b)| !b.support)
            .map(|(cell, b)| (b.bump_id, *cell))
            .collect();
        ids.sort_unstable_by_key(|(id, _)| *id);
        for (id, cell) in &ids {
            let m = match mode_of_cell.get(cell) {
                Some(m) => *m,
                None => {
                    let m = self.climb(*cell, &mut memo);
                    mode_of_cell.insert(*cell, m);
                    m
                }
            };
            modes.entry(m).or_default().push(*id);
        }
        // Merge weaker modes into stronger ones nearby.
        let mut order: Vec<CellIndex> = modes.keys().copied().collect();
        order.sort_by_key(|m| (std::cmp::Reverse(self.smoothed(*m, &mut memo)), u64::from(*m)));
        let mut absorbed: BTreeMap<CellIndex, CellIndex> = BTreeMap::new();
        for (i, m) in order.iter().enumerate() {
            if absorbed.contains_key(m) {
                continue;
            }
            let near: BTreeSet<CellIndex> = m.grid_disk::<Vec<_>>(self.params.merge_k).into_iter().collect();
            for w in &order[i + 1..] {
                if !absorbed.contains_key(w) && near.contains(w) {
                    absorbed.insert(*w, *m);
                }
            }
        }
        let mut groups: BTreeMap<CellIndex, Vec<BumpId>> = BTreeMap::new();
        for (m, ids) in modes {
            let root = absorbed.get(&m).copied().unwrap_or(m);
            groups.entry(root).or_default().extend(ids);
        }
        let groups = self.rejoin(groups);
        let mut support = self.attach_support(&groups);
        let mut out: Vec<Cluster> = groups
            .into_iter()
            .flat_map(|(m, ids)| {
                let (main, other) = self.split_by_direction(m, ids);
                let extra = support.remove(&m).unwrap_or_default();
                let mut v = vec![self.describe(m, m.to_string(), main, &extra)];
                if !other.is_empty() {
                    v.push(self.describe(m, format!("{m}{OTHER_LANE_SUFFIX}"), other, &[]));
                }
                v
            })
            .collect();
        self.measure_dominance(&mut out);
        out.sort_by(|a, b| b.trips.cmp(&a.trips).then_with(|| a.cluster_id.cmp(&b.cluster_id)));
        out
    }

    /// Where each group of bumps lies and which way it was hit, in mode
    /// order; groups without a finite position are left out.
    fn group_views(&self, groups: &BTreeMap<CellIndex, Vec<BumpId>>) -> Vec<GroupView<'_>> {
        groups
            .iter()
            .filter_map(|(m, ids)| {
                let bumps = self.bumps_of(ids);
                let (lat, lon) = mean_position(&bumps);
                let heading_deg = main_heading_deg(&bumps);
                (lat.is_finite() && lon.is_finite()).then(|| GroupView {
                    mode: *m,
                    lat,
                    lon,
                    heading_deg,
                    one_way: one_way(&bumps, heading_deg),
                    trips: bumps.iter().map(|b| &b.trip_id).collect(),
                })
            })
            .collect()
    }

    /// Groups that are one defect split by GPS error, joined. A defect in
    /// one lane gives one-way groups; visiting the one-way groups from the
    /// most distinct trips down (then by mode), each takes in the weaker
    /// groups whose centres lie within `rejoin_radius_m` of its own, hit
    /// the same way (within `pass_heading_tol_deg`), and none of whose
    /// trips it holds already, nearest first: a pass over a point defect
    /// gives one bump, so groups sharing a trip are two things. A group
    /// taken in takes in nothing itself, so pieces do not chain along a
    /// street; rough pavement, hit both ways, is never rejoined. A pure
    /// function of the groups.
    fn rejoin(&self, groups: BTreeMap<CellIndex, Vec<BumpId>>) -> BTreeMap<CellIndex, Vec<BumpId>> {
        let p = &self.params;
        if p.rejoin_radius_m.is_nan() || p.rejoin_radius_m <= 0.0 || groups.len() < 2 {
            return groups;
        }
        let mut found = self.group_views(&groups);
        found.sort_by(|a, b| b.trips.len().cmp(&a.trips.len()).then_with(|| a.mode.cmp(&b.mode)));
        let at = cells_of_views(&found);
        let k = rings_for(p.rejoin_radius_m);
        // Only weaker groups, not yet visited, can be taken in.
        let mut taken = vec![false; found.len()];
        let mut join: HashMap<CellIndex, CellIndex> = HashMap::new();
        for i in 0..found.len() {
            let g = &found[i];
            if taken[i] || !g.one_way || !g.heading_deg.is_finite() {
                continue;
            }
            let Some(cell) = cell_of(g.lat, g.lon) else {
                continue;
            };
            let mut near: Vec<(f64, usize)> = cell
                .grid_disk::<Vec<_>>(k)
                .into_iter()
                .flat_map(|c| at.get(&c).into_iter().flatten().copied())
                .filter(|&j| j > i && !taken[j])
                .filter(|&j| angle_between_deg(g.heading_deg, found[j].heading_deg) <= p.pass_heading_tol_deg)
                .map(|j| (bump_geo::distance_m(g.lat, g.lon, found[j].lat, found[j].lon), j))
                .filter(|(d, _)| *d <= p.rejoin_radius_m)
                .collect();
            near.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
            let mut trips = g.trips.clone();
            for (_, j) in near {
                if found[j].trips.is_disjoint(&trips) {
                    trips.extend(found[j].trips.iter().copied());
                    taken[j] = true;
                    join.insert(found[j].mode, g.mode);
                }
            }
        }
        let mut out: BTreeMap<CellIndex, Vec<BumpId>> = BTreeMap::new();
        for (m, ids) in groups {
            out.entry(join.get(&m).copied().unwrap_or(m)).or_default().extend(ids);
        }
        out
    }

    /// The support jolts each group gains, by mode: a jolt joins the
    /// nearest group within `support_radius_m` of its centre that bumps of
    /// `support_min_trips` or more trips formed, whose axis (or way, when
    /// one-way) the jolt's course follows as a pass's must, and that its
    /// trip did not hit already. A pure function of the evidence: groups
    /// and jolts are visited by id.
    fn attach_support(&self, groups: &BTreeMap<CellIndex, Vec<BumpId>>) -> BTreeMap<CellIndex, Vec<BumpId>> {
        let p = &self.params;
        let mut out: BTreeMap<CellIndex, Vec<BumpId>> = BTreeMap::new();
        if p.support_radius_m.is_nan() || p.support_radius_m <= 0.0 {
            return out;
        }
        let found: Vec<GroupView<'_>> = self
            .group_views(groups)
            .into_iter()
            .filter(|g| g.trips.len() >= p.support_min_trips)
            .collect();
        let at = cells_of_views(&found);
        if found.is_empty() {
            return out;
        }
        let k = rings_for(p.support_radius_m);
        let tol = p.pass_heading_tol_deg;
        let mut jolts: Vec<&(CellIndex, BumpObs)> = self.bumps.iter().filter(|(_, b)| b.support).collect();
        jolts.sort_unstable_by_key(|(_, b)| b.bump_id);
        for (cell, b) in jolts {
            let best = cell
                .grid_disk::<Vec<_>>(k)
                .into_iter()
                .flat_map(|c| at.get(&c).into_iter().flatten().copied())
                .filter(|&g| {
                    let g = &found[g];
                    if g.trips.contains(&b.trip_id) {
                        return false;
                    }
                    if b.heading_deg.is_finite() && g.heading_deg.is_finite() && tol < 180.0 {
                        let d = angle_between_deg(b.heading_deg, g.heading_deg);
                        if !(d <= tol || (!g.one_way && 180.0 - d <= tol)) {
                            return false;
                        }
                    }
                    true
                })
                .map(|g| (bump_geo::distance_m(b.lat, b.lon, found[g].lat, found[g].lon), g))
                .filter(|(d, _)| *d <= p.support_radius_m)
                .min_by(|a, b| a.0.total_cmp(&b.0).then_with(|| found[a.1].mode.cmp(&found[b.1].mode)));
            if let Some((_, g)) = best {
                out.entry(found[g].mode).or_default().push(b.bump_id);
            }
        }
        out
    }

    /// Each cluster's trips against the strongest other cluster's within
    /// `surround_k` rings of its mode.
    fn measure_dominance(&self, clusters: &mut [Cluster]) {
        let cells: Vec<Option<CellIndex>> = clusters.iter().map(|c| cell_of_cluster_id(&c.cluster_id)).collect();
        let mut at: HashMap<CellIndex, Vec<usize>> = HashMap::new();
        for (i, cell) in cells.iter().enumerate() {
            if let Some(cell) = cell {
                at.entry(*cell).or_default().push(i);
            }
        }
        let dominance: Vec<f64> = clusters
            .iter()
            .zip(&cells)
            .enumerate()
            .map(|(i, (c, cell))| {
                let Some(cell) = cell else {
                    return f64::NAN;
                };
                let strongest = cell
                    .grid_disk::<Vec<_>>(self.params.surround_k)
                    .into_iter()
                    .flat_map(|n| at.get(&n).into_iter().flatten())
                    .filter(|&&j| j != i)
                    .map(|&j| clusters[j].trips)
                    .max()
                    .unwrap_or(0);
                #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
                let (own, other) = (c.trips as f64, strongest as f64);
                own / (own + other).max(1.0)
            })
            .collect();
        for (c, d) in clusters.iter_mut().zip(dominance) {
            c.signature.dominance = d;
        }
    }

    fn bumps_of(&self, ids: &[BumpId]) -> Vec<&BumpObs> {
        ids.iter()
            .filter_map(|id| self.bump_at.get(id).and_then(|&i| self.bumps.get(i as usize)))
            .map(|(_, b)| b)
            .collect()
    }

    /// Each trip's first and last visit to the disk of `pass_k` rings
    /// around `mode`, by trip number.
    fn visits(&self, mode: CellIndex) -> BTreeMap<u32, Visit> {
        let mut covered: BTreeMap<u32, Visit> = BTreeMap::new();
        for c in mode.grid_disk::<Vec<_>>(self.params.pass_k) {
            for &(trip, t) in self.coverage.get(&c).into_iter().flatten() {
                covered.entry(trip).and_modify(|v| v.see(t, c)).or_insert(Visit {
                    first: (t, c),
                    last: (t, c),
                });
            }
        }
        covered
    }

    /// Splits a group's bumps by direction of travel when the data says
    /// the defect is in one lane: the two directions' hit rates (hits
    /// against passes going that way, each a Beta posterior) differ with
    /// probability `split_confidence` or more. Returns the stronger
    /// direction's bumps (with those of trips of unknown course) and the
    /// other's, empty when the group stays whole.
    fn split_by_direction(&self, mode: CellIndex, ids: Vec<BumpId>) -> (Vec<BumpId>, Vec<BumpId>) {
        let p = &self.params;
        if p.split_confidence >= 1.0 {
            return (ids, Vec::new());
        }
        // Each hitting trip's course, and the street's axis (the mean of
        // the courses with opposite ways folded together).
        let bumps = self.bumps_of(&ids);
        let courses = trip_courses(&bumps);
        let axis = circular_mean_deg(courses.values().map(|c| (2.0 * c).rem_euclid(360.0))) / 2.0;
        if !axis.is_finite() {
            return (ids, Vec::new());
        }
        let forward = |course: f64| angle_between_deg(course, axis) < 90.0;
        let hits_fwd: BTreeSet<&TripId> = courses.iter().filter(|(_, c)| forward(**c)).map(|(t, _)| *t).collect();
        let hits_back: BTreeSet<&TripId> = courses.iter().filter(|(_, c)| !forward(**c)).map(|(t, _)| *t).collect();
        if hits_fwd.is_empty() || hits_back.is_empty() {
            return (ids, Vec::new());
        }
        // Passes each way: trips whose course through the disk lies within
        // the heading tolerance of that way (a trip whose course is unknown
        // passed both), plus that way's hitting trips.
        let (mut pass_fwd, mut pass_back): (BTreeSet<&TripId>, BTreeSet<&TripId>) =
            (hits_fwd.clone(), hits_back.clone());
        for (n, v) in self.visits(mode) {
            let Some(trip) = self.trip_names.get(n as usize) else {
                continue;
            };
            let course = v.course_deg();
            let (f, b) = if course.is_finite() {
                let d = angle_between_deg(course, axis);
                (d <= p.pass_heading_tol_deg, 180.0 - d <= p.pass_heading_tol_deg)
            } else {
                (true, true)
            };
            if f {
                pass_fwd.insert(trip);
            }
            if b {
                pass_back.insert(trip);
            }
        }
        let posterior = |hits: usize, passes: usize| {
            #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
            let (h, n) = (hits as f64, passes as f64);
            (p.prior_hits + h, p.prior_misses + (n - h).max(0.0))
        };
        let (af, bf) = posterior(hits_fwd.len(), pass_fwd.len());
        let (ab, bb) = posterior(hits_back.len(), pass_back.len());
        // The stronger way keeps the mode: more hitting trips, then the
        // higher posterior mean, then forward.
        let fwd_main = (hits_fwd.len(), af / (af + bf)) >= (hits_back.len(), ab / (ab + bb));
        let p_main_higher = if fwd_main {
            prob_greater(af, bf, ab, bb)
        } else {
            prob_greater(ab, bb, af, bf)
        };
        if p_main_higher < p.split_confidence {
            return (ids, Vec::new());
        }
        let other = if fwd_main { &hits_back } else { &hits_fwd };
        let other: BTreeSet<BumpId> = bumps
            .iter()
            .filter(|b| other.contains(&b.trip_id))
            .map(|b| b.bump_id)
            .collect();
        ids.into_iter().partition(|id| !other.contains(id))
    }

    /// One cluster from its bumps and the support jolts it gained.
    fn describe(&self, mode: CellIndex, cluster_id: String, mut ids: Vec<BumpId>, support: &[BumpId]) -> Cluster {
        ids.sort_unstable();
        let bumps = self.bumps_of(&ids);
        let jolts = self.bumps_of(support);
        #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
        let n = bumps.len().max(1) as f64;
        let (lat, lon) = mean_position(&bumps);
        let bump_trips = first_hits(bumps.iter().copied());
        let hit_trips = first_hits(bumps.iter().chain(&jolts).copied());
        let devices: BTreeSet<&DeviceId> = bumps.iter().map(|b| &b.device_id).collect();
        let heading_deg = main_heading_deg(&bumps);
        let one_way = one_way(&bumps, heading_deg);
        // Passes: first time each trip came near, hits included, going
        // along the cluster's axis (its way, when one-way). Trips are keyed
        // by number while gathering; hit trips that never reported
        // coverage have no number and are added by id after.
        let covered = self.visits(mode);
        let tol = self.params.pass_heading_tol_deg;
        let along = |v: &Visit| {
            let course = v.course_deg();
            if !(course.is_finite() && heading_deg.is_finite()) || tol >= 180.0 {
                return true;
            }
            let d = angle_between_deg(course, heading_deg);
            d <= tol || (!one_way && 180.0 - d <= tol)
        };
        let mut passes: BTreeMap<&TripId, f64> = covered
            .iter()
            .filter(|(_, v)| along(v))
            .filter_map(|(n, v)| self.trip_names.get(*n as usize).map(|id| (id, v.first.0)))
            .collect();
        for (trip, t) in &hit_trips {
            passes.entry(trip).or_insert(*t);
        }
        // A support jolt is a sighting too: it keeps a defect from
        // fading out as fixed.
        let last_seen = bumps
            .iter()
            .chain(&jolts)
            .map(|b| b.t)
            .fold(f64::NEG_INFINITY, f64::max);
        let first_seen = bumps.iter().chain(&jolts).map(|b| b.t).fold(f64::INFINITY, f64::min);
        let misses_since_last_hit = passes
            .iter()
            .filter(|(trip, t)| **t > last_seen && !hit_trips.contains_key(*trip))
            .count();
        let mut mags: Vec<f64> = bumps.iter().map(|b| b.peak_mps2).collect();
        mags.sort_by(f64::total_cmp);
        let q = |p: f64| quantile_sorted(&mags, p);
        let p = &self.params;
        #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
        let (hits_f, passes_f) = (hit_trips.len() as f64, passes.len() as f64);
        let confidence = beta_sf(
            p.min_hit_rate,
            p.prior_hits + hits_f,
            p.prior_misses + (passes_f - hits_f).max(0.0),
        );
        // The run of misses against the hit rate of the passes before it.
        #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
        let run = misses_since_last_hit as f64;
        let run_p = run_probability(
            p.prior_hits + hits_f,
            p.prior_misses + (passes_f - hits_f - run).max(0.0),
            run,
        );
        let status = if hit_trips.len() >= p.min_trips
            && misses_since_last_hit >= p.fixed_after_misses
            && run_p <= p.fixed_probability
        {
            Status::ProbablyFixed
        } else if hit_trips.len() < p.min_trips {
            Status::Insufficient
        } else if confidence >= p.likely_confidence {
            Status::Likely
        } else {
            Status::Uncertain
        };
        Cluster {
            cluster_id,
            lat,
            lon,
            hits: bumps.len(),
            trips: hit_trips.len(),
            support_trips: hit_trips.len() - bump_trips.len(),
            devices: devices.len(),
            passes: passes.len(),
            hit_rate: hits_f / passes_f.max(1.0),
            magnitude_median_mps2: q(0.5),
            magnitude_p90_mps2: q(0.9),
            first_seen,
            last_seen,
            heading_deg,
            #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
            up_first_share: bumps.iter().filter(|b| b.up_first).count() as f64 / n,
            misses_since_last_hit,
            one_way,
            window_votes: mean_votes(&bumps),
            confidence,
            status,
            signature: Signature {
                up_first_share: bumps.iter().filter(|b| b.up_first).count() as f64 / n,
                duration_median_s: median(bumps.iter().map(|b| b.duration_s).collect()),
                peak_per_speed_median_hz: median(bumps.iter().map(|b| b.peak_mps2 / b.speed_mps.max(1.0)).collect()),
                low_band_share_median: median(bumps.iter().map(|b| b.low_band_share).collect()),
                speed_median_mps: median(bumps.iter().map(|b| b.speed_mps).collect()),
                opposite_share: if heading_deg.is_finite() {
                    bumps
                        .iter()
                        .filter(|b| b.heading_deg.is_finite())
                        .filter(|b| {
                            let d = (b.heading_deg - heading_deg).rem_euclid(360.0);
                            d > 90.0 && d < 270.0
                        })
                        .count() as f64
                        / n
                } else {
                    0.0
                },
                dominance: f64::NAN,
                #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
                bumps_per_trip: bumps.len() as f64 / (bump_trips.len() as f64).max(1.0),
            },
            bump_ids: ids,
        }
    }
}

/// A group of bumps (a cluster in the making) as the steps after the
/// modes see it.
struct GroupView<'a> {
    mode: CellIndex,
    lat: f64,
    lon: f64,
    heading_deg: f64,
    one_way: bool,
    trips: BTreeSet<&'a TripId>,
}

/// The views at each cell of their centre.
fn cells_of_views(views: &[GroupView<'_>]) -> HashMap<CellIndex, Vec<usize>> {
    let mut at: HashMap<CellIndex, Vec<usize>> = HashMap::new();
    for (i, g) in views.iter().enumerate() {
        if let Some(c) = cell_of(g.lat, g.lon) {
            at.entry(c).or_default().push(i);
        }
    }
    at
}

/// Rings of cells enough to reach `radius_m` from any point of a cell:
/// cell centres are about 6 m apart at resolution 13.
fn rings_for(radius_m: f64) -> u32 {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "small and positive"
    )]
    let k = (radius_m / 6.0).ceil().clamp(0.0, 50.0) as u32;
    k + 1
}

/// Mean position of bumps, degrees.
fn mean_position(bumps: &[&BumpObs]) -> (f64, f64) {
    #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
    let n = bumps.len().max(1) as f64;
    (
        bumps.iter().map(|b| b.lat).sum::<f64>() / n,
        bumps.iter().map(|b| b.lon).sum::<f64>() / n,
    )
}

/// Each trip's first time among `bumps`.
fn first_hits<'a>(bumps: impl IntoIterator<Item = &'a BumpObs>) -> BTreeMap<&'a TripId, f64> {
    bumps.into_iter().fold(BTreeMap::new(), |mut m, b| {
        let e = m.entry(&b.trip_id).or_insert(b.t);
        *e = e.min(b.t);
        m
    })
}

/// Mean of the bumps' window votes (those that have one).
fn mean_votes(bumps: &[&BumpObs]) -> Vec<f64> {
    let mut sum = vec![0.0; CLASSES.len()];
    let mut n = 0.0;
    for b in bumps.iter().filter(|b| b.window_probs.len() == CLASSES.len()) {
        sum.iter_mut().zip(&b.window_probs).for_each(|(s, p)| *s += p);
        n += 1.0;
    }
    if n == 0.0 {
        return Vec::new();
    }
    sum.iter_mut().for_each(|s| *s /= n);
    sum
}

/// Circular mean of headings, degrees in [0, 360); NaN when none is known
/// or they cancel.
fn circular_mean_deg(headings: impl Iterator<Item = f64>) -> f64 {
    let (sx, sy) = headings.filter(|h| h.is_finite()).fold((0.0, 0.0), |(x, y), h| {
        let r = h.to_radians();
        (x + r.sin(), y + r.cos())
    });
    if sx == 0.0 && sy == 0.0 {
        f64::NAN
    } else {
        sx.atan2(sy).to_degrees().rem_euclid(360.0)
    }
}

/// A cluster's heading: the street's axis, pointed the way most of its
/// bumps went (ties: the axis within [0, 180)); NaN when unknown. The
/// axis is the circular mean of the doubled headings, halved, so that
/// the two ways of a street reinforce each other: the plain mean of a
/// defect hit as often eastbound as westbound is a vector near zero
/// pointing anywhere, north included.
fn main_heading_deg(bumps: &[&BumpObs]) -> f64 {
    let doubled = circular_mean_deg(bumps.iter().map(|b| (2.0 * b.heading_deg).rem_euclid(360.0)));
    if !doubled.is_finite() {
        return f64::NAN;
    }
    let axis = doubled / 2.0;
    let (ahead, behind) = bumps
        .iter()
        .filter(|b| b.heading_deg.is_finite())
        .fold((0usize, 0usize), |(a, r), b| {
            if angle_between_deg(b.heading_deg, axis) < 90.0 {
                (a + 1, r)
            } else {
                (a, r + 1)
            }
        });
    if ahead >= behind {
        axis
    } else {
        (axis + 180.0).rem_euclid(360.0)
    }
}

/// The unsigned angle between two headings, degrees in [0, 180].
fn angle_between_deg(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// Whether the trips that hit went one way: at least two trips with a
/// known course, none of them more than 90° from the cluster's heading.
fn one_way(bumps: &[&BumpObs], heading_deg: f64) -> bool {
    if !heading_deg.is_finite() {
        return false;
    }
    let courses = trip_courses(bumps);
    courses.len() >= 2 && courses.values().all(|c| angle_between_deg(*c, heading_deg) < 90.0)
}

/// Each trip's course over its bumps (circular mean of their headings),
/// for the trips with one.
fn trip_courses<'a>(bumps: &[&'a BumpObs]) -> BTreeMap<&'a TripId, f64> {
    let mut by_trip: BTreeMap<&TripId, Vec<f64>> = BTreeMap::new();
    for b in bumps.iter().filter(|b| b.heading_deg.is_finite()) {
        by_trip.entry(&b.trip_id).or_default().push(b.heading_deg);
    }
    by_trip
        .into_iter()
        .map(|(t, h)| (t, circular_mean_deg(h.into_iter())))
        .filter(|(_, c)| c.is_finite())
        .collect()
}

/// A trip's first and last visit to a cluster's disk: (time, cell).
struct Visit {
    first: (f64, CellIndex),
    last: (f64, CellIndex),
}

impl Visit {
    fn see(&mut self, t: f64, c: CellIndex) {
        // Ties broken by cell so the result does not depend on the order
        // the disk is walked.
        if (t, u64::from(c)) < (self.first.0, u64::from(self.first.1)) {
            self.first = (t, c);
        }
        if (t, u64::from(c)) > (self.last.0, u64::from(self.last.1)) {
            self.last = (t, c);
        }
    }

    /// The course from the first cell to the last, degrees; NaN when the
    /// trip touched one cell only.
    fn course_deg(&self) -> f64 {
        if self.first.1 == self.last.1 {
            return f64::NAN;
        }
        let (a, b) = (LatLng::from(self.first.1), LatLng::from(self.last.1));
        bump_geo::bearing_deg(a.lat(), a.lng(), b.lat(), b.lng())
    }
}

/// The density of Beta(a, b).
fn beta_pdf(a: f64, b: f64) -> impl Fn(f64) -> f64 {
    let ln_beta = ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b);
    move |t: f64| {
        // Kept off the ends, where ln(0) would meet a zero exponent.
        let t = t.clamp(1e-12, 1.0 - 1e-12);
        ((a - 1.0) * t.ln() + (b - 1.0) * (1.0 - t).ln() - ln_beta).exp()
    }
}

/// `P(X > Y)` for independent `X ~ Beta(a1, b1)` and `Y ~ Beta(a2, b2)`,
/// all parameters ≥ 1: `∫ f_X(t) F_Y(t) dt` by the trapezoid rule on 800
/// intervals.
#[must_use]
pub fn prob_greater(a1: f64, b1: f64, a2: f64, b2: f64) -> f64 {
    let (fx, fy) = (beta_pdf(a1, b1), beta_pdf(a2, b2));
    let n = 800;
    let h = 1.0 / f64::from(n);
    let (mut cdf_y, mut s) = (0.0, 0.0);
    let (mut prev_fy, mut prev_term) = (fy(0.0), 0.0);
    for i in 1..=n {
        let t = f64::from(i) * h;
        let y = fy(t);
        cdf_y += 0.5 * (prev_fy + y) * h;
        let term = fx(t) * cdf_y;
        s += 0.5 * (prev_term + term) * h;
        (prev_fy, prev_term) = (y, term);
    }
    s.clamp(0.0, 1.0)
}

/// The probability that a defect whose hit rate has the posterior
/// Beta(`a`, `b`) is missed by `k` passes in a row: E[(1 − p)ᵏ] =
/// B(a, b + k) / B(a, b), the beta-binomial predictive of k misses in k.
/// A long run is unlikely for a defect hit by most passes and unremarkable
/// for one hit by few, so the run that calls a defect fixed is short for
/// the first and long for the second.
#[must_use]
pub fn run_probability(a: f64, b: f64, k: f64) -> f64 {
    if k <= 0.0 {
        return 1.0;
    }
    (ln_gamma(b + k) + ln_gamma(a + b) - ln_gamma(b) - ln_gamma(a + b + k))
        .exp()
        .clamp(0.0, 1.0)
}

/// `P(X > x)` for `X ~ Beta(a, b)`, `a, b ≥ 1`, by Simpson's rule on the
/// density (400 intervals; exact enough for a confidence shown to two
/// digits).
#[must_use]
pub fn beta_sf(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x >= 1.0 {
        return 0.0;
    }
    let pdf = beta_pdf(a, b);
    let n = 400;
    #[allow(clippy::cast_precision_loss, reason = "small")]
    let h = (1.0 - x) / f64::from(n);
    let mut s = pdf(x) + pdf(1.0);
    for i in 1..n {
        let t = x + f64::from(i) * h;
        s += if i % 2 == 1 { 4.0 } else { 2.0 } * pdf(t);
    }
    (s * h / 3.0).clamp(0.0, 1.0)
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        #[allow(clippy::cast_precision_loss, reason = "small")]
        let i = i as f64;
        a += c / (x + i);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

#[cfg(test)]
mod tests;
