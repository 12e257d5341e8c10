/*!
A deterministic synthetic city for tests, demos and benchmarks.

[`Simulation::new`] builds a [`City`] from [`SimParams`]: a street grid
with arterials placed at a real latitude, road roughness by ISO 8608
class, discrete obstacles of known kind, size and lane, three
municipalities and the city's imperfect inventory of known obstacles.
[`Simulation::trip`] drives trip `i` through it ([`drive::drive`]): a
quarter-car pair over the road profile at the driver's speed, a phone in
some mounting with noise, bias, jitter and dropped samples, a GPS with
correlated error, outages and jumps. Trip `i` depends only on the seed and
`i`, so trips can be generated in any order or in parallel.

Pure: no I/O. The CLI writes what this crate computes.
*/

pub mod city;
pub mod drive;
pub mod rng;
pub mod road;
pub mod vehicle;
pub mod windows;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use city::{City, Lane, Municipality, Obstacle};
pub use drive::{Pass, SimTrip, TripInfo, Wheel};
pub use road::{ObstacleKind, RoadClass};

use rng::Rng;

/// Obstacles per kilometre of street, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Densities {
    /// Potholes (fewer on arterials).
    pub pothole: f64,
    /// Sunk castings.
    pub sunk_casting: f64,
    /// Rough patches.
    pub rough_patch: f64,
    /// Speed humps (local streets only).
    pub speed_hump: f64,
    /// Speed tables (local streets only).
    pub speed_table: f64,
    /// Expansion joints (arterials only).
    pub expansion_joint: f64,
}

impl Default for Densities {
    fn default() -> Self {
        Self {
            pothole: 1.5,
            sunk_casting: 1.2,
            rough_patch: 0.3,
            speed_hump: 0.6,
            speed_table: 0.2,
            expansion_joint: 0.4,
        }
    }
}

/// Everything that shapes a simulated city and its trips. Read from the
/// `[sim]`-less TOML given to `streetbump simulate --config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimParams {
    /// Seed: the same seed gives the same city and trips.
    pub seed: u64,
    /// Latitude of the south-west corner, degrees (default: Boston).
    pub origin_lat: f64,
    /// Longitude of the south-west corner, degrees.
    pub origin_lon: f64,
    /// Intersections per side of the grid.
    pub grid_nodes: usize,
    /// Block length, m.
    pub block_m: f64,
    /// Every n-th row and column is an arterial.
    pub arterial_every: usize,
    /// Obstacle densities.
    pub density_per_km: Densities,
    /// Length of each trip, minutes.
    pub trip_minutes: f64,
    /// Phones in the fleet (trips are spread over them).
    pub devices: usize,
    /// A fixed phone sample rate, Hz; absent = a realistic mix of 5–200 Hz.
    pub sample_rate_hz: Option<f64>,
    /// Probability that the phone moves mid-trip.
    pub shift_probability: f64,
    /// Probability that a phone sample is dropped.
    pub drop_probability: f64,
    /// Start of the first trip, UTC seconds.
    pub start_epoch_s: f64,
    /// Time between trip starts, s.
    pub trip_spacing_s: f64,
    /// Share of known obstacles missing from the city's inventory.
    pub inventory_missing: f64,
    /// Share of inventory entries misplaced by 2–8 m.
    pub inventory_misplaced: f64,
    /// Share of potholes that road crews fill while the trips run, each at
    /// a time drawn between a quarter and three quarters of the way
    /// through them ([`Simulation::schedule_repairs`]); 0 keeps every
    /// pothole. What `probably_fixed` is measured against.
    pub repair_share: f64,
}

impl Default for SimParams {
    fn default() -> Self {
        Self {
            seed: 1,
            origin_lat: 42.3480,
            origin_lon: -71.0900,
            grid_nodes: 16,
            block_m: 150.0,
            arterial_every: 5,
            density_per_km: Densities::default(),
            trip_minutes: 20.0,
            devices: 300,
            sample_rate_hz: None,
            shift_probability: 0.15,
            drop_probability: 0.005,
            // 2026-04-01T12:00:00Z
            start_epoch_s: 1_775_044_800.0,
            trip_spacing_s: 60.0,
            inventory_missing: 0.1,
            inventory_misplaced: 0.2,
            repair_share: 0.0,
        }
    }
}

/// Why parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("simulation parameters: {0}")]
pub struct ParamError(pub String);

impl SimParams {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`ParamError`] naming the first bad key.
    pub fn validate(&self) -> Result<(), ParamError> {
        let bad = |k: &str, why: &str| Err(ParamError(format!("{k}: {why}")));
        if !(-80.0..=80.0).contains(&self.origin_lat) || !(-180.0..=180.0).contains(&self.origin_lon) {
            return bad("origin_lat/origin_lon", "must be a position between 80°S and 80°N");
        }
        if !(3..=200).contains(&self.grid_nodes) {
            return bad("grid_nodes", "must be between 3 and 200");
        }
        if !(50.0..=1000.0).contains(&self.block_m) {
            return bad("block_m", "must be between 50 and 1000 m");
        }
        if self.arterial_every == 0 {
            return bad("arterial_every", "must be at least 1");
        }
        if !(self.trip_minutes > 0.0 && self.trip_minutes <= 600.0) {
            return bad("trip_minutes", "must be in (0, 600]");
        }
        if let Some(f) = self.sample_rate_hz
            && !(1.0..=1000.0).contains(&f)
        {
            return bad("sample_rate_hz", "must be between 1 and 1000 Hz");
        }
        for (k, p) in [
            ("shift_probability", self.shift_probability),
            ("drop_probability", self.drop_probability),
            ("inventory_missing", self.inventory_missing),
            ("inventory_misplaced", self.inventory_misplaced),
            ("repair_share", self.repair_share),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(k, "must be a probability in [0, 1]");
            }
        }
        Ok(())
    }
}

/// A city ready to drive.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// The parameters.
    pub params: SimParams,
    /// The city.
    pub city: City,
}

fn point(lat: f64, lon: f64, props: Value) -> Value {
    json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props})
}

impl Simulation {
    /// Builds the city.
    ///
    /// # Errors
    /// [`ParamError`] for invalid parameters.
    pub fn new(params: SimParams) -> Result<Self, ParamError> {
        params.validate()?;
        let city = City::build(&params);
        Ok(Self { params, city })
    }

    /// Schedules the repairs of `repair_share` of the potholes over a run
    /// of `trips` trips: each repaired pothole is filled at a time drawn
    /// uniformly between a quarter and three quarters of the way from the
    /// first trip's start to the last's. From its own random stream, so
    /// the city and the trips before a repair are those of a run without.
    pub fn schedule_repairs(&mut self, trips: u64) {
        let mut rng = Rng::new(self.params.seed, 5_000_000);
        #[allow(clippy::cast_precision_loss, reason = "trip counts are small")]
        let span = self.params.trip_spacing_s * trips as f64;
        for o in &mut self.city.obstacles {
            o.repaired_at = None;
            if o.kind == ObstacleKind::Pothole && self.params.repair_share > 0.0 {
                // Drawn for every pothole so that each keeps its time
                // whatever the share.
                let (u, at) = (rng.f64(), rng.range(0.25, 0.75));
                if u < self.params.repair_share {
                    o.repaired_at = Some(self.params.start_epoch_s + at * span);
                }
            }
        }
    }

    /// Drives trip `index` (0-based).
    #[must_use]
    pub fn trip(&self, index: u64) -> SimTrip {
        drive::drive(&self.city, &self.params, index)
    }

    /// Every obstacle, as GeoJSON.
    #[must_use]
    pub fn obstacles_geojson(&self) -> Value {
        let features: Vec<Value> = self
            .city
            .obstacles
            .iter()
            .map(|o| {
                let mut props = json!({
                    "id": o.id, "kind": o.kind.as_str(),
                    "height_m": o.shape.height_m, "length_m": o.shape.length_m, "width_m": o.shape.width_m,
                    "lane": o.lane, "lateral_m": o.lateral_m,
                    "street_heading_deg": self.city.edge_heading(o.edge),
                    "road_class": format!("{:?}", self.city.edges[o.edge].class),
                });
                if let (Some(t), Some(map)) = (o.repaired_at, props.as_object_mut()) {
                    map.insert("repaired_at".into(), json!(t));
                }
                point(o.lat, o.lon, props)
            })
            .collect();
        json!({"type": "FeatureCollection", "features": features})
    }

    /// The city's own inventory of known obstacles (speed humps and
    /// tables, rail crossings, castings), as GeoJSON: realistic rather
    /// than perfect, with some missing and some misplaced.
    #[must_use]
    pub fn inventory_geojson(&self) -> Value {
        let mut rng = Rng::new(self.params.seed, 4_000_000);
        let mut features = Vec::new();
        for o in &self.city.obstacles {
            let kind = match o.kind {
                ObstacleKind::SpeedHump | ObstacleKind::SpeedTable => "speed_hump",
                ObstacleKind::RailCrossing => "rail_crossing",
                ObstacleKind::SunkCasting => "casting",
                _ => continue,
            };
            if rng.chance(self.params.inventory_missing) {
                continue;
            }
            let (mut lat, mut lon) = (o.lat, o.lon);
            if rng.chance(self.params.inventory_misplaced) {
                (lat, lon) = bump_geo::destination(lat, lon, rng.range(0.0, 360.0), rng.range(2.0, 8.0));
            }
            features.push(point(
                lat,
                lon,
                json!({"asset_id": format!("city-{}", o.id), "kind": kind, "heading_deg": self.city.edge_heading(o.edge)}),
            ));
        }
        json!({"type": "FeatureCollection", "features": features})
    }

    /// The municipalities, as GeoJSON polygons.
    #[must_use]
    pub fn municipalities_geojson(&self) -> Value {
        let features: Vec<Value> = self
            .city
            .municipalities
            .iter()
            .map(|m| {
                let ring: Vec<[f64; 2]> = m.ring.iter().map(|&(lat, lon)| [lon, lat]).collect();
                json!({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                       "properties": {"name": m.name, "jurisdiction_id": m.jurisdiction_id}})
            })
            .collect();
        json!({"type": "FeatureCollection", "features": features})
    }
}
