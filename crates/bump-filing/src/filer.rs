/*!
The filer: turns decisions into service requests, exactly once, and follows
their status.

Three steps, each safe to repeat and to interrupt at any point:
[`Filer::enqueue`] records intents, [`Filer::deliver`] posts them (and
reconciles any whose outcome is unknown, and polls tokens), [`Filer::sync`]
reads the status of filed requests. `replay --file` runs them once;
`serve` runs them on a schedule.

Exactly once rests on three rules: `Posting` is durable before the POST is
sent; a filing found in `Posting` is first looked up on the server by the
marker in its description (GET Service Requests around its POST time), and
posted again only when the server does not have it; and a POST is never
retried blindly by the HTTP client. A batch service's request appears only
once its token resolves, so a lost token is waited for (`token_timeout_s`)
before the lookup is trusted.

Failpoints for the crash tests: with `failpoint` set to `after-intent`,
`after-posting`, `after-post` or `after-record`, the process aborts at that
step of the first filing, as `kill -9` would.
*/

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use bump_open311::{
    AttributeValue, BreakerConfig, Client, EndpointConfig, ErrorClass, NewRequest, RequestQuery, RequestStatus,
    RetryPolicy, ServiceKind, TokenState,
};
use bump_pipeline::config::FilingConfig;

use crate::outbox::{Filing, FilingState, Outbox, StoreError};
use crate::policy::{Candidate, Decision, Skip, decide};
use crate::registry::Registry;

/// What one cluster came to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    /// Cluster id.
    pub cluster_id: String,
    /// Class.
    pub class: String,
    /// Filed: where and how; skipped: why.
    pub outcome: PlannedOutcome,
}

/// A plan's outcome for one cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum PlannedOutcome {
    /// Would be (or was) filed.
    File {
        /// Municipality.
        jurisdiction_id: String,
        /// Service code.
        service_code: String,
        /// Marker.
        marker: String,
        /// The closed request it reopens.
        reopens: Option<String>,
    },
    /// Not filed.
    Skip(Skip),
}

/// Counts of one delivery round.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// POSTs sent.
    pub posted: usize,
    /// Filings that got their id (by reply, token or lookup).
    pub filed: usize,
    /// Filings found on the server after an unknown outcome.
    pub reconciled: usize,
    /// Tokens still pending.
    pub pending_tokens: usize,
    /// Refused by a server (needs an operator).
    pub failed: usize,
    /// Left for a later round (rate limit, breaker, timeouts, missing key).
    pub deferred: usize,
    /// What went wrong, one line each (never a key).
    pub errors: Vec<String>,
}

/// Counts of one status sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sync {
    /// Requests asked about.
    pub checked: usize,
    /// (cluster id, request id) of requests newly closed: their clusters are fixed.
    pub closed: Vec<(String, String)>,
    /// What went wrong.
    pub errors: Vec<String>,
}

/// The filer for one registry and outbox.
#[derive(Debug)]
pub struct Filer<'a, O: Outbox> {
    outbox: &'a O,
    registry: &'a Registry,
    cfg: &'a FilingConfig,
    clients: HashMap<String, Result<Client, String>>,
    kinds: Mutex<HashMap<(String, String), ServiceKind>>,
    /// Abort at this step (crash tests only).
    pub failpoint: Option<String>,
}

impl<'a, O: Outbox> Filer<'a, O> {
    /// A filer; `key_of` reads an environment variable by name (the
    /// registry names the variable holding each municipality's key).
    pub fn new(
        outbox: &'a O,
        registry: &'a Registry,
        cfg: &'a FilingConfig,
        key_of: &dyn Fn(&str) -> Option<String>,
    ) -> Self {
        let clients = registry
            .jurisdictions
            .iter()
            .filter_map(|j| {
                let base = j.endpoint.as_ref()?;
                let client = (|| {
                    let var = j.api_key_env.as_deref().ok_or("no api_key_env in the registry")?;
                    let key = key_of(var)
                        .filter(|k| !k.trim().is_empty())
                        .ok_or_else(|| format!("the API key variable {var} is not set"))?;
                    let mut ec = EndpointConfig::new(base, j.format);
                    ec.jurisdiction_id = j.send_jurisdiction_id.then(|| j.jurisdiction_id.clone());
                    ec.api_key = Some(key);
                    ec.timeout = Duration::from_millis(cfg.timeout_ms);
                    ec.retry = RetryPolicy {
                        max_attempts: cfg.max_attempts,
                        base_delay_ms: cfg.base_delay_ms,
                        max_delay_ms: 30_000,
                    };
                    ec.breaker = BreakerConfig {
                        failure_threshold: cfg.breaker_failures,
                        open_ms: cfg.breaker_open_s.saturating_mul(1000),
                    };
                    Client::new(ec).map_err(|e| e.to_string())
                })();
                Some((j.jurisdiction_id.clone(), client))
            })
            .collect();
        Self {
            outbox,
            registry,
            cfg,
            clients,
            kinds: Mutex::new(HashMap::new()),
            failpoint: None,
        }
    }

    fn fail_at(&self, step: &str) {
        if self.failpoint.as_deref() == Some(step) {
            // As abrupt as kill -9: no destructors, no flushing.
            std::process::abort();
        }
    }

    /// What the policy decides for each candidate, given the filings so far
    /// and reviewers' dismissals. Writes nothing.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the outbox cannot be read.
    pub async fn plan(
        &self,
        candidates: &[Candidate],
    ) -> Result<Vec<(Planned, Option<crate::outbox::NewFiling>)>, StoreError> {
        let mut filings = self.outbox.filings().await?;
        let dismissed = self.outbox.dismissed().await?;
        let is_dismissed = |id: &str| dismissed.iter().any(|d| d == id);
        let mut out = Vec::with_capacity(candidates.len());
        let mut next_id = filings.iter().map(|f| f.id).max().unwrap_or(0);
        for c in candidates {
            let d = decide(c, self.cfg, self.registry, &is_dismissed, &filings);
            let (outcome, new) = match d {
                Decision::File(nf) => {
                    // Later candidates of the same plan see this one as filed.
                    next_id += 1;
                    filings.push(Filing::from_new(next_id, &nf, Utc::now()));
                    (
                        PlannedOutcome::File {
                            jurisdiction_id: nf.jurisdiction_id.clone(),
                            service_code: nf.service_code.clone(),
                            marker: nf.marker.clone(),
                            reopens: nf.reopens.clone(),
                        },
                        Some(nf),
                    )
                }
                Decision::Skip(s) => (PlannedOutcome::Skip(s), None),
            };
            out.push((
                Planned {
                    cluster_id: c.cluster_id.clone(),
                    class: c.class.clone(),
                    outcome,
                },
                new,
            ));
        }
        Ok(out)
    }

    /// Records an intent for every candidate the policy files.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub async fn enqueue(&self, candidates: &[Candidate], now: DateTime<Utc>) -> Result<Vec<Planned>, StoreError> {
        let plan = self.plan(candidates).await?;
        let mut out = Vec::with_capacity(plan.len());
        for (p, new) in plan {
            if let Some(nf) = new
                && self.outbox.insert(&nf, now).await?.is_some()
            {
                self.fail_at("after-intent");
            }
            out.push(p);
        }
        Ok(out)
    }

    async fn kind(&self, client: &Client, jurisdiction: &str, code: &str) -> Option<ServiceKind> {
        let key = (jurisdiction.to_owned(), code.to_owned());
        if let Some(k) = self.kinds.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Some(k);
        }
        let services = client.services().await.ok()?;
        let mut m = self.kinds.lock().ok()?;
        for s in services {
            m.insert((jurisdiction.to_owned(), s.service_code.clone()), s.kind.clone());
        }
        m.get(&key).cloned()
    }

    /// Posts intents, reconciles filings whose outcome is unknown, polls
    /// tokens. Failures of one endpoint never stop the others.
    ///
    /// # Errors
    ///
    /// [`StoreError`] only; HTTP failures are counted in the result.
    pub async fn deliver(&self, now: DateTime<Utc>) -> Result<Delivery, StoreError> {
        let mut d = Delivery::default();
        for mut f in self.outbox.filings().await? {
            if !matches!(f.state, FilingState::Intent | FilingState::Posting | FilingState::Token) {
                continue;
            }
            if f.next_attempt_at.is_some_and(|t| t > now) {
                d.deferred += 1;
                continue;
            }
            let client = match self.clients.get(&f.jurisdiction_id) {
                Some(Ok(c)) => c,
                Some(Err(why)) => {
                    d.deferred += 1;
                    d.errors.push(format!("{} ({}): {why}", f.marker, f.jurisdiction_id));
                    continue;
                }
                None => {
                    d.deferred += 1;
                    d.errors
                        .push(format!("{}: no endpoint for {}", f.marker, f.jurisdiction_id));
                    continue;
                }
            };
            if f.state == FilingState::Token {
                self.poll_token(client, &mut f, now, &mut d).await?;
                continue;
            }
            if f.state == FilingState::Posting {
                match self.reconcile(client, &mut f, now).await {
                    Ok(true) => {
                        d.reconciled += 1;
                        d.filed += 1;
                        continue;
                    }
                    Ok(false) => {}
                    Err(e) => {
                        f.last_error = Some(e);
                        f.next_attempt_at = Some(now + backoff(f.attempts));
                        f.updated_at = now;
                        self.outbox.update(&f).await?;
                        d.deferred += 1;
                        continue;
                    }
                }
                if f.state == FilingState::Posting {
                    // Not on the server, but it may yet appear (a batch
                    // service's lost token): wait.
                    d.deferred += 1;
                    continue;
                }
            }
            self.post(client, &mut f, now, &mut d).await?;
        }
        Ok(d)
    }

    async fn post(
        &self,
        client: &Client,
        f: &mut Filing,
        now: DateTime<Utc>,
        d: &mut Delivery,
    ) -> Result<(), StoreError> {
        f.state = FilingState::Posting;
        f.posted_at = Some(now);
        f.attempts += 1;
        f.updated_at = now;
        self.outbox.update(f).await?;
        self.fail_at("after-posting");
        let req = NewRequest {
            service_code: f.service_code.clone(),
            lat: f.lat,
            long: f.lon,
            description: Some(f.description.clone()),
            attributes: f
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), AttributeValue::Single(v.clone())))
                .collect(),
            ..NewRequest::default()
        };
        let result = client.post_request(&req).await;
        d.posted += 1;
        self.fail_at("after-post");
        match result {
            Ok(reply) => {
                if let Some(id) = reply.service_request_id {
                    f.state = FilingState::Filed;
                    f.service_request_id = Some(id);
                    f.last_error = None;
                    d.filed += 1;
                } else if let Some(t) = reply.token {
                    f.state = FilingState::Token;
                    f.token = Some(t);
                    f.next_attempt_at = Some(now + TimeDelta::seconds(1));
                    d.pending_tokens += 1;
                } else if self.kind(client, &f.jurisdiction_id, &f.service_code).await == Some(ServiceKind::Blackbox) {
                    f.state = FilingState::Filed;
                    d.filed += 1;
                } else {
                    // A reply without id or token: treat the outcome as
                    // unknown and look it up, rather than post again.
                    f.last_error = Some("the server answered without an id or a token".into());
                    f.next_attempt_at = None;
                    d.deferred += 1;
                }
            }
            Err(e) => {
                f.last_error = Some(e.to_string());
                match e.class() {
                    // Certainly not created: try again later.
                    ErrorClass::RateLimited | ErrorClass::CircuitOpen | ErrorClass::Invalid => {
                        f.state = FilingState::Intent;
                        let wait = e
                            .retry_after()
                            .and_then(|w| TimeDelta::from_std(w).ok())
                            .unwrap_or_else(|| backoff(f.attempts));
                        f.next_attempt_at = Some(now + wait);
                        d.deferred += 1;
                    }
                    // Refused: the same request would be refused again.
                    ErrorClass::BadRequest | ErrorClass::Forbidden | ErrorClass::NotFound => {
                        f.state = FilingState::Failed;
                        d.failed += 1;
                    }
                    // Unknown: stays Posting, reconciled at the next round
                    // (the breaker keeps a failing endpoint from being hammered).
                    ErrorClass::Server | ErrorClass::Timeout | ErrorClass::Transport | ErrorClass::Decode => {
                        f.next_attempt_at = None;
                        d.deferred += 1;
                    }
                }
                d.errors.push(format!("{}: {e}", f.marker));
            }
        }
        f.updated_at = now;
        self.outbox.update(f).await?;
        self.fail_at("after-record");
        Ok(())
    }

    /// Looks a filing in `Posting` up on the server. `Ok(true)`: found and
    /// recorded; `Ok(false)`: absent (state set back to `Intent` when it is
    /// safe to post again).
    async fn reconcile(&self, client: &Client, f: &mut Filing, now: DateTime<Utc>) -> Result<bool, String> {
        let margin = TimeDelta::seconds(i64::try_from(self.cfg.reconcile_margin_s).unwrap_or(i64::MAX / 2));
        let posted = f.posted_at.unwrap_or(f.created_at);
        let q = RequestQuery {
            service_codes: vec![f.service_code.clone()],
            start: Some(posted - margin),
            end: Some(now.max(posted) + margin),
            page_size: Some(200),
            ..RequestQuery::default()
        };
        let tag = format!("Ref: {}", f.marker);
        let found = client.requests(&q).await.map_err(|e| e.to_string())?;
        if let Some(r) = found
            .into_iter()
            .find(|r| r.description.as_deref().is_some_and(|d| d.contains(&tag)))
        {
            f.state = FilingState::Filed;
            f.service_request_id = r.service_request_id;
            f.last_error = None;
            f.next_attempt_at = None;
            f.updated_at = now;
            self.outbox.update(f).await.map_err(|e| e.to_string())?;
            return Ok(true);
        }
        let kind = self.kind(client, &f.jurisdiction_id, &f.service_code).await;
        let token_wait = TimeDelta::seconds(i64::try_from(self.cfg.token_timeout_s).unwrap_or(i64::MAX / 2));
        if kind == Some(ServiceKind::Realtime) || now - posted >= token_wait {
            f.state = FilingState::Intent;
        } else {
            f.next_attempt_at = Some(now + backoff(f.attempts));
            f.updated_at = now;
            self.outbox.update(f).await.map_err(|e| e.to_string())?;
        }
        Ok(false)
    }

    async fn poll_token(
        &self,
        client: &Client,
        f: &mut Filing,
        now: DateTime<Utc>,
        d: &mut Delivery,
    ) -> Result<(), StoreError> {
        let token = f.token.clone().unwrap_or_default();
        match client.token(&token).await {
            Ok(TokenState::Resolved(id)) => {
                f.state = FilingState::Filed;
                f.service_request_id = Some(id);
                f.next_attempt_at = None;
                f.last_error = None;
                d.filed += 1;
            }
            Ok(TokenState::Pending) => {
                let posted = f.posted_at.unwrap_or(f.created_at);
                let wait = TimeDelta::seconds(i64::try_from(self.cfg.token_timeout_s).unwrap_or(i64::MAX / 2));
                if now - posted >= wait {
                    // Give up on the token; find the request by its marker.
                    f.state = FilingState::Posting;
                    f.last_error = Some(format!("token {token} unresolved after {}s", self.cfg.token_timeout_s));
                }
                let polls = (now - posted).num_seconds().max(0);
                f.next_attempt_at = Some(now + TimeDelta::seconds((1 + polls / 2).min(3600)));
                d.pending_tokens += 1;
            }
            Err(e) => {
                f.last_error = Some(e.to_string());
                f.next_attempt_at = Some(now + backoff(f.attempts));
                d.deferred += 1;
                d.errors.push(format!("{}: {e}", f.marker));
            }
        }
        f.updated_at = now;
        self.outbox.update(f).await
    }

    /// Reads the status of every filed request; a closed one closes its
    /// filing (its cluster is then fixed).
    ///
    /// # Errors
    ///
    /// [`StoreError`] only.
    pub async fn sync(&self, now: DateTime<Utc>) -> Result<Sync, StoreError> {
        let mut s = Sync::default();
        let filings = self.outbox.filings().await?;
        let mut by_j: HashMap<&str, Vec<&Filing>> = HashMap::new();
        for f in &filings {
            if f.state == FilingState::Filed && f.service_request_id.is_some() {
                by_j.entry(f.jurisdiction_id.as_str()).or_default().push(f);
            }
        }
        let mut keys: Vec<&str> = by_j.keys().copied().collect();
        keys.sort_unstable();
        for j in keys {
            let group = &by_j[j];
            let Some(Ok(client)) = self.clients.get(j) else {
                s.errors.push(format!("{j}: no usable endpoint"));
                continue;
            };
            let q = RequestQuery {
                ids: group.iter().filter_map(|f| f.service_request_id.clone()).collect(),
                ..RequestQuery::default()
            };
            s.checked += q.ids.len();
            let found = match client.requests(&q).await {
                Ok(r) => r,
                Err(e) => {
                    s.errors.push(format!("{j}: {e}"));
                    continue;
                }
            };
            for f in group {
                let Some(r) = found.iter().find(|r| r.service_request_id == f.service_request_id) else {
                    continue;
                };
                if r.status == Some(RequestStatus::Closed) {
                    let mut g = (*f).clone();
                    g.state = FilingState::Closed;
                    g.closed_at = Some(r.updated_datetime.map_or(now, |t| t.with_timezone(&Utc)));
                    g.status_notes.clone_from(&r.status_notes);
                    g.updated_at = now;
                    self.outbox.update(&g).await?;
                    s.closed
                        .push((g.cluster_id.clone(), g.service_request_id.clone().unwrap_or_default()));
                }
            }
        }
        Ok(s)
    }
}

/// 30 s, doubling per attempt, at most an hour.
fn backoff(attempts: u32) -> TimeDelta {
    TimeDelta::seconds((30i64 << attempts.min(7)).min(3600))
}
