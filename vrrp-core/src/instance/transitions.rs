//! State transitions: startup, shutdown and handover, entering and leaving Master, Backup and
//! Fault, and the actions each transition emits, in the documented order.

use std::net::IpAddr;
use std::time::Instant;

use bytes::Bytes;

use super::Instance;
use crate::event::{Action, Reason, State, Transmit};
use crate::types::{Centis, Priority};
use crate::wire::{Advertisement, ChecksumMode, Endpoints};

/// The adverts last emitted (one per destination), with what they were emitted from: a
/// Master's steady adverts are identical, so they are emitted once and then shared (cloning
/// a [`Bytes`] counts a reference; nothing is allocated per advert).
#[derive(Debug, Default)]
pub(super) struct SentCache {
    /// The template (priority included), source and checksum mode of `payloads`.
    from: Option<(Advertisement, IpAddr, ChecksumMode)>,
    /// One payload per destination, at most [`SentCache::MAX`].
    payloads: Vec<(IpAddr, Bytes)>,
}

impl SentCache {
    /// More destinations than this (unicast peers) are emitted per advert, uncached.
    const MAX: usize = 16;

    fn get(&self, template: &Advertisement, at: Endpoints, mode: ChecksumMode) -> Option<Bytes> {
        let (t, src, m) = self.from.as_ref()?;
        if *src != at.src || *m != mode || t != template {
            return None;
        }
        self.payloads
            .iter()
            .find(|(dst, _)| *dst == at.dst)
            .map(|(_, payload)| payload.clone())
    }

    fn put(
        &mut self,
        template: &Advertisement,
        at: Endpoints,
        mode: ChecksumMode,
        payload: &Bytes,
    ) {
        let same = self
            .from
            .as_ref()
            .is_some_and(|(t, src, m)| *src == at.src && *m == mode && t == template);
        if !same {
            self.from = Some((template.clone(), at.src, mode));
            self.payloads.clear();
        }
        if self.payloads.len() < Self::MAX {
            self.payloads.push((at.dst, payload.clone()));
        }
    }
}

impl Instance {
    /// The Startup event (RFC 5798 section 6.4.1): the owner becomes Master at once, any other
    /// router Backup; an ineligible one goes to Fault. No-op if already started.
    pub fn handle_startup(&mut self, now: Instant) {
        self.start(now, false);
    }

    /// Startup in place of an instance of this node that was Master for the same addresses a
    /// moment ago (a restart on reload, make-before-break): an eligible instance becomes
    /// Master at once ([`Reason::Restart`]): it adds its addresses (which the node still
    /// holds) and advertises, where [`handle_startup`](Self::handle_startup) would wait
    /// Master_Down_Interval as Backup while nobody answers for the addresses. It does not
    /// announce them (no first burst, no `garp_master_delay` burst; the refresh stays
    /// scheduled): the neighbours already reach this node. A caller that moved them to
    /// another interface (another MAC) asks for the announcements with
    /// [`reannounce`](Self::reannounce). An ineligible instance goes to Fault as with
    /// `handle_startup`. No-op if already started.
    ///
    /// This departs from RFC 5798 section 6.4.1 on purpose: the node held the role. If
    /// another router is Master too (it had claimed the addresses meanwhile), the first
    /// advert either of them hears settles it by section 6.4.3: the lower priority (or, at
    /// equal priority, the lower address) steps down.
    pub fn handle_startup_master(&mut self, now: Instant) {
        self.start(now, true);
    }

    /// [`handle_startup`](Self::handle_startup), or with `restart`
    /// [`handle_startup_master`](Self::handle_startup_master).
    fn start(&mut self, now: Instant, restart: bool) {
        if self.started {
            return;
        }
        self.started = true;
        match self.fault() {
            Some(reason) => self.enter_fault(now, reason),
            None if restart => {
                self.become_master(now, Reason::Restart);
                // The node answered for the addresses a moment ago: nothing moved, nothing to
                // announce (and a node that claimed them meanwhile is not out-announced while
                // the adverts settle who keeps them). The refresh schedule stays.
                self.actions.retain(|a| !matches!(a, Action::Announce(_)));
                self.announce_second = None;
            }
            None => self.enter_running(now, Reason::Startup),
        }
    }

    /// The Shutdown event (RFC 5798 sections 6.4.2 and 6.4.3): a master sends a priority-0
    /// advert and releases its addresses; every state goes to Initialize. No-op if not started.
    pub fn handle_shutdown(&mut self, now: Instant) {
        if !self.started {
            return;
        }
        self.started = false;
        // A handover in progress already sent its priority-0 advert.
        let resign = self.release_deadline.is_none();
        self.leave_state(now, State::Initialize, Reason::Shutdown, resign);
    }

    /// A make-before-break shutdown, for planned restarts: a master sends its priority-0 advert
    /// at once but keeps its addresses (and keeps answering for them) until it hears the new
    /// master's advert, or until Master_Down_Interval has passed with none; only then does it
    /// remove them and go to Initialize. Clients see no gap: the backup takes over after its
    /// Skew_Time and announces itself while the old master still answers.
    ///
    /// A backup, or an instance in Fault, shuts down at once as with
    /// [`handle_shutdown`](Self::handle_shutdown). [`is_releasing`](Self::is_releasing) tells
    /// whether a handover is under way; it ends with `StateChanged` to Initialize.
    pub fn handle_handover(&mut self, now: Instant) {
        if !self.started || self.release_deadline.is_some() {
            return;
        }
        if self.state != State::Master {
            self.handle_shutdown(now);
            return;
        }
        self.send_advert(0);
        self.adver_timer = None;
        self.announce_second = None;
        self.announce_refresh = None;
        self.announce_lower_prio = None;
        let bound = self.master_down_interval().to_duration();
        self.release_deadline = Some(now + bound);
    }

    /// Re-checks eligibility and priority after a command.
    pub(super) fn reevaluate(&mut self, now: Instant) {
        self.reevaluate_advertising(now, false);
    }

    /// [`reevaluate`](Self::reevaluate); a Master that stays Master also advertises now if
    /// `advertise` (a new interval or address list to tell the backups of).
    pub(super) fn reevaluate_advertising(&mut self, now: Instant, advertise: bool) {
        self.sync.note_command(now);
        if !self.started {
            return;
        }
        // A releasing master only waits for its successor or its deadline, unless it can no
        // longer serve the addresses: then it releases them at once.
        if self.release_deadline.is_some() {
            if self.fault().is_some() {
                self.handle_shutdown(now);
            }
            return;
        }
        match (self.state, self.fault()) {
            (State::Fault, None) => self.enter_running(now, Reason::Recovered),
            (State::Backup | State::Master, Some(reason)) => self.enter_fault(now, reason),
            (State::Master, None)
                if advertise || self.effective_priority() != self.advertised_priority =>
            {
                // Tell the backups of the new priority now rather than at the next interval.
                self.send_advert(self.effective_priority());
                self.adver_timer =
                    Some(now + self.config.advert_interval.as_centis().to_duration());
            }
            _ => {}
        }
    }

    /// Startup or recovery of an eligible instance (RFC 5798 section 6.4.1).
    pub(super) fn enter_running(&mut self, now: Instant, reason: Reason) {
        if self.effective_priority() == Priority::OWNER.get() {
            self.become_master(now, Reason::Owner);
        } else {
            // "Set Master_Adver_Interval to Advertisement_Interval; Set the Master_Down_Timer
            // to Master_Down_Interval; Transition to the Backup state".
            self.master_adver_interval = self.config.advert_interval;
            self.set_state(now, State::Backup, reason);
            self.master_down_timer = Some(now + self.master_down_interval().to_duration());
            self.takeover_reason = Reason::MasterDown;
            self.preempt_until = None;
        }
    }

    pub(super) fn enter_fault(&mut self, now: Instant, reason: Reason) {
        // A master whose tracked object failed can still send: resign with priority 0 so a
        // backup takes over after Skew_Time rather than Master_Down_Interval. With the link
        // down or no primary address there is nothing to send from.
        // The same holds for a member its sync group sends to Fault.
        let resign = matches!(reason, Reason::TrackFailed | Reason::SyncGroup);
        self.leave_state(now, State::Fault, reason, resign);
    }

    /// Leaves the current state for Backup, Fault or Initialize.
    pub(super) fn leave_state(&mut self, now: Instant, to: State, reason: Reason, resign: bool) {
        let was_master = self.state == State::Master;
        self.set_state(now, to, reason);
        self.adver_timer = None;
        self.announce_second = None;
        self.announce_refresh = None;
        self.announce_lower_prio = None;
        self.master_down_timer = None;
        self.release_deadline = None;
        if was_master {
            if resign {
                self.send_advert(0);
            }
            for addr in self.config.held_addresses() {
                self.actions.push_back(Action::RemoveVip(*addr));
            }
        }
        if to == State::Backup {
            self.master_down_timer = Some(now + self.master_down_interval().to_duration());
            self.takeover_reason = Reason::MasterDown;
            self.preempt_until = None;
        }
    }

    /// RFC 5798 section 6.4.1 (owner) and 6.4.2 (Master_Down_Timer fired).
    pub(super) fn become_master(&mut self, now: Instant, reason: Reason) {
        if self.sync_holds_back(now) {
            return;
        }
        self.set_state(now, State::Master, reason);
        self.stats.master_transitions += 1;
        self.stats.master_reasons.record(reason);
        self.master_down_timer = None;
        self.master = None;
        self.preempt_until = None;
        // As Master, the interval in force is our own (it bounds a handover).
        self.master_adver_interval = self.config.advert_interval;
        for addr in self.config.held_addresses() {
            self.actions.push_back(Action::AddVip(*addr));
        }
        // "Send an ADVERTISEMENT; ... broadcast a gratuitous ARP request ...; Set the
        // Adver_Timer to Advertisement_Interval".
        self.send_advert(self.effective_priority());
        self.adver_timer = Some(now + self.config.advert_interval.as_centis().to_duration());
        let schedule = self.config.announce;
        self.announce_burst(schedule.repeat);
        self.announce_second =
            (schedule.delay > Centis::ZERO).then(|| now + schedule.delay.to_duration());
        self.announce_refresh =
            (schedule.refresh > Centis::ZERO).then(|| now + schedule.refresh.to_duration());
    }

    pub(super) fn set_state(&mut self, now: Instant, to: State, reason: Reason) {
        let from = self.state;
        self.state = to;
        self.sync.wants_master = false;
        self.since = Some(now);
        self.last_reason = Some(reason);
        self.actions
            .push_back(Action::StateChanged { from, to, reason });
    }

    pub(super) fn announce_burst(&mut self, repeat: u8) {
        for _ in 0..repeat {
            for addr in self.config.held_addresses() {
                self.actions.push_back(Action::Announce(*addr));
            }
        }
    }

    /// Queues one advert per destination (the multicast group, or each unicast peer), from
    /// [`source_address`](Self::source_address).
    pub(super) fn send_advert(&mut self, priority: u8) {
        let Some(src) = self.source_address() else {
            return;
        };
        if priority != 0 {
            self.advertised_priority = priority;
        }
        self.template.priority = priority;
        let group = [self.family.multicast_group()];
        let dsts = if !self.config.is_unicast() {
            &group[..]
        } else {
            &self.config.unicast_peers[..]
        };
        let mode = self.config.checksum_mode;
        for dst in dsts {
            let at = Endpoints { src, dst: *dst };
            let cached = self.sent.get(&self.template, at, mode);
            // The template was checked by `validate` and the endpoints are of its family, so
            // emitting cannot fail; a failure would only skip the advert.
            let emitted = cached.map_or_else(
                || {
                    let payload = self.template.to_bytes(at, mode);
                    if let Ok(p) = &payload {
                        self.sent.put(&self.template, at, mode, p);
                    }
                    payload
                },
                Ok,
            );
            if let Ok(payload) = emitted {
                self.stats.sent_advertisements += 1;
                if priority == 0 {
                    self.stats.sent_pri_zero_packets += 1;
                }
                self.actions.push_back(Action::SendAdvertisement(Transmit {
                    src,
                    dst: *dst,
                    payload,
                    priority,
                }));
            }
        }
    }
}
