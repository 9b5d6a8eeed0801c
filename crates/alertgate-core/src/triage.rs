//! Triage: what a new alert does, given the open alert that already carries its identity (if any).
//!
//! The store looks up the most recent *unresolved* alert with the same webhook and dedup key whose
//! incident is not resolved, and asks [`decide`]. Decisions are made inside the writer's
//! transaction, one alert at a time, so they are serialized even under concurrency.
//!
//! The dedup window is measured from the existing alert's `last_seen_at`: a source that keeps
//! re-sending a firing alert (Alertmanager's `repeat_interval`) keeps it folded into one incident
//! for as long as it keeps firing. Acknowledge and resolve events are matched regardless of the
//! window: a resolve that arrives three days later still closes the alert.

use crate::ids::{AlertId, IncidentId};
use crate::status::AlertStatus;
use crate::time::Timestamp;
use crate::webhook::DedupWindow;

/// The open alert that has the same identity as the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAlert {
    pub alert_id: AlertId,
    pub incident_id: IncidentId,
    pub status: AlertStatus,
    pub first_seen_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub occurrence_count: i64,
}

/// What to do with a new alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a new incident with this alert.
    OpenIncident,
    /// Count a repeat of the open alert (and return it to `firing` if it was acknowledged).
    Deduplicate { into: OpenAlert },
    /// Move the open alert to a new state reported by the source.
    Transition { alert: OpenAlert, to: AlertStatus },
    /// Record the delivery, change nothing.
    Ignore { reason: &'static str },
}

pub fn decide(
    status: AlertStatus,
    existing: Option<&OpenAlert>,
    now: Timestamp,
    window: DedupWindow,
) -> Action {
    match (status, existing) {
        (AlertStatus::Firing, Some(open))
            if open.last_seen_at >= now.saturating_sub_millis(window.millis()) =>
        {
            Action::Deduplicate { into: open.clone() }
        }
        (AlertStatus::Firing, _) => Action::OpenIncident,
        (to, Some(open)) => Action::Transition {
            alert: open.clone(),
            to,
        },
        (AlertStatus::Resolved, None) => Action::Ignore {
            reason: "resolve for an alert that is not open",
        },
        (AlertStatus::Acknowledged, None) => Action::Ignore {
            reason: "acknowledge for an alert that is not open",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn open(last_seen: i64) -> OpenAlert {
        OpenAlert {
            alert_id: AlertId::new(Timestamp::from_millis(0), 1),
            incident_id: IncidentId::new(Timestamp::from_millis(0), 2),
            status: AlertStatus::Firing,
            first_seen_at: Timestamp::from_millis(0),
            last_seen_at: Timestamp::from_millis(last_seen),
            occurrence_count: 1,
        }
    }

    #[test]
    fn a_repeat_within_the_window_is_deduplicated() {
        let w = DedupWindow::try_from(24).unwrap();
        let now = Timestamp::from_millis(24 * HOUR);
        assert!(matches!(
            decide(AlertStatus::Firing, Some(&open(0)), now, w),
            Action::Deduplicate { .. }
        ));
        let later = Timestamp::from_millis(24 * HOUR + 1);
        assert_eq!(
            decide(AlertStatus::Firing, Some(&open(0)), later, w),
            Action::OpenIncident
        );
    }

    #[test]
    fn a_first_firing_alert_opens_an_incident() {
        assert_eq!(
            decide(
                AlertStatus::Firing,
                None,
                Timestamp::from_millis(0),
                DedupWindow::DEFAULT
            ),
            Action::OpenIncident
        );
    }

    #[test]
    fn resolve_matches_regardless_of_the_window_and_unknown_resolves_are_ignored() {
        let now = Timestamp::from_millis(1000 * HOUR);
        assert!(matches!(
            decide(
                AlertStatus::Resolved,
                Some(&open(0)),
                now,
                DedupWindow::DEFAULT
            ),
            Action::Transition {
                to: AlertStatus::Resolved,
                ..
            }
        ));
        assert!(matches!(
            decide(AlertStatus::Resolved, None, now, DedupWindow::DEFAULT),
            Action::Ignore { .. }
        ));
        assert!(matches!(
            decide(AlertStatus::Acknowledged, None, now, DedupWindow::DEFAULT),
            Action::Ignore { .. }
        ));
    }
}
