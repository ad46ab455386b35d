//! What a sync group may do to one of its members (keepalived's `vrrp_sync_group`, see
//! [`crate::sync_group`]): hold a Backup whose Master_Down_Timer fired until every other
//! member wants Master too, force it to Master or Backup with the others, and keep it in Fault
//! while another member is in Fault. The [`Router`](crate::Router) owning the group decides;
//! these methods only carry the decision out, with the usual actions.

use std::time::Instant;

use super::Instance;
use crate::event::{Reason, State};

/// The sync group's hold on one member.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SyncGate {
    /// A Backup whose Master_Down_Timer fires stays Backup (and re-arms the timer) rather
    /// than becoming Master: some other member of its group does not want Master yet.
    pub(super) hold: bool,
    /// The Master_Down_Timer fired while held: keepalived's `wantstate == MASTER` for a
    /// Backup. Cleared on any state change and when a master is heard again.
    pub(super) wants_master: bool,
    /// Another member of the group is in Fault: this one is not eligible either.
    pub(super) fault: bool,
    /// The latest time a command gave: the group's rules, applied after a command reached
    /// through `Router::instance_mut` (which carries no time), act at this time.
    pub(super) last_command: Option<Instant>,
}

impl SyncGate {
    pub(super) fn note_command(&mut self, now: Instant) {
        self.last_command = self.last_command.max(Some(now));
    }
}

impl Instance {
    /// Called where a Backup would become Master: when held, records that it wants Master,
    /// re-arms the Master_Down_Timer (keepalived waits a whole Master_Down_Interval again)
    /// and returns `true` (nothing else happens).
    pub(super) fn sync_holds_back(&mut self, now: Instant) -> bool {
        if !self.sync.hold || self.state != State::Backup {
            return false;
        }
        self.sync.wants_master = true;
        self.master_down_timer = Some(now + self.master_down_interval().to_duration());
        true
    }

    /// Whether this Backup's Master_Down_Timer fired while its group held it back.
    pub(crate) const fn sync_wants_master(&self) -> bool {
        self.sync.wants_master && matches!(self.state, State::Backup)
    }

    /// Sets whether the group holds this member in Backup when its timer fires.
    pub(crate) const fn set_sync_hold(&mut self, hold: bool) {
        self.sync.hold = hold;
    }

    /// A master was heard again: this Backup no longer wants Master.
    pub(crate) const fn clear_sync_want(&mut self) {
        self.sync.wants_master = false;
    }

    /// Sets or clears the group's Fault and re-evaluates eligibility: a Master resigns
    /// (priority 0) and releases its addresses, a Backup goes to Fault with
    /// [`Reason::SyncGroup`]; cleared, a member whose own conditions hold goes to Backup
    /// ([`Reason::Recovered`]) or, as the owner, to Master.
    pub(crate) fn set_sync_fault(&mut self, now: Instant, fault: bool) {
        if self.sync.fault == fault {
            return;
        }
        self.sync.fault = fault;
        self.reevaluate(now);
    }

    /// The group went Master: a running Backup becomes Master too, with
    /// [`Reason::SyncGroup`] (the actions of becoming Master, in the usual order).
    pub(crate) fn sync_force_master(&mut self, now: Instant) {
        if self.started && self.state == State::Backup && self.release_deadline.is_none() {
            self.sync.hold = false;
            self.become_master(now, Reason::SyncGroup);
        }
    }

    /// The group went Backup: a Master goes to Backup too, with [`Reason::SyncGroup`],
    /// releasing its addresses without a priority-0 advert (the router that took over on
    /// the other member is Master of this one's peers soon; keepalived does the same).
    pub(crate) fn sync_force_backup(&mut self, now: Instant) {
        if self.started && self.state == State::Master && self.release_deadline.is_none() {
            self.leave_state(now, State::Backup, Reason::SyncGroup, false);
        }
    }

    /// The latest time a command was given to this instance.
    pub(crate) const fn last_command(&self) -> Option<Instant> {
        self.sync.last_command
    }

    /// Whether the instance has started and not shut down.
    pub(crate) const fn is_started(&self) -> bool {
        self.started
    }
}
