//! alertgate's domain, pure: no I/O, no async, no clock reads (time is passed in).
//!
//! The intake pipeline reads top to bottom through these modules:
//! [`auth`] verifies a request over its raw bytes, [`limits`] bounds and sanitizes the payload,
//! [`platforms`] decodes a platform's envelope into one or more alert documents, [`mapping`]
//! extracts the normalized fields with JSONPath, [`severity`] and [`status`] normalize them,
//! [`fingerprint`] computes the dedup key, and [`triage`] decides what a new alert does to the
//! incidents that already exist. [`outbox`] says what an incident change owes the outside world
//! (investigation trigger, notifications) and how failed deliveries are retried.

pub mod alert;
pub mod auth;
pub mod correlation;
pub mod error;
pub mod fingerprint;
pub mod ids;
pub mod limits;
pub mod mapping;
pub mod outbox;
pub mod platforms;
pub mod severity;
pub mod sns;
pub mod status;
pub mod time;
pub mod timestamps;
pub mod triage;
pub mod webhook;

pub use alert::{Decision, NormalizedAlert};
pub use error::IntakeError;
pub use ids::{AlertId, DeliveryId, IncidentId, WebhookId, WorkspaceId};
pub use severity::Severity;
pub use status::{AlertStatus, IncidentStatus};
pub use time::Timestamp;
