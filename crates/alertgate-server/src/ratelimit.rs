//! Traffic control at intake.
//!
//! - **Per webhook**: `rate_limit_per_hour` requests per hour (0 = unlimited), one GCRA limiter
//!   (governor) per webhook with a burst of the whole hourly budget: the first N requests of a
//!   quiet hour pass, request N+1 gets 429, and one more request is allowed every 3600/N
//!   seconds after that. Only requests that carry a firing alert are charged: acknowledge and
//!   resolve events always pass, and a refused or unauthenticated request costs nothing.
//! - **Per source address, for authentication failures**: after
//!   [`AUTH_FAILURES_PER_MINUTE`] failures in a minute an address gets 429 before its
//!   credentials are even looked at, so guessing secrets is slow and cheap to refuse.
//!
//! Limits are per node: with several nodes behind a load balancer a webhook can get at most
//! `nodes × limit` requests per hour through, and each node at most `limit` (tested in
//! `tests/it/several_nodes.rs`; see "Running several nodes" in the README). Exact limits would
//! put a database round trip (and a hot row) in front of every alert; the bound is the trade.
//! Time comes from the injected [`Clock`], so tests move it instead of sleeping.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock as _, Reference as _};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use alertgate_core::ids::WebhookId;

use crate::clock::Clock;

pub const AUTH_FAILURES_PER_MINUTE: u32 = 20;

/// Our clock, as governor wants one.
#[derive(Clone)]
struct GovClock(Arc<dyn Clock>);

impl governor::clock::Clock for GovClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        Nanos::new(u64::try_from(self.0.now().as_millis()).unwrap_or(0) * 1_000_000)
    }
}

type Direct = RateLimiter<NotKeyed, InMemoryState, GovClock, NoOpMiddleware<Nanos>>;
type Keyed = RateLimiter<
    IpAddr,
    governor::state::keyed::DefaultKeyedStateStore<IpAddr>,
    GovClock,
    NoOpMiddleware<Nanos>,
>;

pub struct RateLimits {
    clock: GovClock,
    webhooks: Mutex<HashMap<WebhookId, (u32, Arc<Direct>)>>,
    auth_failures: Keyed,
    /// Addresses over the failure limit, until when.
    blocked: Mutex<HashMap<IpAddr, Nanos>>,
}

/// Seconds to wait before retrying, rounded up, at least 1.
fn retry_secs(d: Duration) -> u64 {
    (d.as_millis().div_ceil(1000) as u64).max(1)
}

impl RateLimits {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let clock = GovClock(clock);
        let per_minute = NonZeroU32::new(AUTH_FAILURES_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        Self {
            auth_failures: RateLimiter::dashmap_with_clock(
                Quota::per_minute(per_minute),
                clock.clone(),
            ),
            clock,
            webhooks: Mutex::default(),
            blocked: Mutex::default(),
        }
    }

    /// Charge one request to a webhook limited to `per_hour` (0 = unlimited). `Err` carries the
    /// seconds until the next request would pass.
    pub fn charge_webhook(&self, webhook: WebhookId, per_hour: u32) -> Result<(), u64> {
        let Some(n) = NonZeroU32::new(per_hour) else {
            return Ok(());
        };
        let limiter = {
            let Ok(mut map) = self.webhooks.lock() else {
                return Ok(()); // a poisoned map fails open rather than refusing every alert
            };
            match map.get(&webhook) {
                Some((limit, l)) if *limit == per_hour => l.clone(),
                _ => {
                    let l = Arc::new(RateLimiter::direct_with_clock(
                        Quota::per_hour(n),
                        self.clock.clone(),
                    ));
                    map.insert(webhook, (per_hour, l.clone()));
                    l
                }
            }
        };
        limiter
            .check()
            .map_err(|not_until| retry_secs(not_until.wait_time_from(self.clock.now())))
    }

    /// Is this address currently refused for failing authentication too often? Returns the
    /// seconds to wait.
    pub fn auth_blocked(&self, ip: IpAddr) -> Option<u64> {
        let map = self.blocked.lock().ok()?;
        let until = *map.get(&ip)?;
        let now = self.clock.now();
        (until > now).then(|| retry_secs(until.duration_since(now).into()))
    }

    /// Record an authentication failure from `ip`. Returns the seconds to wait when this failure
    /// went over the limit.
    pub fn auth_failed(&self, ip: IpAddr) -> Option<u64> {
        match self.auth_failures.check_key(&ip) {
            Ok(()) => None,
            Err(not_until) => {
                let earliest = not_until.earliest_possible();
                if let Ok(mut map) = self.blocked.lock() {
                    if map.len() > 100_000 {
                        map.clear();
                    }
                    map.insert(ip, earliest);
                }
                Some(retry_secs(not_until.wait_time_from(self.clock.now())))
            }
        }
    }
}
