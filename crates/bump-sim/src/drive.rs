/*!
Driving a trip: a route through the grid, a driver's speed profile, the
suspension's response to the road, and what the phone and its GPS record.

Everything runs on an internal clock of `INTERNAL_HZ`; the phone samples
the body acceleration at its own, jittered rate by averaging over each of
its sample intervals (what a phone's accelerometer decimation filter
does), adds its bias and noise, and reports it in its own axes.
*/

use bump_core::{AccelFrame, AccelSample, DeviceId, DeviceInfo, GpsFix, STANDARD_GRAVITY, Trip, TripId};
use nalgebra::{Rotation3, Vector3};
use serde::{Deserialize, Serialize};

use crate::SimParams;
use crate::city::{City, Lane};
use crate::rng::Rng;
use crate::road::{ObstacleKind, RoadClass, obstacle_height, profile_at};
use crate::vehicle::{QuarterCar, Suspension};

/// Internal simulation rate, Hz.
pub const INTERNAL_HZ: f64 = 400.0;
/// Distance between the front and rear axles, m.
pub const WHEELBASE_M: f64 = 2.7;
const HALF_TRACK_M: f64 = 0.78;
const TYRE_HALF_WIDTH_M: f64 = 0.1;
const LANE_CENTRE_M: f64 = 1.75;
const TURN_RADIUS_M: f64 = 9.0;

/// Which wheels crossed an obstacle on a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Wheel {
    /// Left wheels only.
    Left,
    /// Right wheels only.
    Right,
    /// Both sides.
    Both,
    /// Neither: the car passed beside it.
    None,
}

impl Wheel {
    /// Name used in files.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Left => "left",
            Self::Right => "right",
            Self::Both => "both",
            Self::None => "none",
        }
    }
}

/// One traversal of an obstacle's lane by a trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pass {
    /// The trip.
    pub trip_id: String,
    /// The obstacle.
    pub obstacle_id: String,
    /// Its kind.
    pub kind: ObstacleKind,
    /// When the front axle reached it, UTC seconds.
    pub t: f64,
    /// Which wheels crossed it.
    pub wheel: Wheel,
    /// Speed at the time, m/s.
    pub speed_mps: f64,
    /// Heading of travel, degrees.
    pub heading_deg: f64,
    /// Length of the obstacle along the road, m.
    pub length_m: f64,
}

/// How a trip was simulated.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TripInfo {
    /// The trip.
    pub trip_id: String,
    /// The device.
    pub device_id: String,
    /// `soft` or `stiff`.
    pub vehicle: String,
    /// Phone mounting: `windshield`, `cupholder` or `tray`.
    pub mount: String,
    /// When the phone moved, if it did, UTC seconds.
    pub shift_at: Option<f64>,
    /// Phone sample rate, Hz.
    pub sample_rate_hz: f64,
    /// GPS error spread (1σ per axis), m.
    pub gps_sigma_m: f64,
    /// `android` (m/s², +g up at rest) or `ios` (g, −1 g at rest).
    pub platform: String,
    /// The device's vertical axis in its own frame at the start (unit
    /// vector, up), for checking reorientation.
    pub up_in_device: [f64; 3],
    /// The same after the phone moved, if it did.
    pub up_after_shift: Option<[f64; 3]>,
    /// Length driven, m.
    pub length_m: f64,
}

/// A simulated trip with its truth.
#[derive(Debug, Clone)]
pub struct SimTrip {
    /// What the phone recorded, in m/s² and its own axes.
    pub trip: Trip,
    /// Obstacles passed.
    pub passes: Vec<Pass>,
    /// How it was simulated.
    pub info: TripInfo,
    /// The true position at each GPS fix time (outages included): `(t,
    /// lat, lon)` of the lane centre, for checking GPS error.
    pub true_track: Vec<(f64, f64, f64)>,
    /// The street surface under the car: `(t, class)` from each time the
    /// class changes, UTC seconds.
    pub surface: Vec<(f64, RoadClass)>,
}

/// A step of a route: an edge and whether it is driven a → b.
#[derive(Debug, Clone, Copy)]
struct Leg {
    edge: usize,
    forward: bool,
}

fn route(city: &City, rng: &mut Rng, target_m: f64) -> Vec<Leg> {
    let (nx, ny) = city.nodes;
    let mut at = (rng.below(nx), rng.below(ny));
    let mut legs: Vec<Leg> = Vec::new();
    let mut len = 0.0;
    while len < target_m {
        let to = (rng.below(nx), rng.below(ny));
        if to == at {
            continue;
        }
        let x_first = rng.chance(0.5);
        let mut cur = at;
        let step = |cur: &mut (usize, usize), next: (usize, usize), legs: &mut Vec<Leg>| {
            let e = city.edge_index[&(*cur, next)];
            legs.push(Leg {
                edge: e,
                forward: city.edges[e].a == *cur,
            });
            *cur = next;
        };
        for phase in 0..2 {
            let horizontal = (phase == 0) == x_first;
            loop {
                let next = if horizontal {
                    match cur.0.cmp(&to.0) {
                        std::cmp::Ordering::Less => (cur.0 + 1, cur.1),
                        std::cmp::Ordering::Greater => (cur.0 - 1, cur.1),
                        std::cmp::Ordering::Equal => break,
                    }
                } else {
                    match cur.1.cmp(&to.1) {
                        std::cmp::Ordering::Less => (cur.0, cur.1 + 1),
                        std::cmp::Ordering::Greater => (cur.0, cur.1 - 1),
                        std::cmp::Ordering::Equal => break,
                    }
                };
                step(&mut cur, next, &mut legs);
                len += city.block_m;
            }
        }
        at = to;
    }
    legs
}

/// A constraint on speed over `[from, to]` metres of route.
#[derive(Debug, Clone, Copy)]
struct Cap {
    from: f64,
    to: f64,
    v: f64,
    dwell_s: f64,
}

fn heading_of(city: &City, leg: Leg) -> f64 {
    let h = city.edge_heading(leg.edge);
    if leg.forward { h } else { (h + 180.0) % 360.0 }
}

fn mount_rotation(kind: &str, rng: &mut Rng) -> Rotation3<f64> {
    // Rows: device axes in vehicle coordinates (x forward, y left, z up).
    let tilt = |rng: &mut Rng, deg: f64| {
        Rotation3::from_euler_angles(
            rng.normal() * deg.to_radians(),
            rng.normal() * deg.to_radians(),
            rng.normal() * deg.to_radians(),
        )
    };
    let windshield = Rotation3::from_matrix_unchecked(nalgebra::Matrix3::new(
        0.0, -1.0, 0.0, //
        0.0, 0.0, 1.0, //
        -1.0, 0.0, 0.0,
    ));
    let yaw = Rotation3::from_axis_angle(&Vector3::z_axis(), rng.range(0.0, std::f64::consts::TAU));
    match kind {
        "windshield" => tilt(rng, 6.0) * windshield,
        "cupholder" => tilt(rng, 8.0) * windshield * yaw,
        _ => tilt(rng, 10.0) * yaw,
    }
}

/// Simulates trip number `index` of the city.
#[must_use]
#[allow(clippy::too_many_lines, reason = "one physical loop reads best in one place")]
pub fn drive(city: &City, params: &SimParams, index: u64) -> SimTrip {
    let mut rng = Rng::new(params.seed, 10_000_000 + index);
    let trip_id = format!("trip-{:05}", index + 1);
    let device_no = rng.below(params.devices.max(1));
    let device_id = format!("dev-{:03}", device_no + 1);
    let soft = rng.chance(0.6);
    let mut car = if soft { QuarterCar::soft() } else { QuarterCar::stiff() };
    car.sprung_kg *= rng.range(0.85, 1.15);
    car.spring_npm *= rng.range(0.85, 1.15);
    let driver = rng.range(0.85, 1.1);
    let a_max = rng.range(1.5, 2.5);
    let hump_v = rng.range(3.5, 7.0);
    let fs = match params.sample_rate_hz {
        Some(f) => f,
        None => [5.0, 10.0, 20.0, 50.0, 100.0, 200.0][rng.weighted(&[0.1, 0.15, 0.15, 0.3, 0.2, 0.1])],
    };
    let mount = ["windshield", "cupholder", "tray"][rng.weighted(&[0.5, 0.25, 0.25])];
    let mut r_mount = mount_rotation(mount, &mut rng);
    let ios = rng.chance(0.3);
    let gps_sigma = rng.range(3.0, 10.0);
    let noise = rng.range(0.03, 0.08);
    let bias = Vector3::new(rng.normal() * 0.1, rng.normal() * 0.1, rng.normal() * 0.1);
    let engine_hz = rng.range(25.0, 35.0);
    let duration = params.trip_minutes * 60.0;
    let t0 = params.start_epoch_s + index as f64 * params.trip_spacing_s + rng.range(0.0, 30.0);
    let shift_at = rng
        .chance(params.shift_probability)
        .then(|| t0 + rng.range(0.2, 0.8) * duration);
    let outage = rng.chance(0.3).then(|| {
        let s = t0 + rng.range(0.1, 0.9) * duration;
        (s, s + rng.range(10.0, 40.0))
    });
    let jump_at = rng.chance(0.1).then(|| t0 + rng.range(0.1, 0.9) * duration);
    let up_in_device = {
        let u = r_mount * Vector3::z();
        [u.x, u.y, u.z]
    };

    // Route and speed caps.
    let legs = route(city, &mut rng, 13.0 * duration * 1.3);
    let block = city.block_m;
    let mut caps: Vec<Cap> = Vec::new();
    for (k, leg) in legs.iter().enumerate() {
        let base = k as f64 * block;
        for &oi in &city.by_edge[leg.edge] {
            let o = &city.obstacles[oi];
            if matches!(o.kind, ObstacleKind::SpeedHump | ObstacleKind::SpeedTable) {
                let start = if leg.forward {
                    o.s_m
                } else {
                    block - o.s_m - o.shape.length_m
                };
                caps.push(Cap {
                    from: base + start,
                    to: base + start + o.shape.length_m,
                    v: hump_v,
                    dwell_s: 0.0,
                });
            }
        }
        if let Some(next) = legs.get(k + 1) {
            let (h1, h2) = (heading_of(city, *leg), heading_of(city, *next));
            let end = base + block;
            let turn = (h2 - h1).rem_euclid(360.0);
            let arterial_straight = turn == 0.0 && city.edges[leg.edge].arterial;
            if rng.chance(if arterial_straight { 0.15 } else { 0.35 }) {
                caps.push(Cap {
                    from: end - 2.0,
                    to: end - 2.0,
                    v: 0.0,
                    dwell_s: rng.range(1.0, 25.0),
                });
            } else if turn != 0.0 {
                caps.push(Cap {
                    from: end - 6.0,
                    to: end + 6.0,
                    v: if turn == 180.0 { 3.0 } else { 5.0 },
                    dwell_s: 0.0,
                });
            }
        }
    }
    caps.sort_by(|a, b| a.from.total_cmp(&b.from));
    let route_len = legs.len() as f64 * block;
    let locate = |s: f64| -> (usize, f64) {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "non-negative, bounded"
        )]
        let k = ((s / block).floor().max(0.0) as usize).min(legs.len() - 1);
        (k, s - k as f64 * block)
    };
    // Height under a wheel at route distance s and travel-lateral `lat`
    // (right of travel positive).
    // Potholes filled before this trip set out are smooth road to it.
    let present: Vec<bool> = city
        .obstacles
        .iter()
        .map(|o| o.repaired_at.is_none_or(|at| t0 < at))
        .collect();
    let height = |s: f64, lat: f64| -> f64 {
        let (k, along) = locate(s.max(0.0));
        let leg = legs[k];
        let e = &city.edges[leg.edge];
        let s_edge = if leg.forward { along } else { block - along };
        let mut h = profile_at(&e.profile, s_edge);
        for &oi in &city.by_edge[leg.edge] {
            let o = &city.obstacles[oi];
            let u = if leg.forward {
                s_edge - o.s_m
            } else {
                o.s_m + o.shape.length_m - s_edge
            };
            if !(present[oi] && (0.0..=o.shape.length_m).contains(&u)) {
                continue;
            }
            let o_lat = if leg.forward { o.lateral_m } else { -o.lateral_m };
            if !o.kind.full_width() && (lat - o_lat).abs() > o.shape.width_m / 2.0 + TYRE_HALF_WIDTH_M {
                continue;
            }
            h += obstacle_height(o.kind, &o.shape, u);
            if let Some(p) = city.patch_profiles.get(&oi) {
                h += profile_at(p, u);
            }
        }
        h
    };

    let dt = 1.0 / INTERNAL_HZ;
    let mut front = Suspension::new(&car, dt);
    let mut rear = Suspension::new(&car, dt);
    front.settle(height(WHEELBASE_M, LANE_CENTRE_M));
    rear.settle(height(0.0, LANE_CENTRE_M));
    let mut s = WHEELBASE_M;
    let mut v = 0.0f64;
    let mut t = t0;
    let mut dwell = 0.0;
    let mut cap_i = 0;
    let mut wander = 0.0;
    let mut accel = Vec::new();
    let mut gps = Vec::new();
    let mut passes = Vec::new();
    let mut true_track = Vec::new();
    let mut surface = Vec::new();
    let mut acc_sum = Vector3::zeros();
    let mut acc_n = 0u32;
    let mut next_sample = t0 + rng.range(0.0, 1.0 / fs);
    let mut next_fix = t0 + 0.3;
    let mut gps_err = (rng.normal() * gps_sigma, rng.normal() * gps_sigma);
    let mut shifted = false;
    let mut up_after_shift = None;
    let mut prev_v = 0.0;
    let mut a_cmd = 0.0f64;
    let end_t = t0 + duration;
    let (mut x_prev_front, mut passed_obstacles) = (s, std::collections::BTreeSet::new());
    while t < end_t && s < route_len - 1.0 {
        // Driver.
        let (k, along) = locate(s);
        let leg = legs[k];
        let class = city.edges[leg.edge].class;
        if surface.last().is_none_or(|l: &(f64, RoadClass)| l.1 != class) {
            surface.push((t, class));
        }
        let limit = city.edges[leg.edge].limit_mps * driver;
        let mut allow = limit;
        while cap_i < caps.len() && caps[cap_i].to < s - 0.5 {
            cap_i += 1;
        }
        for c in caps[cap_i..].iter().take_while(|c| c.from < s + 200.0) {
            let d = (c.from - s).max(0.0);
            allow = allow.min((c.v * c.v + 2.0 * 1.8 * d).sqrt());
            if c.dwell_s > 0.0 && d < 0.5 && v < 0.5 && dwell <= 0.0 {
                dwell = c.dwell_s;
                cap_i += 1;
                break;
            }
        }
        if dwell > 0.0 {
            // Roll to a halt, then wait.
            allow = 0.0;
            if v == 0.0 {
                dwell -= dt;
            }
        }
        // Drivers and engines limit jerk (about 10 m/s³ here), so the
        // longitudinal acceleration changes smoothly.
        let target = ((allow - v) / 0.5).clamp(-3.5, a_max);
        a_cmd += (target - a_cmd).clamp(-10.0 * dt, 10.0 * dt);
        if v <= 0.0 && a_cmd < 0.0 {
            a_cmd = 0.0;
        }
        v = (v + a_cmd * dt).max(0.0);
        let a_long = (v - prev_v) / dt;
        prev_v = v;
        s += v * dt;
        t += dt;
        wander += (-wander / 5.0) * dt + 0.25 * (2.0 / 5.0 * dt).sqrt() * rng.normal();
        let centre = LANE_CENTRE_M + wander;
        let (left, right) = (centre - HALF_TRACK_M, centre + HALF_TRACK_M);
        let zf = 0.5 * (height(s, left) + height(s, right));
        let zr = 0.5 * (height(s - WHEELBASE_M, left) + height(s - WHEELBASE_M, right));
        // The phone sits in the front half of the cabin: it feels the front
        // axle more than the rear (0.7 / 0.3, pitch otherwise neglected).
        let a_vert = 0.7 * front.step(zf)
            + 0.3 * rear.step(zr)
            + 0.05 * (std::f64::consts::TAU * engine_hz * t).sin() * (v / 10.0).min(1.0);
        // Lateral acceleration through the turn at the end of this leg.
        let mut a_lat = 0.0;
        if let Some(next) = legs.get(k + 1) {
            let turn = (heading_of(city, *next) - heading_of(city, leg)).rem_euclid(360.0);
            if along > block - 6.0 && (turn == 90.0 || turn == 270.0) {
                a_lat = if turn == 270.0 { 1.0 } else { -1.0 } * v * v / TURN_RADIUS_M;
            }
        }
        // Passes: the front axle reaching an obstacle's start.
        for &oi in &city.by_edge[leg.edge] {
            let o = &city.obstacles[oi];
            let lane_ok = match o.lane {
                Lane::Both => true,
                Lane::Forward => leg.forward,
                Lane::Backward => !leg.forward,
            };
            let start = k as f64 * block
                + if leg.forward {
                    o.s_m
                } else {
                    block - o.s_m - o.shape.length_m
                };
            if lane_ok && x_prev_front < start && s >= start && passed_obstacles.insert((k, oi)) {
                let o_lat = if leg.forward { o.lateral_m } else { -o.lateral_m };
                let reach = o.shape.width_m / 2.0 + TYRE_HALF_WIDTH_M;
                let wheel = if !present[oi] {
                    // Passed where a filled pothole was: nothing to hit.
                    Wheel::None
                } else if o.kind.full_width() {
                    Wheel::Both
                } else {
                    match ((left - o_lat).abs() <= reach, (right - o_lat).abs() <= reach) {
                        (true, true) => Wheel::Both,
                        (true, false) => Wheel::Left,
                        (false, true) => Wheel::Right,
                        (false, false) => Wheel::None,
                    }
                };
                passes.push(Pass {
                    trip_id: trip_id.clone(),
                    obstacle_id: o.id.clone(),
                    kind: o.kind,
                    t,
                    wheel,
                    speed_mps: v,
                    heading_deg: heading_of(city, leg),
                    length_m: o.shape.length_m,
                });
            }
        }
        x_prev_front = s;
        // The phone: specific force in vehicle axes, averaged per sample.
        acc_sum += Vector3::new(a_long, a_lat, a_vert + STANDARD_GRAVITY);
        acc_n += 1;
        if t >= next_sample {
            if let Some(ts) = shift_at
                && !shifted
                && t >= ts
            {
                r_mount = mount_rotation("tray", &mut rng);
                shifted = true;
                let u = r_mount * Vector3::z();
                up_after_shift = Some([u.x, u.y, u.z]);
            }
            let f = r_mount * (acc_sum / f64::from(acc_n.max(1)));
            acc_sum = Vector3::zeros();
            acc_n = 0;
            if !rng.chance(params.drop_probability) {
                let r = f + bias + Vector3::new(rng.normal(), rng.normal(), rng.normal()) * noise;
                let sign = if ios { -1.0 } else { 1.0 };
                // Phones report about a milli-g of resolution and time
                // stamps to the 0.1 ms; rounding keeps files small too.
                let q = |v: f64| (v * 1e3).round() / 1e3;
                accel.push(AccelSample {
                    t: (next_sample * 1e4).round() / 1e4,
                    x: q(sign * r.x),
                    y: q(sign * r.y),
                    z: q(sign * r.z),
                });
            }
            next_sample += (1.0 + 0.05 * rng.normal()).max(0.5) / fs;
        }
        if t >= next_fix {
            next_fix += 1.0;
            // Gauss–Markov position error, 20 s correlation time.
            let phi: f64 = (-1.0f64 / 20.0).exp();
            let q = gps_sigma * (1.0 - phi * phi).sqrt();
            gps_err = (phi * gps_err.0 + q * rng.normal(), phi * gps_err.1 + q * rng.normal());
            let in_outage = outage.is_some_and(|(a, b)| t >= a && t < b);
            let lat_off = if leg.forward { LANE_CENTRE_M } else { -LANE_CENTRE_M };
            let s_edge = if leg.forward { along } else { block - along };
            let (x0, y0) = city.edge_xy(leg.edge, s_edge, lat_off);
            let (tlat, tlon) = city.proj.to_wgs84(x0, y0);
            true_track.push((t, tlat, tlon));
            if !in_outage {
                let (mut x, mut y) = (x0, y0);
                x += gps_err.0;
                y += gps_err.1;
                if jump_at.is_some_and(|j| (t - j).abs() < 0.5) {
                    x += rng.range(150.0, 400.0);
                }
                let (lat, lon) = city.proj.to_wgs84(x, y);
                let r = |v: f64, k: f64| (v * k).round() / k;
                gps.push(GpsFix {
                    t: r(t, 1e3),
                    lat: r(lat, 1e7),
                    lon: r(lon, 1e7),
                    speed_mps: Some(r((v + 0.2 * rng.normal()).max(0.0), 1e2)),
                    accuracy_m: Some(r(gps_sigma * 1.2, 10.0)),
                    heading_deg: (v > 1.0)
                        .then(|| r((heading_of(city, leg) + 3.0 * rng.normal()).rem_euclid(360.0), 10.0)),
                });
            }
        }
    }
    let length_m = s - WHEELBASE_M;
    let trip = Trip {
        trip_id: TripId::from_file_stem(&trip_id),
        device_id: DeviceId::new(device_id.clone()).unwrap_or_else(|_| unreachable!("generated ids are valid")),
        device: DeviceInfo {
            model: Some(if ios {
                "Simulated iPhone".into()
            } else {
                "Simulated Android".into()
            }),
            os: Some(if ios { "iOS".into() } else { "Android".into() }),
            app_version: Some(concat!("streetbump-sim ", env!("CARGO_PKG_VERSION")).into()),
        },
        frame: AccelFrame::Device,
        gravity_included: Some(true),
        accel,
        gps,
    };
    SimTrip {
        trip,
        passes,
        true_track,
        surface,
        info: TripInfo {
            trip_id,
            device_id,
            vehicle: if soft { "soft".into() } else { "stiff".into() },
            mount: mount.into(),
            shift_at,
            sample_rate_hz: fs,
            gps_sigma_m: gps_sigma,
            platform: if ios { "ios".into() } else { "android".into() },
            up_in_device,
            up_after_shift,
            length_m,
        },
    }
}
