/*!
The HTTP client for one endpoint.

One [`Client`] per endpoint (and so per breaker): an endpoint that keeps
failing is left alone while the others keep working. Reads are retried by
the [`RetryPolicy`]; [`Client::post_request`] is tried once, because a
timeout cannot tell whether the request was created. The API key goes only
in POST bodies, never in URLs, so it never reaches a log line or an error
message.
*/

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};

use crate::decode::{DecodeError, Document, decode};
use crate::error::{Error, parse_error_body, parse_retry_after};
use crate::form::NewRequest;
use crate::model::{
    Discovery, Format, PostReply, RequestStatus, Service, ServiceDefinition, ServiceRequest, read_discovery,
    read_post_reply, read_requests, read_service_definition, read_services, w3_datetime,
};
use crate::retry::{BreakerConfig, CircuitBreaker, RetryPolicy};

/// The service code [`Client::probe_key`] sends, which no server has.
pub const KEY_PROBE_CODE: &str = "streetbump-key-check";

/// The spec's longest `start_date`..`end_date` span.
pub const MAX_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(90);

/// Where and how to reach one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointConfig {
    /// Base URL, e.g. `https://city.example/open311/v2/`.
    pub base_url: String,
    /// Sent on every call when set (multi-jurisdiction endpoints).
    pub jurisdiction_id: Option<String>,
    /// Response format.
    pub format: Format,
    /// API key, for POSTs.
    pub api_key: Option<String>,
    /// Per-call timeout.
    pub timeout: Duration,
    /// Retries of reads.
    pub retry: RetryPolicy,
    /// Circuit breaker.
    pub breaker: BreakerConfig,
}

impl EndpointConfig {
    /// An endpoint with default timeout (10 s), retries and breaker.
    #[must_use]
    pub fn new(base_url: &str, format: Format) -> Self {
        Self {
            base_url: base_url.to_owned(),
            jurisdiction_id: None,
            format,
            api_key: None,
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
        }
    }
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenState {
    /// Not yet turned into a request.
    Pending,
    /// The request's id.
    Resolved(String),
}

/// Which requests to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestQuery {
    /// Ids; when given, everything else is ignored (as the spec says).
    /// Blank ids are dropped; only blank ids find nothing.
    pub ids: Vec<String>,
    /// Service codes; blank ones are dropped.
    pub service_codes: Vec<String>,
    /// Status.
    pub status: Option<RequestStatus>,
    /// Window start; split into windows of at most 90 days (default 90
    /// days before `end` when only `end` is set).
    pub start: Option<DateTime<Utc>>,
    /// Window end (default now when `start` is set).
    pub end: Option<DateTime<Utc>>,
    /// Page size, for servers with the paging extension.
    pub page_size: Option<u32>,
}

/// A GeoReport v2 client for one endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    cfg: EndpointConfig,
    breaker: Arc<Mutex<CircuitBreaker>>,
}

struct Answer {
    body: String,
}

impl Client {
    /// A client for `cfg`.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] when the base URL is not http(s) or the HTTP client
    /// cannot be built.
    pub fn new(mut cfg: EndpointConfig) -> Result<Self, Error> {
        if !(cfg.base_url.starts_with("http://") || cfg.base_url.starts_with("https://")) {
            return Err(Error::Invalid(format!("base URL {:?} is not http(s)", cfg.base_url)));
        }
        if !cfg.base_url.ends_with('/') {
            cfg.base_url.push('/');
        }
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .user_agent(concat!("streetbump/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Invalid(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            breaker: Arc::new(Mutex::new(CircuitBreaker::new(cfg.breaker))),
            cfg,
        })
    }

    /// The endpoint's configuration.
    #[must_use]
    pub const fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// Reads a discovery document.
    ///
    /// # Errors
    ///
    /// [`Error`] on failure.
    pub async fn discover(url: &str, timeout: Duration) -> Result<Discovery, Error> {
        let cfg = EndpointConfig {
            timeout,
            ..EndpointConfig::new(url, Format::Json)
        };
        let c = Self::new(cfg)?;
        let answer = c.exchange("GET", url.to_owned(), Vec::new(), None, true).await?;
        read_discovery(&c.document("GET", url, &answer.body)?).map_err(|source| Error::Decode {
            method: "GET",
            url: url.to_owned(),
            source,
        })
    }

    /// GET Service List.
    ///
    /// # Errors
    ///
    /// [`Error`] on failure.
    pub async fn services(&self) -> Result<Vec<Service>, Error> {
        let url = self.url("services");
        let a = self.exchange("GET", url.clone(), self.base_query(), None, true).await?;
        read_services(&self.document("GET", &url, &a.body)?).map_err(|source| Error::Decode {
            method: "GET",
            url,
            source,
        })
    }

    /// GET Service Definition.
    ///
    /// # Errors
    ///
    /// [`Error`] on failure.
    pub async fn service_definition(&self, code: &str) -> Result<ServiceDefinition, Error> {
        let url = self.url(&format!("services/{}", path_segment(code)));
        let a = self.exchange("GET", url.clone(), self.base_query(), None, true).await?;
        read_service_definition(&self.document("GET", &url, &a.body)?).map_err(|source| Error::Decode {
            method: "GET",
            url,
            source,
        })
    }

    /// POST Service Request, tried once.
    ///
    /// # Errors
    ///
    /// [`Error`] on failure; a timeout or 5xx leaves it unknown whether the
    /// request was created.
    pub async fn post_request(&self, req: &NewRequest) -> Result<PostReply, Error> {
        let key = self.cfg.api_key.as_deref().unwrap_or_default();
        let form = req.to_form(key, self.cfg.jurisdiction_id.as_deref())?;
        let url = self.url("requests");
        let a = self
            .exchange("POST", url.clone(), Vec::new(), Some(form), false)
            .await?;
        read_post_reply(&self.document("POST", &url, &a.body)?).map_err(|source| Error::Decode {
            method: "POST",
            url,
            source,
        })
    }

    /// Checks the API key without creating anything: a POST for a service
    /// code no server has ([`KEY_PROBE_CODE`]), at a valid position. A
    /// server that checks keys answers 403 (or 401) for a bad key and 400/404
    /// for the unknown code with a good one. A 400/404 can also come before
    /// the key was looked at (a multi-jurisdiction server refusing a missing
    /// or unknown `jurisdiction_id`), so its error descriptions decide:
    ///
    /// - any mentioning the jurisdiction: inconclusive, an error;
    /// - else any mentioning the key (`api_key`, `api key`, the word `key`):
    ///   `Ok(false)`;
    /// - else any mentioning the service code (the probe code, `service_code`
    ///   or `service code`): `Ok(true)`;
    /// - else (no or other descriptions): inconclusive, an error.
    ///
    /// `Ok(true)`: accepted; `Ok(false)`: refused.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] when the answer does not tell, including a success
    /// (the server accepted an unknown service code, which says nothing about
    /// the key) and an inconclusive 400/404; [`Error`] for other failures.
    pub async fn probe_key(&self, lat: f64, long: f64) -> Result<bool, Error> {
        let key = self.cfg.api_key.as_deref().unwrap_or_default();
        let probe = NewRequest {
            service_code: KEY_PROBE_CODE.into(),
            lat,
            long,
            ..NewRequest::default()
        };
        let form = probe.to_form(key, self.cfg.jurisdiction_id.as_deref())?;
        let url = self.url("requests");
        match self.exchange("POST", url.clone(), Vec::new(), Some(form), false).await {
            Ok(_) => Err(Error::Invalid(format!(
                "POST {url} accepted the made-up service code {KEY_PROBE_CODE}; cannot tell whether the key is valid"
            ))),
            Err(Error::Status { status: 401 | 403, .. }) => Ok(false),
            Err(e @ Error::Status { status: 400 | 404, .. }) => {
                let refusal = match &e {
                    Error::Status { errors, .. } => probe_refusal(errors),
                    _ => ProbeRefusal::Unclear,
                };
                match refusal {
                    ProbeRefusal::Key => Ok(false),
                    ProbeRefusal::ServiceCode => Ok(true),
                    ProbeRefusal::Jurisdiction | ProbeRefusal::Unclear => Err(Error::Invalid(format!(
                        "key check inconclusive, the refusal does not name the service code \
                         (the key may not have been looked at): {e}"
                    ))),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// GET service_request_id from a token. A pending token is
    /// [`TokenState::Pending`], whether the server says so with an empty id,
    /// an HTTP 400 carrying the token (FixMyStreet) or a 404.
    ///
    /// Some servers answer 404 for a token they have not processed yet, so a
    /// 404 cannot tell an unknown (mistyped, lost) token from a pending one:
    /// both read as pending, and callers must bound how long they wait (the
    /// filer gives up after `token_timeout_s`).
    ///
    /// # Errors
    ///
    /// [`Error`] on other failures.
    pub async fn token(&self, token: &str) -> Result<TokenState, Error> {
        let url = self.url(&format!("tokens/{}", path_segment(token)));
        match self.exchange("GET", url.clone(), self.base_query(), None, true).await {
            Ok(a) => {
                let doc = self.document("GET", &url, &a.body)?;
                let reqs = read_requests(&doc).map_err(|source| Error::Decode {
                    method: "GET",
                    url,
                    source,
                })?;
                Ok(reqs
                    .into_iter()
                    .find_map(|r| r.service_request_id)
                    .map_or(TokenState::Pending, TokenState::Resolved))
            }
            Err(Error::Status { status: 404, .. }) => Ok(TokenState::Pending),
            Err(e @ Error::Status { status: 400, .. }) => {
                // FixMyStreet answers a pending token with a 400 whose body is
                // the request element with an empty id.
                if let Error::Status { errors, .. } = &e
                    && errors.iter().any(|x| x.description.contains(token))
                {
                    Ok(TokenState::Pending)
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// GET Service Requests: by ids (in chunks), or by date windows of at
    /// most 90 days, following pages when `page_size` is set. Each request
    /// is returned once, in the order first seen, even if a server lists it
    /// in two windows or pages.
    ///
    /// # Errors
    ///
    /// [`Error`] on the first failing call.
    pub async fn requests(&self, q: &RequestQuery) -> Result<Vec<ServiceRequest>, Error> {
        Ok(dedup_by_id(self.requests_raw(q).await?))
    }

    async fn requests_raw(&self, q: &RequestQuery) -> Result<Vec<ServiceRequest>, Error> {
        let mut out = Vec::new();
        // An empty parameter is refused by strict servers.
        let ids = non_blank(&q.ids);
        if !ids.is_empty() {
            for chunk in ids.chunks(50) {
                let mut query = self.base_query();
                query.push(("service_request_id".into(), chunk.join(",")));
                out.extend(self.list(query).await?);
            }
            return Ok(out);
        }
        if !q.ids.is_empty() {
            // Only blank ids: they name no request, and listing everything
            // instead would answer another question.
            return Ok(out);
        }
        let mut base = self.base_query();
        let codes = non_blank(&q.service_codes);
        if !codes.is_empty() {
            base.push(("service_code".into(), codes.join(",")));
        }
        if let Some(s) = q.status {
            base.push((
                "status".into(),
                if s == RequestStatus::Open { "open" } else { "closed" }.into(),
            ));
        }
        let span = match (q.start, q.end) {
            (None, None) => None,
            (Some(start), end) => Some((start, end.unwrap_or_else(Utc::now))),
            (None, Some(end)) => Some((end - MAX_WINDOW, end)),
        };
        let windows: Vec<Option<(DateTime<Utc>, DateTime<Utc>)>> = match span {
            None => vec![None],
            Some((start, end)) => split_windows(start, end).into_iter().map(Some).collect(),
        };
        for w in windows {
            let mut query = base.clone();
            if let Some((s, e)) = w {
                query.push(("start_date".into(), w3_datetime(s)));
                query.push(("end_date".into(), w3_datetime(e)));
            }
            match q.page_size {
                None => out.extend(self.list(query).await?),
                Some(size) => {
                    let mut first_ids: Option<Option<String>> = None;
                    for page in 1..=500u32 {
                        let mut pq = query.clone();
                        pq.push(("page".into(), page.to_string()));
                        pq.push(("page_size".into(), size.to_string()));
                        let got = self.list(pq).await?;
                        let first = got.first().and_then(|r| r.service_request_id.clone());
                        // A server without paging answers every page alike.
                        if page > 1 && first_ids.as_ref() == Some(&first) {
                            break;
                        }
                        first_ids = Some(first);
                        let n = got.len();
                        out.extend(got);
                        if n < size as usize {
                            break;
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// GET one Service Request: `requests/{id}`, falling back to
    /// `requests?service_request_id=` (some servers only have that).
    ///
    /// # Errors
    ///
    /// [`Error`] on failure other than not found.
    pub async fn request(&self, id: &str) -> Result<Option<ServiceRequest>, Error> {
        let url = self.url(&format!("requests/{}", path_segment(id)));
        let found = match self.exchange("GET", url.clone(), self.base_query(), None, true).await {
            Ok(a) => read_requests(&self.document("GET", &url, &a.body)?).map_err(|source| Error::Decode {
                method: "GET",
                url,
                source,
            })?,
            Err(Error::Status { status: 404, .. }) => {
                let mut q = self.base_query();
                q.push(("service_request_id".into(), id.to_owned()));
                match self.list(q).await {
                    Ok(v) => v,
                    Err(Error::Status { status: 404, .. }) => Vec::new(),
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        Ok(found.into_iter().find(|r| r.service_request_id.as_deref() == Some(id)))
    }

    async fn list(&self, query: Vec<(String, String)>) -> Result<Vec<ServiceRequest>, Error> {
        let url = self.url("requests");
        let a = self.exchange("GET", url.clone(), query, None, true).await?;
        read_requests(&self.document("GET", &url, &a.body)?).map_err(|source| Error::Decode {
            method: "GET",
            url,
            source,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}.{}", self.cfg.base_url, self.cfg.format.ext())
    }

    fn base_query(&self) -> Vec<(String, String)> {
        self.cfg
            .jurisdiction_id
            .as_deref()
            .map(str::trim)
            .filter(|j| !j.is_empty())
            .map(|j| vec![("jurisdiction_id".to_owned(), j.to_owned())])
            .unwrap_or_default()
    }

    fn document(&self, method: &'static str, url: &str, body: &str) -> Result<Document, Error> {
        decode(body).map_err(|source| Error::Decode {
            method,
            url: url.to_owned(),
            source,
        })
    }

    async fn exchange(
        &self,
        method: &'static str,
        url: String,
        query: Vec<(String, String)>,
        form: Option<Vec<(String, String)>>,
        retry: bool,
    ) -> Result<Answer, Error> {
        let mut attempt = 0;
        let mut last: Option<Error> = None;
        loop {
            attempt += 1;
            if let Err((retry_in, failures)) = self.admit() {
                // Refused calls are no outcome to record. When this call's own
                // failures opened the breaker, its last real error says more
                // than "not tried".
                return Err(last.unwrap_or_else(|| Error::CircuitOpen {
                    endpoint: self.cfg.base_url.clone(),
                    failures,
                    retry_in,
                }));
            }
            let result = self.exchange_once(method, &url, &query, form.as_ref()).await;
            let outcome = result.as_ref().map(|_| ()).map_err(Error::class);
            let open_now = {
                // The guard must not live across an await (it is not Send).
                let mut b = self.lock_breaker();
                b.record(outcome, Instant::now());
                b.check(Instant::now()).is_err()
            };
            match result {
                Ok(a) => return Ok(a),
                Err(e) => match retry.then(|| self.cfg.retry.next_delay(&e, attempt)).flatten() {
                    // No point waiting for a retry the breaker will refuse.
                    Some(_) if open_now => return Err(e),
                    Some(delay) => {
                        last = Some(e);
                        tokio::time::sleep(delay).await;
                    }
                    None => return Err(e),
                },
            }
        }
    }

    /// Lets one call through the breaker, or says how long it stays shut and
    /// after how many failures.
    fn admit(&self) -> Result<(), (Duration, u32)> {
        let mut b = self.lock_breaker();
        let failures = b.failures();
        b.admit(Instant::now()).map_err(|d| (d, failures))
    }

    fn lock_breaker(&self) -> std::sync::MutexGuard<'_, CircuitBreaker> {
        // A panic elsewhere cannot leave the counters inconsistent (every
        // update is a few plain assignments), so a poisoned lock is used as is.
        self.breaker.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A failure before an HTTP status: a timeout, or anything else.
    fn transport_error(&self, method: &'static str, url: &str, e: &reqwest::Error) -> Error {
        if e.is_timeout() {
            Error::Timeout {
                method,
                url: url.to_owned(),
                timeout: self.cfg.timeout,
            }
        } else {
            Error::Transport {
                method,
                url: url.to_owned(),
                reason: error_chain(e),
            }
        }
    }

    async fn exchange_once(
        &self,
        method: &'static str,
        url: &str,
        query: &[(String, String)],
        form: Option<&Vec<(String, String)>>,
    ) -> Result<Answer, Error> {
        let shown_url = if query.is_empty() {
            url.to_owned()
        } else {
            format!(
                "{url}?{}",
                query
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&")
            )
        };
        let mut rb = match form {
            Some(f) => self.http.post(url).form(f),
            None => self.http.get(url),
        };
        if !query.is_empty() {
            rb = rb.query(query);
        }
        let resp = rb
            .send()
            .await
            .map_err(|e| self.transport_error(method, &shown_url, &e))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let body = resp
            .text()
            .await
            .map_err(|e| self.transport_error(method, &shown_url, &e))?;
        if status.is_success() {
            return Ok(Answer { body });
        }
        Err(Error::Status {
            method,
            url: shown_url,
            status: status.as_u16(),
            // A pending token's echo (FixMyStreet's 400) ends up here as
            // text, which `token()` looks for.
            errors: parse_error_body(status.as_u16(), &body),
            retry_after,
        })
    }
}

/// What a 400/404 to the key probe refused, by the rule of
/// [`Client::probe_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProbeRefusal {
    Jurisdiction,
    Key,
    ServiceCode,
    Unclear,
}

fn probe_refusal(errors: &[crate::error::ApiError]) -> ProbeRefusal {
    // The probe code itself holds the word "key"; it must not count as one.
    let texts: Vec<String> = errors
        .iter()
        .map(|e| {
            format!("{} {}", e.code, e.description)
                .to_ascii_lowercase()
                .replace(&KEY_PROBE_CODE.to_ascii_lowercase(), " probe_code ")
        })
        .collect();
    let words = |t: &str| -> Vec<String> {
        t.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    };
    if texts.iter().any(|t| t.contains("jurisdiction")) {
        ProbeRefusal::Jurisdiction
    } else if texts
        .iter()
        .any(|t| t.contains("apikey") || words(t).iter().any(|w| w == "key"))
    {
        ProbeRefusal::Key
    } else if texts
        .iter()
        .any(|t| t.contains("probe_code") || t.contains("service_code") || t.contains("service code"))
    {
        ProbeRefusal::ServiceCode
    } else {
        ProbeRefusal::Unclear
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Percent-encodes a path segment (ids and tokens are opaque strings).
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Splits `start..=end` into consecutive windows of at most 90 days that do
/// not overlap: servers read a window inclusively, so each starts one second
/// after the previous one ends. Both ends are cut to whole seconds first, as
/// the query sends them, so every second is in exactly one window.
#[must_use]
pub fn split_windows(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let start = start.trunc_subsecs(0);
    let end = end.trunc_subsecs(0);
    let mut out = Vec::new();
    let mut s = start;
    while s <= end {
        let e = (s + MAX_WINDOW).min(end);
        out.push((s, e));
        s = e + chrono::TimeDelta::seconds(1);
    }
    if out.is_empty() {
        out.push((start, start));
    }
    out
}

/// The entries that are not blank, trimmed.
fn non_blank(xs: &[String]) -> Vec<&str> {
    xs.iter().map(|x| x.trim()).filter(|x| !x.is_empty()).collect()
}

/// Drops later copies of a request with an id seen before, keeping order;
/// requests without an id cannot be told apart and are all kept.
fn dedup_by_id(list: Vec<ServiceRequest>) -> Vec<ServiceRequest> {
    let mut seen = std::collections::HashSet::new();
    list.into_iter()
        .filter(|r| r.service_request_id.as_ref().is_none_or(|id| seen.insert(id.clone())))
        .collect()
}

impl From<DecodeError> for Error {
    fn from(source: DecodeError) -> Self {
        Self::Decode {
            method: "GET",
            url: String::new(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_span_in_90_day_steps() {
        let s = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        let e = s + chrono::TimeDelta::days(200);
        let w = split_windows(s, e);
        assert_eq!(w.len(), 3);
        assert_eq!(w[0].0, s);
        assert_eq!(w[2].1, e);
        assert!(w.iter().all(|(a, b)| *b - *a <= MAX_WINDOW));
        assert!(w.windows(2).all(|p| p[0].1 + chrono::TimeDelta::seconds(1) == p[1].0));
    }

    #[test]
    fn windows_never_share_a_second() {
        let s = DateTime::parse_from_rfc3339("2026-01-01T00:00:00.700Z")
            .expect("date")
            .with_timezone(&Utc);
        let w = split_windows(s, s + MAX_WINDOW * 2);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].0.timestamp_subsec_nanos(), 0, "whole seconds, as sent");
        assert_eq!(w[0].1 + chrono::TimeDelta::seconds(1), w[1].0);
        assert_eq!(w[1].1, (s + MAX_WINDOW * 2).trunc_subsecs(0));
        assert_eq!(split_windows(s, s), [(s.trunc_subsecs(0), s.trunc_subsecs(0))]);
    }

    #[test]
    fn blank_entries_are_dropped_and_duplicates_kept_once() {
        let v = vec![" a ".to_owned(), " ".to_owned(), String::new(), "b".to_owned()];
        assert_eq!(non_blank(&v), ["a", "b"]);
        let r = |id: Option<&str>| ServiceRequest {
            service_request_id: id.map(str::to_owned),
            status: None,
            status_raw: None,
            status_notes: None,
            service_name: None,
            service_code: None,
            description: None,
            agency_responsible: None,
            service_notice: None,
            requested_datetime: None,
            updated_datetime: None,
            expected_datetime: None,
            address: None,
            lat: None,
            long: None,
            media_url: Vec::new(),
            token: None,
        };
        let got = dedup_by_id(vec![r(Some("1")), r(None), r(Some("2")), r(Some("1")), r(None)]);
        let ids: Vec<_> = got.iter().map(|x| x.service_request_id.as_deref()).collect();
        assert_eq!(ids, [Some("1"), None, Some("2"), None]);
    }

    #[test]
    fn probe_refusals_are_read_by_what_they_name() {
        let e = |d: &str| crate::error::ApiError {
            code: "400".into(),
            description: d.into(),
        };
        let not_found = e(&format!("service_code {KEY_PROBE_CODE} not found"));
        assert_eq!(
            probe_refusal(std::slice::from_ref(&not_found)),
            ProbeRefusal::ServiceCode
        );
        assert_eq!(
            probe_refusal(&[e("jurisdiction_id nowhere not found"), not_found]),
            ProbeRefusal::Jurisdiction
        );
        assert_eq!(probe_refusal(&[e("Invalid api_key")]), ProbeRefusal::Key);
        assert_eq!(probe_refusal(&[e("Unknown API key")]), ProbeRefusal::Key);
        assert_eq!(probe_refusal(&[e("Bad Request")]), ProbeRefusal::Unclear);
        assert_eq!(probe_refusal(&[]), ProbeRefusal::Unclear);
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(path_segment("SR-1/../x y"), "SR-1%2F..%2Fx%20y");
    }

    #[test]
    fn base_url_must_be_http() {
        assert!(Client::new(EndpointConfig::new("ftp://x/", Format::Xml)).is_err());
        let c = Client::new(EndpointConfig::new("http://x/open311/v2", Format::Json)).expect("client");
        assert_eq!(c.url("services"), "http://x/open311/v2/services.json");
    }
}
