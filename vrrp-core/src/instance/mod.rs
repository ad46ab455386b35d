//! One virtual router: the state machine of RFC 5798 section 6 (and RFC 3768 section 6 for
//! VRRPv2), with keepalived's preemption, tracking and announcement knobs.
//!
//! [`Instance`] is defined here with its construction, getters and outputs; its other
//! methods live by concern in the child modules:
//!
//! - `receive`: [`Instance::handle_packet`], validation of received adverts, and what
//!   Backup and Master do with an accepted one;
//! - `timers`: [`Instance::poll_timeout`], [`Instance::handle_timeout`], Skew_Time and
//!   Master_Down_Interval;
//! - `transitions`: startup, shutdown, handover, and entering or leaving each state;
//! - `tracking`: the commands, the effective priority and eligibility (Fault);
//! - `reconfigure`: [`Instance::reconfigure`] (a reload in place) and
//!   [`Instance::reannounce`];
//! - `sync`: what a [`Router`](crate::Router)'s sync group may do to a member (hold it in
//!   Backup, force it to Master, Backup or Fault).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use crate::config::{ConfigError, InstanceConfig};
use crate::event::{Action, Reason, State};
use crate::stats::Stats;
use crate::types::{Family, Interval};
use crate::wire::{Addresses, Advertisement, Auth};

pub use reconfigure::ReconfigureError;

mod receive;
mod reconfigure;
mod sync;
mod timers;
mod tracking;
mod transitions;

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
/// - inputs: [`handle_startup`](Self::handle_startup) (or
///   [`handle_startup_master`](Self::handle_startup_master) for a restart),
///   [`handle_packet`](Self::handle_packet), [`handle_timeout`](Self::handle_timeout),
///   [`handle_shutdown`](Self::handle_shutdown) or [`handle_handover`](Self::handle_handover);
/// - commands: [`set_primary_address`](Self::set_primary_address),
///   [`set_link_up`](Self::set_link_up), [`set_track`](Self::set_track),
///   [`set_track_weighted`](Self::set_track_weighted), [`set_priority`](Self::set_priority),
///   [`reconfigure`](Self::reconfigure), [`reannounce`](Self::reannounce);
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
    /// The adverts last emitted from `template`, reused while it is unchanged.
    sent: transitions::SentCache,
    /// Virtual addresses, sorted, for the address list check.
    sorted_vips: Vec<IpAddr>,
    /// The address list of the last advert received, whose allocation the next one reuses.
    rx_addresses: Addresses,
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
    /// The second burst after hearing a lower-priority advert (`garp_lower_prio_delay`).
    announce_lower_prio: Option<Instant>,
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
    /// What the instance's sync group imposes on it, if it has one.
    sync: sync::SyncGate,
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
            sent: transitions::SentCache::default(),
            sorted_vips,
            rx_addresses: Addresses::V4(Vec::new()),
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
            announce_lower_prio: None,
            preempt_until: None,
            release_deadline: None,
            takeover_reason: Reason::MasterDown,
            master: None,
            peers: Vec::new(),
            since: None,
            last_reason: None,
            actions: VecDeque::new(),
            stats: Stats::default(),
            sync: sync::SyncGate::default(),
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

    /// The address adverts are sent from ([`Transmit::src`](crate::Transmit::src)) and
    /// compared in the equal-priority tie-break: `config.unicast_source` when set and the
    /// instance is unicast ([`InstanceConfig::is_unicast`](crate::InstanceConfig::is_unicast)),
    /// the primary address otherwise.
    #[must_use]
    pub fn source_address(&self) -> Option<IpAddr> {
        match self.config.unicast_source {
            Some(source) if self.config.is_unicast() => Some(source),
            _ => self.primary,
        }
    }

    /// The master as last seen while Backup (`None` if never seen, or if this router
    /// became Master since).
    #[must_use]
    pub const fn master(&self) -> Option<MasterInfo> {
        self.master
    }

    /// The routers this instance has received valid adverts from, with the priority and
    /// interval each last advertised and when; at most [`MAX_PEERS`], the least recently
    /// heard dropped first. A priority of 0 is a peer that resigned.
    pub fn peers(&self) -> &[MasterInfo] {
        &self.peers
    }

    /// Master_Adver_Interval: the interval of the current master, learned from its adverts
    /// with VRRPv3 (RFC 5798 section 6.4.2), always the configured one with VRRPv2.
    #[must_use]
    pub const fn master_adver_interval(&self) -> Interval {
        self.master_adver_interval
    }

    /// Whether a handover is under way: priority 0 sent, addresses still held.
    #[must_use]
    pub const fn is_releasing(&self) -> bool {
        self.release_deadline.is_some()
    }

    // ----- outputs -------------------------------------------------------------------------

    /// The next action to perform, `None` when there is none left. Drain it after every
    /// input and command.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }
}
