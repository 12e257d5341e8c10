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

use chrono::{DateTime, Utc};

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
    pub ids: Vec<String>,
    /// Service codes.
    pub service_codes: Vec<String>,
    /// Status.
    pub status: Option<RequestStatus>,
    /// Window start; split into windows of at most 90 days.
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
    /// code no server has, at a valid position. A server that checks keys
    /// answers 403 (or 401) for a bad key and 400/404 for the unknown code
    /// with a good one. `Ok(true)`: accepted; `Ok(false)`: refused.
    ///
    /// # Errors
    ///
    /// [`Error`] for any other answer, including a success (the server
    /// accepted an unknown service code, which says nothing about the key).
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
            Err(Error::Status { status: 400 | 404, .. }) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// GET service_request_id from a token. A pending token is
    /// [`TokenState::Pending`], whether the server says so with an empty id,
    /// an HTTP 400 carrying the token (FixMyStreet) or a 404.
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
    /// most 90 days, following pages when `page_size` is set.
    ///
    /// # Errors
    ///
    /// [`Error`] on the first failing call.
    pub async fn requests(&self, q: &RequestQuery) -> Result<Vec<ServiceRequest>, Error> {
        let mut out = Vec::new();
        if !q.ids.is_empty() {
            for chunk in q.ids.chunks(50) {
                let mut query = self.base_query();
                query.push(("service_request_id".into(), chunk.join(",")));
                out.extend(self.list(query).await?);
            }
            return Ok(out);
        }
        let mut base = self.base_query();
        if !q.service_codes.is_empty() {
            base.push(("service_code".into(), q.service_codes.join(",")));
        }
        if let Some(s) = q.status {
            base.push((
                "status".into(),
                if s == RequestStatus::Open { "open" } else { "closed" }.into(),
            ));
        }
        let windows: Vec<Option<(DateTime<Utc>, DateTime<Utc>)>> = match q.start {
            None => vec![None],
            Some(start) => split_windows(start, q.end.unwrap_or_else(Utc::now))
                .into_iter()
                .map(Some)
                .collect(),
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
        loop {
            attempt += 1;
            let result = self.exchange_once(method, &url, &query, form.as_ref()).await;
            let outcome = result.as_ref().map(|_| ()).map_err(Error::class);
            if let Ok(mut b) = self.breaker.lock() {
                b.record(outcome, Instant::now());
            }
            match result {
                Ok(a) => return Ok(a),
                Err(e) => match retry.then(|| self.cfg.retry.next_delay(&e, attempt)).flatten() {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => return Err(e),
                },
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
        let check = self.breaker.lock().map(|b| (b.check(Instant::now()), b.failures()));
        if let Ok((Err(retry_in), failures)) = check {
            return Err(Error::CircuitOpen {
                endpoint: self.cfg.base_url.clone(),
                failures,
                retry_in,
            });
        }
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
        let resp = rb.send().await.map_err(|e| {
            if e.is_timeout() {
                Error::Timeout {
                    method,
                    url: shown_url.clone(),
                    timeout: self.cfg.timeout,
                }
            } else {
                Error::Transport {
                    method,
                    url: shown_url.clone(),
                    reason: error_chain(&e),
                }
            }
        })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let body = resp.text().await.map_err(|e| {
            if e.is_timeout() {
                Error::Timeout {
                    method,
                    url: shown_url.clone(),
                    timeout: self.cfg.timeout,
                }
            } else {
                Error::Transport {
                    method,
                    url: shown_url.clone(),
                    reason: error_chain(&e),
                }
            }
        })?;
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

/// Splits `start..end` into consecutive windows of at most 90 days.
#[must_use]
pub fn split_windows(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut s = start;
    while s < end {
        let e = (s + MAX_WINDOW).min(end);
        out.push((s, e));
        s = e;
    }
    if out.is_empty() {
        out.push((start, start));
    }
    out
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
        assert!(w.windows(2).all(|p| p[0].1 == p[1].0));
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
