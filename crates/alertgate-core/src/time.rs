//! Timestamps as Unix milliseconds. Core never reads the clock: callers pass `now` in.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A point in time, in milliseconds since the Unix epoch (UTC). Serialized as RFC 3339.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, utoipa::ToSchema)]
#[schema(value_type = String, format = DateTime)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The earliest instant RFC 3339 can write: `0000-01-01T00:00:00Z`.
    pub const MIN_RFC3339: Timestamp = Timestamp(-62_167_219_200_000);
    /// The latest instant RFC 3339 can write: `9999-12-31T23:59:59.999Z`.
    pub const MAX_RFC3339: Timestamp = Timestamp(253_402_300_799_999);

    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    pub fn from_offset_datetime(t: OffsetDateTime) -> Self {
        let ms = t.unix_timestamp_nanos() / 1_000_000;
        Self(i64::try_from(ms).unwrap_or(i64::MAX))
    }

    /// `t`, if it lies between [`Timestamp::MIN_RFC3339`] and [`Timestamp::MAX_RFC3339`], so it
    /// can be written (and read back) as RFC 3339. A text such as `9999-12-31T23:59:59-23:59`
    /// parses, but names an instant in the year 10000, which would be shown as the epoch.
    pub fn from_offset_datetime_checked(t: OffsetDateTime) -> Option<Self> {
        let ts = Self::from_offset_datetime(t);
        (Self::MIN_RFC3339..=Self::MAX_RFC3339)
            .contains(&ts)
            .then_some(ts)
    }

    pub fn to_offset_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    pub fn saturating_sub_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_sub(ms))
    }

    pub fn saturating_add_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    pub fn to_rfc3339(self) -> String {
        self.to_offset_datetime()
            .format(&Rfc3339)
            .unwrap_or_else(|_| self.0.to_string())
    }

    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        OffsetDateTime::parse(s, &Rfc3339)
            .ok()
            .and_then(Self::from_offset_datetime_checked)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Self::parse_rfc3339(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not an RFC 3339 timestamp")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_rfc3339_and_back() {
        let t = Timestamp::from_millis(1_700_000_000_123);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2023-11-14T22:13:20.123Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    }

    #[test]
    fn only_instants_rfc3339_can_write_are_parsed() {
        // Found by fuzzing (fuzz/ target `timestamps`): the offset moves these past the years
        // RFC 3339 can write, and the instant was then shown as 1970-01-01.
        for s in ["9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00+00:01"] {
            assert_eq!(Timestamp::parse_rfc3339(s), None, "{s}");
        }
        for t in [Timestamp::MIN_RFC3339, Timestamp::MAX_RFC3339] {
            assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        }
        assert_eq!(Timestamp::MIN_RFC3339.to_rfc3339(), "0000-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::MAX_RFC3339.to_rfc3339(),
            "9999-12-31T23:59:59.999Z"
        );
    }
}
