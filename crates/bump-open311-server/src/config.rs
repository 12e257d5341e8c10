//! What the server offers: jurisdictions, their keys, services and service definitions.
//!
//! Everything here deserialises from TOML (the binary's `--config`) with defaults for every
//! missing field, so a config file only needs to say what differs.

use serde::{Deserialize, Serialize};

/// The whole server: which jurisdictions it serves and how strict or generous it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// The jurisdictions served. With exactly one, `jurisdiction_id` is optional on every call;
    /// with any other number it is required (the spec: "only required if the endpoint serves
    /// multiple jurisdictions").
    pub jurisdictions: Vec<JurisdictionConfig>,
    /// How many times `GET tokens/{token}` answers "pending" before the token resolves.
    pub token_polls: u32,
    /// When true, an empty parameter (`jurisdiction_id=`) is a 400, as some real servers do.
    /// When false the spec's rule applies: an empty optional parameter is the same as an absent one.
    pub reject_empty_params: bool,
    /// When true, JSON is served as well as XML and discovery lists both formats. XML is always
    /// served: the spec makes it the one required format.
    pub json: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            jurisdictions: Vec::new(),
            token_polls: 2,
            reject_empty_params: true,
            json: true,
        }
    }
}

impl ServerConfig {
    /// One jurisdiction offering `REQPOTHL` "Pothole" (realtime, with optional attributes `SIZE`
    /// (singlevaluelist small/medium/large), `DEPTH_CM` (number) and `SEEN_AT` (datetime)) and
    /// `REQCASTG` "Sunk casting or manhole" (batch, no attributes).
    pub fn example(jurisdiction_id: &str, api_key: &str) -> ServerConfig {
        let pothole = ServiceConfig {
            service_code: "REQPOTHL".to_owned(),
            service_name: "Pothole".to_owned(),
            description: "A hole or depression in the road surface.".to_owned(),
            group: "Streets".to_owned(),
            keywords: "pothole, road, surface".to_owned(),
            kind: ServiceKind::Realtime,
            attributes: vec![
                AttributeConfig {
                    code: "SIZE".to_owned(),
                    datatype: "singlevaluelist".to_owned(),
                    required: false,
                    variable: true,
                    description: "How large is the pothole?".to_owned(),
                    order: 1,
                    values: vec![
                        ("small".to_owned(), "Small (smaller than a plate)".to_owned()),
                        ("medium".to_owned(), "Medium (up to a wheel)".to_owned()),
                        ("large".to_owned(), "Large (larger than a wheel)".to_owned()),
                    ],
                },
                AttributeConfig {
                    code: "DEPTH_CM".to_owned(),
                    datatype: "number".to_owned(),
                    required: false,
                    variable: true,
                    description: "Estimated depth in centimetres".to_owned(),
                    order: 2,
                    values: Vec::new(),
                },
                AttributeConfig {
                    code: "SEEN_AT".to_owned(),
                    datatype: "datetime".to_owned(),
                    required: false,
                    variable: true,
                    description: "When the pothole was first seen".to_owned(),
                    order: 3,
                    values: Vec::new(),
                },
            ],
        };
        let casting = ServiceConfig {
            service_code: "REQCASTG".to_owned(),
            service_name: "Sunk casting or manhole".to_owned(),
            description: "A manhole cover or utility casting sits below the road surface.".to_owned(),
            group: "Streets".to_owned(),
            keywords: "manhole, casting, cover".to_owned(),
            kind: ServiceKind::Batch,
            attributes: Vec::new(),
        };
        ServerConfig {
            jurisdictions: vec![JurisdictionConfig {
                jurisdiction_id: jurisdiction_id.to_owned(),
                api_key: api_key.to_owned(),
                services: vec![pothole, casting],
            }],
            ..ServerConfig::default()
        }
    }
}

/// One jurisdiction (a city), with the API key that lets a client POST to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JurisdictionConfig {
    /// For example `cityofboston.gov`.
    pub jurisdiction_id: String,
    /// The key a POST must carry as `api_key`; a missing or different key is a 403.
    pub api_key: String,
    /// The services (request types) offered.
    pub services: Vec<ServiceConfig>,
}

/// One service (request type). Its `metadata` flag is `!attributes.is_empty()`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceConfig {
    /// The opaque code, e.g. `REQPOTHL`.
    pub service_code: String,
    /// Shown to users, and copied into each request's `service_name`.
    pub service_name: String,
    /// What the service is for.
    pub description: String,
    /// Category for grouping services in a user interface.
    pub group: String,
    /// A comma-separated string (the spec makes it a string, not a list).
    pub keywords: String,
    /// What POST answers: an id, a token to poll, or nothing.
    #[serde(rename = "type")]
    pub kind: ServiceKind,
    /// The service definition. Empty means `metadata` false and no definition (404).
    pub attributes: Vec<AttributeConfig>,
}

/// The three service `type`s of the spec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    /// POST answers the `service_request_id` at once.
    #[default]
    Realtime,
    /// POST answers a `token`; `GET tokens/{token}` later answers the id.
    Batch,
    /// POST answers neither id nor token.
    Blackbox,
}

impl ServiceKind {
    /// The spec's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Realtime => "realtime",
            ServiceKind::Batch => "batch",
            ServiceKind::Blackbox => "blackbox",
        }
    }
}

/// One attribute of a service definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttributeConfig {
    /// Sent by clients as `attribute[CODE]`.
    pub code: String,
    /// One of `string`, `number`, `datetime`, `text`, `singlevaluelist`, `multivaluelist`.
    pub datatype: String,
    /// When true, a POST without this attribute is a 400.
    pub required: bool,
    /// False means the attribute only carries information for the user; no input is expected.
    pub variable: bool,
    /// Shown to the user.
    pub description: String,
    /// Display order; the spec asks for a positive integer unique within the service.
    pub order: u32,
    /// `(key, name)` pairs for the list datatypes; a POST must send one of the keys.
    pub values: Vec<(String, String)>,
}

impl Default for AttributeConfig {
    fn default() -> Self {
        Self {
            code: String::new(),
            datatype: "string".to_owned(),
            required: false,
            variable: true,
            description: String::new(),
            order: 1,
            values: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_round_trips_through_json() {
        let config = ServerConfig::example("example.org", "k");
        let text = serde_json::to_string(&config).expect("serialise");
        assert!(text.contains("\"type\":\"realtime\""), "{text}");
        let back: ServerConfig = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, config);
    }

    #[test]
    fn missing_fields_take_defaults() {
        let text = r#"
            [[jurisdictions]]
            jurisdiction_id = "city.example"
            api_key = "secret"
            [[jurisdictions.services]]
            service_code = "A"
            type = "blackbox"
            [[jurisdictions.services.attributes]]
            code = "X"
            values = [["1", "One"]]
        "#;
        let config: ServerConfig = toml::from_str(text).expect("parse");
        assert_eq!(config.token_polls, 2);
        assert!(config.reject_empty_params && config.json);
        let service = &config.jurisdictions[0].services[0];
        assert_eq!(service.kind, ServiceKind::Blackbox);
        assert_eq!(service.attributes[0].datatype, "string");
        assert!(service.attributes[0].variable);
        assert_eq!(service.attributes[0].values, vec![("1".to_owned(), "One".to_owned())]);
    }
}
