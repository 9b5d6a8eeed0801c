//! Prefixed, typed identifiers: an `inc_…` can never be passed where a `whk_…` is meant, and an id
//! in a log line says what it is. The body is a ULID, so ids sort by creation time.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::Timestamp;

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} id (expected `{prefix}_` followed by 26 characters)")]
pub struct InvalidId {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub value: String,
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(ulid::Ulid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// The id with time component `at` and these 80 random bits (deterministic: for
            /// tests and fixtures). New records take [`Self::generate`].
            pub fn new(at: Timestamp, random: u128) -> Self {
                let ms = u64::try_from(at.as_millis()).unwrap_or(0);
                Self(ulid::Ulid::from_parts(ms, random))
            }

            /// A fresh id for a record made at `at`, with `random` bits: greater than every id
            /// this process generated before (see [`monotonic`]).
            pub fn generate(at: Timestamp, random: u128) -> Self {
                Self(monotonic(at, random))
            }

            /// The smallest id created at `at`: a bound for keyset pagination by time.
            pub fn min_at(at: Timestamp) -> Self {
                let ms = u64::try_from(at.as_millis()).unwrap_or(0);
                Self(ulid::Ulid::from_parts(ms, 0))
            }

            pub fn ulid(&self) -> ulid::Ulid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", $prefix, self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                let invalid = || InvalidId { kind: $kind, prefix: $prefix, value: s.chars().take(64).collect() };
                let body = s
                    .strip_prefix($prefix)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .ok_or_else(invalid)?;
                ulid::Ulid::from_string(body).map(Self).map_err(|_| invalid())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<str>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// The last id this process made, of any kind.
static LAST: std::sync::Mutex<u128> = std::sync::Mutex::new(0);

/// A ULID for `at` that is greater than every id this process made before: two records made in
/// the same millisecond (or while the wall clock steps back) still sort in the order they were
/// made, so "newest first" and "the incident's first alert" are exact. The random bits keep ids
/// of different processes (nodes) apart.
fn monotonic(at: Timestamp, random: u128) -> ulid::Ulid {
    let ms = u64::try_from(at.as_millis()).unwrap_or(0);
    let candidate = ulid::Ulid::from_parts(ms, random).0;
    let mut last = match LAST.lock() {
        Ok(l) => l,
        Err(poisoned) => poisoned.into_inner(),
    };
    let next = if candidate > *last {
        candidate
    } else {
        last.saturating_add(1)
    };
    *last = next;
    ulid::Ulid(next)
}

typed_id!(
    /// A workspace: the tenant that owns webhooks, incidents and rules.
    WorkspaceId, "wks", "workspace"
);
typed_id!(
    /// A configured intake webhook.
    WebhookId, "whk", "webhook"
);
typed_id!(
    /// An incident: one or more related alerts.
    IncidentId, "inc", "incident"
);
typed_id!(
    /// One normalized alert (one identity from one source).
    AlertId, "alt", "alert"
);
typed_id!(
    /// One request received on an intake URL.
    DeliveryId, "dlv", "delivery"
);

impl WorkspaceId {
    /// The workspace that holds everything created before workspaces existed.
    pub const DEFAULT: WorkspaceId = WorkspaceId(ulid::Ulid(0));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_round_trips_through_its_text_form() {
        let id = IncidentId::new(Timestamp::from_millis(1_700_000_000_000), 42);
        let text = id.to_string();
        assert!(text.starts_with("inc_"));
        assert_eq!(text.parse::<IncidentId>().unwrap(), id);
    }

    #[test]
    fn an_id_of_another_kind_is_rejected() {
        let id = WebhookId::new(Timestamp::from_millis(1), 7).to_string();
        let err = id.parse::<IncidentId>().unwrap_err();
        assert_eq!(err.kind, "incident");
    }

    #[test]
    fn garbage_is_rejected_without_panicking() {
        for s in [
            "",
            "inc_",
            "inc",
            "inc_!!!!",
            "inc_01ARZ3NDEKTSV4RRFFQ69G5FAVX",
            "ïnc_ü",
        ] {
            assert!(s.parse::<IncidentId>().is_err(), "{s}");
        }
    }

    #[test]
    fn ids_made_in_the_same_millisecond_sort_in_the_order_they_were_made() {
        let at = Timestamp::from_millis(1_700_000_000_000);
        let mut prev = AlertId::generate(at, u128::MAX >> 48);
        for r in [0u128, 5, 1 << 70, 3] {
            let next = AlertId::generate(at, r);
            assert!(next > prev, "{next} after {prev}");
            prev = next;
        }
        // A clock that steps back does not reorder either.
        assert!(AlertId::generate(Timestamp::from_millis(1), 0) > prev);
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let a = AlertId::new(Timestamp::from_millis(1000), u128::MAX);
        let b = AlertId::new(Timestamp::from_millis(1001), 0);
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
    }
}
