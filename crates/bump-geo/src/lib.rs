/*!
Pure geospatial code for streetbump: no I/O, no runtime, no logging.

- [`distance_m`], [`bearing_deg`], [`destination`]: haversine on the IUGG
  mean sphere (geo's `Haversine`), accurate to about 0.5 % — far inside
  phone GPS error.
- [`track`]: a GPS track cleaned of invalid fixes and impossible jumps,
  with speeds derived where the receiver gave none, interpolated to any
  time.
*/

pub mod matching;
pub mod track;

use geo::{Bearing, Destination, Distance, Haversine, Point};

pub use matching::{PointScore, merge_within, score_points, score_points_against};
pub use track::{Track, TrackParams, TrackPoint, TrackReport};

/// Great-circle distance between two WGS84 positions, metres.
#[must_use]
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    Haversine.distance(Point::new(lon1, lat1), Point::new(lon2, lat2))
}

/// Initial bearing from the first position to the second, degrees in
/// `[0, 360)` clockwise from north.
#[must_use]
pub fn bearing_deg(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    Haversine
        .bearing(Point::new(lon1, lat1), Point::new(lon2, lat2))
        .rem_euclid(360.0)
}

/// The position `distance_m` metres from (`lat`, `lon`) along
/// `bearing_deg`, as (lat, lon).
#[must_use]
pub fn destination(lat: f64, lon: f64, bearing_deg: f64, distance_m: f64) -> (f64, f64) {
    let p = Haversine.destination(Point::new(lon, lat), bearing_deg, distance_m);
    (p.y(), p.x())
}

/// Whether (`lat`, `lon`) is a usable WGS84 position: finite, in range, and
/// not the (0, 0) that receivers report before their first fix.
#[must_use]
pub fn is_valid_position(lat: f64, lon: f64) -> bool {
    lat.is_finite()
        && lon.is_finite()
        && (-90.0..=90.0).contains(&lat)
        && (-180.0..=180.0).contains(&lon)
        && !(lat.abs() < 1e-9 && lon.abs() < 1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_and_bearing() {
        // One degree of latitude is about 111.2 km on the mean sphere.
        assert!((distance_m(42.0, -71.0, 43.0, -71.0) - 111_195.0).abs() < 10.0);
        assert!((bearing_deg(42.0, -71.0, 42.0, -70.9) - 90.0).abs() < 0.1);
        assert!((bearing_deg(42.0, -71.0, 41.9, -71.0) - 180.0).abs() < 1e-6);
        let (lat, lon) = destination(42.0, -71.0, 45.0, 1000.0);
        assert!((distance_m(42.0, -71.0, lat, lon) - 1000.0).abs() < 1e-6);
    }

    #[test]
    fn invalid_positions() {
        assert!(!is_valid_position(0.0, 0.0));
        assert!(!is_valid_position(91.0, 0.0));
        assert!(!is_valid_position(f64::NAN, 0.0));
        assert!(is_valid_position(51.27, 22.54));
    }
}
