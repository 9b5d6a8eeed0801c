//! Alert and incident lifecycle states.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The state a source reports for one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "firing" => Some(AlertStatus::Firing),
            "acknowledged" => Some(AlertStatus::Acknowledged),
            "resolved" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }

    /// The built-in vocabulary for states, case-insensitive. Platforms add their own tables.
    pub fn from_synonym(raw: &str) -> Option<Self> {
        let key = raw.trim().to_ascii_lowercase();
        let s = match key.as_str() {
            "firing" | "fired" | "alerting" | "alert" | "triggered" | "trigger" | "open"
            | "opened" | "problem" | "active" | "new" | "reopened" | "unacknowledged"
            | "re-triggered" | "retriggered" => AlertStatus::Firing,
            "acknowledged" | "acknowledge" | "ack" | "acked" => AlertStatus::Acknowledged,
            "resolved" | "resolve" | "ok" | "closed" | "close" | "recovered" | "recovery"
            | "cleared" | "clear" | "normal" | "inactive" => AlertStatus::Resolved,
            _ => return None,
        };
        Some(s)
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Acknowledged => "acknowledged",
            IncidentStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(IncidentStatus::Open),
            "acknowledged" => Some(IncidentStatus::Acknowledged),
            "resolved" => Some(IncidentStatus::Resolved),
            _ => None,
        }
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_state_words_normalize() {
        assert_eq!(
            AlertStatus::from_synonym("ALERTING"),
            Some(AlertStatus::Firing)
        );
        assert_eq!(AlertStatus::from_synonym("ok"), Some(AlertStatus::Resolved));
        assert_eq!(
            AlertStatus::from_synonym("Acknowledged"),
            Some(AlertStatus::Acknowledged)
        );
        assert_eq!(AlertStatus::from_synonym("banana"), None);
    }
}
