//! One virtual router: the state machine of RFC 5798 section 6 (and RFC 3768 section 6 for
//! VRRPv2), with keepalived's preemption, tracking and announcement knobs.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use crate::config::{ConfigError, InstanceConfig};
use crate::event::{Action, Reason, Received, RxError, State, Transmit};
use crate::stats::Stats;
use crate::types::{Centis, Family, Interval, Priority, Version};
use crate::wire::{Addresses, Advertisement, Auth, ChecksumMode, Endpoints, WireError};

/// The master as last seen by a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MasterInfo {
    /// Its primary address (the advert's IP source).
    pub address: IpAddr,
    /// The priority it advertised.
    pub priority: u8,
    /// The interval it advertised.
    pub interval: Interval,
    /// When its last accepted advert arrived.
    pub seen: Instant,
}

/// How many peers [`Instance::peers`] remembers.
pub const MAX_PEERS: usize = 16;

/// A command named a tracked object the instance does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no tracked object named {name:?} in this instance")]
pub struct UnknownTrack {
    /// The name given.
    pub name: String,
}

/// One VRRP virtual router instance (one VRID and family on one interface).
///
/// The methods are of four kinds (the sans-IO contract of the crate docs):
///
/// - inputs: [`handle_startup`](Self::handle_startup),
///   [`handle_packet`](Self::handle_packet), [`handle_timeout`](Self::handle_timeout),
///   [`handle_shutdown`](Self::handle_shutdown) or [`handle_handover`](Self::handle_handover);
/// - commands: [`set_primary_address`](Self::set_primary_address),
///   [`set_link_up`](Self::set_link_up), [`set_track`](Self::set_track),
///   [`set_priority`](Self::set_priority);
/// - outputs, drained after every input or command: [`poll_action`](Self::poll_action) until
///   `None`, then [`poll_timeout`](Self::poll_timeout);
/// - getters: [`state`](Self::state), [`effective_priority`](Self::effective_priority),
///   [`stats`](Self::stats) and the rest.
///
/// A new instance is in [`State::Initialize`], with its link up and no primary address: set
/// the primary address (the interface's address of the instance's family; for IPv6 its
/// link-local address) before [`handle_startup`](Self::handle_startup), or it starts in Fault.
#[derive(Debug)]
pub struct Instance {
    config: InstanceConfig,
    family: Family,
    /// The advert this instance sends, with the priority set per send.
    template: Advertisement,
    /// Virtual addresses, sorted, for the address list check.
    sorted_vips: Vec<IpAddr>,
    state: State,
    started: bool,
    primary: Option<IpAddr>,
    link_up: bool,
    /// Up/down of each `config.tracks` entry, same order.
    track_up: Vec<bool>,
    /// Effective priority last advertised as Master, to advertise changes at once.
    advertised_priority: u8,
    master_adver_interval: Interval,
    adver_timer: Option<Instant>,
    master_down_timer: Option<Instant>,
    /// The second burst of announcements after becoming Master (`garp_master_delay`).
    announce_second: Option<Instant>,
    /// The next refresh burst (`garp_master_refresh`), measured from becoming Master.
    announce_refresh: Option<Instant>,
    preempt_until: Option<Instant>,
    /// During a handover: when the addresses are released even if no new master spoke.
    release_deadline: Option<Instant>,
    /// Why this backup would become Master if the Master_Down_Timer fired now.
    takeover_reason: Reason,
    master: Option<MasterInfo>,
    /// Every router heard from (valid adverts), most recent last, at most [`MAX_PEERS`].
    peers: Vec<MasterInfo>,
    since: Option<Instant>,
    last_reason: Option<Reason>,
    actions: VecDeque<Action>,
    stats: Stats,
}

impl Instance {
    /// An instance in [`State::Initialize`].
    ///
    /// # Errors
    /// The first rule `config` breaks ([`InstanceConfig::validate`]).
    pub fn new(config: InstanceConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let family = config.family();
        let addresses = Addresses::collect(family, config.virtual_addresses.iter().copied())
            .ok_or(ConfigError::NoVirtualAddresses)?;
        let template = Advertisement {
            version: config.version,
            vrid: config.vrid,
            priority: config.priority.get(),
            interval: config.advert_interval,
            auth: config.password.map_or(Auth::None, Auth::Password),
            addresses,
        };
        let mut sorted_vips = config.virtual_addresses.clone();
        sorted_vips.sort_unstable();
        let track_up = config.tracks.iter().map(|t| t.initially_up).collect();
        Ok(Self {
            family,
            template,
            sorted_vips,
            state: State::Initialize,
            started: false,
            primary: None,
            link_up: true,
            track_up,
            advertised_priority: 0,
            master_adver_interval: config.advert_interval,
            adver_timer: None,
            master_down_timer: None,
            announce_second: None,
            announce_refresh: None,
            preempt_until: None,
            release_deadline: None,
            takeover_reason: Reason::MasterDown,
            master: None,
            peers: Vec::new(),
            since: None,
            last_reason: None,
            actions: VecDeque::new(),
            stats: Stats::default(),
            config,
        })
    }

    // ----- getters -------------------------------------------------------------------------

    /// The current state.
    #[must_use]
    pub const fn state(&self) -> State {
        self.state
    }

    /// When the current state was entered (`None` before startup).
    #[must_use]
    pub const fn state_since(&self) -> Option<Instant> {
        self.since
    }

    /// The reason of the last state change.
    #[must_use]
    pub const fn last_reason(&self) -> Option<Reason> {
        self.last_reason
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &InstanceConfig {
        &self.config
    }

    /// The family.
    #[must_use]
    pub const fn family(&self) -> Family {
        self.family
    }

    /// The counters.
    #[must_use]
    pub const fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The primary address, if known.
    #[must_use]
    pub const fn primary_address(&self) -> Option<IpAddr> {
        self.primary
    }

    /// The master as last seen while Backup (`None` if never seen, or if this router
    /// became Master since).
    #[must_use]
    pub const fn master(&self) -> Option<MasterInfo> {
        self.master
    }

    /// The priority used in adverts and elections: the base priority plus the weights of
    /// tracked objects (positive weights while up, negative while down), clamped to 1 to 254;
    /// the owner's 255 is never adjusted.
    #[must_use]
    pub fn effective_priority(&self) -> u8 {
        let base = self.config.priority.get();
        if base == Priority::OWNER.get() {
            return base;
        }
        let adjust: i32 = self
            .config
            .tracks
            .iter()
            .zip(&self.track_up)
            .filter(|(t, up)| (t.weight > 0 && **up) || (t.weight < 0 && !**up))
            .map(|(t, _)| i32::from(t.weight))
            .sum();
        let clamped = (i32::from(base) + adjust).clamp(1, 254);
        u8::try_from(clamped).unwrap_or(1)
    }

    /// The routers this instance has received valid adverts from, with the priority and
    /// interval each last advertised and when; at most [`MAX_PEERS`], the least recently
    /// heard dropped first. A priority of 0 is a peer that resigned.
    pub fn peers(&self) -> &[MasterInfo] {
        &self.peers
    }

    /// Each tracked object's name, weight and whether it is up.
    pub fn tracks(&self) -> impl Iterator<Item = (&str, i16, bool)> + '_ {
        self.config
            .tracks
            .iter()
            .zip(&self.track_up)
            .map(|(t, up)| (t.name.as_str(), t.weight, *up))
    }

    /// Master_Adver_Interval: the interval of the current master, learned from its adverts
    /// with VRRPv3 (RFC 5798 section 6.4.2), always the configured one with VRRPv2.
    #[must_use]
    pub const fn master_adver_interval(&self) -> Interval {
        self.master_adver_interval
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

    /// Why the instance is not eligible to run, if it is not.
    #[must_use]
    pub fn fault(&self) -> Option<Reason> {
        if !self.link_up {
            Some(Reason::LinkDown)
        } else if self.primary.is_none() {
            Some(Reason::NoPrimaryAddress)
        } else if self
            .config
            .tracks
            .iter()
            .zip(&self.track_up)
            .any(|(t, up)| t.weight == 0 && !up)
        {
            Some(Reason::TrackFailed)
        } else {
            None
        }
    }

    /// The position of the tracked object `name` in `config.tracks`.
    fn track_index(&self, name: &str) -> Result<usize, UnknownTrack> {
        self.config
            .tracks
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| UnknownTrack {
                name: name.to_owned(),
            })
    }

    /// Remembers the sender of a valid advert.
    fn record_peer(&mut self, now: Instant, src: IpAddr, adv: &Advertisement) {
        if let Some(i) = self.peers.iter().position(|p| p.address == src) {
            self.peers.remove(i);
        } else if self.peers.len() == MAX_PEERS {
            self.peers.remove(0);
        }
        self.peers.push(MasterInfo {
            address: src,
            priority: adv.priority,
            interval: adv.interval,
            seen: now,
        });
    }

    // ----- outputs -------------------------------------------------------------------------

    /// The next action to perform, `None` when there is none left. Drain it after every
    /// input and command.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) must be called, `None` if no
    /// timer runs. Ask again after every input and command.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.adver_timer,
            self.master_down_timer,
            self.announce_second,
            self.announce_refresh,
            self.release_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ----- inputs --------------------------------------------------------------------------

    /// The Startup event (RFC 5798 section 6.4.1): the owner becomes Master at once, any other
    /// router Backup; an ineligible one goes to Fault. No-op if already started.
    pub fn handle_startup(&mut self, now: Instant) {
        if self.started {
            return;
        }
        self.started = true;
        match self.fault() {
            Some(reason) => self.enter_fault(now, reason),
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
        let bound = self.master_down_interval().to_duration();
        self.release_deadline = Some(now + bound);
    }

    /// Whether a handover is under way: priority 0 sent, addresses still held.
    #[must_use]
    pub const fn is_releasing(&self) -> bool {
        self.release_deadline.is_some()
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

    /// A received VRRP message for this instance.
    ///
    /// Validates it (RFC 5798 section 7.1, RFC 3768 section 7.1): not our own advert, hop
    /// limit, unicast peer, format and checksum, version, authentication (VRRPv2), interval
    /// (VRRPv2), address list; then applies it to the state machine.
    ///
    /// # Errors
    /// Why the message was dropped; it is counted in [`stats`](Self::stats) too. An error is
    /// informational: the instance is unaffected.
    pub fn handle_packet(&mut self, now: Instant, rx: &Received<'_>) -> Result<(), RxError> {
        let (adv, same_addresses) = self.validate(rx).inspect_err(|e| self.count_error(e))?;
        if !same_addresses {
            self.stats.address_list_errors += 1;
        }
        self.stats.rcvd_advertisements += 1;
        self.record_peer(now, rx.src, &adv);
        if adv.priority == 0 {
            self.stats.rcvd_pri_zero_packets += 1;
        }
        match self.state {
            State::Backup => self.backup_receive(now, rx.src, &adv),
            // During a handover the first advert of a new master ends it.
            State::Master if self.release_deadline.is_some() => {
                if adv.priority != 0 {
                    self.handle_shutdown(now);
                }
            }
            State::Master => self.master_receive(now, rx.src, &adv),
            State::Initialize | State::Fault => {}
        }
        Ok(())
    }

    // ----- commands ------------------------------------------------------------------------

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
    /// so that the priority is re-evaluated once. The weight keeps [`Track`](crate::Track)'s meaning (added
    /// while up if positive, while down if negative; 0 means Fault while down) and is clamped
    /// to -254..=254.
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
            track.weight = weight.clamp(-254, 254);
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

    // ----- internals -----------------------------------------------------------------------

    fn preempt_deadline(&self, now: Instant) -> Option<Instant> {
        (self.config.preempt_delay > Centis::ZERO)
            .then(|| now + self.config.preempt_delay.to_duration())
    }

    /// The advert, and whether its address list matches ours.
    fn validate(&self, rx: &Received<'_>) -> Result<(Advertisement, bool), RxError> {
        if Some(rx.src) == self.primary {
            return Err(RxError::OwnAdvert);
        }
        // RFC 5798 section 7.1: "MUST verify that the IPvX TTL/Hop Limit is 255".
        let required = if rx.dst.is_multicast() {
            255
        } else {
            self.config.unicast_min_hop_limit
        };
        if rx.hop_limit < required {
            return Err(RxError::HopLimit {
                got: rx.hop_limit,
                required,
            });
        }
        if !self.config.unicast_peers.is_empty() && !self.config.unicast_peers.contains(&rx.src) {
            return Err(RxError::UnknownPeer { src: rx.src });
        }
        let at = Endpoints {
            src: rx.src,
            dst: rx.dst,
        };
        // A VRRPv3 IPv4 advert may carry either checksum form: accept both, so that routers
        // configured with and without `v3_checksum_as_v2` interoperate.
        let configured = self.config.checksum_mode;
        let other = match configured {
            ChecksumMode::PseudoHeader => ChecksumMode::V3AsV2,
            ChecksumMode::V3AsV2 => ChecksumMode::PseudoHeader,
        };
        let both = [configured, other];
        let v3_ipv4 = self.config.version == Version::V3 && self.family == Family::Ipv4;
        let modes = if v3_ipv4 { &both[..] } else { &both[..1] };
        let adv = Advertisement::parse_accepting(rx.payload, at, modes)?;
        // RFC 5798 section 7.1: "MUST verify that the VRRP version is ..."
        if adv.version != self.config.version {
            return Err(RxError::VersionMismatch {
                got: adv.version.wire(),
                expected: self.config.version.wire(),
            });
        }
        // RFC 3768 section 7.1: the authentication type must match ours, and the password.
        if self.config.version == Version::V2 {
            let ours = self.template.auth;
            match (adv.auth, ours) {
                (Auth::Unsupported { auth_type, .. }, _) => {
                    return Err(RxError::InvalidAuthType { auth_type });
                }
                (theirs, ours) if theirs.wire_type() != ours.wire_type() => {
                    return Err(RxError::AuthTypeMismatch {
                        got: theirs.wire_type(),
                        expected: ours.wire_type(),
                    });
                }
                (Auth::Password(theirs), Auth::Password(ours)) if theirs != ours => {
                    return Err(RxError::AuthFailure);
                }
                _ => {}
            }
            // RFC 3768 section 7.1: "MUST verify that the Adver Interval in the packet is the
            // same as the locally configured for this virtual router".
            if adv.interval != self.config.advert_interval {
                return Err(RxError::IntervalMismatch {
                    got_centis: adv.interval.centis(),
                    expected_centis: self.config.advert_interval.centis(),
                });
            }
        }
        // RFC 3768 section 7.1 (VRRPv2): a differing address list is dropped "If the packet
        // was not generated by the address owner". RFC 5798 section 7.1 (VRRPv3) only logs it,
        // unless `strict_address_list` asks for the VRRPv2 rule.
        if !self.same_addresses(&adv.addresses) {
            let strict = self.config.strict_address_list || self.config.version == Version::V2;
            if strict && adv.priority != Priority::OWNER.get() {
                return Err(RxError::AddressList);
            }
            // Counted by the caller, not dropped (keepalived without vrrp_strict).
            return Ok((adv, false));
        }
        Ok((adv, true))
    }

    fn same_addresses(&self, theirs: &Addresses) -> bool {
        if theirs.len() != self.sorted_vips.len() {
            return false;
        }
        let mut sorted: Vec<IpAddr> = theirs.iter().collect();
        sorted.sort_unstable();
        sorted == self.sorted_vips
    }

    fn count_error(&mut self, e: &RxError) {
        let s = &mut self.stats;
        let counter = match e {
            RxError::Wire(WireError::TooShort { .. } | WireError::Length { .. }) => {
                &mut s.packet_length_errors
            }
            RxError::Wire(WireError::Version { .. }) | RxError::VersionMismatch { .. } => {
                &mut s.version_errors
            }
            RxError::Wire(WireError::Type { .. }) => &mut s.rcvd_invalid_type_packets,
            RxError::Wire(WireError::Checksum { .. } | WireError::MixedFamilies) => {
                &mut s.checksum_errors
            }
            RxError::Wire(WireError::ZeroInterval) | RxError::IntervalMismatch { .. } => {
                &mut s.adv_interval_errors
            }
            RxError::HopLimit { .. } => &mut s.ip_ttl_errors,
            RxError::InvalidAuthType { .. } => &mut s.invalid_auth_type,
            RxError::AuthTypeMismatch { .. } => &mut s.auth_type_mismatch,
            RxError::AuthFailure => &mut s.auth_failures,
            RxError::AddressList => &mut s.address_list_errors,
            RxError::UnknownPeer { .. } => &mut s.unknown_peer,
            RxError::OwnAdvert => &mut s.own_adverts,
            // An unknown VRID, or a VRID of 0, is the router's to count.
            RxError::UnknownVrid { .. } | RxError::Wire(_) => return,
        };
        *counter += 1;
    }

    /// RFC 5798 section 6.4.2, "If an ADVERTISEMENT is received" in Backup.
    fn backup_receive(&mut self, now: Instant, src: IpAddr, adv: &Advertisement) {
        if adv.priority == 0 {
            // "If the Priority in the ADVERTISEMENT is zero, then: Set the Master_Down_Timer
            // to Skew_Time".
            self.master_down_timer = Some(now + self.skew_time().to_duration());
            self.takeover_reason = Reason::PriorityZero;
            return;
        }
        let ours = self.effective_priority();
        let lower = adv.priority < ours;
        // keepalived preempt_delay: adverts of a lower-priority master are still accepted
        // until the delay, started on first seeing such a master, has passed; an advert of
        // equal or higher priority stops it.
        let delaying = lower
            && self.config.preempt_delay > Centis::ZERO
            && match self.preempt_until {
                None => {
                    self.preempt_until = self.preempt_deadline(now);
                    true
                }
                Some(until) => until > now,
            };
        if !lower {
            self.preempt_until = None;
        }
        // "If Preempt_Mode is False, or if the Priority in the ADVERTISEMENT is greater than or
        // equal to the local Priority, then: ... Reset the Master_Down_Timer".
        if !self.config.preempt || !lower || delaying {
            self.learn_interval(adv);
            self.master = Some(MasterInfo {
                address: src,
                priority: adv.priority,
                interval: adv.interval,
                seen: now,
            });
            self.master_down_timer = Some(now + self.master_down_interval().to_duration());
            self.takeover_reason = Reason::MasterDown;
        } else {
            // "Otherwise: Discard the ADVERTISEMENT": the Master_Down_Timer will preempt.
            self.takeover_reason = Reason::Preempted;
        }
    }

    /// RFC 5798 section 6.4.3, "If an ADVERTISEMENT is received" in Master.
    fn master_receive(&mut self, now: Instant, src: IpAddr, adv: &Advertisement) {
        if adv.priority == 0 {
            // "If the Priority in the ADVERTISEMENT is zero, then: Send an ADVERTISEMENT, Reset
            // the Adver_Timer".
            self.send_advert(self.effective_priority());
            self.adver_timer = Some(now + self.config.advert_interval.as_centis().to_duration());
            return;
        }
        let ours = self.effective_priority();
        // "If the Priority in the ADVERTISEMENT is greater than the local Priority, or the
        // Priority is equal and the primary IPvX Address of the sender is greater than the
        // local primary IPvX Address, then: ... Transition to the Backup state".
        let higher = adv.priority > ours
            || (adv.priority == ours && self.primary.is_some_and(|mine| src > mine));
        if higher {
            self.learn_interval(adv);
            self.master = Some(MasterInfo {
                address: src,
                priority: adv.priority,
                interval: adv.interval,
                seen: now,
            });
            self.leave_state(now, State::Backup, Reason::HigherPriority, false);
        } else {
            // "Otherwise: Discard the ADVERTISEMENT". Like keepalived (unless
            // lower_prio_no_advert), answer at once so that a lower-priority router that
            // believes it is Master, after a partition heals, steps down without waiting for
            // our next interval.
            self.send_advert(ours);
            self.adver_timer = Some(now + self.config.advert_interval.as_centis().to_duration());
        }
    }

    /// RFC 5798 section 6.4.2: a VRRPv3 backup sets Master_Adver_Interval from the advert.
    fn learn_interval(&mut self, adv: &Advertisement) {
        if self.config.version == Version::V3 {
            self.master_adver_interval = adv.interval;
        }
    }

    /// Re-checks eligibility and priority after a command.
    fn reevaluate(&mut self, now: Instant) {
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
            (State::Master, None) if self.effective_priority() != self.advertised_priority => {
                // Tell the backups of the new priority now rather than at the next interval.
                self.send_advert(self.effective_priority());
                self.adver_timer =
                    Some(now + self.config.advert_interval.as_centis().to_duration());
            }
            _ => {}
        }
    }

    /// Startup or recovery of an eligible instance (RFC 5798 section 6.4.1).
    fn enter_running(&mut self, now: Instant, reason: Reason) {
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

    fn enter_fault(&mut self, now: Instant, reason: Reason) {
        // A master whose tracked object failed can still send: resign with priority 0 so a
        // backup takes over after Skew_Time rather than Master_Down_Interval. With the link
        // down or no primary address there is nothing to send from.
        let resign = reason == Reason::TrackFailed;
        self.leave_state(now, State::Fault, reason, resign);
    }

    /// Leaves the current state for Backup, Fault or Initialize.
    fn leave_state(&mut self, now: Instant, to: State, reason: Reason, resign: bool) {
        let was_master = self.state == State::Master;
        self.set_state(now, to, reason);
        self.adver_timer = None;
        self.announce_second = None;
        self.announce_refresh = None;
        self.master_down_timer = None;
        self.release_deadline = None;
        if was_master {
            if resign {
                self.send_advert(0);
            }
            for addr in &self.config.virtual_addresses {
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
    fn become_master(&mut self, now: Instant, reason: Reason) {
        self.set_state(now, State::Master, reason);
        self.stats.master_transitions += 1;
        self.stats.master_reasons.record(reason);
        self.master_down_timer = None;
        self.master = None;
        self.preempt_until = None;
        // As Master, the interval in force is our own (it bounds a handover).
        self.master_adver_interval = self.config.advert_interval;
        for addr in &self.config.virtual_addresses {
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

    fn set_state(&mut self, now: Instant, to: State, reason: Reason) {
        let from = self.state;
        self.state = to;
        self.since = Some(now);
        self.last_reason = Some(reason);
        self.actions
            .push_back(Action::StateChanged { from, to, reason });
    }

    fn announce_burst(&mut self, repeat: u8) {
        for _ in 0..repeat {
            for addr in &self.config.virtual_addresses {
                self.actions.push_back(Action::Announce(*addr));
            }
        }
    }

    /// Queues one advert per destination (the multicast group, or each unicast peer).
    fn send_advert(&mut self, priority: u8) {
        let Some(src) = self.primary else { return };
        if priority != 0 {
            self.advertised_priority = priority;
        }
        self.template.priority = priority;
        let group = [self.family.multicast_group()];
        let dsts = if self.config.unicast_peers.is_empty() {
            &group[..]
        } else {
            &self.config.unicast_peers[..]
        };
        for dst in dsts {
            // The template was checked by `validate` and the endpoints are of its family, so
            // emitting cannot fail; a failure would only skip the advert.
            if let Ok(payload) = self
                .template
                .to_bytes(Endpoints { src, dst: *dst }, self.config.checksum_mode)
            {
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
