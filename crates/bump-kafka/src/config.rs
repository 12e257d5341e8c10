/*!
`[kafka]` configuration: where the brokers are, how topics and consumer
groups are named, and librdkafka settings passed through verbatim.

Validation collects every problem at once, like `pipeline.toml`'s, so an
operator fixes a file in one pass. The settings that carry the delivery
guarantee (idempotence, `acks`, offset storing) are set by this crate and
may not be overridden through [`KafkaConfig::extra`]: a typo there must not
silently turn at-least-once into at-most-once.
*/

use std::collections::BTreeMap;
use std::fmt;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

/// Longest topic name Kafka accepts.
const MAX_TOPIC_LEN: usize = 249;

/// Longest topic suffix this crate appends (`dead-letter`).
const LONGEST_SUFFIX: usize = 11;

/// One day, in milliseconds.
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// librdkafka settings that only this crate sets, because the delivery
/// guarantee depends on them, and why.
const PROTECTED: &[(&str, &str)] = &[
    ("bootstrap.servers", "set it through `brokers`"),
    ("metadata.broker.list", "set it through `brokers`"),
    ("group.id", "groups are named from `group_prefix` and the role"),
    ("enable.idempotence", "the producer is always idempotent"),
    ("acks", "the producer always waits for all in-sync replicas"),
    (
        "request.required.acks",
        "the producer always waits for all in-sync replicas",
    ),
    ("enable.auto.commit", "offsets are committed in the background, always"),
    (
        "enable.auto.offset.store",
        "offsets are stored only after a message's outputs are acknowledged",
    ),
];

/// The Kafka transport's configuration.
///
/// Topics are `<topic_prefix>batches`, `<topic_prefix>evidence`,
/// `<topic_prefix>clusters` and `<topic_prefix>dead-letter`; consumer groups
/// are `<group_prefix>detect` and `<group_prefix>cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port` separated by commas.
    pub brokers: String,
    /// Prefix of every topic name, so several deployments (or tests) can
    /// share one cluster. Letters, digits, `.`, `_` and `-` only.
    #[serde(default = "default_prefix")]
    pub topic_prefix: String,
    /// Prefix of every consumer group id.
    #[serde(default = "default_prefix")]
    pub group_prefix: String,
    /// Partitions per topic when the topics are created: the most workers
    /// of one role that can consume in parallel.
    #[serde(default = "default_partitions")]
    pub partitions: u32,
    /// librdkafka settings passed through verbatim to every client, for
    /// example `security.protocol`, `sasl.mechanism`, `sasl.username`,
    /// `ssl.ca.location`. See librdkafka's CONFIGURATION.md. The settings
    /// the delivery guarantee depends on are refused.
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
    /// Ingest refuses uploads (503) while the detect group lags more than
    /// this many messages behind on the batches topic.
    #[serde(default = "default_max_lag")]
    pub max_lag: u64,
    /// Static group membership (KIP-345): a stable name for this process
    /// (`streetbump serve --instance-id`, not the file, since every process
    /// reads the same file). A process restarted under the same name takes
    /// its predecessor's partitions at once, without waiting for the
    /// session timeout or a rebalance.
    #[serde(skip)]
    pub instance_id: Option<String>,
}

fn default_prefix() -> String {
    "streetbump.".to_owned()
}

const fn default_partitions() -> u32 {
    12
}

const fn default_max_lag() -> u64 {
    10_000
}

/// The topics of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Uploaded trip batches, keyed by trip id; read by the detect workers.
    Batches,
    /// Bump evidence from detect, keyed by a coarse H3 cell; read by the
    /// cluster workers.
    Evidence,
    /// Cluster state changes, keyed by cluster id; compacted.
    Clusters,
    /// Messages a handler refused as poison, with the reason in a header.
    DeadLetter,
}

impl Topic {
    /// Every topic, in pipeline order.
    pub const ALL: [Self; 4] = [Self::Batches, Self::Evidence, Self::Clusters, Self::DeadLetter];

    /// The name after the prefix.
    #[must_use]
    pub const fn suffix(self) -> &'static str {
        match self {
            Self::Batches => "batches",
            Self::Evidence => "evidence",
            Self::Clusters => "clusters",
            Self::DeadLetter => "dead-letter",
        }
    }
}

/// The consumer roles, each one consumer group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Preprocess and detect, per trip; consumes [`Topic::Batches`].
    Detect,
    /// Cluster bumps across trips; consumes [`Topic::Evidence`].
    Cluster,
}

impl Role {
    /// The group id after the prefix.
    #[must_use]
    pub const fn suffix(self) -> &'static str {
        match self {
            Self::Detect => "detect",
            Self::Cluster => "cluster",
        }
    }

    /// The topic this role consumes.
    #[must_use]
    pub const fn input(self) -> Topic {
        match self {
            Self::Detect => Topic::Batches,
            Self::Cluster => Topic::Evidence,
        }
    }
}

/// How a topic should be created: what an operator (or a test) passes to
/// the admin tooling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Full topic name.
    pub name: String,
    /// Partition count.
    pub partitions: u32,
    /// Topic-level settings (`cleanup.policy`, `retention.ms`).
    pub settings: Vec<(&'static str, String)>,
}

/// One problem in a [`KafkaConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `brokers` is empty.
    #[error("kafka.brokers is empty")]
    NoBrokers,
    /// `partitions` is zero or above what Kafka accepts.
    #[error("kafka.partitions is {0}; it must be between 1 and {max}", max = i32::MAX)]
    Partitions(u32),
    /// A prefix holds a character Kafka refuses in names, or is too long.
    #[error("kafka.{field} {value:?} {reason}")]
    Prefix {
        /// `topic_prefix` or `group_prefix`.
        field: &'static str,
        /// The prefix given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `extra` tries to set a setting this crate owns.
    #[error("kafka.extra may not set {key:?}: {reason}")]
    Protected {
        /// The refused key.
        key: String,
        /// Why it is owned by this crate.
        reason: &'static str,
    },
}

/// Every problem found in a [`KafkaConfig`], at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl KafkaConfig {
    /// A configuration with the defaults and the given brokers.
    #[must_use]
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic_prefix: default_prefix(),
            group_prefix: default_prefix(),
            partitions: default_partitions(),
            extra: BTreeMap::new(),
            max_lag: default_max_lag(),
            instance_id: None,
        }
    }

    /// Checks the whole configuration.
    ///
    /// # Errors
    /// [`ConfigErrors`] listing every problem found.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        if self.brokers.trim().is_empty() {
            errors.push(ConfigError::NoBrokers);
        }
        if self.partitions == 0 || i32::try_from(self.partitions).is_err() {
            errors.push(ConfigError::Partitions(self.partitions));
        }
        for (field, value) in [
            ("topic_prefix", &self.topic_prefix),
            ("group_prefix", &self.group_prefix),
        ] {
            if let Some(reason) = prefix_problem(value) {
                errors.push(ConfigError::Prefix {
                    field,
                    value: value.clone(),
                    reason,
                });
            }
        }
        for key in self.extra.keys() {
            if let Some((_, reason)) = PROTECTED.iter().find(|(k, _)| *k == key.trim()) {
                errors.push(ConfigError::Protected {
                    key: key.clone(),
                    reason,
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// The full name of `topic`.
    #[must_use]
    pub fn topic(&self, topic: Topic) -> String {
        format!("{}{}", self.topic_prefix, topic.suffix())
    }

    /// The consumer group id of `role`.
    #[must_use]
    pub fn group(&self, role: Role) -> String {
        format!("{}{}", self.group_prefix, role.suffix())
    }

    /// How each topic should be created.
    ///
    /// Batches and evidence keep 7 days, long enough to replay a stage
    /// after an outage over a long weekend; clusters are compacted by
    /// cluster id so the topic holds each cluster's latest state; the
    /// dead-letter topic keeps 30 days for a person to look at.
    #[must_use]
    pub fn topic_specs(&self) -> Vec<TopicSpec> {
        let delete = |days: u64| {
            vec![
                ("cleanup.policy", "delete".to_owned()),
                ("retention.ms", (days * DAY_MS).to_string()),
            ]
        };
        Topic::ALL
            .iter()
            .map(|&t| TopicSpec {
                name: self.topic(t),
                partitions: self.partitions,
                settings: match t {
                    Topic::Batches | Topic::Evidence => delete(7),
                    Topic::Clusters => vec![("cleanup.policy", "compact".to_owned())],
                    Topic::DeadLetter => delete(30),
                },
            })
            .collect()
    }

    /// The settings every client shares: brokers, then `extra` verbatim.
    pub(crate) fn base_client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.brokers.trim());
        for (k, v) in &self.extra {
            c.set(k.trim(), v);
        }
        c
    }
}

fn prefix_problem(p: &str) -> Option<&'static str> {
    if p.len() + LONGEST_SUFFIX > MAX_TOPIC_LEN {
        return Some("is too long for a Kafka name");
    }
    if !p
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Some("may hold only letters, digits, '.', '_' and '-'");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_everything_but_brokers() {
        let c: KafkaConfig = toml::from_str(r#"brokers = "k1:9092,k2:9092""#).unwrap();
        assert_eq!(c, KafkaConfig::new("k1:9092,k2:9092"));
        assert_eq!(c.topic(Topic::Batches), "streetbump.batches");
        assert_eq!(c.topic(Topic::DeadLetter), "streetbump.dead-letter");
        assert_eq!(c.group(Role::Detect), "streetbump.detect");
        assert_eq!(Role::Cluster.input(), Topic::Evidence);
        c.validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<KafkaConfig>("brokers = \"k\"\npartition = 3\n").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    #[test]
    fn extra_passes_through_but_not_the_guarantees() {
        let c: KafkaConfig = toml::from_str(
            r#"
            brokers = "k:9093"
            [extra]
            "security.protocol" = "SASL_SSL"
            "sasl.mechanism" = "PLAIN"
            "#,
        )
        .unwrap();
        c.validate().unwrap();
        let cc = c.base_client_config();
        assert_eq!(cc.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(cc.get("bootstrap.servers"), Some("k:9093"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut c = KafkaConfig::new(" ");
        c.partitions = 0;
        c.topic_prefix = "a/b".into();
        c.extra.insert("enable.auto.offset.store".into(), "true".into());
        c.extra.insert("acks".into(), "1".into());
        let errs = c.validate().unwrap_err().0;
        assert_eq!(errs.len(), 5, "{errs:?}");
        assert_eq!(errs[0], ConfigError::NoBrokers);
        assert_eq!(errs[1], ConfigError::Partitions(0));
        assert!(matches!(
            errs[2],
            ConfigError::Prefix {
                field: "topic_prefix",
                ..
            }
        ));
        assert!(matches!(&errs[3], ConfigError::Protected { key, .. } if key == "acks"));
    }

    #[test]
    fn topic_specs_cover_every_topic() {
        let specs = KafkaConfig::new("k").topic_specs();
        assert_eq!(specs.len(), 4);
        let clusters = specs.iter().find(|s| s.name == "streetbump.clusters").unwrap();
        assert_eq!(clusters.settings, vec![("cleanup.policy", "compact".to_owned())]);
        let batches = specs.iter().find(|s| s.name == "streetbump.batches").unwrap();
        assert!(batches.settings.contains(&("retention.ms", "604800000".to_owned())));
    }
}
