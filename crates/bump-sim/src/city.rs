/*!
The city: a street grid with arterials, road classes, obstacles, the
municipalities it is split into, and the city's own (imperfect) inventory
of known obstacles.

Coordinates are local metres (x east, y north) from the south-west corner,
placed on the earth at `origin` with an equirectangular projection, exact
to centimetres over a few kilometres.
*/

use serde::{Deserialize, Serialize};

use crate::SimParams;
use crate::rng::Rng;
use crate::road::{ObstacleKind, RoadClass, Shape, random_shape, roughness_profile};

const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Fades a street's profile to level over its last 5 m at each end, so
/// that independently generated streets meet at an intersection without a
/// step (which a car would feel as a bump at every corner).
fn taper(mut p: Vec<f32>) -> Vec<f32> {
    let n = p.len();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "small positive")]
    let ramp = ((5.0 / crate::road::PROFILE_STEP_M) as usize).min(n / 2).max(1);
    for i in 0..ramp {
        #[allow(clippy::cast_precision_loss, reason = "small")]
        let w = (std::f64::consts::FRAC_PI_2 * i as f64 / ramp as f64).sin().powi(2);
        #[allow(clippy::cast_possible_truncation, reason = "weights in [0, 1]")]
        let w = w as f32;
        p[i] *= w;
        p[n - 1 - i] *= w;
    }
    p
}

/// Local metres → WGS84.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    /// Latitude of the local origin, degrees.
    pub lat0: f64,
    /// Longitude of the local origin, degrees.
    pub lon0: f64,
}

impl Projection {
    /// (lat, lon) of local (x, y).
    #[must_use]
    pub fn to_wgs84(&self, x: f64, y: f64) -> (f64, f64) {
        let lat = self.lat0 + (y / EARTH_RADIUS_M).to_degrees();
        let lon = self.lon0 + (x / (EARTH_RADIUS_M * self.lat0.to_radians().cos())).to_degrees();
        (lat, lon)
    }
}

/// An intersection: its column and row in the grid.
pub type Node = (usize, usize);

/// One street segment between adjacent intersections.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Start intersection (grid i, j).
    pub a: (usize, usize),
    /// End intersection.
    pub b: (usize, usize),
    /// Whether it is part of an arterial.
    pub arterial: bool,
    /// Surface class.
    pub class: RoadClass,
    /// Roughness heights every `PROFILE_STEP_M` from `a` to `b`.
    pub profile: Vec<f32>,
    /// Speed limit, m/s.
    pub limit_mps: f64,
}

/// Which lane an obstacle lies in, relative to the edge direction a → b.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    /// The lane travelled from a to b (right-hand traffic).
    Forward,
    /// The lane travelled from b to a.
    Backward,
    /// Across the whole road.
    Both,
}

/// One obstacle on the road.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Obstacle {
    /// Stable id within the city (`o0001`...).
    pub id: String,
    /// What it is.
    pub kind: ObstacleKind,
    /// Its size.
    pub shape: Shape,
    /// Index of its edge.
    pub edge: usize,
    /// Distance of its start from the edge's start, m.
    pub s_m: f64,
    /// Lane.
    pub lane: Lane,
    /// Lateral position of its centre from the road's centre line, m,
    /// positive to the right of the a → b direction.
    pub lateral_m: f64,
    /// WGS84 position of its centre.
    pub lat: f64,
    /// WGS84 position of its centre.
    pub lon: f64,
    /// When road crews filled it, UTC seconds: trips starting from then on
    /// find smooth road (potholes only; see `SimParams::repair_share`).
    pub repaired_at: Option<f64>,
}

/// A municipality: a name, an id and a boundary polygon.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Municipality {
    /// Display name.
    pub name: String,
    /// Jurisdiction id.
    pub jurisdiction_id: String,
    /// Boundary ring, (lat, lon), closed.
    pub ring: Vec<(f64, f64)>,
}

/// The whole city.
#[derive(Debug, Clone)]
pub struct City {
    /// Projection of local metres.
    pub proj: Projection,
    /// Intersections per row and column.
    pub nodes: (usize, usize),
    /// Block length, m.
    pub block_m: f64,
    /// Street segments.
    pub edges: Vec<Edge>,
    /// Edge index by (from, to) intersection, either direction.
    pub edge_index: std::collections::HashMap<(Node, Node), usize>,
    /// Obstacles, by id order.
    pub obstacles: Vec<Obstacle>,
    /// Obstacles per edge, indices into `obstacles`.
    pub by_edge: Vec<Vec<usize>>,
    /// Municipalities.
    pub municipalities: Vec<Municipality>,
    /// Roughness of rough patches, by obstacle index (class D profile, added to the street's own).
    pub patch_profiles: std::collections::HashMap<usize, Vec<f32>>,
}

impl City {
    /// Local position of intersection (i, j), m.
    #[must_use]
    pub fn node_xy(&self, n: (usize, usize)) -> (f64, f64) {
        #[allow(clippy::cast_precision_loss, reason = "grid indices are small")]
        (n.0 as f64 * self.block_m, n.1 as f64 * self.block_m)
    }

    /// Local position `s` metres along edge `e` from its start, with a
    /// lateral offset `lat` (positive to the right of a → b).
    #[must_use]
    pub fn edge_xy(&self, e: usize, s: f64, lat: f64) -> (f64, f64) {
        let ed = &self.edges[e];
        let (ax, ay) = self.node_xy(ed.a);
        let (bx, by) = self.node_xy(ed.b);
        let (dx, dy) = ((bx - ax) / self.block_m, (by - ay) / self.block_m);
        // Right of the direction (dx, dy) is (dy, -dx).
        (ax + dx * s + dy * lat, ay + dy * s - dx * lat)
    }

    /// Heading of edge `e` from a to b, degrees from north.
    #[must_use]
    pub fn edge_heading(&self, e: usize) -> f64 {
        let ed = &self.edges[e];
        match (ed.b.0.cmp(&ed.a.0), ed.b.1.cmp(&ed.a.1)) {
            (std::cmp::Ordering::Greater, _) => 90.0,
            (std::cmp::Ordering::Less, _) => 270.0,
            (_, std::cmp::Ordering::Greater) => 0.0,
            _ => 180.0,
        }
    }

    /// Builds the city for `params`.
    #[must_use]
    pub fn build(params: &SimParams) -> Self {
        let (nx, ny) = (params.grid_nodes, params.grid_nodes);
        let block = params.block_m;
        let is_art = |k: usize| k.is_multiple_of(params.arterial_every);
        let mut edges = Vec::new();
        let mut edge_index = std::collections::HashMap::new();
        let mut add = |a: (usize, usize), b: (usize, usize), arterial: bool, edges: &mut Vec<Edge>| {
            let id = edges.len();
            let mut rng = Rng::new(params.seed, 1_000_000 + id as u64);
            let class = if arterial {
                RoadClass::ALL[rng.weighted(&[0.4, 0.45, 0.15, 0.0, 0.0])]
            } else {
                RoadClass::ALL[rng.weighted(&[0.25, 0.4, 0.25, 0.08, 0.02])]
            };
            edges.push(Edge {
                a,
                b,
                arterial,
                class,
                profile: taper(roughness_profile(class, block, &mut rng)),
                limit_mps: if arterial { 15.6 } else { 11.2 },
            });
            edge_index.insert((a, b), id);
            edge_index.insert((b, a), id);
        };
        for j in 0..ny {
            for i in 0..nx - 1 {
                add((i, j), (i + 1, j), is_art(j), &mut edges);
            }
        }
        for i in 0..nx {
            for j in 0..ny - 1 {
                add((i, j), (i, j + 1), is_art(i), &mut edges);
            }
        }
        let proj = Projection {
            lat0: params.origin_lat,
            lon0: params.origin_lon,
        };
        let mut city = Self {
            proj,
            nodes: (nx, ny),
            block_m: block,
            by_edge: vec![Vec::new(); edges.len()],
            edges,
            edge_index,
            obstacles: Vec::new(),
            municipalities: Vec::new(),
            patch_profiles: std::collections::HashMap::new(),
        };
        city.place_obstacles(params);
        city.municipalities = city.split_municipalities();
        city
    }

    fn place_obstacles(&mut self, params: &SimParams) {
        let mut rng = Rng::new(params.seed, 2_000_000);
        let d = &params.density_per_km;
        // A rail line crosses the city north–south between two columns.
        let rail_i = self.nodes.0 / 2;
        for e in 0..self.edges.len() {
            let ed = &self.edges[e];
            let km = self.block_m / 1000.0;
            let horizontal = ed.a.1 == ed.b.1;
            let mut kinds: Vec<ObstacleKind> = Vec::new();
            for (kind, per_km) in [
                (ObstacleKind::Pothole, d.pothole * if ed.arterial { 0.6 } else { 1.0 }),
                (ObstacleKind::SunkCasting, d.sunk_casting),
                (ObstacleKind::RoughPatch, d.rough_patch),
                (ObstacleKind::SpeedHump, if ed.arterial { 0.0 } else { d.speed_hump }),
                (ObstacleKind::SpeedTable, if ed.arterial { 0.0 } else { d.speed_table }),
                (
                    ObstacleKind::ExpansionJoint,
                    if ed.arterial { d.expansion_joint } else { 0.0 },
                ),
            ] {
                // Poisson counts by inversion: cheap and exact.
                let lambda = per_km * km;
                let mut k: u32 = 0;
                let mut p = (-lambda).exp();
                let mut cdf = p;
                let u = rng.f64();
                while u > cdf && k < 20 {
                    k += 1;
                    p *= lambda / f64::from(k);
                    cdf += p;
                }
                kinds.extend(std::iter::repeat_n(kind, usize::try_from(k).unwrap_or(0)));
            }
            if horizontal && ed.a.0 == rail_i {
                kinds.push(ObstacleKind::RailCrossing);
            }
            for kind in kinds {
                let shape = random_shape(kind, &mut rng);
                // Keep clear of intersections (turning area) by 15 m.
                let s = if kind == ObstacleKind::RailCrossing {
                    self.block_m / 2.0
                } else {
                    rng.range(15.0, (self.block_m - 15.0 - shape.length_m).max(16.0))
                };
                let (lane, lateral) = if kind.full_width() {
                    (Lane::Both, 0.0)
                } else if kind == ObstacleKind::SunkCasting {
                    // Castings sit near the centre line: the left wheels of
                    // both directions cross them.
                    (Lane::Both, rng.range(-0.3, 0.3))
                } else {
                    // Potholes form in the wheel paths of one lane.
                    let fwd = rng.chance(0.5);
                    let wheel_path = if rng.chance(0.5) { 0.95 } else { 2.55 };
                    let lat = wheel_path + rng.normal() * 0.2;
                    if fwd {
                        (Lane::Forward, lat)
                    } else {
                        (Lane::Backward, -lat)
                    }
                };
                let idx = self.obstacles.len();
                let (x, y) = self.edge_xy(e, s + shape.length_m / 2.0, lateral);
                let (lat, lon) = self.proj.to_wgs84(x, y);
                if kind == ObstacleKind::RoughPatch {
                    let mut prng = Rng::new(params.seed, 3_000_000 + idx as u64);
                    self.patch_profiles
                        .insert(idx, roughness_profile(RoadClass::D, shape.length_m, &mut prng));
                }
                self.obstacles.push(Obstacle {
                    id: format!("o{:04}", idx + 1),
                    kind,
                    shape,
                    edge: e,
                    s_m: s,
                    lane,
                    lateral_m: lateral,
                    lat,
                    lon,
                    repaired_at: None,
                });
                self.by_edge[e].push(idx);
            }
        }
    }

    fn split_municipalities(&self) -> Vec<Municipality> {
        // Three vertical strips with a dog-leg border, like real towns'
        // borders that follow old roads rather than the grid.
        #[allow(clippy::cast_precision_loss, reason = "grid indices are small")]
        let (w, h) = (
            (self.nodes.0 - 1) as f64 * self.block_m,
            (self.nodes.1 - 1) as f64 * self.block_m,
        );
        let m = 200.0;
        let (x1, x2) = (w * 0.3, w * 0.7);
        let ring = |pts: &[(f64, f64)]| -> Vec<(f64, f64)> {
            let mut r: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| self.proj.to_wgs84(x, y)).collect();
            r.push(r[0]);
            r
        };
        let mid_y = h / 2.0;
        vec![
            Municipality {
                name: "Westbury".into(),
                jurisdiction_id: "westbury.example".into(),
                ring: ring(&[
                    (-m, -m),
                    (x1, -m),
                    (x1, mid_y),
                    (x1 + 75.0, mid_y),
                    (x1 + 75.0, h + m),
                    (-m, h + m),
                ]),
            },
            Municipality {
                name: "Centreville".into(),
                jurisdiction_id: "centreville.example".into(),
                ring: ring(&[
                    (x1, -m),
                    (x2, -m),
                    (x2, h + m),
                    (x1 + 75.0, h + m),
                    (x1 + 75.0, mid_y),
                    (x1, mid_y),
                ]),
            },
            Municipality {
                name: "Eastport".into(),
                jurisdiction_id: "eastport.example".into(),
                ring: ring(&[(x2, -m), (w + m, -m), (w + m, h + m), (x2, h + m)]),
            },
        ]
    }
}
