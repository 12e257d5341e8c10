//! What the server remembers (requests, hits) and how tests steer it (faults, quirks).
//!
//! All of these serialise with serde so the binary's `/_admin/` routes can take and give them as
//! JSON. Enums are externally tagged: `"Html500"`, `{"Status": 503}`, `{"Hang": 1500}` (durations
//! in milliseconds), `{"RateLimited": {"retry_after_s": 2}}`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A service request as the server stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRequest {
    /// The id the server gave it (`SR-000001`, or numeric under [`Quirk::NumericIds`]).
    pub service_request_id: String,
    /// The jurisdiction it was filed in.
    pub jurisdiction_id: String,
    /// The service it was filed under.
    pub service_code: String,
    /// The service's name at filing time.
    pub service_name: String,
    /// `open` or `closed`.
    pub status: String,
    /// Set when closed through `close_request`.
    pub status_notes: Option<String>,
    /// As posted.
    pub description: Option<String>,
    /// As posted (WGS84).
    pub lat: Option<f64>,
    /// As posted (WGS84).
    pub long: Option<f64>,
    /// As posted; answered as `address` by `GET requests`.
    pub address_string: Option<String>,
    /// As posted.
    pub device_id: Option<String>,
    /// As posted.
    pub media_url: Option<String>,
    /// `(code, value)` in the order received; a multivaluelist gives one pair per value.
    pub attributes: Vec<(String, String)>,
    /// When the POST arrived (UTC, whole seconds).
    #[serde(with = "crate::time::rfc3339")]
    pub requested_datetime: DateTime<Utc>,
    /// When it last changed: the POST, or the closing time.
    #[serde(with = "crate::time::rfc3339")]
    pub updated_datetime: DateTime<Utc>,
    /// The token answered to the POST, for a batch service.
    pub token: Option<String>,
    /// Every parameter received (body first, then query string), minus `api_key`.
    pub form: Vec<(String, String)>,
}

/// One HTTP request the server received (the `/_admin/` routes are not recorded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The URL path, e.g. `/open311/v2/requests.json`.
    pub path: String,
    /// The raw query string without `?`, empty if none.
    pub query: String,
    /// The HTTP status answered (for a hang: the status it answers once the hang is over).
    pub status: u16,
}

/// A misbehaviour to apply to the next `times` requests that match `route`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Which requests the rule applies to.
    pub route: Route,
    /// What goes wrong.
    pub fault: Fault,
    /// How many matching requests it applies to; the rule is dropped when this reaches 0.
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

impl FaultRule {
    /// A rule for the next matching request only.
    pub fn once(route: Route, fault: Fault) -> FaultRule {
        FaultRule { route, fault, times: 1 }
    }
}

/// The Open311 calls a [`FaultRule`] can aim at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Route {
    /// Every request except the `/_admin/` ones, including unknown paths.
    Any,
    /// `GET /open311/discovery.{fmt}`.
    Discovery,
    /// `GET …/services.{fmt}`.
    Services,
    /// `GET …/services/{code}.{fmt}`.
    ServiceDefinition,
    /// `POST …/requests.{fmt}`.
    PostRequest,
    /// `GET …/requests.{fmt}`.
    GetRequests,
    /// `GET …/requests/{id}.{fmt}`.
    GetRequest,
    /// `GET …/tokens/{token}.{fmt}`.
    Token,
}

/// What goes wrong with a request a [`FaultRule`] matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Fault {
    /// Answer this status with a spec error body in the requested format (nothing is processed).
    Status(u16),
    /// Answer 500 with an HTML page, as a crashed framework does.
    Html500,
    /// Sleep this long, then process and answer normally. A client that gives up first closes the
    /// connection, the request is dropped unprocessed, and nothing is created.
    Hang(#[serde(with = "crate::time::millis")] Duration),
    /// Answer 429 with a `Retry-After` header (seconds) and an error body.
    RateLimited {
        /// The `Retry-After` value.
        retry_after_s: u64,
    },
    /// Process at once, then wait this long before answering.
    Slow(#[serde(with = "crate::time::millis")] Duration),
    /// POST only: process normally (the request is created), then answer this status with an
    /// error body, so the client cannot know it succeeded. If the POST fails validation the real
    /// error is answered. The rule matches POST requests only, even under [`Route::Any`].
    CommitThenStatus(u16),
    /// POST only: process normally (the request is created), then sleep before answering. The
    /// rule matches POST requests only, even under [`Route::Any`].
    CommitThenHang(#[serde(with = "crate::time::millis")] Duration),
}

impl Fault {
    /// Faults that only make sense for a POST, which commit before misbehaving.
    pub(crate) fn post_only(&self) -> bool {
        matches!(self, Fault::CommitThenStatus(_) | Fault::CommitThenHang(_))
    }
}

/// Response shapes of real servers (see the crate docs for each). One at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Quirk {
    /// JSON ids and tokens as numbers where they are numeric; new ids and tokens are numeric.
    NumericIds,
    /// JSON lists wrapped in an object, as FixMyStreet: `{"service_requests":[...]}`.
    WrappedLists,
    /// Every JSON scalar as a string: `"metadata":"false"`, `"lat":"42.35"` (null stays null).
    AllStrings,
    /// JSON as Perl's XML::Simple makes it: `{"requests":[{"request":[{"status":["open"]}]}]}`.
    XmlSimpleArrays,
    /// XML request lists with root `<requests>` instead of `<service_requests>`.
    XmlRootRequests,
    /// Error bodies off the spec: JSON `{"code":400,"detail":["..."]}`, XML `<error>text</error>`.
    OddErrors,
    /// A pending token answers HTTP 400 with an empty `service_request_id` (FixMyStreet's mock).
    PendingTokenAs400,
}
