/*!
The jurisdiction registry: which municipality a position belongs to, and how
to reach its Open311 endpoint.

A GeoJSON FeatureCollection, one feature per municipality (Polygon or
MultiPolygon, WGS84), whose properties say:

| property | meaning |
|---|---|
| `name` | display name |
| `jurisdiction_id` | sent when the endpoint serves several jurisdictions |
| `endpoint` | GeoReport v2 base URL; empty or absent: never filed there |
| `discovery` | optional discovery URL, used by `streetbump open311 check` |
| `format` | `json` or `xml` (default `xml`, the format every server has) |
| `api_key_env` | the *name* of the environment variable that holds the key |
| `service_codes` | object, class → service code (`{"pothole": "REQPOTHL"}`) |
| `attributes` | optional object, class → {attribute code → value} sent with it |
| `send_jurisdiction_id` | optional bool (default true) |

Keys never live in the file: a key found under any property named like
`api_key` is refused, so it cannot leak into a repository or a log.
*/

use std::collections::BTreeMap;
use std::path::Path;

use geo::{Contains, Coord, LineString, MultiPolygon, Point, Polygon};
use serde_json::Value;

use bump_open311::Format;

/// A problem with the registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// File.
        path: String,
        /// OS error.
        reason: String,
    },
    /// Not JSON.
    #[error("{path}: not JSON: {reason}")]
    Json {
        /// File.
        path: String,
        /// Parser message.
        reason: String,
    },
    /// Everything wrong with the content, one line each.
    #[error("{path}: {}", problems.join("; "))]
    Invalid {
        /// File.
        path: String,
        /// Problems, each naming the feature.
        problems: Vec<String>,
    },
}

/// One municipality.
#[derive(Debug, Clone, PartialEq)]
pub struct Jurisdiction {
    /// Display name.
    pub name: String,
    /// Jurisdiction id.
    pub jurisdiction_id: String,
    /// Whether to send `jurisdiction_id` (multi-jurisdiction endpoints).
    pub send_jurisdiction_id: bool,
    /// Base URL, when requests are filed there.
    pub endpoint: Option<String>,
    /// Discovery URL.
    pub discovery: Option<String>,
    /// Response format.
    pub format: Format,
    /// Whether `format` was given; if not and `discovery` is, the format
    /// (and a missing endpoint) come from discovery ([`Registry::discover`]).
    pub format_given: bool,
    /// Name of the variable holding the API key.
    pub api_key_env: Option<String>,
    /// Class → service code.
    pub service_codes: BTreeMap<String, String>,
    /// Class → attributes sent with it.
    pub attributes: BTreeMap<String, Vec<(String, String)>>,
    /// Boundary.
    pub boundary: MultiPolygon<f64>,
}

/// All municipalities.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registry {
    /// In file order; the first containing a point wins.
    pub jurisdictions: Vec<Jurisdiction>,
}

impl Registry {
    /// Reads a registry file.
    ///
    /// # Errors
    ///
    /// [`RegistryError`], listing every problem at once.
    pub fn load(path: &Path) -> Result<Self, RegistryError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| RegistryError::Read {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        Self::from_geojson(&text, &p)
    }

    /// Parses registry GeoJSON; `origin` names it in errors.
    ///
    /// # Errors
    ///
    /// [`RegistryError`], listing every problem at once.
    pub fn from_geojson(text: &str, origin: &str) -> Result<Self, RegistryError> {
        let v: Value = serde_json::from_str(text).map_err(|e| RegistryError::Json {
            path: origin.to_owned(),
            reason: e.to_string(),
        })?;
        let mut problems = Vec::new();
        let features = match v.get("features").and_then(Value::as_array) {
            Some(f) => f.as_slice(),
            None => {
                problems.push("not a FeatureCollection (no \"features\" array)".to_owned());
                &[]
            }
        };
        let mut jurisdictions = Vec::new();
        for (i, f) in features.iter().enumerate() {
            match jurisdiction(f) {
                Ok(j) => jurisdictions.push(j),
                Err(mut e) => {
                    let name = f
                        .pointer("/properties/name")
                        .and_then(Value::as_str)
                        .map_or_else(|| format!("feature {i}"), |n| format!("feature {i} ({n})"));
                    problems.extend(e.drain(..).map(|m| format!("{name}: {m}")));
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for j in &jurisdictions {
            if !seen.insert(j.jurisdiction_id.clone()) {
                problems.push(format!("jurisdiction_id {:?} appears twice", j.jurisdiction_id));
            }
        }
        if problems.is_empty() {
            Ok(Self { jurisdictions })
        } else {
            Err(RegistryError::Invalid {
                path: origin.to_owned(),
                problems,
            })
        }
    }

    /// The municipality containing a position.
    #[must_use]
    pub fn locate(&self, lat: f64, lon: f64) -> Option<&Jurisdiction> {
        let p = Point::new(lon, lat);
        self.jurisdictions.iter().find(|j| j.boundary.contains(&p))
    }

    /// For municipalities with a discovery URL: the format the endpoint
    /// serves best (JSON when discovery lists it, else XML) unless the
    /// registry gives one, and the endpoint when the registry has none
    /// (the production GeoReport v2 endpoint, else the test one). Returns
    /// one line per discovery that failed; those keep the registry's values.
    pub async fn discover(&mut self, timeout: std::time::Duration) -> Vec<String> {
        let mut problems = Vec::new();
        for j in &mut self.jurisdictions {
            let Some(url) = j.discovery.clone() else { continue };
            if j.format_given && j.endpoint.is_some() {
                continue;
            }
            match bump_open311::Client::discover(&url, timeout).await {
                Ok(d) => match d.georeport_v2("production").or_else(|| d.georeport_v2("test")) {
                    Some(e) => {
                        if !j.format_given {
                            j.format = e.best_format();
                        }
                        if j.endpoint.is_none() {
                            j.endpoint = Some(e.url.clone());
                        }
                    }
                    None => problems.push(format!(
                        "{}: discovery {url} lists no GeoReport v2 endpoint",
                        j.jurisdiction_id
                    )),
                },
                Err(e) => problems.push(format!("{}: discovery: {e}", j.jurisdiction_id)),
            }
        }
        problems
    }

    /// A municipality by id.
    #[must_use]
    pub fn get(&self, jurisdiction_id: &str) -> Option<&Jurisdiction> {
        self.jurisdictions.iter().find(|j| j.jurisdiction_id == jurisdiction_id)
    }
}

fn text(props: &Value, key: &str) -> Option<String> {
    props
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn jurisdiction(f: &Value) -> Result<Jurisdiction, Vec<String>> {
    let mut problems = Vec::new();
    let null = Value::Null;
    let props = f.get("properties").unwrap_or(&null);
    if let Some(map) = props.as_object() {
        for k in map.keys() {
            let lower = k.to_ascii_lowercase();
            if (lower.contains("api_key") || lower == "key" || lower == "apikey") && lower != "api_key_env" {
                problems.push(format!(
                    "property {k:?} looks like an API key; keys belong in the environment (name the variable in api_key_env)"
                ));
            }
        }
    }
    let jurisdiction_id = text(props, "jurisdiction_id");
    if jurisdiction_id.is_none() {
        problems.push("properties.jurisdiction_id is missing".to_owned());
    }
    let endpoint = text(props, "endpoint");
    if let Some(e) = &endpoint
        && !(e.starts_with("http://") || e.starts_with("https://"))
    {
        problems.push(format!("properties.endpoint {e:?} is not an http(s) URL"));
    }
    let format_given = text(props, "format").is_some();
    let format = match text(props, "format") {
        None => Format::Xml,
        Some(s) => s.parse().unwrap_or_else(|e: String| {
            problems.push(format!("properties.format: {e}"));
            Format::Xml
        }),
    };
    let api_key_env = text(props, "api_key_env");
    if let Some(name) = &api_key_env
        && !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        problems.push(format!("properties.api_key_env {name:?} is not a variable name"));
    }
    if (endpoint.is_some() || text(props, "discovery").is_some()) && api_key_env.is_none() {
        problems.push("properties.api_key_env is missing (an endpoint needs a key to file)".to_owned());
    }
    let mut service_codes = BTreeMap::new();
    match props.get("service_codes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (class, code) in m {
                if !bump_cluster::CLASSES.contains(&class.as_str()) {
                    problems.push(format!(
                        "properties.service_codes: {class:?} is not a class ({})",
                        bump_cluster::CLASSES.join(", ")
                    ));
                }
                match code.as_str().map(str::trim).filter(|c| !c.is_empty()) {
                    Some(c) => {
                        service_codes.insert(class.clone(), c.to_owned());
                    }
                    None => problems.push(format!("properties.service_codes.{class} must be a non-empty string")),
                }
            }
        }
        Some(_) => problems.push("properties.service_codes must be an object of class -> code".to_owned()),
    }
    let mut attributes = BTreeMap::new();
    if let Some(Value::Object(m)) = props.get("attributes") {
        for (class, attrs) in m {
            let list: Vec<(String, String)> = attrs
                .as_object()
                .map(|a| {
                    a.iter()
                        .filter_map(|(k, v)| match v {
                            Value::String(s) => Some((k.clone(), s.clone())),
                            Value::Number(n) => Some((k.clone(), n.to_string())),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            attributes.insert(class.clone(), list);
        }
    }
    let boundary = match geometry(f.get("geometry").unwrap_or(&null)) {
        Ok(b) => Some(b),
        Err(e) => {
            problems.push(format!("geometry: {e}"));
            None
        }
    };
    match (problems.is_empty(), jurisdiction_id, boundary) {
        (true, Some(jurisdiction_id), Some(boundary)) => Ok(Jurisdiction {
            name: text(props, "name").unwrap_or_else(|| jurisdiction_id.clone()),
            send_jurisdiction_id: props
                .get("send_jurisdiction_id")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            jurisdiction_id,
            endpoint,
            discovery: text(props, "discovery"),
            format,
            format_given,
            api_key_env,
            service_codes,
            attributes,
            boundary,
        }),
        _ => Err(problems),
    }
}

fn geometry(g: &Value) -> Result<MultiPolygon<f64>, String> {
    let kind = g.get("type").and_then(Value::as_str).unwrap_or_default();
    let coords = g.get("coordinates").ok_or("no coordinates")?;
    match kind {
        "Polygon" => Ok(MultiPolygon::new(vec![polygon(coords)?])),
        "MultiPolygon" => {
            let polys = coords.as_array().ok_or("MultiPolygon coordinates must be an array")?;
            Ok(MultiPolygon::new(polys.iter().map(polygon).collect::<Result<_, _>>()?))
        }
        other => Err(format!("type {other:?}: must be Polygon or MultiPolygon")),
    }
}

fn polygon(v: &Value) -> Result<Polygon<f64>, String> {
    let rings = v.as_array().ok_or("polygon coordinates must be an array of rings")?;
    let mut rings = rings.iter().map(ring);
    let exterior = rings.next().ok_or("polygon without rings")??;
    let interiors = rings.collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon::new(exterior, interiors))
}

fn ring(v: &Value) -> Result<LineString<f64>, String> {
    let pts = v.as_array().ok_or("a ring must be an array of positions")?;
    let coords: Vec<Coord<f64>> = pts
        .iter()
        .map(|p| {
            let lon = p.get(0).and_then(Value::as_f64).ok_or("a position needs [lon, lat]")?;
            let lat = p.get(1).and_then(Value::as_f64).ok_or("a position needs [lon, lat]")?;
            if !bump_geo::is_valid_position(lat, lon) {
                return Err(format!("position [{lon}, {lat}] is not a WGS84 coordinate"));
            }
            Ok(Coord { x: lon, y: lat })
        })
        .collect::<Result<_, String>>()?;
    if coords.len() < 4 {
        return Err(format!("a ring needs at least 4 positions, found {}", coords.len()));
    }
    if coords.first() != coords.last() {
        return Err("a ring must be closed (last position = first)".into());
    }
    Ok(LineString::new(coords))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(name: &str, id: &str, lon0: f64, extra: &str) -> String {
        format!(
            r#"{{"type":"Feature","geometry":{{"type":"Polygon","coordinates":[[[{lon0},42.0],[{lon1},42.0],[{lon1},42.1],[{lon0},42.1],[{lon0},42.0]]]}},
               "properties":{{"name":"{name}","jurisdiction_id":"{id}"{extra}}}}}"#,
            lon1 = lon0 + 0.1
        )
    }

    #[test]
    fn locates_by_polygon() {
        let text = format!(
            r#"{{"type":"FeatureCollection","features":[{},{}]}}"#,
            square(
                "West",
                "west.example",
                -71.2,
                r#","endpoint":"http://127.0.0.1:1/v2/","api_key_env":"KEY_WEST","service_codes":{"pothole":"REQPOTHL"}"#
            ),
            square("East", "east.example", -71.1, "")
        );
        let r = Registry::from_geojson(&text, "r.geojson").expect("valid");
        assert_eq!(r.locate(42.05, -71.15).map(|j| j.name.as_str()), Some("West"));
        assert_eq!(r.locate(42.05, -71.05).map(|j| j.name.as_str()), Some("East"));
        assert!(r.locate(42.2, -71.15).is_none());
        let west = r.get("west.example").expect("west");
        assert_eq!(west.service_codes.get("pothole").map(String::as_str), Some("REQPOTHL"));
        assert_eq!(west.format, Format::Xml);
        assert!(r.get("east.example").expect("east").endpoint.is_none());
    }

    #[test]
    fn every_problem_is_named() {
        let text = format!(
            r#"{{"type":"FeatureCollection","features":[{},{}]}}"#,
            square(
                "Bad",
                "bad.example",
                -71.2,
                r#","endpoint":"ftp://x","api_key":"secret","format":"yaml","service_codes":{"speedbump":"X"}"#
            ),
            r#"{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[-71,42],[-70,42],[-71,42]]]},"properties":{}}"#
        );
        let e = Registry::from_geojson(&text, "r.geojson")
            .expect_err("invalid")
            .to_string();
        for needle in [
            "feature 0 (Bad)",
            "not an http(s) URL",
            "looks like an API key",
            "unknown Open311 format",
            "\"speedbump\" is not a class",
            "api_key_env is missing",
            "feature 1: properties.jurisdiction_id is missing",
            "at least 4 positions",
        ] {
            assert!(e.contains(needle), "{needle} not in {e}");
        }
        assert!(!e.contains("secret"), "the key itself is never echoed");
    }
}
