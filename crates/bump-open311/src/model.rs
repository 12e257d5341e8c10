/*!
The GeoReport v2 resources, and lenient readers for them.

Every identifier and code is a `String`, whatever the server sent (the spec's
own JSON examples use numbers, and one of them, `006`, is not even valid
JSON). Fields the spec marks "may not be returned" are `Option`s. Readers
never fail on a missing optional field or an unknown extra one; they fail only
when the body is unreadable or has nothing of the expected kind in it.
*/

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::decode::{DecodeError, Document, boolean, items, number, text};

/// The response format, chosen by the path suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The one format every server must serve.
    #[default]
    Xml,
    /// Optional, announced by discovery.
    Json,
}

impl Format {
    /// The path suffix, without the dot.
    #[must_use]
    pub const fn ext(self) -> &'static str {
        match self {
            Self::Xml => "xml",
            Self::Json => "json",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "xml" | "text/xml" | "application/xml" => Ok(Self::Xml),
            "json" | "application/json" => Ok(Self::Json),
            other => Err(format!("unknown Open311 format {other:?} (expected xml or json)")),
        }
    }
}

/// A Service Discovery document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Discovery {
    /// Opaque, sortable; changes when services or definitions change.
    pub changeset: Option<String>,
    /// Who runs the endpoint.
    pub contact: Option<String>,
    /// How to get an API key.
    pub key_service: Option<String>,
    /// The endpoints.
    pub endpoints: Vec<DiscoveryEndpoint>,
}

/// One endpoint listed by discovery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiscoveryEndpoint {
    /// The specification URL, e.g. `http://wiki.open311.org/GeoReport_v2`.
    pub specification: String,
    /// The base URL.
    pub url: String,
    /// `production` or `test`.
    pub kind: String,
    /// MIME types served.
    pub formats: Vec<String>,
}

impl DiscoveryEndpoint {
    /// JSON when the endpoint serves it, else XML (which every server must).
    #[must_use]
    pub fn best_format(&self) -> Format {
        if self.formats.iter().any(|f| f.to_ascii_lowercase().contains("json")) {
            Format::Json
        } else {
            Format::Xml
        }
    }
}

impl Discovery {
    /// The GeoReport v2 endpoint of the given kind (`production` or `test`).
    #[must_use]
    pub fn georeport_v2(&self, kind: &str) -> Option<&DiscoveryEndpoint> {
        self.endpoints.iter().find(|e| {
            e.specification.to_ascii_lowercase().contains("georeport_v2") && e.kind.eq_ignore_ascii_case(kind)
        })
    }
}

/// How a service answers a new request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    /// The id comes back at once.
    Realtime,
    /// A token comes back, to be exchanged for the id later.
    Batch,
    /// Nothing comes back.
    Blackbox,
    /// Something else; treated like `blackbox` for filing.
    Other(String),
}

/// A service from the service list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    /// The service code.
    pub service_code: String,
    /// Display name.
    pub service_name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Whether a service definition must be read.
    pub metadata: bool,
    /// How requests are answered.
    pub kind: ServiceKind,
    /// Comma-separated keywords.
    pub keywords: Option<String>,
    /// Group.
    pub group: Option<String>,
}

/// An attribute's data type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Datatype {
    /// Short text.
    String,
    /// A number.
    Number,
    /// ISO 8601 with zone.
    Datetime,
    /// Long text.
    Text,
    /// One of `values`.
    Singlevaluelist,
    /// Several of `values`.
    Multivaluelist,
    /// Not in the spec (Boston sends `informational`, `boolean (checkbox)`).
    Other(String),
}

/// A service definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceDefinition {
    /// The service code.
    pub service_code: String,
    /// Attributes, in `order`.
    pub attributes: Vec<Attribute>,
}

/// One attribute of a service definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attribute {
    /// `false`: shown to the user only, never sent.
    pub variable: bool,
    /// The code used in `attribute[code]`.
    pub code: String,
    /// Data type.
    pub datatype: Datatype,
    /// Must be sent.
    pub required: bool,
    /// Hint for the value.
    pub datatype_description: Option<String>,
    /// Display order.
    pub order: Option<u32>,
    /// The question.
    pub description: Option<String>,
    /// Allowed values for list types: (key, name).
    pub values: Vec<(String, String)>,
}

/// The answer to POST Service Request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostReply {
    /// For realtime services.
    pub service_request_id: Option<String>,
    /// For batch services.
    pub token: Option<String>,
    /// Information for the reporter.
    pub service_notice: Option<String>,
    /// Account id, rarely returned.
    pub account_id: Option<String>,
}

/// Open or closed, the only statuses the spec has; extended statuses of real
/// servers are mapped onto them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    /// Reported, not resolved.
    Open,
    /// Resolved.
    Closed,
}

impl RequestStatus {
    /// Reads spec and extended (FixMyStreet) statuses.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().replace([' ', '-'], "_").as_str() {
            "open" | "in_progress" | "action_scheduled" | "investigating" | "reopened" | "new" | "acknowledged" => {
                Some(Self::Open)
            }
            "closed"
            | "fixed"
            | "resolved"
            | "duplicate"
            | "not_councils_responsibility"
            | "no_further_action"
            | "internal_referral"
            | "unable_to_fix"
            | "not_responsible" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// A service request as GET Service Requests returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceRequest {
    /// The id; a few servers omit it (then the request cannot be followed).
    pub service_request_id: Option<String>,
    /// Status, when recognised.
    pub status: Option<RequestStatus>,
    /// The status as sent.
    pub status_raw: Option<String>,
    /// Notes on the status.
    pub status_notes: Option<String>,
    /// Service name.
    pub service_name: Option<String>,
    /// Service code.
    pub service_code: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Agency.
    pub agency_responsible: Option<String>,
    /// Notice.
    pub service_notice: Option<String>,
    /// When requested.
    pub requested_datetime: Option<DateTime<FixedOffset>>,
    /// Last update (closing time for closed requests).
    pub updated_datetime: Option<DateTime<FixedOffset>>,
    /// Expected.
    pub expected_datetime: Option<DateTime<FixedOffset>>,
    /// Address (`address`, not `address_string`, in responses).
    pub address: Option<String>,
    /// WGS84 latitude.
    pub lat: Option<f64>,
    /// WGS84 longitude.
    pub long: Option<f64>,
    /// Media URLs (Boston sends an array of objects).
    pub media_url: Vec<String>,
    /// Token, when a server echoes it.
    pub token: Option<String>,
}

/// Reads a date-time leniently: RFC 3339 with `Z` or an offset and any
/// fraction, a space instead of `T`, and, as a last resort, no zone at all
/// (read as UTC, since the spec requires a zone and UTC is the least wrong
/// guess).
#[must_use]
pub fn parse_datetime(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    let with_t = s.replacen(' ', "T", 1);
    if let Ok(t) = DateTime::parse_from_rfc3339(&with_t) {
        return Some(t);
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(t) = DateTime::parse_from_str(&with_t, fmt) {
            return Some(t);
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&with_t, fmt) {
            return Some(Utc.from_utc_datetime(&t).fixed_offset());
        }
    }
    None
}

/// Writes a date-time the way the spec's queries want it (`2010-01-01T00:00:00Z`).
#[must_use]
pub fn w3_datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.get(name)
}

fn items_or_shape_error<'a>(doc: &'a Document, what: &str) -> Result<Vec<&'a Value>, DecodeError> {
    match &doc.value {
        Value::Array(_) | Value::Object(_) | Value::Null => Ok(items(&doc.value)),
        other => Err(DecodeError::Shape(format!(
            "expected a list of {what}, found {}",
            kind_of(other)
        ))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads a discovery document.
///
/// # Errors
///
/// [`DecodeError::Shape`] when it lists no endpoint.
pub fn read_discovery(doc: &Document) -> Result<Discovery, DecodeError> {
    let v = unwrap_document(&doc.value, "discovery");
    let endpoints: Vec<DiscoveryEndpoint> = field(v, "endpoints")
        .map(items)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| {
            let mut formats = Vec::new();
            if let Some(f) = field(e, "formats") {
                collect_formats(f, &mut formats, 0);
            }
            Some(DiscoveryEndpoint {
                specification: text(field(e, "specification")).unwrap_or_default(),
                url: text(field(e, "url"))?,
                kind: text(field(e, "type")).unwrap_or_else(|| "production".into()),
                formats,
            })
        })
        .collect();
    if endpoints.is_empty() {
        return Err(DecodeError::Shape("discovery lists no endpoint with a url".into()));
    }
    Ok(Discovery {
        changeset: text(field(v, "changeset")),
        contact: text(field(v, "contact")),
        key_service: text(field(v, "key_service")),
        endpoints,
    })
}

/// The MIME types of `formats`: a list of strings, XML's
/// `{"format": [...]}`, or XML::Simple's `[{"format": [...]}]`.
fn collect_formats(v: &Value, out: &mut Vec<String>, depth: usize) {
    // Three levels hold every known shape; the bound keeps odd input cheap.
    if depth > 3 {
        return;
    }
    match v {
        Value::Array(xs) => xs.iter().for_each(|x| collect_formats(x, out, depth + 1)),
        Value::Object(m) => m.values().for_each(|x| collect_formats(x, out, depth + 1)),
        other => out.extend(text(Some(other))),
    }
}

/// A single-object document without its XML::Simple wrapping: a one-key
/// object named after the document (`{"service_definition": ...}`) and
/// one-element arrays around an object are taken off, however nested.
fn unwrap_document<'a>(v: &'a Value, name: &str) -> &'a Value {
    let mut v = v;
    loop {
        v = match v {
            Value::Object(m) if m.len() == 1 => match m.get(name) {
                Some(inner) => inner,
                None => return v,
            },
            Value::Array(xs) => match xs.as_slice() {
                [one] if one.is_object() => one,
                _ => return v,
            },
            _ => return v,
        };
    }
}

/// Reads a service list.
///
/// # Errors
///
/// [`DecodeError::Shape`] when the body is not a list.
pub fn read_services(doc: &Document) -> Result<Vec<Service>, DecodeError> {
    Ok(items_or_shape_error(doc, "services")?
        .into_iter()
        .filter_map(|s| {
            Some(Service {
                service_code: text(field(s, "service_code"))?,
                service_name: text(field(s, "service_name")),
                description: text(field(s, "description")),
                metadata: boolean(field(s, "metadata")).unwrap_or(false),
                kind: match text(field(s, "type")).unwrap_or_default().to_ascii_lowercase().as_str() {
                    "realtime" | "" => ServiceKind::Realtime,
                    "batch" => ServiceKind::Batch,
                    "blackbox" => ServiceKind::Blackbox,
                    other => ServiceKind::Other(other.to_owned()),
                },
                keywords: text(field(s, "keywords")),
                group: text(field(s, "group")),
            })
        })
        .collect())
}

/// Reads a service definition.
///
/// # Errors
///
/// [`DecodeError::Shape`] when it has no service code.
pub fn read_service_definition(doc: &Document) -> Result<ServiceDefinition, DecodeError> {
    let v = unwrap_document(&doc.value, "service_definition");
    let service_code = text(field(v, "service_code"))
        .ok_or_else(|| DecodeError::Shape("service definition without service_code".into()))?;
    let mut attributes: Vec<Attribute> = field(v, "attributes")
        .map(items)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|a| {
            let values = match field(a, "values") {
                // Boston sometimes sends a number here; no values then.
                Some(Value::Array(_) | Value::Object(_)) => field(a, "values")
                    .map(items)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|x| Some((text(field(x, "key"))?, text(field(x, "name")).unwrap_or_default())))
                    .collect(),
                _ => Vec::new(),
            };
            Some(Attribute {
                variable: boolean(field(a, "variable")).unwrap_or(true),
                code: text(field(a, "code"))?,
                datatype: match text(field(a, "datatype"))
                    .unwrap_or_default()
                    .to_ascii_lowercase()
                    .as_str()
                {
                    "string" => Datatype::String,
                    "number" => Datatype::Number,
                    "datetime" => Datatype::Datetime,
                    "text" => Datatype::Text,
                    "singlevaluelist" => Datatype::Singlevaluelist,
                    "multivaluelist" => Datatype::Multivaluelist,
                    other => Datatype::Other(other.to_owned()),
                },
                required: boolean(field(a, "required")).unwrap_or(false),
                datatype_description: text(field(a, "datatype_description")),
                order: number(field(a, "order"))
                    .filter(|o| *o >= 0.0 && *o < f64::from(u32::MAX))
                    .map(|o| o as u32),
                description: text(field(a, "description")),
                values,
            })
        })
        .collect();
    attributes.sort_by_key(|a| a.order.unwrap_or(u32::MAX));
    Ok(ServiceDefinition {
        service_code,
        attributes,
    })
}

/// Reads the answer to a POST. A reply with neither id nor token is
/// returned as such, an empty request element (XML `<request/>`, which a
/// blackbox service may answer) included; whether that is an error depends
/// on the service type.
///
/// # Errors
///
/// [`DecodeError::Shape`] when the body holds no request element.
pub fn read_post_reply(doc: &Document) -> Result<PostReply, DecodeError> {
    let list = items_or_shape_error(doc, "requests")?;
    let r = match list.first() {
        Some(r) => *r,
        // The root is the request itself; `items` would have taken a lone
        // field of it for a wrapper.
        None if doc.root.as_deref() == Some("request") => &doc.value,
        None => request_element(&doc.value).ok_or_else(|| DecodeError::Shape("the reply holds no request".into()))?,
    };
    Ok(PostReply {
        service_request_id: text(field(r, "service_request_id")),
        token: text(field(r, "token")),
        service_notice: text(field(r, "service_notice")),
        account_id: text(field(r, "account_id")),
    })
}

/// The one `request` element a list wraps, when it has no content (`null`)
/// or only fields that `items` took for a wrapper.
fn request_element(v: &Value) -> Option<&Value> {
    let mut v = v;
    // Wrappers seen in the wild are at most three deep.
    for _ in 0..6 {
        match v {
            Value::Object(m) if m.len() == 1 => {
                let (name, inner) = m.iter().next()?;
                if name == "request" {
                    return match inner {
                        Value::Null | Value::Object(_) => Some(inner),
                        Value::Array(xs) => match xs.as_slice() {
                            [one @ (Value::Null | Value::Object(_))] => Some(one),
                            _ => None,
                        },
                        _ => None,
                    };
                }
                v = inner;
            }
            Value::Array(xs) => match xs.as_slice() {
                [one] => v = one,
                _ => return None,
            },
            _ => return None,
        }
    }
    None
}

/// Reads a list of service requests.
///
/// # Errors
///
/// [`DecodeError::Shape`] when the body is not a list.
pub fn read_requests(doc: &Document) -> Result<Vec<ServiceRequest>, DecodeError> {
    Ok(items_or_shape_error(doc, "requests")?
        .into_iter()
        .filter(|r| r.is_object())
        .map(|r| {
            let status_raw = text(field(r, "status"));
            ServiceRequest {
                service_request_id: text(field(r, "service_request_id")),
                status: status_raw.as_deref().and_then(RequestStatus::parse),
                status_raw,
                status_notes: text(field(r, "status_notes")),
                service_name: text(field(r, "service_name")),
                service_code: text(field(r, "service_code")),
                description: text(field(r, "description")),
                agency_responsible: field(r, "agency_responsible").and_then(|a| {
                    let s = crate::decode::all_strings(a);
                    (!s.is_empty()).then(|| s.join(", "))
                }),
                service_notice: text(field(r, "service_notice")),
                requested_datetime: text(field(r, "requested_datetime")).as_deref().and_then(parse_datetime),
                updated_datetime: text(field(r, "updated_datetime")).as_deref().and_then(parse_datetime),
                expected_datetime: text(field(r, "expected_datetime")).as_deref().and_then(parse_datetime),
                address: text(field(r, "address")),
                lat: number(field(r, "lat")).filter(|x| (-90.0..=90.0).contains(x)),
                long: number(field(r, "long")).filter(|x| (-180.0..=180.0).contains(x)),
                media_url: media_urls(field(r, "media_url")),
                token: text(field(r, "token")),
            }
        })
        .collect())
}

fn media_urls(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(xs)) => xs
            .iter()
            .filter_map(|x| text(Some(x)).or_else(|| text(x.get("url"))))
            .collect(),
        Some(Value::Object(m)) => text(m.get("url")).into_iter().collect(),
        other => text(other).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;

    #[test]
    fn datetimes_of_real_servers() {
        for s in [
            "2010-04-14T06:37:38-08:00",
            "1994-11-05T13:15:30Z",
            "2018-09-06T19:51:48.000Z",
            "2026-11-27T04:31:08.093384+02:00",
            "2011-04-23T10:28:55+02:00",
            "2011-02-03 14:18",
            "2010-01-01T00:00:00Z",
            "2011-04-23 10:28:55+0200",
        ] {
            assert!(parse_datetime(s).is_some(), "{s}");
        }
        let t = parse_datetime("2026-11-27T04:31:08.093384+02:00").expect("parses");
        assert_eq!(t.with_timezone(&Utc).to_rfc3339(), "2026-11-27T02:31:08.093384+00:00");
        assert!(parse_datetime("yesterday").is_none());
        assert!(parse_datetime("").is_none());
    }

    #[test]
    fn extended_statuses_map_to_open_or_closed() {
        assert_eq!(RequestStatus::parse("IN_PROGRESS"), Some(RequestStatus::Open));
        assert_eq!(RequestStatus::parse("fixed"), Some(RequestStatus::Closed));
        assert_eq!(RequestStatus::parse("Closed"), Some(RequestStatus::Closed));
        assert_eq!(RequestStatus::parse("whatever"), None);
    }

    #[test]
    fn post_reply_with_numeric_ids() {
        let d = decode(r#"[{"service_request_id":293944,"service_notice":"x","account_id":null,"token":12345}]"#)
            .expect("json");
        let r = read_post_reply(&d).expect("reply");
        assert_eq!(r.service_request_id.as_deref(), Some("293944"));
        assert_eq!(r.token.as_deref(), Some("12345"));
        assert_eq!(r.account_id, None);
    }

    #[test]
    fn an_empty_request_element_is_a_reply_without_id_or_token() {
        for body in [
            "<service_requests><request></request></service_requests>",
            "<service_requests><request/></service_requests>",
            "<request/>",
        ] {
            let r = read_post_reply(&decode(body).expect("xml")).expect(body);
            assert_eq!((r.service_request_id, r.token), (None, None), "{body}");
        }
        for body in [
            "<service_requests><request><service_notice>n</service_notice></request></service_requests>",
            "<request><service_notice>n</service_notice></request>",
        ] {
            let r = read_post_reply(&decode(body).expect("xml")).expect(body);
            assert_eq!(r.service_notice.as_deref(), Some("n"), "{body}");
        }
        for body in ["<service_requests/>", "[]"] {
            assert!(read_post_reply(&decode(body).expect("decodes")).is_err(), "{body}");
        }
    }

    #[test]
    fn xml_simple_single_documents_unwrap() {
        let d = decode(
            r#"{"service_definition":[{"service_code":["A"],"attributes":[{"attribute":[{"code":["X"],"order":["1"]}]}]}]}"#,
        )
        .expect("json");
        let def = read_service_definition(&d).expect("definition");
        assert_eq!(def.service_code, "A");
        assert_eq!(def.attributes.len(), 1);
        let d = decode(
            r#"{"discovery":[{"endpoints":[{"endpoint":[{"specification":["http://wiki.open311.org/GeoReport_v2"],
                "url":["http://x/"],"type":["production"],"formats":[{"format":["text/xml","application/json"]}]}]}]}]}"#,
        )
        .expect("json");
        let disc = read_discovery(&d).expect("discovery");
        let e = disc.georeport_v2("production").expect("endpoint");
        assert_eq!(e.formats, ["text/xml", "application/json"]);
    }

    #[test]
    fn services_with_every_value_a_string() {
        let d = decode(r#"{"services":[{"service_code":"P","metadata":"true","type":"batch"}]}"#).expect("json");
        let s = read_services(&d).expect("services");
        assert_eq!(s.len(), 1);
        assert!(s[0].metadata);
        assert_eq!(s[0].kind, ServiceKind::Batch);
    }

    #[test]
    fn a_scalar_is_not_a_list() {
        let d = decode("42").expect("json");
        assert!(matches!(read_requests(&d), Err(DecodeError::Shape(_))));
    }
}
