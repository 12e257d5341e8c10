/*!
Errors, classified by HTTP status first and body second.

The spec says the HTTP status is what counts ("HTTP error codes are
required") and the body's codes may be anything, so [`ErrorClass`] comes
from the status alone; the body only adds the server's words. Bodies come in
every shape (spec arrays, Django REST objects, a bare `<error>`, a `message`
field, HTML pages) and all of them are reduced to [`ApiError`]s.
*/

use std::time::Duration;

use serde_json::Value;

use crate::decode::{DecodeError, all_strings, decode, items, text};

/// One error the server reported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiError {
    /// The server's code: often the HTTP status, sometimes a word.
    pub code: String,
    /// The server's description, meant for people.
    pub description: String,
}

/// What kind of failure, which decides the retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// 400 and other 4xx not listed: the request is wrong; never retried as is.
    BadRequest,
    /// 401/403: the key is missing or wrong; never retried as is.
    Forbidden,
    /// 404: no such service, jurisdiction or request.
    NotFound,
    /// 429: too many requests; retried after `Retry-After`.
    RateLimited,
    /// 5xx: the server failed; retried with backoff.
    Server,
    /// No answer in time; retried with backoff.
    Timeout,
    /// Connection refused, reset, DNS; retried with backoff.
    Transport,
    /// An answer that could not be read.
    Decode,
    /// This endpoint failed too often lately; not tried.
    CircuitOpen,
    /// We refused to send something invalid.
    Invalid,
}

impl ErrorClass {
    /// Whether trying again later may succeed without changing the request.
    #[must_use]
    pub const fn is_transient(self) -> bool {
        matches!(
            self,
            Self::RateLimited | Self::Server | Self::Timeout | Self::Transport | Self::CircuitOpen
        )
    }
}

/// An Open311 call that failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status.
    #[error("{method} {url}: HTTP {status}: {}", describe(errors))]
    Status {
        /// Method.
        method: &'static str,
        /// URL, without the API key.
        url: String,
        /// HTTP status.
        status: u16,
        /// What the body said.
        errors: Vec<ApiError>,
        /// `Retry-After`, when sent.
        retry_after: Option<Duration>,
    },
    /// No answer in time.
    #[error("{method} {url}: no answer within {timeout:?}")]
    Timeout {
        /// Method.
        method: &'static str,
        /// URL.
        url: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The connection failed.
    #[error("{method} {url}: {reason}")]
    Transport {
        /// Method.
        method: &'static str,
        /// URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// A success status with a body that could not be read.
    #[error("{method} {url}: {source}")]
    Decode {
        /// Method.
        method: &'static str,
        /// URL.
        url: String,
        /// Why.
        source: DecodeError,
    },
    /// The endpoint's circuit breaker is open.
    #[error("{endpoint}: not tried, {failures} failures in a row; next try in {retry_in:?}")]
    CircuitOpen {
        /// Base URL.
        endpoint: String,
        /// Consecutive failures.
        failures: u32,
        /// When it may be tried again.
        retry_in: Duration,
    },
    /// We refused to send it.
    #[error("not sent: {0}")]
    Invalid(String),
}

fn describe(errors: &[ApiError]) -> String {
    if errors.is_empty() {
        return "no error description".into();
    }
    errors
        .iter()
        .map(|e| {
            if e.code.is_empty() {
                e.description.clone()
            } else {
                format!("[{}] {}", e.code, e.description)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// The class, from the HTTP status first.
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Status { status, .. } => class_of_status(*status),
            Self::Timeout { .. } => ErrorClass::Timeout,
            Self::Transport { .. } => ErrorClass::Transport,
            Self::Decode { .. } => ErrorClass::Decode,
            Self::CircuitOpen { .. } => ErrorClass::CircuitOpen,
            Self::Invalid(_) => ErrorClass::Invalid,
        }
    }

    /// The server's `Retry-After`, when it sent one.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            Self::CircuitOpen { retry_in, .. } => Some(*retry_in),
            _ => None,
        }
    }

    /// The HTTP status, when there was one.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The class of an HTTP error status.
#[must_use]
pub const fn class_of_status(status: u16) -> ErrorClass {
    match status {
        401 | 403 => ErrorClass::Forbidden,
        404 | 410 => ErrorClass::NotFound,
        408 => ErrorClass::Timeout,
        429 => ErrorClass::RateLimited,
        500..=599 => ErrorClass::Server,
        _ => ErrorClass::BadRequest,
    }
}

/// Reads an error body of any shape. Never fails: an unreadable body becomes
/// one error carrying its first line.
#[must_use]
pub fn parse_error_body(status: u16, body: &str) -> Vec<ApiError> {
    let fallback_code = status.to_string();
    match decode(body) {
        Ok(doc) => {
            let mut out = from_value(&doc.value, &fallback_code);
            if out.is_empty()
                && let Value::String(s) = &doc.value
            {
                // A bare `<error>text</error>`.
                out.push(ApiError {
                    code: fallback_code.clone(),
                    description: s.clone(),
                });
            }
            if out.is_empty() {
                let words = all_strings(&doc.value);
                if !words.is_empty() {
                    out.push(ApiError {
                        code: fallback_code,
                        description: words.join("; "),
                    });
                }
            }
            out
        }
        Err(DecodeError::Html { title }) => vec![ApiError {
            code: fallback_code,
            description: if title.is_empty() {
                "an HTML error page".into()
            } else {
                format!("HTML page: {title}")
            },
        }],
        Err(DecodeError::Empty) => Vec::new(),
        Err(_) => {
            let first = body.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
            vec![ApiError {
                code: fallback_code,
                description: first.chars().take(200).collect(),
            }]
        }
    }
}

fn from_value(v: &Value, fallback_code: &str) -> Vec<ApiError> {
    // Spec shape `[{"code","description"}]` or XML `<errors><error>…`; also a
    // single object with `detail` (Django REST) or `message`.
    items(v)
        .into_iter()
        .filter_map(|e| {
            let description = text(e.get("description"))
                .or_else(|| text(e.get("message")))
                .or_else(|| {
                    e.get("detail")
                        .map(|d| all_strings(d).join("; "))
                        .filter(|s| !s.is_empty())
                })
                .or_else(|| text(e.get("error")))
                .or_else(|| text(Some(e)))?;
            Some(ApiError {
                code: text(e.get("code")).unwrap_or_else(|| fallback_code.to_owned()),
                description,
            })
        })
        .collect()
}

/// Reads `Retry-After`: seconds, or an HTTP date.
#[must_use]
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let t = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let d = t.with_timezone(&chrono::Utc) - now;
    Some(d.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_error_arrays() {
        let e = parse_error_body(
            400,
            r#"[{"code":400,"description":"a"},{"code":"X","description":"b"}]"#,
        );
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].code, "X");
        let e = parse_error_body(
            403,
            "<?xml version=\"1.0\"?><errors><error><code>403</code><description>bad key</description></error></errors>",
        );
        assert_eq!(
            e,
            vec![ApiError {
                code: "403".into(),
                description: "bad key".into()
            }]
        );
    }

    #[test]
    fn odd_error_shapes() {
        let e = parse_error_body(
            400,
            r#"{"code":400,"detail":{"non_field_errors":["Service code NOPE is invalid"]}}"#,
        );
        assert_eq!(e[0].description, "Service code NOPE is invalid");
        let e = parse_error_body(403, "<error>Invalid api_key received</error>");
        assert_eq!(e[0].description, "Invalid api_key received");
        assert_eq!(e[0].code, "403");
        let e = parse_error_body(
            400,
            r#"[{"message":"Missing attribute","code":"REQUIRED_FIELD_MISSING"}]"#,
        );
        assert_eq!(e[0].code, "REQUIRED_FIELD_MISSING");
        let e = parse_error_body(500, "<!doctype html><title>Server Error (500)</title>");
        assert!(e[0].description.contains("Server Error (500)"));
        let e = parse_error_body(502, "Bad gateway\nmore");
        assert_eq!(e[0].description, "Bad gateway");
        assert!(parse_error_body(500, "").is_empty());
    }

    #[test]
    fn classes_come_from_the_status() {
        assert_eq!(class_of_status(400), ErrorClass::BadRequest);
        assert_eq!(class_of_status(403), ErrorClass::Forbidden);
        assert_eq!(class_of_status(404), ErrorClass::NotFound);
        assert_eq!(class_of_status(429), ErrorClass::RateLimited);
        assert_eq!(class_of_status(503), ErrorClass::Server);
        assert!(!ErrorClass::BadRequest.is_transient());
        assert!(ErrorClass::Server.is_transient());
    }

    #[test]
    fn retry_after_in_seconds_or_a_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .expect("date")
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Fri, 27 Nov 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
