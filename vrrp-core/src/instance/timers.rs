//! Timers: the deadlines an instance asks to be woken at, what fires when they pass, and the
//! RFC's interval arithmetic (Skew_Time, Master_Down_Interval, Master_Adver_Interval).

use std::time::Instant;

use super::Instance;
use crate::event::State;
use crate::types::{Centis, Version};
use crate::wire::Advertisement;

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
                if self.adver_timer.is_some_and(|t| t <= now) {
                    self.send_advert(self.effective_priority());
                    self.adver_timer =
                        Some(now + self.config.advert_interval.as_centis().to_duration());
                }
                let schedule = self.config.announce;
                if self.announce_second.is_some_and(|t| t <= now) {
                    self.announce_second = None;
                    self.announce_burst(schedule.repeat);
                }
                if self.announce_refresh.is_some_and(|t| t <= now) {
                    self.announce_refresh = Some(now + schedule.refresh.to_duration());
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

    /// Skew_Time, from the effective priority.
    ///
    /// VRRPv3 (RFC 5798 section 6.1): `((256 - Priority) * Master_Adver_Interval) / 256`
    /// centiseconds. VRRPv2 (RFC 3768 section 6.1): `(256 - Priority) / 256` seconds. Both
    /// truncated to whole centiseconds.
    #[must_use]
    pub fn skew_time(&self) -> Centis {
        let weight = 256 - u32::from(self.effective_priority());
        match self.config.version {
            Version::V3 => Centis(weight * self.master_adver_interval.as_centis().get() / 256),
            Version::V2 => Centis(weight * 100 / 256),
        }
    }

    /// Master_Down_Interval: `3 * Master_Adver_Interval + Skew_Time` (RFC 5798 section 6.1,
    /// RFC 3768 section 6.1).
    #[must_use]
    pub fn master_down_interval(&self) -> Centis {
        Centis(3 * self.master_adver_interval.as_centis().get() + self.skew_time().get())
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
