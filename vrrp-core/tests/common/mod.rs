//! Helpers shared by the conformance tests (`conformance.rs`, `sync_group.rs`).

#![allow(dead_code)]

use std::time::{Duration, Instant};

/// The test clock: `at(cs)` is `cs` centiseconds after an arbitrary origin.
pub(crate) struct Clock(Instant);

impl Clock {
    // The origin of virtual time: any instant will do, the engine only sees offsets from it.
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn new() -> Self {
        Self(Instant::now())
    }
    pub(crate) fn at(&self, cs: u64) -> Instant {
        self.0 + Duration::from_millis(cs * 10)
    }
    pub(crate) fn cs(&self, t: Instant) -> u64 {
        u64::try_from((t - self.0).as_millis() / 10).unwrap()
    }
    /// `us` microseconds after the origin.
    pub(crate) fn at_us(&self, us: u64) -> Instant {
        self.0 + Duration::from_micros(us)
    }
    /// Microseconds from the origin to `t`.
    pub(crate) fn us(&self, t: Instant) -> u64 {
        u64::try_from((t - self.0).as_micros()).unwrap()
    }
}
