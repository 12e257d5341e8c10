/*!
Errors of the transport, and the verdict a handler gives on a message it
could not process.
*/

use std::fmt;

use rdkafka::error::KafkaError;

use crate::config::ConfigErrors;

/// An error of the Kafka transport.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid.
    #[error("invalid kafka configuration: {0}")]
    Config(#[from] ConfigErrors),
    /// librdkafka refused to create a client or to run a request.
    #[error("kafka {what} failed: {source}")]
    Client {
        /// What was being done.
        what: &'static str,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// The broker did not acknowledge a message within the delivery
    /// timeout (`delivery.timeout.ms`), or refused it.
    #[error("delivery to {topic} failed: {source}")]
    Delivery {
        /// Topic written to.
        topic: String,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// A message kept failing with a retryable error. Its offset was not
    /// stored, so it is delivered again once the consumer restarts.
    #[error("{topic}/{partition}@{offset} still failing after {attempts} attempts: {reason}")]
    RetriesExhausted {
        /// Topic of the message.
        topic: String,
        /// Partition of the message.
        partition: i32,
        /// Offset of the message.
        offset: i64,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        reason: String,
    },
    /// A blocking librdkafka call panicked or was cancelled.
    #[error("kafka {what} task failed: {reason}")]
    Task {
        /// What was being done.
        what: &'static str,
        /// Why the task ended.
        reason: String,
    },
}

impl Error {
    pub(crate) const fn client(what: &'static str) -> impl FnOnce(KafkaError) -> Self {
        move |source| Self::Client { what, source }
    }
}

/// Why a handler could not process a message, which decides what the
/// consumer loop does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerError {
    /// A passing failure (the database is down, a timeout): the same
    /// message is handled again after a backoff, and later messages of its
    /// partition wait, so order is kept.
    Retryable(String),
    /// The message itself is bad (does not decode, violates an invariant):
    /// it goes to the dead-letter topic with this reason in the
    /// `bump-error` header, and the loop moves on.
    Poison(String),
}

impl HandlerError {
    /// A retryable error with `reason`.
    #[must_use]
    pub fn retryable(reason: impl fmt::Display) -> Self {
        Self::Retryable(reason.to_string())
    }

    /// A poison-message error with `reason`.
    #[must_use]
    pub fn poison(reason: impl fmt::Display) -> Self {
        Self::Poison(reason.to_string())
    }

    /// The reason given.
    #[must_use]
    pub fn reason(&self) -> &str {
        match self {
            Self::Retryable(r) | Self::Poison(r) => r,
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retryable(r) => write!(f, "retryable: {r}"),
            Self::Poison(r) => write!(f, "poison: {r}"),
        }
    }
}

impl std::error::Error for HandlerError {}
