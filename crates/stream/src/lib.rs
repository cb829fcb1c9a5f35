//! shopsense streaming: purchase intent scored live from a Kafka-protocol broker.
//!
//! * [`processor::Processor`] — the broker-independent core: parses a message (the JSON event
//!   of the server's `POST /v1/events`), keeps session state with the server's
//!   [`shopsense_serve::SessionStore`], scores with a [`shopsense_serve::Scorer`] (the
//!   features crate's online path, the same code as training), learns an online hashed
//!   logistic model ([`online::OnlineLogit`]) prequentially as sessions close (purchase or
//!   timeout in event time), and checkpoints all of it together with the applied offsets.
//! * [`kafka::run_stream`] — consumer group with manual commits: checkpoint first, then commit,
//!   and skip redelivered offsets, so a consumer killed at any point and restarted neither
//!   loses nor double-counts an event (at-least-once delivery, idempotent state). Scores go to
//!   the output topic, malformed or too-late messages to the dead-letter topic with a reason.
//!   Metrics at `/metrics`, a live dashboard at `/` (server-sent events at `/events`).
//!   Three threads: polling and parsing, applying in order (state, scores, checkpoints,
//!   commits), and serialising and enqueueing the outputs.
//! * [`kafka::replay`] — produces an events file to a topic in event-time order at a chosen
//!   speed or as fast as possible.

#![warn(missing_docs)]

pub mod dashboard;
mod fastjson;
pub mod kafka;
pub mod online;
pub mod processor;

pub use kafka::{replay, run_stream, ReplayConfig, ReplayReport, StreamConfig, StreamReport};
pub use processor::{Checkpoint, Outcome, Processor, ProcessorConfig, ScoreOut, MAX_CLOSED};

/// Errors of the streaming crate.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The broker or the Kafka client failed.
    #[error("kafka: {0}")]
    Kafka(String),
    /// Reading or writing a checkpoint failed.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// The model could not be loaded.
    #[error("model: {0}")]
    Model(String),
    /// Reading the events file failed.
    #[error("events: {0}")]
    Events(String),
    /// Other I/O.
    #[error("{0}")]
    Io(String),
}

impl From<rdkafka::error::KafkaError> for StreamError {
    fn from(e: rdkafka::error::KafkaError) -> Self {
        StreamError::Kafka(e.to_string())
    }
}

/// The batch scorer from a bundle file or a registry's promoted version.
pub fn load_scorer(
    bundle: Option<&std::path::Path>,
    registry: Option<&std::path::Path>,
) -> Result<std::sync::Arc<dyn shopsense_serve::Scorer>, StreamError> {
    use shopsense_serve::BundleScorer;
    let s = match (bundle, registry) {
        (Some(b), None) => BundleScorer::load(b).map_err(|e| StreamError::Model(e.to_string()))?,
        (None, Some(r)) => {
            let reg = shopsense_serve::Registry::open(r)
                .map_err(|e| StreamError::Model(format!("{}: {e}", r.display())))?;
            let (version, path) = reg
                .promoted()
                .map_err(|e| StreamError::Model(format!("{}: {e}", r.display())))?
                .ok_or_else(|| {
                    StreamError::Model(format!("registry {} has no promoted version", r.display()))
                })?;
            BundleScorer::load(&path)
                .map_err(|e| StreamError::Model(e.to_string()))?
                .with_version_prefix(&version)
        }
        _ => {
            return Err(StreamError::Model(
                "give either a bundle or a registry (exactly one)".into(),
            ))
        }
    };
    Ok(std::sync::Arc::new(s))
}
