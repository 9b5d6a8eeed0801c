//! The large text columns (request bodies, alert payloads, what the mapping extracted, per-alert
//! results) stored compactly: a value of at least [`MIN_PACKED`] bytes that LZ4 shrinks by an
//! eighth or more is stored as a BLOB of the compressed bytes (uncompressed length first, 4 bytes
//! little-endian); anything else stays TEXT. SQLite keeps a value's type, so readers tell the two
//! apart per row, and rows written before packing existed read unchanged.
//!
//! Every byte a commit writes is written twice (WAL, then checkpoint) and waited for, so the
//! intake path is bounded by bytes per alert; JSON payloads shrink two- to four-fold.

use std::borrow::Cow;

use rusqlite::types::{Value, ValueRef};

use super::corrupt;
use crate::model::Column;
use crate::Result;

/// Shorter values are not worth a compression attempt.
pub(crate) const MIN_PACKED: usize = 256;

/// No stored value unpacks to more than this (bodies are limited to 100 KB; results of a batch of
/// alerts and pretty payloads stay far below); a larger length prefix means a damaged row.
const MAX_UNPACKED: usize = 16 << 20;

/// `text` compressed, when that pays.
fn compressed(text: &str) -> Option<Vec<u8>> {
    if text.len() < MIN_PACKED {
        return None;
    }
    let packed = lz4_flex::compress_prepend_size(text.as_bytes());
    (packed.len() <= text.len() - text.len() / 8).then_some(packed)
}

/// `text` as it is to be stored.
fn pack(text: &str) -> Value {
    compressed(text).map_or_else(|| Value::Text(text.to_owned()), Value::Blob)
}

/// [`pack`], keeping the text itself (no copy) when it is stored as text.
pub(crate) fn pack_owned(text: String) -> Value {
    compressed(&text).map_or(Value::Text(text), Value::Blob)
}

/// An item's column as it is to be stored: already packed by whoever made the item (a request's
/// task, see [`crate::ColumnForm`]), or packed now.
pub(crate) fn column(c: &Column) -> Cow<'_, Value> {
    match c {
        Column::Packed(v) => Cow::Borrowed(v),
        Column::Text(t) => Cow::Owned(pack(t)),
    }
}

/// A stored value as text again.
pub(crate) fn unpack(v: ValueRef<'_>) -> Result<String> {
    unpack_opt(v)?.ok_or_else(|| corrupt("a required text column is NULL"))
}

/// [`unpack`] for a column that may be NULL.
pub(crate) fn unpack_opt(v: ValueRef<'_>) -> Result<Option<String>> {
    match v {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => Ok(Some(String::from_utf8(t.to_vec()).map_err(corrupt)?)),
        ValueRef::Blob(b) => {
            let len = b
                .get(..4)
                .and_then(|p| <[u8; 4]>::try_from(p).ok())
                .map(|p| u32::from_le_bytes(p) as usize)
                .ok_or_else(|| corrupt("a packed value has no length"))?;
            if len > MAX_UNPACKED {
                return Err(corrupt(format!("a packed value claims {len} bytes")));
            }
            let bytes = lz4_flex::decompress_size_prepended(b).map_err(corrupt)?;
            if bytes.len() != len {
                return Err(corrupt(format!(
                    "a packed value unpacked to {} bytes, not {len}",
                    bytes.len()
                )));
            }
            Ok(Some(String::from_utf8(bytes).map_err(corrupt)?))
        }
        ValueRef::Integer(_) | ValueRef::Real(_) => Err(corrupt("a text column holds a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> (bool, String) {
        let stored = pack(text);
        let packed = matches!(stored, Value::Blob(_));
        let back = match &stored {
            Value::Text(t) => unpack(ValueRef::Text(t.as_bytes())),
            Value::Blob(b) => unpack(ValueRef::Blob(b)),
            _ => panic!("pack returned {stored:?}"),
        };
        (packed, back.expect("unpacks"))
    }

    #[test]
    fn large_json_is_packed_and_comes_back_identical() {
        let body = serde_json::json!({
            "alerts": (0..20).map(|i| serde_json::json!({
                "labels": {"alertname": "HighCPU", "instance": format!("host-{i}:9100"), "severity": "critical"},
                "annotations": {"summary": format!("CPU on host-{i} above 90% — ünïcode kept")},
            })).collect::<Vec<_>>()
        })
        .to_string();
        let (packed, back) = round_trip(&body);
        assert!(packed);
        assert_eq!(back, body);
    }

    #[test]
    fn short_or_incompressible_text_stays_text() {
        assert_eq!(
            round_trip("{\"title\":\"x\"}"),
            (false, "{\"title\":\"x\"}".into())
        );
        // 300 bytes with no repetition LZ4 can use (xorshift).
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        let noise: String = (0..300)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'!' + (x % 90) as u8)
            })
            .collect();
        let (packed, back) = round_trip(&noise);
        assert!(!packed);
        assert_eq!(back, noise);
    }

    #[test]
    fn damaged_blobs_are_errors_not_panics() {
        for blob in [
            &b""[..],
            &b"\x01"[..],
            &b"\xff\xff\xff\x7f...."[..],
            // Claims 64 bytes; a run of literals shorter than that, then nothing.
            &b"\x40\x00\x00\x00\x30abc"[..],
        ] {
            assert!(unpack(ValueRef::Blob(blob)).is_err(), "{blob:?}");
        }
        assert!(unpack(ValueRef::Null).is_err());
        assert_eq!(unpack_opt(ValueRef::Null).expect("null"), None);
    }
}
