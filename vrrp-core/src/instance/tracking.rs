//! Commands (primary address, link, tracked objects, priority) and what they decide: the
//! effective priority and whether the instance is eligible to run.

use std::net::IpAddr;
use std::time::Instant;

use super::{Instance, UnknownTrack};
use crate::config::ConfigError;
use crate::event::Reason;
use crate::track::{Track, TrackEffect, TrackStatus};
use crate::types::{Family, Priority};

impl Instance {
    /// The priority used in adverts and elections: the base priority plus the adjustment of
    /// every tracked object ([`Track::effect`]: positive weights while up, negative while
    /// down), clamped to 1 to 254; the owner's 255 is never adjusted.
    #[must_use]
    pub fn effective_priority(&self) -> u8 {
        let base = self.config.priority.get();
        if base == Priority::OWNER.get() {
            return base;
        }
        let adjust: i32 = self.tracks().map(|t| t.effect.adjustment()).sum();
        let clamped = (i32::from(base) + adjust).clamp(1, 254);
        u8::try_from(clamped).unwrap_or(1)
    }

    /// Each tracked object as it stands: name, current weight, whether it is up, and its
    /// effect on the instance ([`Track::effect`]), in configuration order.
    pub fn tracks(&self) -> impl Iterator<Item = TrackStatus<'_>> + '_ {
        self.config
            .tracks
            .iter()
            .zip(&self.track_up)
            .map(|(t, &up)| TrackStatus {
                name: t.name.as_str(),
                weight: t.weight,
                up,
                effect: Track::effect(t.weight, up),
            })
    }

    /// Why the instance is not eligible to run, if it is not: its own reason first, then
    /// [`Reason::SyncGroup`] while another member of its sync group is in Fault.
    #[must_use]
    pub fn fault(&self) -> Option<Reason> {
        self.own_fault()
            .or_else(|| self.sync.fault.then_some(Reason::SyncGroup))
    }

    /// Why the instance itself is not eligible to run, whatever its sync group says.
    #[must_use]
    pub fn own_fault(&self) -> Option<Reason> {
        if !self.link_up {
            Some(Reason::LinkDown)
        } else if self.primary.is_none() {
            Some(Reason::NoPrimaryAddress)
        } else if self.tracks().any(|t| t.effect == TrackEffect::Fault) {
            Some(Reason::TrackFailed)
        } else {
            None
        }
    }

    /// The position of the tracked object `name` in `config.tracks`.
    pub(super) fn track_index(&self, name: &str) -> Result<usize, UnknownTrack> {
        self.config
            .tracks
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| UnknownTrack {
                name: name.to_owned(),
            })
    }

    /// Sets the interface's primary address of the instance's family (`None`: it has none,
    /// which makes the instance ineligible). An address of the other family is ignored.
    pub fn set_primary_address(&mut self, now: Instant, addr: Option<IpAddr>) {
        if addr.is_some_and(|a| Family::of(&a) != self.family) {
            return;
        }
        self.primary = addr;
        self.reevaluate(now);
    }

    /// Sets the link state; a down link makes the instance ineligible.
    pub fn set_link_up(&mut self, now: Instant, up: bool) {
        self.link_up = up;
        self.reevaluate(now);
    }

    /// Reports a tracked object up or down.
    ///
    /// # Errors
    /// [`UnknownTrack`] if no tracked object has that name.
    pub fn set_track(&mut self, now: Instant, name: &str, up: bool) -> Result<(), UnknownTrack> {
        let index = self.track_index(name)?;
        if let Some(slot) = self.track_up.get_mut(index) {
            *slot = up;
        }
        self.reevaluate(now);
        Ok(())
    }

    /// Reports a tracked object whose weight varies (keepalived's `track_file`, where the
    /// file's number times the weight is the adjustment): its state and its weight at once,
    /// so that the priority is re-evaluated once. The weight keeps its meaning
    /// ([`Track::effect`]: added while up if positive, while down if negative; 0 means Fault
    /// while down) and is clamped to -254..=254 ([`Track::clamp_weight`]).
    ///
    /// # Errors
    /// [`UnknownTrack`] if no tracked object has that name.
    pub fn set_track_weighted(
        &mut self,
        now: Instant,
        name: &str,
        up: bool,
        weight: i16,
    ) -> Result<(), UnknownTrack> {
        let index = self.track_index(name)?;
        if let (Some(track), Some(slot)) = (
            self.config.tracks.get_mut(index),
            self.track_up.get_mut(index),
        ) {
            track.weight = Track::clamp_weight(weight);
            *slot = up;
        }
        self.reevaluate(now);
        Ok(())
    }

    /// Changes the base priority.
    ///
    /// # Errors
    /// [`ConfigError::NopreemptOwner`] for 255 without preemption.
    pub fn set_priority(&mut self, now: Instant, priority: Priority) -> Result<(), ConfigError> {
        if priority.is_owner() && !self.config.preempt {
            return Err(ConfigError::NopreemptOwner);
        }
        self.config.priority = priority;
        self.reevaluate(now);
        Ok(())
    }
}
