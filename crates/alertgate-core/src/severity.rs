//! Severity: the five levels every platform's vocabulary is normalized onto.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Normalized severity, most severe first. `Ord` follows urgency: `Critical > High > … > Info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }

    fn rank(self) -> u8 {
        match self {
            Severity::Info => 0,
            Severity::Low => 1,
            Severity::Medium => 2,
            Severity::High => 3,
            Severity::Critical => 4,
        }
    }

    /// The built-in vocabulary: the five names and the synonyms monitoring tools commonly use.
    /// Matching is case-insensitive and ignores surrounding whitespace.
    pub fn from_synonym(raw: &str) -> Option<Severity> {
        let key = raw.trim().to_ascii_lowercase();
        let s = match key.as_str() {
            "critical" | "crit" | "fatal" | "emergency" | "emerg" | "panic" | "disaster" | "p1"
            | "sev0" | "sev-0" | "sev 0" | "s0" | "page" | "blocker" => Severity::Critical,
            "high" | "error" | "err" | "major" | "alert" | "p2" | "sev1" | "sev-1" | "sev 1"
            | "s1" | "severe" | "urgent" => Severity::High,
            "medium" | "moderate" | "warning" | "warn" | "average" | "p3" | "sev2" | "sev-2"
            | "sev 2" | "s2" | "minor" => Severity::Medium,
            "low" | "notice" | "p4" | "sev3" | "sev-3" | "sev 3" | "s3" | "trivial" => {
                Severity::Low
            }
            "info" | "informational" | "information" | "debug" | "ok" | "none" | "p5" | "sev4"
            | "sev-4" | "sev 4" | "s4" | "planning" | "not classified" => Severity::Info,
            _ => return None,
        };
        Some(s)
    }
}

impl PartialOrd for Severity {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Severity {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not one of the five severities.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a severity (expected critical, high, medium, low or info)")]
pub struct InvalidSeverity(pub String);

impl FromStr for Severity {
    type Err = InvalidSeverity;
    /// Strict: only the five canonical names (any case). Use [`SeverityPolicy::normalize`] for input
    /// from platforms.
    fn from_str(s: &str) -> Result<Self, InvalidSeverity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" => Ok(Severity::Critical),
            "high" => Ok(Severity::High),
            "medium" => Ok(Severity::Medium),
            "low" => Ok(Severity::Low),
            "info" => Ok(Severity::Info),
            _ => Err(InvalidSeverity(s.chars().take(64).collect())),
        }
    }
}

/// How one webhook turns the raw value found by its severity path into a [`Severity`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityPolicy {
    /// Webhook-specific table, consulted first (keys compared case-insensitively).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub map: BTreeMap<String, Severity>,
    /// Used when the value is missing or not recognized.
    #[serde(default = "default_severity")]
    pub default: Severity,
}

fn default_severity() -> Severity {
    Severity::Medium
}

impl Default for SeverityPolicy {
    fn default() -> Self {
        Self {
            map: BTreeMap::new(),
            default: default_severity(),
        }
    }
}

/// The outcome of normalizing one raw severity value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedSeverity {
    pub severity: Severity,
    /// True when the raw value was missing or not recognized and the default was used.
    pub defaulted: bool,
}

impl SeverityPolicy {
    /// Normalize with this policy: the webhook's table, then `platform` (a platform's own table),
    /// then the built-in synonyms, then the default.
    pub fn normalize(
        &self,
        raw: Option<&str>,
        platform: &dyn Fn(&str) -> Option<Severity>,
    ) -> NormalizedSeverity {
        let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
            return NormalizedSeverity {
                severity: self.default,
                defaulted: true,
            };
        };
        let found = self
            .map
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(raw))
            .map(|(_, v)| *v)
            .or_else(|| platform(raw))
            .or_else(|| Severity::from_synonym(raw));
        match found {
            Some(severity) => NormalizedSeverity {
                severity,
                defaulted: false,
            },
            None => NormalizedSeverity {
                severity: self.default,
                defaulted: true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<Severity> {
        None
    }

    #[test]
    fn common_vocabularies_normalize_case_insensitively() {
        let p = SeverityPolicy::default();
        let cases = [
            ("CRITICAL", Severity::Critical),
            ("P1", Severity::Critical),
            ("sev0", Severity::Critical),
            ("Fatal", Severity::Critical),
            ("page", Severity::Critical),
            ("high", Severity::High),
            ("Error", Severity::High),
            ("p2", Severity::High),
            ("SEV1", Severity::High),
            ("warning", Severity::Medium),
            ("warn", Severity::Medium),
            ("P3", Severity::Medium),
            ("sev2", Severity::Medium),
            ("low", Severity::Low),
            ("p4", Severity::Low),
            ("sev3", Severity::Low),
            ("info", Severity::Info),
            ("P5", Severity::Info),
            ("sev4", Severity::Info),
            ("  Informational ", Severity::Info),
        ];
        for (raw, want) in cases {
            let got = p.normalize(Some(raw), &none);
            assert_eq!(got.severity, want, "{raw}");
            assert!(!got.defaulted, "{raw}");
        }
    }

    #[test]
    fn an_unknown_value_falls_back_to_the_webhook_default() {
        let p = SeverityPolicy {
            default: Severity::Low,
            ..Default::default()
        };
        let got = p.normalize(Some("purple"), &none);
        assert_eq!(got.severity, Severity::Low);
        assert!(got.defaulted);
        assert!(p.normalize(None, &none).defaulted);
        assert!(p.normalize(Some("   "), &none).defaulted);
    }

    #[test]
    fn the_webhook_table_wins_over_builtins_and_platform() {
        let mut p = SeverityPolicy::default();
        p.map.insert("Warning".into(), Severity::Critical);
        let platform = |_: &str| Some(Severity::Info);
        assert_eq!(
            p.normalize(Some("WARNING"), &platform).severity,
            Severity::Critical
        );
        assert_eq!(
            p.normalize(Some("other"), &platform).severity,
            Severity::Info
        );
    }

    #[test]
    fn severities_order_by_urgency() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Low > Severity::Info);
        assert_eq!(Severity::ALL.iter().max(), Some(&Severity::Critical));
    }

    #[test]
    fn strict_parsing_accepts_only_the_five_names() {
        assert_eq!("High".parse::<Severity>().unwrap(), Severity::High);
        assert!("p1".parse::<Severity>().is_err());
    }
}
