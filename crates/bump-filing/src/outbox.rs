/*!
The filing outbox: every filing's life, durably.

```text
 Intent ──mark before POST──▶ Posting ──id──────────▶ Filed ──closed on server──▶ Closed
   ▲                            │  ├──token──▶ Token ──id──▲
   │  429 / breaker open        │  ├──400/403/404─▶ Failed (an operator acts)
   └────────────────────────────┘  └──timeout/5xx─▶ stays Posting: reconciled by marker
```

The intent is written before anything is sent and `Posting` is written
before the POST, so after a crash at any point the filer knows which
filings may exist on the server without their id here. Those are looked up
on the server by the marker carried in their description before anything
is posted again. [`Outbox`] is the storage interface (SQLite in the
embedded store, PostgreSQL when scaled out); [`MemoryOutbox`] serves tests
and dry runs.
*/

use std::future::Future;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a filing is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilingState {
    /// Decided, not sent.
    Intent,
    /// A POST was (or was about to be) sent; outcome not recorded.
    Posting,
    /// Sent to a batch service; waiting for the token to resolve.
    Token,
    /// Filed (with an id, unless the service is `blackbox`).
    Filed,
    /// The request was closed on the server.
    Closed,
    /// The server refused it (400/403/404); needs an operator.
    Failed,
}

impl FilingState {
    /// The name stored.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Intent => "intent",
            Self::Posting => "posting",
            Self::Token => "token",
            Self::Filed => "filed",
            Self::Closed => "closed",
            Self::Failed => "failed",
        }
    }

    /// Reads a stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "intent" => Self::Intent,
            "posting" => Self::Posting,
            "token" => Self::Token,
            "filed" => Self::Filed,
            "closed" => Self::Closed,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// A filing decided by the policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewFiling {
    /// Unique marker, also written into the description.
    pub marker: String,
    /// Cluster id.
    pub cluster_id: String,
    /// Class.
    pub class: String,
    /// Position, degrees.
    pub lat: f64,
    /// Position, degrees.
    pub lon: f64,
    /// Municipality.
    pub jurisdiction_id: String,
    /// Service code.
    pub service_code: String,
    /// Attributes sent.
    pub attributes: Vec<(String, String)>,
    /// Description sent.
    pub description: String,
    /// 1 for the first filing of a defect, +1 for each reopening.
    pub generation: u32,
    /// The closed request this one reopens.
    pub reopens: Option<String>,
}

/// A filing as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filing {
    /// Store id.
    pub id: i64,
    /// Unique marker.
    pub marker: String,
    /// Cluster id.
    pub cluster_id: String,
    /// Class.
    pub class: String,
    /// Position, degrees.
    pub lat: f64,
    /// Position, degrees.
    pub lon: f64,
    /// Municipality.
    pub jurisdiction_id: String,
    /// Service code.
    pub service_code: String,
    /// Attributes sent.
    pub attributes: Vec<(String, String)>,
    /// Description sent.
    pub description: String,
    /// Generation.
    pub generation: u32,
    /// The closed request this one reopens.
    pub reopens: Option<String>,
    /// State.
    pub state: FilingState,
    /// The server's id.
    pub service_request_id: Option<String>,
    /// Token of a batch service.
    pub token: Option<String>,
    /// POSTs sent.
    pub attempts: u32,
    /// Last error.
    pub last_error: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last POST sent.
    pub posted_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Not to be tried before.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Closed on the server at.
    pub closed_at: Option<DateTime<Utc>>,
    /// The server's status notes.
    pub status_notes: Option<String>,
}

impl Filing {
    /// A fresh intent.
    #[must_use]
    pub fn from_new(id: i64, n: &NewFiling, now: DateTime<Utc>) -> Self {
        Self {
            id,
            marker: n.marker.clone(),
            cluster_id: n.cluster_id.clone(),
            class: n.class.clone(),
            lat: n.lat,
            lon: n.lon,
            jurisdiction_id: n.jurisdiction_id.clone(),
            service_code: n.service_code.clone(),
            attributes: n.attributes.clone(),
            description: n.description.clone(),
            generation: n.generation,
            reopens: n.reopens.clone(),
            state: FilingState::Intent,
            service_request_id: None,
            token: None,
            attempts: 0,
            last_error: None,
            created_at: now,
            posted_at: None,
            updated_at: now,
            next_attempt_at: None,
            closed_at: None,
            status_notes: None,
        }
    }
}

/// A storage failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filing store: {0}")]
pub struct StoreError(pub String);

/// Durable storage of filings. Every method returns only once the change
/// is durable.
pub trait Outbox: Send + Sync {
    /// Records an intent; `None` when a filing with that marker exists.
    fn insert(
        &self,
        f: &NewFiling,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Filing>, StoreError>> + Send;
    /// Every filing, by id.
    fn filings(&self) -> impl Future<Output = Result<Vec<Filing>, StoreError>> + Send;
    /// Writes a filing's mutable fields (state, ids, times, errors).
    fn update(&self, f: &Filing) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Cluster ids a reviewer dismissed.
    fn dismissed(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
}

/// An outbox in memory, for tests and dry runs.
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    filings: Mutex<Vec<Filing>>,
    /// Cluster ids dismissed.
    pub dismissed: Mutex<Vec<String>>,
}

impl Outbox for MemoryOutbox {
    async fn insert(&self, f: &NewFiling, now: DateTime<Utc>) -> Result<Option<Filing>, StoreError> {
        let mut all = self.filings.lock().map_err(|e| StoreError(e.to_string()))?;
        if all.iter().any(|x| x.marker == f.marker) {
            return Ok(None);
        }
        let id = i64::try_from(all.len()).unwrap_or(i64::MAX) + 1;
        let row = Filing::from_new(id, f, now);
        all.push(row.clone());
        Ok(Some(row))
    }

    async fn filings(&self) -> Result<Vec<Filing>, StoreError> {
        Ok(self.filings.lock().map_err(|e| StoreError(e.to_string()))?.clone())
    }

    async fn update(&self, f: &Filing) -> Result<(), StoreError> {
        let mut all = self.filings.lock().map_err(|e| StoreError(e.to_string()))?;
        match all.iter_mut().find(|x| x.id == f.id) {
            Some(x) => {
                *x = f.clone();
                Ok(())
            }
            None => Err(StoreError(format!("no filing {}", f.id))),
        }
    }

    async fn dismissed(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.dismissed.lock().map_err(|e| StoreError(e.to_string()))?.clone())
    }
}
