/*!
When to try again, and when to stop trying an endpoint.

Both are pure: they take the current time as an argument, so tests drive them
with a fake clock. The policy only ever retries what cannot have changed
anything on the server or is safe to repeat (reads); a POST is never retried
here, because a timeout may hide a request that was created. Filing decides
that, after reconciling with the server.
*/

use std::time::{Duration, Instant};

use crate::error::{Error, ErrorClass};

/// Retry policy for idempotent calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First backoff, ms; doubled each retry.
    pub base_delay_ms: u64,
    /// Longest single wait, ms, `Retry-After` included.
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay_ms: 500,
            max_delay_ms: 30_000,
        }
    }
}

impl RetryPolicy {
    /// How long to wait before attempt `attempt + 1` after `err` on attempt
    /// `attempt` (1-based), or `None` to give up.
    #[must_use]
    pub fn next_delay(&self, err: &Error, attempt: u32) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let cap = Duration::from_millis(self.max_delay_ms);
        match err.class() {
            // Honour the server's wish, within reason; a wait longer than the
            // cap is a give-up for now (the caller retries on its schedule).
            ErrorClass::RateLimited => match err.retry_after() {
                Some(d) if d <= cap => Some(d),
                Some(_) => None,
                None => Some(self.backoff(attempt).min(cap)),
            },
            ErrorClass::Server | ErrorClass::Timeout | ErrorClass::Transport => {
                Some(err.retry_after().unwrap_or_else(|| self.backoff(attempt)).min(cap))
            }
            // 400/403/404, unreadable bodies, invalid requests: the same
            // request would fail the same way.
            ErrorClass::BadRequest
            | ErrorClass::Forbidden
            | ErrorClass::NotFound
            | ErrorClass::Decode
            | ErrorClass::Invalid
            | ErrorClass::CircuitOpen => None,
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u64 << attempt.saturating_sub(1).min(20);
        Duration::from_millis(self.base_delay_ms.saturating_mul(factor))
    }
}

/// Circuit breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Consecutive transient failures that open the circuit.
    pub failure_threshold: u32,
    /// How long it stays open before one trial call, ms; doubles after each
    /// failed trial up to 32 times this.
    pub open_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_ms: 60_000,
        }
    }
}

/// One endpoint's circuit breaker: closed (calls go through), open (calls
/// fail at once until `until`), then half-open: exactly one trial call goes
/// through and decides, the others fail at once meanwhile. A trial that never
/// reports (its caller gave up) frees the way for another after `open_ms`.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    failures: u32,
    open_until: Option<Instant>,
    trips: u32,
    /// When the half-open trial call in flight was let through.
    trial_since: Option<Instant>,
}

impl CircuitBreaker {
    /// A closed breaker.
    #[must_use]
    pub const fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            failures: 0,
            open_until: None,
            trips: 0,
            trial_since: None,
        }
    }

    /// Whether a call may go through now; when not, how long until it may.
    /// Only looks: [`CircuitBreaker::admit`] lets a call through.
    ///
    /// # Errors
    ///
    /// The remaining open time, or, while a trial is in flight, the time
    /// until another trial is allowed.
    pub fn check(&self, now: Instant) -> Result<(), Duration> {
        match (self.open_until, self.trial_since) {
            (Some(until), _) if now < until => Err(until - now),
            (Some(_), Some(since)) => {
                let stale_at = since + Duration::from_millis(self.config.open_ms);
                if now < stale_at { Err(stale_at - now) } else { Ok(()) }
            }
            _ => Ok(()),
        }
    }

    /// Lets a call through when [`CircuitBreaker::check`] allows it; when
    /// half-open, that call becomes the one trial, and its outcome must be
    /// [`CircuitBreaker::record`]ed.
    ///
    /// # Errors
    ///
    /// As [`CircuitBreaker::check`]; nothing is to be recorded then.
    pub fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        self.check(now)?;
        if self.open_until.is_some() {
            self.trial_since = Some(now);
        }
        Ok(())
    }

    /// Consecutive failures so far.
    #[must_use]
    pub const fn failures(&self) -> u32 {
        self.failures
    }

    /// Records the outcome of a call that was admitted. Only transient
    /// failures count: a 400 says the request was wrong, not that the
    /// endpoint is down. A refusal of the breaker itself is not an outcome
    /// and changes nothing.
    pub fn record(&mut self, outcome: Result<(), ErrorClass>, now: Instant) {
        match outcome {
            Err(ErrorClass::CircuitOpen) => return,
            Ok(()) => {
                self.failures = 0;
                self.open_until = None;
                self.trips = 0;
            }
            Err(class) if class.is_transient() => {
                self.failures += 1;
                let was_open = self.open_until.is_some();
                if self.failures >= self.config.failure_threshold || was_open {
                    let factor = 1u64 << self.trips.min(5);
                    self.open_until = Some(now + Duration::from_millis(self.config.open_ms.saturating_mul(factor)));
                    self.trips += 1;
                }
            }
            Err(_) => self.failures = 0,
        }
        self.trial_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u16, retry_after: Option<u64>) -> Error {
        Error::Status {
            method: "GET",
            url: "u".into(),
            status: s,
            errors: Vec::new(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn never_retries_a_400_or_403() {
        let p = RetryPolicy::default();
        assert_eq!(p.next_delay(&status(400, None), 1), None);
        assert_eq!(p.next_delay(&status(403, None), 1), None);
        assert_eq!(p.next_delay(&status(404, None), 1), None);
    }

    #[test]
    fn backs_off_on_5xx_and_honours_retry_after() {
        let p = RetryPolicy::default();
        assert_eq!(p.next_delay(&status(503, None), 1), Some(Duration::from_millis(500)));
        assert_eq!(p.next_delay(&status(503, None), 2), Some(Duration::from_millis(1000)));
        assert_eq!(p.next_delay(&status(503, None), 4), None);
        assert_eq!(p.next_delay(&status(429, Some(3)), 1), Some(Duration::from_secs(3)));
        assert_eq!(p.next_delay(&status(429, Some(3600)), 1), None);
    }

    #[test]
    fn breaker_opens_after_consecutive_failures_and_recovers() {
        let cfg = BreakerConfig {
            failure_threshold: 3,
            open_ms: 1000,
        };
        let mut b = CircuitBreaker::new(cfg);
        let t0 = Instant::now();
        for _ in 0..2 {
            b.record(Err(ErrorClass::Server), t0);
        }
        assert!(b.check(t0).is_ok());
        // A bad request in between resets nothing to worse.
        b.record(Err(ErrorClass::Timeout), t0);
        assert_eq!(b.check(t0), Err(Duration::from_millis(1000)));
        // Half-open trial fails: open again for twice as long.
        let t1 = t0 + Duration::from_millis(1001);
        assert!(b.check(t1).is_ok());
        b.record(Err(ErrorClass::Server), t1);
        assert_eq!(b.check(t1), Err(Duration::from_millis(2000)));
        // Trial succeeds: closed.
        let t2 = t1 + Duration::from_millis(2001);
        b.record(Ok(()), t2);
        assert!(b.check(t2).is_ok());
        assert_eq!(b.failures(), 0);
    }

    #[test]
    fn half_open_lets_one_trial_through_until_it_reports_or_goes_stale() {
        let mut b = CircuitBreaker::new(BreakerConfig {
            failure_threshold: 1,
            open_ms: 1000,
        });
        let t0 = Instant::now();
        b.record(Err(ErrorClass::Server), t0);
        let t1 = t0 + Duration::from_millis(1001);
        assert!(b.admit(t1).is_ok(), "the trial");
        assert_eq!(b.admit(t1), Err(Duration::from_millis(1000)), "one trial at a time");
        assert!(b.check(t1 + Duration::from_millis(500)).is_err());
        // The trial never reported: another may go after open_ms.
        let t2 = t1 + Duration::from_millis(1000);
        assert!(b.admit(t2).is_ok(), "a new trial");
        assert!(b.admit(t2).is_err());
        b.record(Ok(()), t2);
        assert!(b.admit(t2).is_ok() && b.admit(t2).is_ok(), "closed: everyone");
    }

    #[test]
    fn a_refusal_is_not_an_outcome() {
        let mut b = CircuitBreaker::new(BreakerConfig {
            failure_threshold: 2,
            open_ms: 1000,
        });
        let t = Instant::now();
        b.record(Err(ErrorClass::Server), t);
        b.record(Err(ErrorClass::Server), t);
        b.record(Err(ErrorClass::CircuitOpen), t);
        assert_eq!(b.failures(), 2);
        assert_eq!(b.check(t), Err(Duration::from_millis(1000)));
    }

    #[test]
    fn client_errors_do_not_open_the_breaker() {
        let mut b = CircuitBreaker::new(BreakerConfig {
            failure_threshold: 1,
            open_ms: 1000,
        });
        let t = Instant::now();
        b.record(Err(ErrorClass::BadRequest), t);
        assert!(b.check(t).is_ok());
    }
}
