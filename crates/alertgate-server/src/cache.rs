//! A small expiring cache for configuration read on the hot path.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// A map whose entries expire after `ttl`, bounded in size (when full it is emptied: entries
/// are cheap to reload, and unknown keys are cached too, so a flood of random keys must not grow
/// memory without bound).
pub struct TtlCache<K, V> {
    ttl: Duration,
    max_entries: usize,
    entries: RwLock<HashMap<K, (V, Instant)>>,
}

impl<K: std::hash::Hash + Eq, V: Clone> TtlCache<K, V> {
    pub fn new(ttl_ms: u64) -> Self {
        Self::bounded(ttl_ms, 100_000)
    }

    pub fn bounded(ttl_ms: u64, max_entries: usize) -> Self {
        Self {
            ttl: Duration::from_millis(ttl_ms),
            max_entries,
            entries: RwLock::default(),
        }
    }

    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        let map = self.entries.read().ok()?;
        let (v, at) = map.get(key)?;
        (at.elapsed() < self.ttl).then(|| v.clone())
    }

    pub fn put(&self, key: K, value: V) {
        if let Ok(mut map) = self.entries.write() {
            if map.len() >= self.max_entries {
                map.clear();
            }
            map.insert(key, (value, Instant::now()));
        }
    }

    pub fn remove<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        if let Ok(mut map) = self.entries.write() {
            map.remove(key);
        }
    }
}
