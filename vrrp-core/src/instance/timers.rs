//! Timers: the deadlines an instance asks to be woken at, what fires when they pass, and the
//! RFC's interval arithmetic (Skew_Time, Master_Down_Interval, Master_Adver_Interval).
//!
//! # Periodic timers and a late loop
//!
//! The Adver_Timer and the announce refresh timer are periodic. When one fires, the next
//! deadline is one period after the deadline that fired, not after the `now` the embedder's
//! loop woke up at: a loop that is always a little late (timer slack, scheduling) then sends
//! on the grid of deadlines and its adverts do not drift. keepalived re-arms from the time
//! its loop ran, so each advert is late by the lateness of the one before; at a 10 ms interval
//! that is a few percent fewer adverts than announced.
//!
//! When the loop was so late that the next deadline on the grid has already passed too (one
//! whole period or more missed), the timer fires once and the next deadline is one period
//! after `now`: no burst of adverts to catch up on the ones missed (a burst tells a Backup
//! nothing one advert does not, and arrives in the same instant), which is keepalived's
//! behaviour in that case.
//!
//! Timers that an event resets (the Adver_Timer after a priority change or an answered
//! advert, the Master_Down_Timer after an advert received by a Backup) count from the event's
//! `now`, which is when the packet or command arrived (RFC 5798 section 6.4.2: "Reset the
//! Master_Down_Timer to Master_Down_Interval").

use std::time::{Duration, Instant};

use super::Instance;
use crate::event::State;
use crate::types::{Centis, Micros, Version};
use crate::wire::Advertisement;

/// The next deadline of a periodic timer of `period` that was due at `due` and fired at
/// `now` (see the module docs): `due + period`, or `now + period` if that has passed too.
pub(super) fn next_periodic(due: Instant, now: Instant, period: Duration) -> Instant {
    let next = due + period;
    if next > now { next } else { now + period }
}

impl Instance {
    /// The next time [`handle_timeout`](Self::handle_timeout) must be called, `None` if no
    /// timer runs. Ask again after every input and command.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.adver_timer,
            self.master_down_timer,
            self.announce_second,
            self.announce_refresh,
            self.announce_lower_prio,
            self.release_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires every timer due at `now`. Spurious calls are no-ops.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Master if self.release_deadline.is_some() => {
                if self.release_deadline.is_some_and(|t| t <= now) {
                    // Nobody took over within Master_Down_Interval: release anyway.
                    self.handle_shutdown(now);
                }
            }
            State::Master => {
                // RFC 5798 section 6.4.3: "If the Adver_Timer fires ..."
                if let Some(due) = self.adver_timer.filter(|t| *t <= now) {
                    self.send_advert(self.effective_priority());
                    let period = self.config.advert_interval.as_centis().to_duration();
                    self.adver_timer = Some(next_periodic(due, now, period));
                }
                let schedule = self.config.announce;
                if self.announce_second.is_some_and(|t| t <= now) {
                    self.announce_second = None;
                    self.announce_burst(schedule.repeat);
                }
                if let Some(due) = self.announce_refresh.filter(|t| *t <= now) {
                    let period = schedule.refresh.to_duration();
                    self.announce_refresh = Some(next_periodic(due, now, period));
                    self.announce_burst(schedule.refresh_repeat);
                }
                if self.announce_lower_prio.is_some_and(|t| t <= now) {
                    self.announce_lower_prio = None;
                    self.announce_burst(schedule.lower_prio_repeat);
                }
            }
            State::Backup => {
                // RFC 5798 section 6.4.2: "If the Master_Down_Timer fires ..."
                if self.master_down_timer.is_some_and(|t| t <= now) {
                    self.become_master(now, self.takeover_reason);
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    /// Skew_Time, from the effective priority, in microseconds.
    ///
    /// VRRPv3 (RFC 5798 section 6.1): `((256 - Priority) * Master_Adver_Interval) / 256`.
    /// VRRPv2 (RFC 3768 section 6.1): `(256 - Priority) / 256` seconds, whatever the
    /// interval. Computed in integer microseconds and truncated to the microsecond, as
    /// keepalived does (its `VRRP_TIMER_SKEW`), so both give the same figures; never
    /// truncated to whole centiseconds, which would give every priority the same skew at a
    /// 10 ms interval. Consecutive priorities differ by at least 39 µs (VRRPv3 at 10 ms).
    #[must_use]
    pub fn skew_time(&self) -> Micros {
        let weight = 256 - u64::from(self.effective_priority());
        match self.config.version {
            Version::V3 => Micros(weight * self.master_adver_interval.as_micros().get() / 256),
            Version::V2 => Micros(weight * 1_000_000 / 256),
        }
    }

    /// Master_Down_Interval: `3 * Master_Adver_Interval + Skew_Time` (RFC 5798 section 6.1,
    /// RFC 3768 section 6.1), in microseconds.
    #[must_use]
    pub fn master_down_interval(&self) -> Micros {
        Micros(3 * self.master_adver_interval.as_micros().get() + self.skew_time().get())
    }

    pub(super) fn preempt_deadline(&self, now: Instant) -> Option<Instant> {
        (self.config.preempt_delay > Centis::ZERO)
            .then(|| now + self.config.preempt_delay.to_duration())
    }

    /// RFC 5798 section 6.4.2: a VRRPv3 backup sets Master_Adver_Interval from the advert.
    pub(super) fn learn_interval(&mut self, adv: &Advertisement) {
        if self.config.version == Version::V3 {
            self.master_adver_interval = adv.interval;
        }
    }
}
