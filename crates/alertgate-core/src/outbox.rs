//! What alertgate tells the outside world about incidents, and how hard it tries.
//!
//! An incident change produces an [`EventType`]; a webhook's [`AutomationSettings`] decide
//! whether it starts an investigation and whether the workspace is notified; each workspace
//! destination ([`DestinationKind`]) subscribes to a set of event types; and a failed delivery is
//! retried on a [`RetrySchedule`]. All of it is pure: the caller passes the randomness in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::severity::Severity;

/// Something that happened to an incident, as destinations subscribe to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
pub enum EventType {
    /// A new incident was opened: the investigation trigger, and a notification.
    #[schema(rename = "incident.created")]
    Created,
    /// Alerts were correlated into it, its severity was raised, or a source reopened it.
    #[schema(rename = "incident.updated")]
    Updated,
    #[schema(rename = "incident.acknowledged")]
    Acknowledged,
    #[schema(rename = "incident.resolved")]
    Resolved,
}

impl EventType {
    pub const ALL: [EventType; 4] = [
        EventType::Created,
        EventType::Updated,
        EventType::Acknowledged,
        EventType::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Created => "incident.created",
            EventType::Updated => "incident.updated",
            EventType::Acknowledged => "incident.acknowledged",
            EventType::Resolved => "incident.resolved",
        }
    }

    /// The event an incident timeline entry (`incident_events.kind`) announces, if any.
    pub fn for_timeline_kind(kind: &str) -> Option<EventType> {
        match kind {
            "alert_correlated" | "severity_raised" | "reopened" => Some(EventType::Updated),
            "acknowledged" => Some(EventType::Acknowledged),
            "resolved" => Some(EventType::Resolved),
            _ => None,
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        EventType::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown event type `{}`; expected one of: {}",
                    s.chars().take(40).collect::<String>(),
                    EventType::ALL.map(EventType::as_str).join(", ")
                )
            })
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A webhook's automation: what an incident it opens sets in motion. Off unless asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AutomationSettings {
    /// Hand new incidents to the workspace's investigation endpoint.
    #[serde(default)]
    pub auto_trigger_rca: bool,
    /// Only incidents at or above this severity are investigated.
    #[serde(default = "default_min_severity")]
    pub rca_min_severity: Severity,
    /// Send the incident's events to the workspace's notification channels.
    #[serde(default)]
    pub notify_workspace: bool,
}

fn default_min_severity() -> Severity {
    Severity::Medium
}

impl Default for AutomationSettings {
    fn default() -> Self {
        Self {
            auto_trigger_rca: false,
            rca_min_severity: default_min_severity(),
            notify_workspace: false,
        }
    }
}

impl AutomationSettings {
    /// Whether a new incident of this severity starts an investigation.
    pub fn investigates(&self, severity: Severity) -> bool {
        self.auto_trigger_rca && severity >= self.rca_min_severity
    }

    /// Whether `event` goes to the workspace's notification channels (those subscribed to it).
    pub fn notifies(&self, _event: EventType) -> bool {
        self.notify_workspace
    }

    /// True when nothing can come of an incident of this webhook: the outbox skips it at once.
    pub fn is_off(&self) -> bool {
        !self.auto_trigger_rca && !self.notify_workspace
    }
}

/// What a workspace destination is for, and so what it receives and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    /// The one endpoint that receives investigation requests (`incident.created`, signed).
    Investigation,
    /// A notification channel receiving the incident context as signed JSON.
    Webhook,
    /// A Slack-compatible incoming webhook: `text` + `blocks`, unsigned (the URL is the secret).
    Slack,
}

impl DestinationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationKind::Investigation => "investigation",
            DestinationKind::Webhook => "webhook",
            DestinationKind::Slack => "slack",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "investigation" => Some(DestinationKind::Investigation),
            "webhook" => Some(DestinationKind::Webhook),
            "slack" => Some(DestinationKind::Slack),
            _ => None,
        }
    }

    /// Whether requests to it carry Standard Webhooks signatures (and so it has a secret).
    pub fn is_signed(self) -> bool {
        !matches!(self, DestinationKind::Slack)
    }

    pub fn is_notification_channel(self) -> bool {
        !matches!(self, DestinationKind::Investigation)
    }
}

/// Why a delivery is owed: the investigation trigger or a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Investigation,
    Notification,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Investigation => "investigation",
            Purpose::Notification => "notification",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "investigation" => Some(Purpose::Investigation),
            "notification" => Some(Purpose::Notification),
            _ => None,
        }
    }
}

/// When to try a failed delivery again: exponential backoff from `initial_delay_ms`, doubling,
/// capped at `max_delay_ms`, each delay spread by ±`jitter` so that a destination coming back
/// is not hit by every waiting delivery at once; after `max_attempts` attempts, give up.
///
/// The defaults (5 s doubling to a 3 h cap, 19 attempts, ±20 %) keep trying for about 24 hours:
/// 5 s, 10 s, 20 s, … 85 min, 2.8 h, then every 3 h.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySchedule {
    pub initial_delay_ms: u64,
    pub max_delay_ms: u64,
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// 0 to 1: each delay is multiplied by a factor drawn from `[1 - jitter, 1 + jitter]`.
    pub jitter: f64,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self {
            initial_delay_ms: 5_000,
            max_delay_ms: 3 * 3_600_000,
            max_attempts: 19,
            jitter: 0.2,
        }
    }
}

impl RetrySchedule {
    /// The delay before the next attempt after `attempts_made` failed ones (1 after the first),
    /// or `None` when the budget is spent. `unit` is a random number in `[0, 1)`; the result is
    /// never above `max_delay_ms`.
    pub fn delay_after(&self, attempts_made: u32, unit: f64) -> Option<u64> {
        if attempts_made >= self.max_attempts.max(1) {
            return None;
        }
        let exponent = attempts_made.saturating_sub(1).min(62);
        let base = self
            .initial_delay_ms
            .saturating_mul(1u64 << exponent)
            .min(self.max_delay_ms);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let factor = 1.0 - jitter + 2.0 * jitter * unit.clamp(0.0, 1.0);
        let delay = (base as f64 * factor).round() as u64;
        Some(delay.min(self.max_delay_ms))
    }

    /// Check the values a configuration file gives.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_attempts == 0 {
            return Err("outbox retry max_attempts must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err("outbox retry jitter must be between 0 and 1".into());
        }
        if self.max_delay_ms < self.initial_delay_ms {
            return Err("outbox retry max_delay_ms must not be below initial_delay_ms".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip_through_their_names() {
        for e in EventType::ALL {
            assert_eq!(e.as_str().parse::<EventType>().unwrap(), e);
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(serde_json::from_str::<EventType>(&json).unwrap(), e);
        }
        assert!("incident.deleted".parse::<EventType>().is_err());
    }

    #[test]
    fn timeline_entries_map_to_the_events_they_announce() {
        assert_eq!(
            EventType::for_timeline_kind("alert_correlated"),
            Some(EventType::Updated)
        );
        assert_eq!(
            EventType::for_timeline_kind("severity_raised"),
            Some(EventType::Updated)
        );
        assert_eq!(
            EventType::for_timeline_kind("resolved"),
            Some(EventType::Resolved)
        );
        assert_eq!(EventType::for_timeline_kind("something_else"), None);
    }

    #[test]
    fn automation_is_off_by_default_and_old_webhooks_load() {
        let a: AutomationSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(a, AutomationSettings::default());
        assert!(a.is_off());
        assert_eq!(a.rca_min_severity, Severity::Medium);
        assert!(!a.investigates(Severity::Critical));
    }

    #[test]
    fn only_incidents_at_or_above_the_minimum_are_investigated() {
        let a = AutomationSettings {
            auto_trigger_rca: true,
            rca_min_severity: Severity::High,
            notify_workspace: false,
        };
        assert!(a.investigates(Severity::Critical));
        assert!(a.investigates(Severity::High));
        assert!(!a.investigates(Severity::Medium));
        assert!(!a.investigates(Severity::Info));
    }

    #[test]
    fn the_default_schedule_keeps_trying_for_about_a_day() {
        let s = RetrySchedule::default();
        let total: u64 = (1..s.max_attempts)
            .map(|n| s.delay_after(n, 0.5).unwrap())
            .sum();
        let hours = total as f64 / 3_600_000.0;
        assert!((22.0..26.0).contains(&hours), "{hours} h");
        assert_eq!(s.delay_after(s.max_attempts, 0.5), None);
        assert_eq!(s.delay_after(1, 0.5), Some(5_000));
        assert_eq!(s.delay_after(2, 0.5), Some(10_000));
    }

    #[test]
    fn jitter_spreads_delays_within_bounds_and_never_past_the_cap() {
        let s = RetrySchedule::default();
        for n in 1..s.max_attempts {
            let lo = s.delay_after(n, 0.0).unwrap();
            let hi = s.delay_after(n, 0.999_999).unwrap();
            assert!(lo <= hi);
            assert!(hi <= s.max_delay_ms);
        }
        assert_eq!(s.delay_after(1, 0.0), Some(4_000));
        assert_eq!(s.delay_after(1, 1.0), Some(6_000));
        // Huge attempt counts neither overflow nor exceed the cap.
        let long = RetrySchedule {
            max_attempts: u32::MAX,
            ..s
        };
        assert_eq!(long.delay_after(500, 0.5), Some(s.max_delay_ms));
    }

    #[test]
    fn a_schedule_with_one_attempt_never_retries() {
        let s = RetrySchedule {
            max_attempts: 1,
            ..RetrySchedule::default()
        };
        assert_eq!(s.delay_after(1, 0.5), None);
        assert!(s.validate().is_ok());
        assert!(RetrySchedule {
            max_attempts: 0,
            ..s
        }
        .validate()
        .is_err());
    }
}
