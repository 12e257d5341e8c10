/*!
Scoring a replay's bumps against ground-truth positions, per trip.

Truth comes as a folder of CSV files, one per trip, each with latitude and
longitude columns (`Latitude`/`Longitude` or `lat`/`lon`). A file's trip is
its name without extension and without a `(bumps)` suffix, which is how
the Lublin surveys name theirs. Trips present in the results but without a
truth file are left out (their precision cannot be judged).
*/

use std::collections::BTreeMap;
use std::path::Path;

use bump_geo::{PointScore, score_points_against};
use polars::prelude::*;
use serde::Serialize;

use crate::read::{ReadError, f64_column, str_column, table_error};

/// Per-trip and summed scores.
#[derive(Debug, Clone, Serialize)]
pub struct PointEval {
    /// Matching radius, m.
    pub radius_m: f64,
    /// The rule, in words, as printed with the table.
    pub rule: String,
    /// Scores by trip.
    pub per_trip: BTreeMap<String, PointScore>,
    /// Sum over trips.
    pub total: PointScore,
}

fn latlon(df: &DataFrame, path: &Path) -> Result<Vec<Option<(f64, f64)>>, ReadError> {
    let pick = |names: &[&str]| -> Result<Vec<Option<f64>>, ReadError> {
        // The first name present, or the error naming the first.
        let name = names.iter().find(|n| df.column(n).is_ok()).unwrap_or(&names[0]);
        f64_column(df, path, name, "truth position")
    };
    let lat = pick(&["Latitude", "latitude", "lat"])?;
    let lon = pick(&["Longitude", "longitude", "lon"])?;
    Ok(lat
        .into_iter()
        .zip(lon)
        .map(|(a, b)| Some((a?, b?)).filter(|(a, b)| bump_geo::is_valid_position(*a, *b)))
        .collect())
}

pub(crate) fn read_csv(path: &Path) -> Result<DataFrame, ReadError> {
    CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(SerReader::finish)
        .map_err(|e| table_error(path, &e))
}

/// Reads a truth folder: trip id → positions.
///
/// # Errors
/// [`ReadError`] for an unreadable folder or file.
pub fn read_truth_points(dir: &Path) -> Result<BTreeMap<String, Vec<(f64, f64)>>, ReadError> {
    let mut out = BTreeMap::new();
    for path in crate::read::trip_files(dir)? {
        if path.extension().and_then(|e| e.to_str()) != Some("csv") {
            continue;
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let trip = stem.strip_suffix("(bumps)").unwrap_or(stem);
        let trip = bump_core::TripId::from_file_stem(trip).to_string();
        out.insert(trip, latlon(&read_csv(&path)?, &path)?.into_iter().flatten().collect());
    }
    Ok(out)
}

/// Scores the bumps of a replay (`bumps.csv` in `results`) against `truth`.
///
/// # Errors
/// [`ReadError`] when either side cannot be read.
pub fn eval_points(truth: &Path, results: &Path, radius_m: f64) -> Result<PointEval, ReadError> {
    let truth = read_truth_points(truth)?;
    let bumps_path = results.join("bumps.csv");
    let df = read_csv(&bumps_path)?;
    let trips = str_column(&df, &bumps_path, "trip_id", "trip id")?;
    let pos = latlon(&df, &bumps_path)?;
    let mut by_trip: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    // Rows are in trip, time order (the replay writes them so).
    for (t, p) in trips.into_iter().zip(pos) {
        if let (Some(t), Some(p)) = (t, p) {
            by_trip.entry(t).or_default().push(p);
        }
    }
    let mut per_trip = BTreeMap::new();
    let mut total = PointScore::default();
    for (trip, gt) in &truth {
        let det = by_trip.get(trip).map_or(&[][..], Vec::as_slice);
        let others: Vec<(f64, f64)> = truth
            .iter()
            .filter(|(t, _)| *t != trip)
            .flat_map(|(_, g)| g.iter().copied())
            .collect();
        let s = score_points_against(det, gt, &others, radius_m);
        total = total.add(s);
        per_trip.insert(trip.clone(), s);
    }
    Ok(PointEval {
        radius_m,
        rule: format!(
            "detections within {radius_m} m of an earlier one are merged; a merged detection is a true positive \
             when a truth point lies within {radius_m} m; a truth point is found when a merged detection lies within {radius_m} m"
        ),
        per_trip,
        total,
    })
}

/// Bump-level scores against a simulated city's truth.
#[derive(Debug, Clone, Serialize)]
pub struct SimEval {
    /// The matching rule, in words.
    pub rule: String,
    /// Bumps detected.
    pub bumps: usize,
    /// Bumps matched to a pass that hit an obstacle.
    pub true_positives: usize,
    /// `true_positives / bumps`.
    pub precision: f64,
    /// Passes that hit an obstacle (any wheel).
    pub hit_passes: usize,
    /// Hit passes with at least one matching bump.
    pub detected_passes: usize,
    /// `detected_passes / hit_passes`.
    pub recall: f64,
    /// Per obstacle kind: (hit passes, detected).
    pub by_kind: BTreeMap<String, (usize, usize)>,
    /// Pothole hit passes per phone sample rate (whole Hz, from
    /// `truth/trips.csv`): (hit passes, detected). Empty when the truth
    /// has no trip table.
    pub pothole_hits_by_rate_hz: BTreeMap<u32, (usize, usize)>,
    /// Median distance from a matched bump to its obstacle, m.
    pub position_error_median_m: f64,
    /// 90th percentile of that distance, m.
    pub position_error_p90_m: f64,
    /// Cluster-level scores, when the results hold `clusters.csv`.
    pub clusters: Option<ClusterEval>,
}

/// Cluster-level scores against a simulated city's obstacles.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterEval {
    /// The matching rule, in words.
    pub rule: String,
    /// Clusters with status `likely`.
    pub likely: usize,
    /// Likely clusters within the radius of an obstacle some pass hit.
    pub true_positives: usize,
    /// `true_positives / likely`.
    pub precision: f64,
    /// Per obstacle kind: (obstacles hit at least once, with a likely cluster near).
    pub by_kind: BTreeMap<String, (usize, usize)>,
    /// Over all kinds: found / hit obstacles.
    pub recall: f64,
    /// Classifier confusion over likely clusters matched to an obstacle:
    /// true class → predicted class → count (when clusters carry a class).
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    /// Share of those clusters whose predicted class is the true one.
    pub class_accuracy: Option<f64>,
    /// The clusters a filer would send as potholes (likely, class
    /// `pothole` by signature, not at a known obstacle), and whether a
    /// real pothole lies within the radius.
    pub would_file: Vec<WouldFile>,
    /// The pothole target: potholes passed by enough trips against likely
    /// pothole clusters (when clusters carry a class).
    pub potholes: Option<PotholeScore>,
}

/// Potholes passed by at least [`PotholeScore::min_trips`] distinct trips
/// (in their lane, whichever wheels crossed), against likely clusters
/// classed `pothole`.
#[derive(Debug, Clone, Serialize)]
pub struct PotholeScore {
    /// Fewest distinct passing trips for a pothole to count.
    pub min_trips: usize,
    /// Potholes passed by at least `min_trips` trips.
    pub passed: usize,
    /// Of those, with a likely `pothole` cluster within the radius.
    pub found: usize,
    /// `found / passed`.
    pub recall: f64,
    /// Of the counted potholes, those felt by at least
    /// [`PotholeScore::felt_min_trips`] distinct trips (a bump matched to a
    /// pass that hit it): what the detector left for clustering to find.
    pub felt: usize,
    /// Distinct trips with a matched bump for a pothole to be `felt`:
    /// Street Bump's three.
    pub felt_min_trips: usize,
    /// Of the `felt` potholes, those with a likely `pothole` cluster.
    pub found_felt: usize,
    /// Of the counted potholes, those whose wheel path was hit by at
    /// least [`PotholeScore::felt_min_trips`] distinct trips: what a
    /// detector that felt every hit could give clustering.
    pub hit: usize,
    /// Of the counted potholes, those hit by at least
    /// [`PotholeScore::felt_min_trips`] distinct trips whose phone samples
    /// at [`PotholeScore::fast_phone_hz`] or faster: what a detector that
    /// felt every hit a phone can resolve could give. Equal to `hit` when
    /// the truth has no trip table.
    pub hit_fast: usize,
    /// The slowest phone counted in `hit_fast`, Hz.
    pub fast_phone_hz: f64,
    /// Counted potholes by how many distinct trips with phones at
    /// [`PotholeScore::fast_phone_hz`] or faster hit them: the input of
    /// [`felt_ceiling`].
    pub fast_hit_trips: BTreeMap<usize, usize>,
    /// Likely clusters classed `pothole`.
    pub clusters: usize,
    /// Of those, within the radius of a real pothole.
    pub real: usize,
    /// `real / clusters`.
    pub precision: f64,
    /// Why the potholes not found were missed, judged by the most advanced
    /// cluster within the radius: `likely_as_<class>` (likely, another
    /// class; `likely_as_known_<class>` when that class came from a known
    /// obstacle of the inventory), `uncertain` or `probably_fixed` (enough trips, confidence
    /// short), `insufficient` (too few distinct trips hit it), or
    /// `no_cluster`.
    pub missed: BTreeMap<String, usize>,
    /// Potholes filled while the trips ran (`repaired_at` in the truth)
    /// that [`PotholeScore::felt_min_trips`] trips had felt before: they
    /// are left out of every figure above (a cluster still standing at
    /// one is not at a real pothole).
    pub repaired: usize,
    /// What became of them, by the most advanced cluster within the
    /// radius: `probably_fixed` (what should happen), `likely` (still
    /// reported), `uncertain`, `insufficient` or `no_cluster`.
    pub repaired_outcome: BTreeMap<String, usize>,
}

/// The rule: potholes passed by at least five trips.
pub const POTHOLE_MIN_TRIPS: usize = 5;

/// Distinct trips that must feel a pothole before clustering can make it
/// likely (the default `[cluster] min_trips`, Street Bump's rule).
pub const FELT_MIN_TRIPS: usize = 3;

/// The share of potholes that `min_trips` or more distinct trips would
/// feel if each of the `n` fast trips hitting a pothole felt it
/// independently with probability `p`, given `histogram` (n → potholes):
/// the mean over potholes of P(Binomial(n, p) ≥ `min_trips`). What
/// clustering could at best be given by a detector of that sensitivity.
#[must_use]
pub fn felt_ceiling(histogram: &BTreeMap<usize, usize>, p: f64, min_trips: usize) -> f64 {
    let p = p.clamp(0.0, 1.0);
    let (mut sum, mut count) = (0.0, 0usize);
    for (&n, &potholes) in histogram {
        // P(X < min) by the recurrence P(k+1) = P(k) (n-k)/(k+1) p/(1-p),
        // summed directly when p is 0 or 1.
        let below: f64 = if p >= 1.0 {
            f64::from(u8::from(n < min_trips))
        } else {
            let mut term = (1.0 - p).powi(i32::try_from(n).unwrap_or(i32::MAX));
            let mut acc = 0.0;
            for k in 0..min_trips.min(n + 1) {
                acc += term;
                #[allow(clippy::cast_precision_loss, reason = "trip counts are small")]
                {
                    term *= (n - k) as f64 / (k + 1) as f64 * p / (1.0 - p);
                }
            }
            acc
        };
        #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
        {
            sum += (1.0 - below).clamp(0.0, 1.0) * potholes as f64;
        }
        count += potholes;
    }
    #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
    if count == 0 { f64::NAN } else { sum / count as f64 }
}

/// The slowest phone that can resolve a pothole's jolt: a 0.5 m hole
/// crossed at 10 m/s lasts 50 ms, one sample period at 20 Hz (the default
/// `[cluster] min_pass_rate_hz`).
pub const FAST_PHONE_HZ: f64 = 20.0;

/// What the truth says of one obstacle: its kind, the distinct trips that
/// passed it in its lane, and those with a bump matched to a hit pass.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Passed {
    kind: String,
    trips: usize,
    felt_trips: usize,
    /// Distinct trips whose wheels hit it.
    hit_trips: usize,
    /// Of those, trips whose phone samples at [`FAST_PHONE_HZ`] or faster.
    hit_fast_trips: usize,
}

/// One cluster a filer would send as a pothole.
#[derive(Debug, Clone, Serialize)]
pub struct WouldFile {
    /// The cluster.
    pub cluster_id: String,
    /// Degrees.
    pub lat: f64,
    /// Degrees.
    pub lon: f64,
    /// Whether a simulated pothole (hit at least once, not filled) lies
    /// within the radius.
    pub real_pothole: bool,
}

fn eval_clusters(
    path: &Path,
    obstacles: &BTreeMap<String, (f64, f64)>,
    hit: &BTreeMap<String, String>,
    passed: &BTreeMap<String, Passed>,
    repaired: &BTreeMap<String, f64>,
    radius_m: f64,
) -> Result<ClusterEval, ReadError> {
    let df = read_csv(path)?;
    let status = col_str(&df, path, "status")?;
    let (lat, lon) = (col_f64(&df, path, "lat")?, col_f64(&df, path, "lon")?);
    let likely: Vec<(f64, f64)> = status
        .iter()
        .zip(lat.iter().zip(&lon))
        .filter(|(s, _)| s.as_str() == "likely")
        .map(|(_, (a, b))| (*a, *b))
        .collect();
    let hit_pos: Vec<(f64, f64)> = hit.keys().filter_map(|id| obstacles.get(id).copied()).collect();
    let near = |a: &(f64, f64), b: &(f64, f64)| bump_geo::distance_m(a.0, a.1, b.0, b.1) <= radius_m;
    let tp = likely.iter().filter(|c| hit_pos.iter().any(|o| near(c, o))).count();
    // Classes and where they came from, when the replay wrote them (older
    // replays wrote no class source).
    let classes = match df.column("class") {
        Ok(_) => Some(col_str(&df, path, "class")?),
        Err(_) => None,
    };
    let sources = match df.column("class_source") {
        Ok(_) => Some(col_str(&df, path, "class_source")?),
        Err(_) => None,
    };
    // Confusion: each likely cluster against the nearest hit obstacle.
    let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    if let Some(classes) = &classes {
        for ((st, cls), (a, b)) in status.iter().zip(classes).zip(lat.iter().zip(&lon)) {
            if st != "likely" {
                continue;
            }
            let nearest = hit
                .iter()
                .filter_map(|(id, kind)| {
                    obstacles
                        .get(id)
                        .map(|o| (bump_geo::distance_m(*a, *b, o.0, o.1), kind))
                })
                .filter(|(d, _)| *d <= radius_m)
                .min_by(|x, y| x.0.total_cmp(&y.0));
            if let Some(truth) = nearest.and_then(|(_, k)| bump_cluster::class_of_kind(k)) {
                let predicted = if cls.is_empty() { "none".to_owned() } else { cls.clone() };
                *confusion
                    .entry(truth.to_owned())
                    .or_default()
                    .entry(predicted)
                    .or_default() += 1;
            }
        }
    }
    let mut would_file = Vec::new();
    if let (Some(classes), Some(sources)) = (&classes, &sources) {
        let ids = col_str(&df, path, "cluster_id")?;
        for i in 0..status.len() {
            if status[i] == "likely" && classes[i] == "pothole" && sources[i] != "inventory" && sources[i] != "none" {
                let real_pothole = hit.iter().any(|(id, kind)| {
                    kind == "pothole"
                        && !repaired.contains_key(id)
                        && obstacles.get(id).is_some_and(|o| near(&(lat[i], lon[i]), o))
                });
                would_file.push(WouldFile {
                    cluster_id: ids[i].clone(),
                    lat: lat[i],
                    lon: lon[i],
                    real_pothole,
                });
            }
        }
    }
    let potholes = if let Some(classes) = &classes {
        let pothole_clusters: Vec<(f64, f64)> = (0..status.len())
            .filter(|&i| status[i] == "likely" && classes[i] == "pothole")
            .map(|i| (lat[i], lon[i]))
            .collect();
        // Potholes still in the road at the end; filled ones apart.
        let standing = |id: &String| !repaired.contains_key(id);
        let all_potholes: Vec<(f64, f64)> = passed
            .iter()
            .filter(|(id, p)| p.kind == "pothole" && standing(id))
            .filter_map(|(id, _)| obstacles.get(id).copied())
            .collect();
        // The counted potholes (passed by enough trips), each at its place.
        let counted_passed: Vec<((f64, f64), &Passed)> = passed
            .iter()
            .filter(|(id, p)| p.kind == "pothole" && p.trips >= POTHOLE_MIN_TRIPS && standing(id))
            .filter_map(|(id, p)| obstacles.get(id).map(|o| (*o, p)))
            .collect();
        let enough = |n: usize| n >= FELT_MIN_TRIPS;
        let hit_by_enough = counted_passed.iter().filter(|(_, p)| enough(p.hit_trips)).count();
        let hit_fast = counted_passed.iter().filter(|(_, p)| enough(p.hit_fast_trips)).count();
        let mut fast_hit_trips: BTreeMap<usize, usize> = BTreeMap::new();
        for (_, p) in &counted_passed {
            *fast_hit_trips.entry(p.hit_fast_trips).or_default() += 1;
        }
        let counted: Vec<(f64, f64)> = counted_passed.iter().map(|(o, _)| *o).collect();
        let is_found = |o: &(f64, f64)| pothole_clusters.iter().any(|c| near(c, o));
        let found = counted.iter().filter(|o| is_found(o)).count();
        let felt = counted_passed.iter().filter(|(_, p)| enough(p.felt_trips)).count();
        let found_felt = counted_passed
            .iter()
            .filter(|(o, p)| enough(p.felt_trips) && is_found(o))
            .count();
        // The furthest a cluster near `o` got, from likely down.
        let most_advanced = |o: &(f64, f64)| {
            let rank = |st: &str| {
                ["likely", "uncertain", "probably_fixed", "insufficient"]
                    .iter()
                    .position(|s| *s == st)
            };
            (0..status.len())
                .filter(|&i| near(&(lat[i], lon[i]), o))
                .filter_map(|i| rank(&status[i]).map(|r| (r, i)))
                .min()
        };
        let mut missed: BTreeMap<String, usize> = BTreeMap::new();
        for o in counted.iter().filter(|o| !is_found(o)) {
            let why = match most_advanced(o) {
                None => "no_cluster".to_owned(),
                // A pothole beside a listed obstacle, whose cluster took
                // the obstacle's class from the inventory.
                Some((0, i)) if sources.as_ref().is_some_and(|s| s[i] == "inventory") => {
                    format!("likely_as_known_{}", classes[i])
                }
                Some((0, i)) => format!("likely_as_{}", classes[i]),
                Some((_, i)) => status[i].clone(),
            };
            *missed.entry(why).or_default() += 1;
        }
        let real = pothole_clusters
            .iter()
            .filter(|c| all_potholes.iter().any(|o| near(c, o)))
            .count();
        let mut repaired_outcome: BTreeMap<String, usize> = BTreeMap::new();
        let filled = passed
            .iter()
            .filter(|(id, p)| p.kind == "pothole" && !standing(id) && enough(p.felt_trips))
            .filter_map(|(id, _)| obstacles.get(id));
        for o in filled {
            let outcome = most_advanced(o).map_or_else(|| "no_cluster".to_owned(), |(_, i)| status[i].clone());
            *repaired_outcome.entry(outcome).or_default() += 1;
        }
        Some(PotholeScore {
            min_trips: POTHOLE_MIN_TRIPS,
            passed: counted.len(),
            found,
            recall: ratio(found, counted.len()),
            felt,
            felt_min_trips: FELT_MIN_TRIPS,
            found_felt,
            hit: hit_by_enough,
            hit_fast,
            fast_phone_hz: FAST_PHONE_HZ,
            fast_hit_trips,
            clusters: pothole_clusters.len(),
            real,
            precision: ratio(real, pothole_clusters.len()),
            missed,
            repaired: repaired_outcome.values().sum(),
            repaired_outcome,
        })
    } else {
        None
    };
    let (right, all) = confusion.iter().fold((0, 0), |(r, a), (t, row)| {
        (r + row.get(t).copied().unwrap_or(0), a + row.values().sum::<usize>())
    });
    let mut by_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (id, kind) in hit {
        let Some(o) = obstacles.get(id) else { continue };
        let e = by_kind.entry(kind.clone()).or_default();
        e.0 += 1;
        e.1 += usize::from(likely.iter().any(|c| near(c, o)));
    }
    let (n, f) = by_kind.values().fold((0, 0), |(n, f), v| (n + v.0, f + v.1));
    #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
    Ok(ClusterEval {
        rule: format!(
            "a likely cluster is a true positive when an obstacle hit by at least one pass lies within {radius_m} m; \
             such an obstacle is found when a likely cluster lies within {radius_m} m"
        ),
        likely: likely.len(),
        true_positives: tp,
        precision: ratio(tp, likely.len()),
        by_kind,
        recall: ratio(f, n),
        confusion,
        class_accuracy: (all > 0).then(|| right as f64 / all as f64),
        would_file,
        potholes,
    })
}

struct SimPass {
    trip: String,
    obstacle: String,
    kind: String,
    t: f64,
    hit: bool,
    until: f64,
}

pub(crate) fn col_str(df: &DataFrame, path: &Path, name: &str) -> Result<Vec<String>, ReadError> {
    Ok(str_column(df, path, name, "truth")?
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect())
}

pub(crate) fn col_f64(df: &DataFrame, path: &Path, name: &str) -> Result<Vec<f64>, ReadError> {
    Ok(f64_column(df, path, name, "truth")?
        .into_iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect())
}

fn obstacle_positions(path: &Path) -> Result<BTreeMap<String, (f64, f64)>, ReadError> {
    Ok(crate::inventory::read_inventory(path)?
        .into_iter()
        .map(|o| (o.asset_id, (o.lat, o.lon)))
        .collect())
}

/// When each filled pothole was filled (`repaired_at`, UTC seconds, in a
/// simulation's `truth/obstacles.geojson`), by obstacle id.
fn repair_times(path: &Path) -> Result<BTreeMap<String, f64>, ReadError> {
    Ok(crate::inventory::read_features(path)?
        .iter()
        .filter_map(|f| {
            let props = f.get("properties")?;
            let id = props.get("id")?.as_str()?;
            let at = props.get("repaired_at")?.as_f64()?;
            Some((id.to_owned(), at))
        })
        .collect())
}

/// `num / den`, or 1 when there is nothing to count (no detection is
/// never wrong; no truth is never missed).
#[must_use]
pub fn ratio(num: usize, den: usize) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
    if den == 0 { 1.0 } else { num as f64 / den as f64 }
}

fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    bump_cluster::quantile_sorted(&v, q)
}

/// Each trip's phone sample rate from a simulation's `truth/trips.csv`;
/// empty when the file is absent (truth written by other tools).
fn trip_rates(path: &Path) -> Result<BTreeMap<String, f64>, ReadError> {
    if !path.is_file() {
        return Ok(BTreeMap::new());
    }
    let df = read_csv(path)?;
    let trips = col_str(&df, path, "trip_id")?;
    let rates = col_f64(&df, path, "sample_rate_hz")?;
    Ok(trips.into_iter().zip(rates).filter(|(_, r)| r.is_finite()).collect())
}

/// Scores `results/bumps.csv` against a simulation folder (`truth/passes.csv`,
/// `truth/obstacles.geojson`). A bump matches a pass of its trip that hit
/// an obstacle when its time lies from `window_s` before the front axle
/// reached the obstacle to `window_s` after the rear axle left it.
///
/// # Errors
/// [`ReadError`] when a file cannot be read.
pub fn eval_sim(sim: &Path, results: &Path, window_s: f64) -> Result<SimEval, ReadError> {
    let passes_path = sim.join("truth/passes.csv");
    let df = read_csv(&passes_path)?;
    let (trips, obstacles, kinds, wheels) = (
        col_str(&df, &passes_path, "trip_id")?,
        col_str(&df, &passes_path, "obstacle_id")?,
        col_str(&df, &passes_path, "kind")?,
        col_str(&df, &passes_path, "wheel")?,
    );
    let (ts, speeds, lens) = (
        col_f64(&df, &passes_path, "t")?,
        col_f64(&df, &passes_path, "speed_mps")?,
        col_f64(&df, &passes_path, "length_m")?,
    );
    let rates = trip_rates(&sim.join("truth/trips.csv"))?;
    let mut passes: BTreeMap<String, Vec<SimPass>> = BTreeMap::new();
    for i in 0..ts.len() {
        // The rear axle leaves the obstacle (length + wheelbase) later.
        let dur = (lens[i] + 2.7) / speeds[i].max(1.0);
        passes.entry(trips[i].clone()).or_default().push(SimPass {
            trip: trips[i].clone(),
            obstacle: obstacles[i].clone(),
            kind: kinds[i].clone(),
            t: ts[i],
            hit: wheels[i] != "none",
            until: ts[i] + dur,
        });
    }
    let pos = obstacle_positions(&sim.join("truth/obstacles.geojson"))?;
    let bumps_path = results.join("bumps.csv");
    let bdf = read_csv(&bumps_path)?;
    let (btrip, bt, blat, blon) = (
        col_str(&bdf, &bumps_path, "trip_id")?,
        col_f64(&bdf, &bumps_path, "t")?,
        col_f64(&bdf, &bumps_path, "lat")?,
        col_f64(&bdf, &bumps_path, "lon")?,
    );
    let mut detected: std::collections::BTreeSet<(String, String, u64)> = std::collections::BTreeSet::new();
    let mut tp = 0;
    let mut errors = Vec::new();
    for i in 0..bt.len() {
        let Some(ps) = passes.get(&btrip[i]) else { continue };
        let m = ps
            .iter()
            .filter(|p| p.hit && bt[i] >= p.t - window_s && bt[i] <= p.until + window_s)
            .min_by(|a, b| (a.t - bt[i]).abs().total_cmp(&(b.t - bt[i]).abs()));
        if let Some(p) = m {
            tp += 1;
            detected.insert((p.trip.clone(), p.obstacle.clone(), p.t.to_bits()));
            if let Some(&(la, lo)) = pos.get(&p.obstacle) {
                errors.push(bump_geo::distance_m(blat[i], blon[i], la, lo));
            }
        }
    }
    // Hit passes and those detected, per kind and, for potholes, per rate.
    let mut by_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut pothole_hits_by_rate_hz: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
    for p in passes.values().flatten().filter(|p| p.hit) {
        let found = usize::from(detected.contains(&(p.trip.clone(), p.obstacle.clone(), p.t.to_bits())));
        let e = by_kind.entry(p.kind.clone()).or_default();
        e.0 += 1;
        e.1 += found;
        if p.kind == "pothole"
            && let Some(rate) = rates.get(&p.trip)
        {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "phone rates are a few hundred Hz"
            )]
            let e = pothole_hits_by_rate_hz.entry(rate.round() as u32).or_default();
            e.0 += 1;
            e.1 += found;
        }
    }
    let hit_obstacles: BTreeMap<String, String> = passes
        .values()
        .flatten()
        .filter(|p| p.hit)
        .map(|p| (p.obstacle.clone(), p.kind.clone()))
        .collect();
    // Per obstacle: its kind and the distinct trips that passed it, felt
    // it, hit it, and hit it with a phone fast enough to resolve it.
    type Trips<'a> = std::collections::BTreeSet<&'a str>;
    #[derive(Default)]
    struct Seen<'a> {
        kind: String,
        passed: Trips<'a>,
        felt: Trips<'a>,
        hit: Trips<'a>,
        hit_fast: Trips<'a>,
    }
    let mut trips_by_obstacle: BTreeMap<String, Seen<'_>> = BTreeMap::new();
    for p in passes.values().flatten() {
        let e = trips_by_obstacle.entry(p.obstacle.clone()).or_insert_with(|| Seen {
            kind: p.kind.clone(),
            ..Seen::default()
        });
        e.passed.insert(&p.trip);
        if detected.contains(&(p.trip.clone(), p.obstacle.clone(), p.t.to_bits())) {
            e.felt.insert(&p.trip);
        }
        if p.hit {
            e.hit.insert(&p.trip);
            // Without a trip table every phone counts as fast enough.
            if rates.get(&p.trip).is_none_or(|r| *r >= FAST_PHONE_HZ) {
                e.hit_fast.insert(&p.trip);
            }
        }
    }
    let passed: BTreeMap<String, Passed> = trips_by_obstacle
        .into_iter()
        .map(|(id, s)| {
            let p = Passed {
                kind: s.kind,
                trips: s.passed.len(),
                felt_trips: s.felt.len(),
                hit_trips: s.hit.len(),
                hit_fast_trips: s.hit_fast.len(),
            };
            (id, p)
        })
        .collect();
    let clusters_path = results.join("clusters.csv");
    let clusters = if clusters_path.is_file() {
        let repaired = repair_times(&sim.join("truth/obstacles.geojson"))?;
        Some(eval_clusters(
            &clusters_path,
            &pos,
            &hit_obstacles,
            &passed,
            &repaired,
            15.0,
        )?)
    } else {
        None
    };
    let hit_passes = by_kind.values().map(|v| v.0).sum::<usize>();
    let detected_passes = by_kind.values().map(|v| v.1).sum::<usize>();
    #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
    Ok(SimEval {
        rule: format!(
            "a bump matches a pass of its trip that hit an obstacle when its time lies from {window_s} s before the \
             front axle reached the obstacle to {window_s} s after the rear axle left it"
        ),
        bumps: bt.len(),
        true_positives: tp,
        precision: ratio(tp, bt.len()),
        hit_passes,
        detected_passes,
        recall: ratio(detected_passes, hit_passes),
        by_kind,
        pothole_hits_by_rate_hz,
        position_error_median_m: quantile(errors.clone(), 0.5),
        position_error_p90_m: quantile(errors, 0.9),
        clusters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A point `m` metres north of a fixed one.
    fn north(m: f64) -> (f64, f64) {
        (42.36 + m / 111_195.0, -71.06)
    }

    #[test]
    fn felt_ceiling_is_the_binomial_tail() {
        // One pothole hit by 3 fast trips, one by 4, one by 1.
        let h: BTreeMap<usize, usize> = [(3, 1), (4, 1), (1, 1)].into_iter().collect();
        assert!((felt_ceiling(&h, 1.0, 3) - 2.0 / 3.0).abs() < 1e-12);
        assert!(felt_ceiling(&h, 0.0, 3).abs() < 1e-12);
        // p = 0.5: P(3 of 3) = 1/8, P(>= 3 of 4) = 5/16.
        let want = (1.0 / 8.0 + 5.0 / 16.0) / 3.0;
        assert!((felt_ceiling(&h, 0.5, 3) - want).abs() < 1e-12);
        // One trip is enough: 1 - (1/2)^n.
        let want = (7.0 / 8.0 + 15.0 / 16.0 + 0.5) / 3.0;
        assert!((felt_ceiling(&h, 0.5, 1) - want).abs() < 1e-12);
        assert!(felt_ceiling(&BTreeMap::new(), 0.5, 3).is_nan());
    }

    proptest::proptest! {
        /// More sensitive detectors, or fewer trips asked, never lower the
        /// ceiling, and it stays a share.
        #[test]
        fn felt_ceiling_is_monotone(
            hist in proptest::collection::btree_map(0usize..30, 1usize..20, 1..8),
            p in 0.0f64..1.0,
            dp in 0.0f64..0.5,
            m in 1usize..6,
        ) {
            let c = felt_ceiling(&hist, p, m);
            proptest::prop_assert!((0.0..=1.0).contains(&c));
            proptest::prop_assert!(felt_ceiling(&hist, (p + dp).min(1.0), m) >= c - 1e-12);
            proptest::prop_assert!(felt_ceiling(&hist, p, m + 1) <= c + 1e-12);
        }
    }

    #[test]
    fn a_missed_pothole_is_put_down_to_the_furthest_nearby_cluster() {
        // Six potholes 1 km apart, each passed by 6 trips; clusters beside
        // five of them in different states.
        let pos: Vec<(f64, f64)> = (0..6).map(|k| north(1000.0 * f64::from(k))).collect();
        let obstacles: BTreeMap<String, (f64, f64)> =
            pos.iter().enumerate().map(|(k, p)| (format!("o{k}"), *p)).collect();
        let hit: BTreeMap<String, String> = obstacles.keys().map(|k| (k.clone(), "pothole".into())).collect();
        // All passed by 6 trips; o0 and o1 felt by 3, the rest by 2.
        let passed: BTreeMap<String, Passed> = obstacles
            .keys()
            .enumerate()
            .map(|(k, id)| {
                let p = Passed {
                    kind: "pothole".into(),
                    trips: 6,
                    felt_trips: if k < 2 { 3 } else { 2 },
                    // Hit by 5 trips; by 3 fast phones except o5.
                    hit_trips: 5,
                    hit_fast_trips: if k < 5 { 3 } else { 2 },
                };
                (id.clone(), p)
            })
            .collect();
        let rows = [
            (0, 3.0, "likely", "pothole", "signature"),
            (1, 4.0, "likely", "rough_road", "signature"),
            (1, 2.0, "insufficient", "pothole", "signature"),
            (2, 5.0, "uncertain", "pothole", "signature"),
            (2, 1.0, "insufficient", "pothole", "signature"),
            (3, 2.0, "insufficient", "pothole", "signature"),
            (4, 40.0, "likely", "pothole", "signature"),
            (5, 6.0, "likely", "casting", "inventory"),
        ];
        let mut csv = String::from("cluster_id,lat,lon,status,class,class_source\n");
        for (i, (k, off, st, cls, src)) in rows.iter().enumerate() {
            let (lat, lon) = north(1000.0 * f64::from(*k) + off);
            csv.push_str(&format!("c{i},{lat},{lon},{st},{cls},{src}\n"));
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("clusters.csv");
        std::fs::write(&path, csv).expect("write");
        let e = eval_clusters(&path, &obstacles, &hit, &passed, &BTreeMap::new(), 15.0).expect("eval");
        let p = e.potholes.expect("classes given");
        assert_eq!((p.passed, p.found), (6, 1));
        // Found o0 was felt by three trips; so was o1, missed as rough road.
        assert_eq!((p.felt, p.found_felt), (2, 1));
        assert_eq!((p.hit, p.hit_fast), (6, 5));
        let want: BTreeMap<usize, usize> = [(2, 1), (3, 5)].into_iter().collect();
        assert_eq!(p.fast_hit_trips, want);
        let want: BTreeMap<String, usize> = [
            ("likely_as_rough_road", 1),
            ("likely_as_known_casting", 1),
            ("uncertain", 1),
            ("insufficient", 1),
            ("no_cluster", 1),
        ]
        .into_iter()
        .map(|(k, n)| (k.to_owned(), n))
        .collect();
        assert_eq!(p.missed, want);
        // The likely pothole cluster 40 m from o4 is at no real pothole.
        assert_eq!((p.clusters, p.real), (2, 1));
    }

    #[test]
    fn filled_potholes_are_scored_apart_by_what_became_of_their_clusters() {
        // Four potholes 1 km apart, each passed by 8 trips and felt by 3,
        // but o3 by 2; o1, o2 and o3 were filled during the trips.
        let obstacles: BTreeMap<String, (f64, f64)> = (0..4)
            .map(|k| (format!("o{k}"), north(1000.0 * f64::from(k))))
            .collect();
        let hit: BTreeMap<String, String> = obstacles.keys().map(|k| (k.clone(), "pothole".into())).collect();
        let passed: BTreeMap<String, Passed> = obstacles
            .keys()
            .enumerate()
            .map(|(k, id)| {
                let felt = if k < 3 { 3 } else { 2 };
                let p = Passed {
                    kind: "pothole".into(),
                    trips: 8,
                    felt_trips: felt,
                    hit_trips: 6,
                    hit_fast_trips: 6,
                };
                (id.clone(), p)
            })
            .collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let geojson = dir.path().join("obstacles.geojson");
        let feature = |id: &str, at: Option<f64>| {
            let mut props = serde_json::json!({"id": id, "kind": "pothole"});
            if let Some(at) = at {
                props["repaired_at"] = serde_json::json!(at);
            }
            serde_json::json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [0.0, 0.0]}, "properties": props})
        };
        let doc = serde_json::json!({"type": "FeatureCollection", "features": [
            feature("o0", None), feature("o1", Some(100.0)), feature("o2", Some(200.0)), feature("o3", Some(300.0)),
        ]});
        std::fs::write(&geojson, doc.to_string()).expect("write");
        let repaired = repair_times(&geojson).expect("read");
        assert_eq!(repaired.keys().collect::<Vec<_>>(), ["o1", "o2", "o3"]);
        assert!((repaired["o2"] - 200.0).abs() < f64::EPSILON);
        // o0 found; o1's cluster faded out as fixed; o2's still stands.
        let rows = [
            (0, 2.0, "likely"),
            (1, 3.0, "probably_fixed"),
            (2, 1.0, "likely"),
            (3, 1.0, "likely"),
        ];
        let mut csv = String::from("cluster_id,lat,lon,status,class,class_source\n");
        for (i, (k, off, st)) in rows.iter().enumerate() {
            let (lat, lon) = north(1000.0 * f64::from(*k) + off);
            csv.push_str(&format!("c{i},{lat},{lon},{st},pothole,signature\n"));
        }
        let path = dir.path().join("clusters.csv");
        std::fs::write(&path, csv).expect("write");
        let e = eval_clusters(&path, &obstacles, &hit, &passed, &repaired, 15.0).expect("eval");
        let p = e.potholes.expect("classes given");
        // Only the standing pothole counts, and it is found.
        assert_eq!((p.passed, p.found), (1, 1));
        // Clusters still standing at filled potholes are at no real one.
        assert_eq!((p.clusters, p.real), (3, 1));
        let filed: Vec<bool> = e.would_file.iter().map(|w| w.real_pothole).collect();
        assert_eq!(filed, [true, false, false]);
        // o3 was felt by too few trips to have been known.
        assert_eq!(p.repaired, 2);
        let want: BTreeMap<String, usize> = [("likely".to_owned(), 1), ("probably_fixed".to_owned(), 1)]
            .into_iter()
            .collect();
        assert_eq!(p.repaired_outcome, want);
    }
}
