/*!
Creating the pipeline's topics: every role process calls [`ensure_topics`]
at start, so a new deployment needs no separate step, and a topic that
exists is left as it is (its partitions and settings are the operator's).
*/

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::{Error, KafkaConfig};

/// Creates the topics of [`KafkaConfig::topic_specs`] that do not exist.
/// Returns the names created.
///
/// # Errors
///
/// [`Error::Config`] for an invalid configuration, [`Error::Client`] when
/// the brokers cannot be reached, [`Error::Task`] when they refuse a topic.
pub async fn ensure_topics(config: &KafkaConfig) -> Result<Vec<String>, Error> {
    config.validate()?;
    let admin: AdminClient<DefaultClientContext> = config
        .base_client_config()
        .create()
        .map_err(Error::client("admin client creation"))?;
    let specs = config.topic_specs();
    let partitions: Vec<i32> = specs
        .iter()
        .map(|s| i32::try_from(s.partitions).unwrap_or(i32::MAX))
        .collect();
    let topics: Vec<NewTopic<'_>> = specs
        .iter()
        .zip(&partitions)
        .map(|(s, p)| {
            let mut t = NewTopic::new(&s.name, *p, TopicReplication::Fixed(-1));
            for (k, v) in &s.settings {
                t = t.set(k, v);
            }
            t
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(topics.iter(), &opts)
        .await
        .map_err(Error::client("create topics"))?;
    let mut created = Vec::new();
    for r in results {
        match r {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(Error::Task {
                    what: "create topics",
                    reason: format!("{name}: {code}"),
                });
            }
        }
    }
    Ok(created)
}
