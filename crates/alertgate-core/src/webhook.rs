//! Webhook configuration: the validated values a webhook is made of.
//!
//! Each bounded setting is a newtype whose constructor is the only way in ("parse, don't
//! validate"), so a stored webhook is valid by construction.

use serde::{Deserialize, Serialize};

use crate::auth::{AuthMethod, Secret};
use crate::ids::{WebhookId, WorkspaceId};
use crate::mapping::FieldMapping;
use crate::severity::SeverityPolicy;
use crate::time::Timestamp;

/// How long a repeat of an open alert is folded into it: 1 to 168 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct DedupWindow(u16);

impl DedupWindow {
    pub const DEFAULT: DedupWindow = DedupWindow(24);

    pub fn hours(self) -> u16 {
        self.0
    }

    pub fn millis(self) -> i64 {
        i64::from(self.0) * 3_600_000
    }
}

impl Default for DedupWindow {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<i64> for DedupWindow {
    type Error = String;
    fn try_from(hours: i64) -> Result<Self, String> {
        if (1..=168).contains(&hours) {
            Ok(DedupWindow(hours as u16))
        } else {
            Err(format!(
                "dedup_window_hours must be between 1 and 168 (got {hours})"
            ))
        }
    }
}

impl<'de> Deserialize<'de> for DedupWindow {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let h = i64::deserialize(d)?;
        DedupWindow::try_from(h).map_err(serde::de::Error::custom)
    }
}

/// Requests per hour a webhook accepts: 0 (unlimited) to 10,000; default 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct RateLimit(u32);

impl RateLimit {
    pub const DEFAULT: RateLimit = RateLimit(100);
    pub const MAX: u32 = 10_000;

    pub fn per_hour(self) -> u32 {
        self.0
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<i64> for RateLimit {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        if (0..=i64::from(Self::MAX)).contains(&n) {
            Ok(RateLimit(n as u32))
        } else {
            Err(format!(
                "rate_limit_per_hour must be between 0 (unlimited) and 10000 (got {n})"
            ))
        }
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        RateLimit::try_from(n).map_err(serde::de::Error::custom)
    }
}

/// A webhook's display name: 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct WebhookName(String);

impl WebhookName {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let n = t.chars().count();
        if n == 0 {
            return Err("name must not be empty".into());
        }
        if n > 100 {
            return Err(format!("name must be at most 100 characters (got {n})"));
        }
        if t.chars().any(char::is_control) {
            return Err("name must not contain control characters".into());
        }
        Ok(Self(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for WebhookName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        WebhookName::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Validate a free-text description (at most 1,000 characters).
pub fn validate_description(s: &str) -> Result<(), String> {
    let n = s.chars().count();
    if n > 1_000 {
        return Err(format!(
            "description must be at most 1000 characters (got {n})"
        ));
    }
    Ok(())
}

/// At most this many secrets are active at once (current and previous, during a rotation).
pub const MAX_SECRETS: usize = 2;

/// A webhook as stored. The intake `token` and the `secrets` are credentials: show them only on
/// creation and rotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: WebhookId,
    pub workspace_id: WorkspaceId,
    pub platform: String,
    pub name: WebhookName,
    #[serde(default)]
    pub description: String,
    pub token: String,
    pub auth: AuthMethod,
    /// Newest first; at most [`MAX_SECRETS`].
    pub secrets: Vec<Secret>,
    /// The effective mapping (platform defaults with the user's overrides applied).
    pub field_mapping: FieldMapping,
    #[serde(default)]
    pub severity: SeverityPolicy,
    #[serde(default)]
    pub dedup_window_hours: DedupWindow,
    #[serde(default)]
    pub rate_limit_per_hour: RateLimit,
    /// `enable_correlation`, `correlation_window_minutes`, `correlation_rules`.
    #[serde(flatten)]
    pub correlation: crate::correlation::CorrelationSettings,
    /// `auto_trigger_rca`, `rca_min_severity`, `notify_workspace`.
    #[serde(flatten)]
    pub automation: crate::outbox::AutomationSettings,
    pub enabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_window_accepts_1_to_168_hours() {
        assert!(DedupWindow::try_from(0).is_err());
        assert_eq!(DedupWindow::try_from(1).unwrap().hours(), 1);
        assert_eq!(
            DedupWindow::try_from(168).unwrap().millis(),
            168 * 3_600_000
        );
        assert!(DedupWindow::try_from(169).is_err());
        assert!(serde_json::from_str::<DedupWindow>("200").is_err());
        assert_eq!(DedupWindow::default().hours(), 24);
    }

    #[test]
    fn rate_limit_accepts_0_to_10000() {
        assert_eq!(RateLimit::try_from(0).unwrap().per_hour(), 0);
        assert_eq!(RateLimit::try_from(10_000).unwrap().per_hour(), 10_000);
        assert!(RateLimit::try_from(10_001).is_err());
        assert!(RateLimit::try_from(-1).is_err());
        assert_eq!(RateLimit::default().per_hour(), 100);
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(WebhookName::parse("  prod  ").unwrap().as_str(), "prod");
        assert!(WebhookName::parse("").is_err());
        assert!(WebhookName::parse(&"x".repeat(101)).is_err());
        assert!(WebhookName::parse("a\u{0}b").is_err());
        assert!(
            WebhookName::parse("<script>alert(1)</script>").is_ok(),
            "stored raw, escaped on output"
        );
    }
}
