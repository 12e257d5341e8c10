//! The shared state behind the HTTP handlers and the test-facing methods.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};

use crate::config::ServerConfig;
use crate::model::{Fault, FaultRule, Hit, Quirk, Route, StoredRequest};

/// Everything a running server knows. Cheap to clone: clones share the same state, so a test can
/// keep one while [`serve`](crate::serve) uses another.
#[derive(Debug, Clone)]
pub struct ServerState {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: ServerConfig,
    store: Mutex<Store>,
    faults: Mutex<VecDeque<FaultRule>>,
    hits: Mutex<Vec<Hit>>,
    addr: Mutex<Option<SocketAddr>>,
}

/// The part a request can change. It is cloned for a dry run (see `Fault::Hang`), so it holds
/// nothing else.
#[derive(Debug, Clone, Default)]
pub(crate) struct Store {
    pub(crate) requests: Vec<StoredRequest>,
    pub(crate) tokens: Vec<TokenEntry>,
    pub(crate) quirk: Option<Quirk>,
    next_id: u64,
    next_token: u64,
}

/// A batch POST waiting for its id.
#[derive(Debug, Clone)]
pub(crate) struct TokenEntry {
    pub(crate) token: String,
    /// Pending answers given so far.
    pub(crate) polls: u32,
    /// The request as it will be created; `service_request_id` is empty until then.
    pub(crate) draft: StoredRequest,
    pub(crate) resolved_id: Option<String>,
}

impl Store {
    /// `SR-000001`, or with [`Quirk::NumericIds`] a number like the spec's `293944`.
    pub(crate) fn new_id(&mut self) -> String {
        self.next_id += 1;
        if self.quirk == Some(Quirk::NumericIds) {
            (293_943 + self.next_id).to_string()
        } else {
            format!("SR-{:06}", self.next_id)
        }
    }

    /// `TKN-000001`, or with [`Quirk::NumericIds`] a number like the spec's `12345`.
    pub(crate) fn new_token(&mut self) -> String {
        self.next_token += 1;
        if self.quirk == Some(Quirk::NumericIds) {
            (12_344 + self.next_token).to_string()
        } else {
            format!("TKN-{:06}", self.next_token)
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock (a bug in a test) should not hide later answers.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ServerState {
    /// A fresh server: no requests, no faults, no quirk.
    pub fn new(config: ServerConfig) -> ServerState {
        ServerState {
            shared: Arc::new(Shared {
                config,
                store: Mutex::new(Store::default()),
                faults: Mutex::new(VecDeque::new()),
                hits: Mutex::new(Vec::new()),
                addr: Mutex::new(None),
            }),
        }
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// Every request created (batch ones once their token resolved), in creation order.
    pub fn requests(&self) -> Vec<StoredRequest> {
        lock(&self.shared.store).requests.clone()
    }

    /// Closes a request: status `closed`, `status_notes` = `notes`, `updated_datetime` =
    /// `closed_at` (the spec: "the date the request was closed"). False if the id is unknown.
    pub fn close_request(&self, id: &str, closed_at: DateTime<Utc>, notes: &str) -> bool {
        let mut store = lock(&self.shared.store);
        match store.requests.iter_mut().find(|r| r.service_request_id == id) {
            Some(request) => {
                request.status = "closed".to_owned();
                request.status_notes = Some(notes.to_owned());
                request.updated_datetime = closed_at;
                true
            }
            None => false,
        }
    }

    /// Queues a fault; queued rules are tried in order for each request.
    pub fn push_fault(&self, rule: FaultRule) {
        if rule.times > 0 {
            lock(&self.shared.faults).push_back(rule);
        }
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Sets (or with `None` clears) the response-shape quirk.
    pub fn set_quirk(&self, quirk: Option<Quirk>) {
        lock(&self.shared.store).quirk = quirk;
    }

    /// The current quirk.
    pub fn quirk(&self) -> Option<Quirk> {
        lock(&self.shared.store).quirk
    }

    /// Every HTTP request received so far except the `/_admin/` ones, in arrival order.
    pub fn hits(&self) -> Vec<Hit> {
        lock(&self.shared.hits).clone()
    }

    /// The address [`serve`](crate::serve) listens on, once it does.
    pub fn addr(&self) -> Option<SocketAddr> {
        *lock(&self.shared.addr)
    }

    pub(crate) fn set_addr(&self, addr: SocketAddr) {
        *lock(&self.shared.addr) = Some(addr);
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.shared.store)
    }

    /// Takes the fault for a request on `route` (None for an unknown path), consuming one use of
    /// the first queued rule that matches.
    pub(crate) fn take_fault(&self, route: Option<Route>) -> Option<Fault> {
        let mut faults = lock(&self.shared.faults);
        let index = faults.iter().position(|rule| {
            let route_matches = rule.route == Route::Any || Some(rule.route) == route;
            route_matches && (!rule.fault.post_only() || route == Some(Route::PostRequest))
        })?;
        let rule = faults.get_mut(index)?;
        let fault = rule.fault.clone();
        rule.times = rule.times.saturating_sub(1);
        if rule.times == 0 {
            faults.remove(index);
        }
        Some(fault)
    }

    /// Records a hit and returns its index, so a hang can correct the status later.
    pub(crate) fn record_hit(&self, hit: Hit) -> usize {
        let mut hits = lock(&self.shared.hits);
        hits.push(hit);
        hits.len() - 1
    }

    pub(crate) fn update_hit_status(&self, index: usize, status: u16) {
        if let Some(hit) = lock(&self.shared.hits).get_mut(index) {
            hit.status = status;
        }
    }
}
