//! A deterministic network simulator in virtual time: N routers, each running one
//! [`Instance`], on one shared L2 segment, with seeded packet loss, latency, duplication,
//! partitions, crashes, restarts and the rest, and the protocol's invariants checked after
//! every step.
//!
//! Nothing here reads a clock or touches a socket. Time is a base [`Instant`] chosen by the
//! caller plus a [`Duration`] offset that only the simulator advances; every random choice
//! comes from one [`SimRng`] seeded by [`SimConfig::seed`]. The same seed, nodes and schedule
//! therefore give the same run, bit for bit: compare [`Simulation::trace_hash`] or
//! [`Simulation::render_timeline`].
//!
//! # Model
//!
//! - Node `i` has the primary address `10.200.0.(i + 1)` ([`node_address`]) and runs one
//!   IPv4 [`Instance`]; every node has the same VRID. A node is *up* (its instance exists) or
//!   *down* (not started, crashed or stopped).
//! - Every advertisement an instance emits ([`Action::SendAdvertisement`]) is the real
//!   emitted bytes. A multicast advert goes to every other node, a unicast one to the node
//!   owning the destination address; each copy independently may be lost, duplicated, and is
//!   delayed by a latency drawn from [`NetConfig`]. A copy is delivered with
//!   [`Instance::handle_packet`] and hop limit 255, unless the receiver is down, its link is
//!   down or a partition separates the two nodes at the time of sending or of delivery.
//! - Events (deliveries and scheduled [`Fault`]s) are ordered by (time, sequence number);
//!   instance timers come from [`Instance::poll_timeout`]. At equal times, queued events go
//!   first, then timers in node order. One event or one timer is one *step*.
//! - The environment of a node (its link, its tracked objects, a priority set by a
//!   command) survives a crash: a restarted instance is told about it before
//!   [`Instance::handle_startup`].
//!
//! # Invariants
//!
//! After every step ([`Invariant`] names each one):
//!
//! - an up node holds every one of its virtual addresses if it is Master and none otherwise;
//!   a down node holds none; an address is never added twice nor removed when not held;
//! - actions come in the documented order: `StateChanged.from` is the previous state,
//!   addresses are added and announced only as Master and removed only after leaving it,
//!   advertisements of non-zero priority come only from a Master, from its own address, and
//!   priority 0 only from a router no longer Master or opening a handover;
//! - an up node is in Fault exactly when something makes it ineligible
//!   ([`Instance::fault`]), and never still in Initialize;
//! - transitions have their cause: a received advert only makes a Master yield, and a
//!   Master yields to an advert that outranks it (higher priority, or equal priority from
//!   a higher address, RFC 5798 section 6.4.3) and to no other; a timer only makes a Backup
//!   Master (section 6.4.2);
//! - a Backup or Master always has a timer running, and a timer that fired moves forward
//!   (no busy loop);
//! - with [`SimConfig::strict_rx`], no advertisement is rejected by its receiver.
//!
//! In quiet windows (see [`Simulation::is_quiet`]: no fault nor network change for
//! [`Simulation::settle_time`], and no loss configured), per connected component of up nodes
//! (nodes that can hear each other):
//!
//! - at most one Master;
//! - at least one Master if any node of the component is eligible (nothing such as a down
//!   link or a failed weight-0 track keeps it from running);
//! - no eligible node with preemption has a higher effective priority than the Master: so
//!   when every node preempts, the Master has the highest effective priority (RFC 5798
//!   section 6.4.2: a backup of *equal* priority does not preempt, whatever its address).
//!
//! Panics are not caught here: a test harness catches them and reports the seed.
//!
//! # Example
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::{Duration, Instant};
//! use vrrp_core::sim::{Fault, SimConfig, Simulation};
//! use vrrp_core::{InstanceConfig, Priority, State, Vrid};
//!
//! let vip = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 100));
//! let nodes = [150, 100, 50]
//!     .map(|p| {
//!         let mut c = InstanceConfig::new(Vrid::new(51).unwrap(), vec![vip]);
//!         c.priority = Priority::new(p).unwrap();
//!         c
//!     })
//!     .to_vec();
//! let mut sim = Simulation::new(Instant::now(), SimConfig::new(7), nodes)?;
//! sim.schedule(Duration::from_secs(10), Fault::Crash(0))?;
//! sim.run_until(Duration::from_secs(30))?; // every invariant checked on the way
//! assert_eq!(sim.masters(), vec![1]);
//! assert_eq!(sim.state(0), None); // crashed
//! assert_eq!(sim.state(2), Some(State::Backup));
//! print!("{}", sim.render_timeline());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::{ConfigError, InstanceConfig};
use crate::event::{Action, Reason, Received, RxError, State, Transmit};
use crate::instance::Instance;
use crate::types::{Family, Priority, Vrid};

/// The most nodes a simulation can have (their addresses are `10.200.0.1` to `10.200.0.200`).
pub const MAX_NODES: usize = 200;

/// The primary address of node `index`: `10.200.0.(index + 1)`, or `None` past
/// [`MAX_NODES`].
#[must_use]
pub fn node_address(index: usize) -> Option<IpAddr> {
    if index >= MAX_NODES {
        return None;
    }
    let last = u8::try_from(index + 1).ok()?;
    Some(IpAddr::V4(Ipv4Addr::new(10, 200, 0, last)))
}

// ----- random numbers ------------------------------------------------------------------------

/// A small seeded pseudo-random generator (SplitMix64): fast, tiny, and the same sequence
/// on every platform. Not for cryptography.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRng {
    state: u64,
}

impl SimRng {
    /// A generator whose sequence is determined by `seed`.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub const fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0), by multiply-and-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let wide = u128::from(self.next_u64()) * u128::from(n);
        u64::try_from(wide >> 64).unwrap_or(0)
    }

    /// A number in `lo..=hi` (`lo` when `hi <= lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.next_u64(),
        }
    }

    /// An index in `0..len` (0 when `len` is 0).
    pub fn index(&mut self, len: usize) -> usize {
        let n = u64::try_from(len).unwrap_or(u64::MAX);
        usize::try_from(self.below(n)).unwrap_or(0)
    }

    /// True with probability `permille / 1000`.
    pub fn chance(&mut self, permille: u16) -> bool {
        self.below(1000) < u64::from(permille)
    }

    /// One element of `items`, `None` if it is empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let i = self.index(items.len());
        items.get(i)
    }

    /// A duration in `lo..=hi`, in whole microseconds.
    pub fn duration(&mut self, lo: Duration, hi: Duration) -> Duration {
        let lo_us = u64::try_from(lo.as_micros()).unwrap_or(u64::MAX);
        let hi_us = u64::try_from(hi.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(self.range(lo_us, hi_us))
    }
}

// ----- configuration -------------------------------------------------------------------------

/// The behaviour of the shared segment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetConfig {
    /// Smallest one-way latency of a packet.
    pub latency_min: Duration,
    /// Largest one-way latency; each copy draws uniformly in between (jitter, hence
    /// reordering).
    pub latency_max: Duration,
    /// Probability, in thousandths, that a copy is lost (each receiver independently).
    pub loss_permille: u16,
    /// Probability, in thousandths, that a delivered copy arrives twice.
    pub duplicate_permille: u16,
    /// Whether a multicast advert also comes back to its sender (as with
    /// `IP_MULTICAST_LOOP`); the instance must ignore it.
    pub loopback: bool,
}

impl Default for NetConfig {
    /// 0.2 to 2 ms of latency, no loss, no duplication, no loopback.
    fn default() -> Self {
        Self {
            latency_min: Duration::from_micros(200),
            latency_max: Duration::from_millis(2),
            loss_permille: 0,
            duplicate_permille: 0,
            loopback: false,
        }
    }
}

impl NetConfig {
    /// A network with a fixed latency, no loss, no duplication.
    #[must_use]
    pub fn fixed_latency(latency: Duration) -> Self {
        Self {
            latency_min: latency,
            latency_max: latency,
            ..Self::default()
        }
    }
}

/// Settings of a [`Simulation`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimConfig {
    /// Seeds every random choice; reported in every [`Violation`].
    pub seed: u64,
    /// The network at the start (change it later with [`Fault::Loss`], [`Fault::Latency`],
    /// [`Fault::Duplicate`]).
    pub net: NetConfig,
    /// How long after the last fault or network change the quiet-window invariants apply;
    /// `None` computes it ([`Simulation::settle_time`]).
    pub settle: Option<Duration>,
    /// Whether to check the quiet-window invariants. Default true.
    pub check_quiet: bool,
    /// Whether an advertisement rejected by its receiver (other than a looped-back own
    /// advert) is a violation. Right for nodes configured alike; turn it off to simulate
    /// misconfiguration. Default true.
    pub strict_rx: bool,
    /// Whether every node starts at time zero ([`Fault::Start`] scheduled in node order).
    /// Default true; without it, nodes stay down until started.
    pub autostart: bool,
    /// Steps after which a run stops with [`Invariant::StepLimit`] (a livelock guard).
    pub max_steps: u64,
}

impl SimConfig {
    /// The defaults with this seed.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            net: NetConfig::default(),
            settle: None,
            check_quiet: true,
            strict_rx: true,
            autostart: true,
            max_steps: 50_000_000,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::new(0)
    }
}

/// Why a [`Simulation`] could not be built or a fault not scheduled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// No nodes, or more than [`MAX_NODES`].
    #[error("a simulation takes 1 to {MAX_NODES} nodes, not {count}")]
    NodeCount {
        /// Nodes given.
        count: usize,
    },
    /// A node's configuration is not IPv4.
    #[error("node{node}: the simulator models one IPv4 segment; give IPv4 virtual addresses")]
    Family {
        /// The node.
        node: usize,
    },
    /// Nodes with different VRIDs.
    #[error("node{node} has VRID {got} but node0 has {expected}: one simulation runs one VRID")]
    Vrid {
        /// The node.
        node: usize,
        /// Its VRID.
        got: Vrid,
        /// node0's VRID.
        expected: Vrid,
    },
    /// A node's configuration is invalid.
    #[error("node{node}: {source}")]
    Config {
        /// The node.
        node: usize,
        /// What is wrong.
        source: ConfigError,
    },
    /// A fault names a node that does not exist.
    #[error("no node{node} in this simulation")]
    NoSuchNode {
        /// The index given.
        node: usize,
    },
}

// ----- faults, timeline, violations ------------------------------------------------------------

/// A fault, repair or command injected into the simulation at a scheduled time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Starts a down node: a fresh [`Instance`] from its configuration, told its primary
    /// address, link, tracked objects and commanded priority, then `handle_startup`. No
    /// effect on an up node.
    Start(usize),
    /// The node dies abruptly: its instance is dropped, it sends nothing more and holds no
    /// address.
    Crash(usize),
    /// [`Crash`](Self::Crash) (if up), then [`Start`](Self::Start).
    Restart(usize),
    /// Graceful stop: `handle_shutdown` (a Master resigns with priority 0 and releases its
    /// addresses), then the node is down; its instance is kept for
    /// [`Resume`](Self::Resume).
    Stop(usize),
    /// Make-before-break stop: `handle_handover` (a Master sends priority 0 but keeps its
    /// addresses until a new master's advert arrives or Master_Down_Interval passes); the
    /// node goes down when its instance reaches Initialize, keeping it for
    /// [`Resume`](Self::Resume).
    Handover(usize),
    /// Starts a gracefully stopped node with the instance it was stopped with
    /// (`handle_startup` after `handle_shutdown`), told first of any change to its link,
    /// tracked objects or priority meanwhile. A node with no stopped instance starts fresh,
    /// as with [`Start`](Self::Start); an up node is left alone.
    Resume(usize),
    /// `set_priority` on the node (remembered across restarts).
    SetPriority {
        /// The node.
        node: usize,
        /// New base priority.
        priority: Priority,
    },
    /// A tracked object goes up or down (`set_track`; remembered across restarts).
    Track {
        /// The node.
        node: usize,
        /// The tracked object's name.
        name: String,
        /// Its new state.
        up: bool,
    },
    /// The node's link goes up or down (`set_link_up`): while down it neither sends nor
    /// receives.
    Link {
        /// The node.
        node: usize,
        /// Link state.
        up: bool,
    },
    /// Splits the segment: packets cross only within a group. A node in no group is
    /// alone.
    Partition(Vec<Vec<usize>>),
    /// Ends any partition.
    Heal,
    /// Sets the loss probability, in thousandths.
    Loss(u16),
    /// Sets the latency range.
    Latency {
        /// Smallest latency.
        min: Duration,
        /// Largest latency.
        max: Duration,
    },
    /// Sets the duplication probability, in thousandths.
    Duplicate(u16),
}

impl Fault {
    /// The node this fault concerns, `None` for a network fault.
    #[must_use]
    pub const fn node(&self) -> Option<usize> {
        match self {
            Self::Start(n)
            | Self::Crash(n)
            | Self::Restart(n)
            | Self::Stop(n)
            | Self::Handover(n)
            | Self::Resume(n) => Some(*n),
            Self::SetPriority { node, .. } | Self::Track { node, .. } | Self::Link { node, .. } => {
                Some(*node)
            }
            Self::Partition(_)
            | Self::Heal
            | Self::Loss(_)
            | Self::Latency { .. }
            | Self::Duplicate(_) => None,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Start(_) => f.write_str("start"),
            Self::Crash(_) => f.write_str("crash"),
            Self::Restart(_) => f.write_str("restart"),
            Self::Stop(_) => f.write_str("graceful stop"),
            Self::Handover(_) => f.write_str("handover"),
            Self::Resume(_) => f.write_str("resume"),
            Self::SetPriority { priority, .. } => write!(f, "priority set to {priority}"),
            Self::Track { name, up, .. } => {
                write!(f, "track {name:?} {}", if *up { "up" } else { "down" })
            }
            Self::Link { up, .. } => write!(f, "link {}", if *up { "up" } else { "down" }),
            Self::Partition(groups) => {
                f.write_str("partition")?;
                for group in groups {
                    f.write_str(" {")?;
                    for (k, node) in group.iter().enumerate() {
                        if k > 0 {
                            f.write_str(" ")?;
                        }
                        write!(f, "{node}")?;
                    }
                    f.write_str("}")?;
                }
                Ok(())
            }
            Self::Heal => f.write_str("heal"),
            Self::Loss(p) => write!(f, "loss {}.{}%", p / 10, p % 10),
            Self::Latency { min, max } => {
                write!(f, "latency {}-{} us", min.as_micros(), max.as_micros())
            }
            Self::Duplicate(p) => write!(f, "duplication {}.{}%", p / 10, p % 10),
        }
    }
}

/// What happened, in a [`TimelineEntry`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimelineEvent {
    /// An instance changed state ([`Action::StateChanged`]).
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        reason: Reason,
    },
    /// A fault was applied.
    Fault(Fault),
    /// A command was refused or had no effect (such as starting an up node).
    Note(String),
}

/// One line of the timeline: state changes and faults, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    /// Virtual time since the start.
    pub at: Duration,
    /// The node, `None` for the network.
    pub node: Option<usize>,
    /// What happened.
    pub event: TimelineEvent,
}

/// Formats a virtual time as seconds with millisecond precision, e.g. `13.011s`.
#[must_use]
pub fn format_time(at: Duration) -> String {
    format!("{}.{:03}s", at.as_secs(), at.subsec_millis())
}

impl fmt::Display for TimelineEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = self
            .node
            .map_or_else(|| "net".to_owned(), |n| format!("node{n}"));
        write!(f, "{:>9}  {who:<6} ", format_time(self.at))?;
        match &self.event {
            TimelineEvent::StateChanged { from, to, reason } => {
                write!(f, "{from} -> {to}  ({reason})")
            }
            TimelineEvent::Fault(fault) => write!(f, "** {fault}"),
            TimelineEvent::Note(note) => write!(f, "   {note}"),
        }
    }
}

/// The invariant a [`Violation`] broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Invariant {
    /// A node holds its virtual addresses iff it is Master (all of them, or none).
    VipsIffMaster,
    /// An address was added while already held.
    DuplicateAdd,
    /// An address was removed while not held.
    RemoveUnheld,
    /// An action came out of order (see the module docs), or `StateChanged.from` was not
    /// the previous state, or the instance's state differs from what its actions said.
    ActionOrder,
    /// After `handle_timeout(now)`, `poll_timeout` still returned `now` or earlier.
    TimerStuck,
    /// An up node in Backup or Master has no timer running (it could never take over, or
    /// never advertise).
    NoTimer,
    /// A receiver rejected an advertisement ([`SimConfig::strict_rx`]).
    RejectedAdvert,
    /// A node could not be started.
    StartFailed,
    /// A transition without its cause: a packet may only make a Master yield to an advert
    /// that outranks it (higher priority, or equal priority from a higher primary address,
    /// RFC 5798 section 6.4.3), and a Master must yield to such an advert; a timer may only
    /// make a Backup Master (section 6.4.2).
    Election,
    /// An up node is in Fault while nothing makes it ineligible, or not in Fault while
    /// something does (link down, tracked object with weight 0 down), or still in
    /// Initialize.
    FaultState,
    /// More than one Master in a connected component, in a quiet window.
    MultipleMasters,
    /// No Master in a component with an eligible node, in a quiet window.
    NoMaster,
    /// An eligible preempting node has a higher effective priority than the Master, in a
    /// quiet window.
    NotPreferredMaster,
    /// The run took more than [`SimConfig::max_steps`] steps.
    StepLimit,
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::VipsIffMaster => "vips-iff-master",
            Self::DuplicateAdd => "duplicate-add",
            Self::RemoveUnheld => "remove-unheld",
            Self::ActionOrder => "action-order",
            Self::TimerStuck => "timer-stuck",
            Self::NoTimer => "no-timer",
            Self::RejectedAdvert => "rejected-advert",
            Self::StartFailed => "start-failed",
            Self::Election => "election",
            Self::FaultState => "fault-state",
            Self::MultipleMasters => "multiple-masters",
            Self::NoMaster => "no-master",
            Self::NotPreferredMaster => "not-preferred-master",
            Self::StepLimit => "step-limit",
        })
    }
}

/// A broken invariant: which, when, where, with which seed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[{invariant}] at {} on {} (seed {seed:#x}): {detail}", format_time(*.at), .node.map_or_else(|| "the network".to_owned(), |n| format!("node{n}")))]
pub struct Violation {
    /// The simulation's seed.
    pub seed: u64,
    /// Virtual time.
    pub at: Duration,
    /// The node concerned, if one.
    pub node: Option<usize>,
    /// The invariant.
    pub invariant: Invariant,
    /// What was seen.
    pub detail: String,
}

/// Counters of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimStats {
    /// Steps taken (events and timers).
    pub steps: u64,
    /// Timer expiries handled.
    pub timers: u64,
    /// Advertisements emitted by instances.
    pub adverts_sent: u64,
    /// Copies delivered to an instance.
    pub delivered: u64,
    /// Copies lost to the loss probability.
    pub lost: u64,
    /// Copies dropped by a partition.
    pub partitioned: u64,
    /// Copies dropped because the sender's or receiver's link was down or the receiver was
    /// down.
    pub undeliverable: u64,
    /// Extra copies made by duplication.
    pub duplicated: u64,
    /// Copies a receiver rejected (other than looped-back own adverts).
    pub rejected: u64,
    /// Own adverts looped back and ignored.
    pub looped_back: u64,
    /// Gratuitous ARP announcements requested.
    pub announcements: u64,
    /// State changes.
    pub transitions: u64,
    /// Faults applied.
    pub faults: u64,
    /// Steps at which the quiet-window invariants were checked.
    pub quiet_checks: u64,
    /// Virtual time during which no node was Master.
    pub time_without_master: Duration,
    /// Virtual time during which more than one node was Master (legitimate during a
    /// partition).
    pub time_with_several_masters: Duration,
}

// ----- the simulation ------------------------------------------------------------------------

#[derive(Debug)]
struct Node {
    config: InstanceConfig,
    addr: IpAddr,
    instance: Option<Instance>,
    /// The instance of a gracefully stopped node, for [`Fault::Resume`].
    stopped: Option<Instance>,
    /// The state as told by the instance's `StateChanged` actions (Initialize when down).
    state: State,
    held: Vec<IpAddr>,
    link_up: bool,
    /// The environment's view of each tracked object, same order as `config.tracks`.
    tracks: Vec<bool>,
    /// A priority set by command, re-applied on restart.
    priority: Option<Priority>,
    /// Partition group.
    group: u32,
    /// A handover is under way: the node goes down when its instance reaches Initialize.
    releasing: bool,
}

impl Node {
    fn is_master(&self) -> bool {
        self.instance
            .as_ref()
            .is_some_and(|i| i.state() == State::Master)
    }
}

#[derive(Debug)]
enum Event {
    Deliver {
        from: usize,
        to: usize,
        src: IpAddr,
        dst: IpAddr,
        payload: Bytes,
    },
    Fault(Fault),
}

/// N routers on one simulated segment, in virtual time. See the [module docs](self).
///
/// Build it with [`new`](Self::new), [`schedule`](Self::schedule) faults, then
/// [`run_until`](Self::run_until) (or [`step`](Self::step)); every step checks the
/// invariants and the first violation stops the run with a [`Violation`]. Inspect the
/// outcome with the getters ([`state`](Self::state), [`masters`](Self::masters),
/// [`timeline`](Self::timeline), [`stats`](Self::stats), [`trace_hash`](Self::trace_hash)).
#[derive(Debug)]
pub struct Simulation {
    base: Instant,
    now: Duration,
    config: SimConfig,
    rng: SimRng,
    nodes: Vec<Node>,
    queue: BTreeMap<(Duration, u64), Event>,
    next_seq: u64,
    last_disturbance: Duration,
    /// Largest advertisement interval of any node.
    max_interval: Duration,
    /// Largest preempt delay of any node.
    max_preempt_delay: Duration,
    timeline: Vec<TimelineEntry>,
    hash: u64,
    stats: SimStats,
    scratch: Vec<Action>,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

impl Simulation {
    /// A simulation of one node per configuration, node `i` with address
    /// [`node_address(i)`](node_address), at virtual time zero = `base`. With
    /// [`SimConfig::autostart`] every node starts at time zero.
    ///
    /// # Errors
    /// [`SimError`] when the nodes are not 1 to [`MAX_NODES`] valid IPv4 configurations of
    /// one VRID.
    pub fn new(
        base: Instant,
        config: SimConfig,
        nodes: Vec<InstanceConfig>,
    ) -> Result<Self, SimError> {
        if nodes.is_empty() || nodes.len() > MAX_NODES {
            return Err(SimError::NodeCount { count: nodes.len() });
        }
        let expected = nodes.first().map(|c| c.vrid);
        let mut max_interval = Duration::ZERO;
        let mut max_preempt_delay = Duration::ZERO;
        let mut built = Vec::with_capacity(nodes.len());
        for (i, node_config) in nodes.into_iter().enumerate() {
            if node_config.family() != Family::Ipv4 {
                return Err(SimError::Family { node: i });
            }
            if let Some(expected) = expected.filter(|v| *v != node_config.vrid) {
                return Err(SimError::Vrid {
                    node: i,
                    got: node_config.vrid,
                    expected,
                });
            }
            node_config
                .validate()
                .map_err(|source| SimError::Config { node: i, source })?;
            let addr = node_address(i).ok_or(SimError::NodeCount { count: i + 1 })?;
            max_interval = max_interval.max(node_config.advert_interval.as_centis().to_duration());
            max_preempt_delay = max_preempt_delay.max(node_config.preempt_delay.to_duration());
            built.push(Node {
                tracks: node_config.tracks.iter().map(|t| t.initially_up).collect(),
                config: node_config,
                addr,
                instance: None,
                stopped: None,
                releasing: false,
                state: State::Initialize,
                held: Vec::new(),
                link_up: true,
                priority: None,
                group: 0,
            });
        }
        let mut sim = Self {
            base,
            now: Duration::ZERO,
            rng: SimRng::new(config.seed),
            config,
            nodes: built,
            queue: BTreeMap::new(),
            next_seq: 0,
            last_disturbance: Duration::ZERO,
            max_interval,
            max_preempt_delay,
            timeline: Vec::new(),
            hash: FNV_OFFSET,
            stats: SimStats::default(),
            scratch: Vec::new(),
        };
        sim.mix(sim.config.seed);
        if sim.config.autostart {
            for i in 0..sim.nodes.len() {
                sim.push_event(Duration::ZERO, Event::Fault(Fault::Start(i)));
            }
        }
        Ok(sim)
    }

    // ----- getters -------------------------------------------------------------------------

    /// The seed.
    #[must_use]
    pub const fn seed(&self) -> u64 {
        self.config.seed
    }

    /// The virtual time since the start.
    #[must_use]
    pub const fn now(&self) -> Duration {
        self.now
    }

    /// The virtual time as the [`Instant`] given to the instances.
    #[must_use]
    pub fn instant(&self) -> Instant {
        self.base.checked_add(self.now).unwrap_or(self.base)
    }

    /// How many nodes there are.
    #[must_use]
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The network as currently configured.
    #[must_use]
    pub const fn net(&self) -> &NetConfig {
        &self.config.net
    }

    /// Whether node `i` is up (started and neither crashed nor stopped).
    #[must_use]
    pub fn is_up(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(|n| n.instance.is_some())
    }

    /// The state of node `i`, `None` if it is down (or does not exist).
    #[must_use]
    pub fn state(&self, i: usize) -> Option<State> {
        self.instance(i).map(Instance::state)
    }

    /// The instance of node `i`, `None` if it is down.
    #[must_use]
    pub fn instance(&self, i: usize) -> Option<&Instance> {
        self.nodes.get(i).and_then(|n| n.instance.as_ref())
    }

    /// The virtual addresses node `i` holds (from its `AddVip` / `RemoveVip` actions).
    #[must_use]
    pub fn held_vips(&self, i: usize) -> &[IpAddr] {
        self.nodes.get(i).map_or(&[], |n| n.held.as_slice())
    }

    /// The up nodes in Master state, in node order.
    #[must_use]
    pub fn masters(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes.get(i).is_some_and(Node::is_master))
            .collect()
    }

    /// The connected components of up nodes: nodes whose links are up and that are in the
    /// same partition group hear each other; a node whose link is down is alone.
    #[must_use]
    pub fn components(&self) -> Vec<Vec<usize>> {
        let mut out: Vec<(u64, Vec<usize>)> = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if node.instance.is_none() {
                continue;
            }
            let key = component_key(i, node);
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(i),
                None => out.push((key, vec![i])),
            }
        }
        out.into_iter().map(|(_, members)| members).collect()
    }

    /// State changes and faults so far.
    #[must_use]
    pub fn timeline(&self) -> &[TimelineEntry] {
        &self.timeline
    }

    /// The timeline, one line per entry.
    #[must_use]
    pub fn render_timeline(&self) -> String {
        let mut out = String::new();
        for entry in &self.timeline {
            let _ = writeln!(out, "{entry}");
        }
        out
    }

    /// A hash (FNV-1a) of everything that happened: every step's time and kind, every
    /// packet's bytes, every action. Two runs with the same seed, nodes and schedule have the
    /// same hash.
    #[must_use]
    pub const fn trace_hash(&self) -> u64 {
        self.hash
    }

    /// Counters of the run.
    #[must_use]
    pub const fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// How long after the last disturbance the quiet-window invariants apply:
    /// [`SimConfig::settle`], or else twice the largest possible Master_Down_Interval
    /// (4 times the largest advertisement interval, as Skew_Time is below one interval),
    /// plus the largest preempt delay, plus twice the largest latency, plus 20 ms.
    #[must_use]
    pub fn settle_time(&self) -> Duration {
        self.config.settle.unwrap_or_else(|| {
            self.max_interval * 8
                + self.max_preempt_delay
                + self.config.net.latency_max * 2
                + Duration::from_millis(20)
        })
    }

    /// When the last fault or network change was applied.
    #[must_use]
    pub const fn last_disturbance(&self) -> Duration {
        self.last_disturbance
    }

    /// Whether the quiet-window invariants apply now: they are enabled, no loss is
    /// configured, and nothing was injected for [`settle_time`](Self::settle_time).
    #[must_use]
    pub fn is_quiet(&self) -> bool {
        self.config.check_quiet
            && self.config.net.loss_permille == 0
            && self.now >= self.last_disturbance + self.settle_time()
    }

    // ----- inputs --------------------------------------------------------------------------

    /// Schedules `fault` at virtual time `at` (now, if `at` is past), after anything
    /// already scheduled at that time.
    ///
    /// # Errors
    /// [`SimError::NoSuchNode`] if the fault names a node that does not exist.
    pub fn schedule(&mut self, at: Duration, fault: Fault) -> Result<(), SimError> {
        let count = self.nodes.len();
        let check = |node: usize| {
            if node < count {
                Ok(())
            } else {
                Err(SimError::NoSuchNode { node })
            }
        };
        if let Some(node) = fault.node() {
            check(node)?;
        }
        if let Fault::Partition(groups) = &fault {
            groups.iter().flatten().try_for_each(|n| check(*n))?;
        }
        self.push_event(at.max(self.now), Event::Fault(fault));
        Ok(())
    }

    /// Runs every step due up to `until`, then sets the clock to `until` (if later than
    /// now) and checks the invariants there.
    ///
    /// # Errors
    /// The first [`Violation`].
    pub fn run_until(&mut self, until: Duration) -> Result<(), Violation> {
        while self.next_step_at().is_some_and(|t| t <= until) {
            self.step()?;
        }
        self.advance(until);
        self.check_all_nodes()?;
        self.check_quiet_if_due()
    }

    /// Runs for `span` of virtual time ([`run_until`](Self::run_until) now + `span`).
    ///
    /// # Errors
    /// The first [`Violation`].
    pub fn run_for(&mut self, span: Duration) -> Result<(), Violation> {
        self.run_until(self.now + span)
    }

    /// When the next step would happen, `None` if nothing is pending.
    #[must_use]
    pub fn next_step_at(&self) -> Option<Duration> {
        let event = self.queue.first_key_value().map(|((t, _), _)| *t);
        let timer = self.next_timer().map(|(t, _)| t);
        match (event, timer) {
            (Some(e), Some(t)) => Some(e.min(t)),
            (e, t) => e.or(t),
        }
    }

    /// Takes one step: the next queued event, or the next instance timer if it is
    /// earlier. Returns false if nothing was pending.
    ///
    /// # Errors
    /// The first [`Violation`].
    pub fn step(&mut self) -> Result<bool, Violation> {
        let event_at = self.queue.first_key_value().map(|((t, _), _)| *t);
        let timer = self.next_timer();
        let timer_first = match (event_at, timer) {
            (None, None) => return Ok(false),
            (Some(e), Some((t, _))) => t < e,
            (None, Some(_)) => true,
            (Some(_), None) => false,
        };
        self.stats.steps += 1;
        if self.stats.steps > self.config.max_steps {
            return Err(self.violation(
                None,
                Invariant::StepLimit,
                format!("more than {} steps", self.config.max_steps),
            ));
        }
        if let (true, Some((at, node))) = (timer_first, timer) {
            self.advance(at);
            self.fire_timer(node)?;
        } else if let Some(((at, _), event)) = self.queue.pop_first() {
            self.advance(at);
            match event {
                Event::Deliver {
                    from,
                    to,
                    src,
                    dst,
                    payload,
                } => self.deliver(from, to, src, dst, &payload)?,
                Event::Fault(fault) => self.apply_fault(fault)?,
            }
        }
        self.check_all_nodes()?;
        self.check_quiet_if_due()?;
        Ok(true)
    }

    /// Checks the quiet-window invariants now, whether or not the network is quiet.
    ///
    /// # Errors
    /// The first [`Violation`] of [`Invariant::MultipleMasters`], [`Invariant::NoMaster`]
    /// or [`Invariant::NotPreferredMaster`].
    pub fn check_quiet_invariants(&self) -> Result<(), Violation> {
        for members in self.components() {
            let mut masters = Vec::new();
            let mut eligible = Vec::new();
            for &i in &members {
                let Some(instance) = self.instance(i) else {
                    continue;
                };
                if instance.state() == State::Master {
                    masters.push(i);
                }
                // Eligible: nothing outside the instance keeps it from running (a router stuck
                // in Fault or Initialize without cause counts, and is reported).
                if instance.fault().is_none() {
                    eligible.push(i);
                }
            }
            let describe = |nodes: &[usize]| {
                nodes
                    .iter()
                    .map(|&i| {
                        let (state, prio) = self.instance(i).map_or((State::Initialize, 0), |x| {
                            (x.state(), x.effective_priority())
                        });
                        format!("node{i} {state} prio {prio}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match masters.as_slice() {
                [] if !eligible.is_empty() => {
                    return Err(self.violation(
                        eligible.first().copied(),
                        Invariant::NoMaster,
                        format!("no Master in component {members:?}: {}", describe(&members)),
                    ));
                }
                [] => {}
                [master] => {
                    let Some(m) = self.instance(*master) else {
                        continue;
                    };
                    let ours = m.effective_priority();
                    let better = eligible.iter().find(|&&j| {
                        self.instance(j)
                            .is_some_and(|x| x.config().preempt && x.effective_priority() > ours)
                    });
                    if let Some(&better) = better {
                        return Err(self.violation(
                            Some(*master),
                            Invariant::NotPreferredMaster,
                            format!(
                                "node{master} is Master with priority {ours} but node{better} \
                                 preempts with a higher one: {}",
                                describe(&members)
                            ),
                        ));
                    }
                }
                [first, ..] => {
                    return Err(self.violation(
                        Some(*first),
                        Invariant::MultipleMasters,
                        format!(
                            "{} Masters in component {members:?}: {}",
                            masters.len(),
                            describe(&members)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    // ----- internals -----------------------------------------------------------------------

    fn push_event(&mut self, at: Duration, event: Event) {
        self.queue.insert((at, self.next_seq), event);
        self.next_seq += 1;
    }

    fn mix_bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.hash ^= u64::from(*b);
            self.hash = self.hash.wrapping_mul(FNV_PRIME);
        }
    }

    fn mix(&mut self, value: u64) {
        self.mix_bytes(&value.to_le_bytes());
    }

    fn mix_time(&mut self) {
        self.mix_bytes(&self.now.as_nanos().to_le_bytes());
    }

    fn violation(&self, node: Option<usize>, invariant: Invariant, detail: String) -> Violation {
        Violation {
            seed: self.config.seed,
            at: self.now,
            node,
            invariant,
            detail,
        }
    }

    fn note(&mut self, node: Option<usize>, event: TimelineEvent) {
        self.timeline.push(TimelineEntry {
            at: self.now,
            node,
            event,
        });
    }

    /// The earliest instance deadline, with its node (lowest index on ties).
    fn next_timer(&self) -> Option<(Duration, usize)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let deadline = n.instance.as_ref()?.poll_timeout()?;
                Some((deadline.saturating_duration_since(self.base), i))
            })
            .min()
    }

    /// Moves the clock forward to `to`, accounting time with no or several masters.
    fn advance(&mut self, to: Duration) {
        if to <= self.now {
            return;
        }
        let span = to - self.now;
        let masters = self.nodes.iter().filter(|n| n.is_master()).count();
        if masters == 0 {
            self.stats.time_without_master += span;
        } else if masters > 1 {
            self.stats.time_with_several_masters += span;
        }
        self.now = to;
    }

    fn fire_timer(&mut self, i: usize) -> Result<(), Violation> {
        self.stats.timers += 1;
        self.mix(1);
        self.mix_time();
        self.mix(u64::try_from(i).unwrap_or(u64::MAX));
        let now = self.instant();
        let Some(instance) = self.nodes.get_mut(i).and_then(|n| n.instance.as_mut()) else {
            return Ok(());
        };
        let before = instance.state();
        let was_releasing = instance.is_releasing();
        instance.handle_timeout(now);
        let after = instance.state();
        let next = instance.poll_timeout();
        // A handover's deadline releases a Master into Initialize.
        let ends_handover = was_releasing && before == State::Master && after == State::Initialize;
        if before != after && !(before == State::Backup && after == State::Master) && !ends_handover
        {
            return Err(self.violation(
                Some(i),
                Invariant::Election,
                format!("a timer made it go {before} -> {after}"),
            ));
        }
        self.drain(i)?;
        if let Some(next) = next.filter(|t| *t <= now) {
            return Err(self.violation(
                Some(i),
                Invariant::TimerStuck,
                format!(
                    "after handle_timeout at {}, poll_timeout is still {}",
                    format_time(self.now),
                    format_time(next.saturating_duration_since(self.base))
                ),
            ));
        }
        Ok(())
    }

    fn deliver(
        &mut self,
        from: usize,
        to: usize,
        src: IpAddr,
        dst: IpAddr,
        payload: &Bytes,
    ) -> Result<(), Violation> {
        let from_group = self.nodes.get(from).map(|n| n.group);
        let now = self.instant();
        let Some(node) = self.nodes.get_mut(to) else {
            return Ok(());
        };
        if from != to && from_group != Some(node.group) {
            self.stats.partitioned += 1;
            return Ok(());
        }
        let Some(instance) = node.instance.as_mut().filter(|_| node.link_up) else {
            self.stats.undeliverable += 1;
            return Ok(());
        };
        let rx = Received {
            src,
            dst,
            hop_limit: crate::VRRP_HOP_LIMIT,
            payload,
        };
        let before = instance.state();
        let was_releasing = instance.is_releasing();
        let ours = (instance.effective_priority(), node.addr);
        let result = instance.handle_packet(now, &rx);
        let after = instance.state();
        self.mix(2);
        self.mix_time();
        self.mix(u64::try_from(to).unwrap_or(u64::MAX));
        self.mix_bytes(payload);
        match &result {
            Ok(()) => self.stats.delivered += 1,
            Err(RxError::OwnAdvert) => self.stats.looped_back += 1,
            Err(e) => {
                self.stats.rejected += 1;
                self.mix(3);
                if self.config.strict_rx {
                    return Err(self.violation(
                        Some(to),
                        Invariant::RejectedAdvert,
                        format!("advert from node{from} ({src}) rejected: {e}"),
                    ));
                }
            }
        }
        // RFC 5798 section 6.4.3: a Master yields to an advert of higher priority, or of
        // equal priority from a higher primary address, and to no other; a packet causes no
        // other transition.
        let theirs = payload.get(2).copied().unwrap_or(0);
        let outranks = theirs > ours.0 || (theirs == ours.0 && src > ours.1);
        let accepted_master_advert =
            before == State::Master && result.is_ok() && theirs != 0 && !was_releasing;
        // A releasing master ends its handover on the first advert of a successor.
        let handover_done = was_releasing
            && result.is_ok()
            && theirs != 0
            && before == State::Master
            && after == State::Initialize;
        let bad = if handover_done {
            None
        } else if accepted_master_advert && outranks != (after == State::Backup) {
            Some(format!(
                "Master with priority {} at {} got priority {theirs} from {src} and went {after}",
                ours.0, ours.1
            ))
        } else if before != after && !(before == State::Master && after == State::Backup) {
            Some(format!(
                "a packet from {src} made it go {before} -> {after}"
            ))
        } else {
            None
        };
        if let Some(bad) = bad {
            return Err(self.violation(Some(to), Invariant::Election, bad));
        }
        self.drain(to)
    }

    /// Sends one advertisement of node `from` onto the segment.
    fn transmit(&mut self, from: usize, tx: &Transmit) {
        self.stats.adverts_sent += 1;
        let Some(sender) = self.nodes.get(from) else {
            return;
        };
        if !sender.link_up {
            self.stats.undeliverable += 1;
            return;
        }
        let group = sender.group;
        let targets: Vec<usize> = if tx.dst.is_multicast() {
            (0..self.nodes.len())
                .filter(|&j| j != from || self.config.net.loopback)
                .collect()
        } else {
            self.nodes
                .iter()
                .position(|n| n.addr == tx.dst)
                .into_iter()
                .collect()
        };
        if targets.is_empty() {
            self.stats.undeliverable += 1;
        }
        for to in targets {
            let same_group = self.nodes.get(to).is_some_and(|n| n.group == group);
            if to != from && !same_group {
                self.stats.partitioned += 1;
                continue;
            }
            if to != from && self.rng.chance(self.config.net.loss_permille) {
                self.stats.lost += 1;
                continue;
            }
            let copies = if self.rng.chance(self.config.net.duplicate_permille) {
                self.stats.duplicated += 1;
                2
            } else {
                1
            };
            for _ in 0..copies {
                let latency = self
                    .rng
                    .duration(self.config.net.latency_min, self.config.net.latency_max);
                self.push_event(
                    self.now + latency,
                    Event::Deliver {
                        from,
                        to,
                        src: tx.src,
                        dst: tx.dst,
                        payload: tx.payload.clone(),
                    },
                );
            }
        }
    }

    /// Performs every queued action of node `i`, checking their order.
    fn drain(&mut self, i: usize) -> Result<(), Violation> {
        let mut actions = std::mem::take(&mut self.scratch);
        actions.clear();
        if let Some(instance) = self.nodes.get_mut(i).and_then(|n| n.instance.as_mut()) {
            while let Some(action) = instance.poll_action() {
                actions.push(action);
            }
        }
        let mut result = Ok(());
        for action in actions.drain(..) {
            result = self.perform(i, action);
            if result.is_err() {
                break;
            }
        }
        self.scratch = actions;
        // A finished handover takes the node down, keeping its instance for Resume.
        if let Some(n) = self.nodes.get_mut(i).filter(|n| n.releasing)
            && n.instance
                .as_ref()
                .is_some_and(|inst| inst.state() == State::Initialize)
        {
            n.releasing = false;
            n.stopped = n.instance.take();
        }
        result
    }

    /// [`Fault::Handover`] of node `i`.
    fn handover_node(&mut self, i: usize) -> Result<(), Violation> {
        let now = self.instant();
        let Some(n) = self.nodes.get_mut(i) else {
            return Ok(());
        };
        let Some(instance) = n.instance.as_mut() else {
            self.note(Some(i), TimelineEvent::Note("already down".to_owned()));
            return Ok(());
        };
        n.releasing = true;
        instance.handle_handover(now);
        self.drain(i)
    }

    fn perform(&mut self, i: usize, action: Action) -> Result<(), Violation> {
        let Some(node) = self.nodes.get(i) else {
            return Ok(());
        };
        let state = node.state;
        match action {
            Action::StateChanged { from, to, reason } => {
                if from != state {
                    return Err(self.violation(
                        Some(i),
                        Invariant::ActionOrder,
                        format!("StateChanged from {from} to {to}, but the node was {state}"),
                    ));
                }
                if let Some(node) = self.nodes.get_mut(i) {
                    node.state = to;
                }
                self.stats.transitions += 1;
                self.mix(4);
                self.mix_bytes(&[state_code(from), state_code(to)]);
                self.note(Some(i), TimelineEvent::StateChanged { from, to, reason });
            }
            Action::AddVip(addr) => {
                if state != State::Master {
                    return Err(self.violation(
                        Some(i),
                        Invariant::ActionOrder,
                        format!("AddVip({addr}) while {state}"),
                    ));
                }
                if node.held.contains(&addr) {
                    return Err(self.violation(
                        Some(i),
                        Invariant::DuplicateAdd,
                        format!("AddVip({addr}) but it is already held"),
                    ));
                }
                if let Some(node) = self.nodes.get_mut(i) {
                    node.held.push(addr);
                }
                self.mix(5);
            }
            Action::RemoveVip(addr) => {
                if state == State::Master {
                    return Err(self.violation(
                        Some(i),
                        Invariant::ActionOrder,
                        format!("RemoveVip({addr}) while still Master"),
                    ));
                }
                let Some(k) = node.held.iter().position(|a| *a == addr) else {
                    return Err(self.violation(
                        Some(i),
                        Invariant::RemoveUnheld,
                        format!("RemoveVip({addr}) but it is not held"),
                    ));
                };
                if let Some(node) = self.nodes.get_mut(i) {
                    node.held.swap_remove(k);
                }
                self.mix(6);
            }
            Action::SendAdvertisement(tx) => {
                let releasing = node.instance.as_ref().is_some_and(Instance::is_releasing);
                let bad = if tx.priority == 0 {
                    // A resignation: only right after leaving Master, or opening a handover.
                    (state == State::Master && !releasing)
                        .then(|| "priority 0 while still Master".to_owned())
                } else {
                    (state != State::Master)
                        .then(|| format!("priority {} while {state}", tx.priority))
                };
                let bad = bad.or_else(|| {
                    (tx.src != node.addr).then(|| format!("source {} is not ours", tx.src))
                });
                if let Some(bad) = bad {
                    return Err(self.violation(
                        Some(i),
                        Invariant::ActionOrder,
                        format!("advertisement with {bad}"),
                    ));
                }
                self.mix(7);
                self.mix(u64::from(tx.priority));
                self.transmit(i, &tx);
            }
            Action::Announce(addr) => {
                if state != State::Master || !node.held.contains(&addr) {
                    return Err(self.violation(
                        Some(i),
                        Invariant::ActionOrder,
                        format!("Announce({addr}) while {state}, not holding it"),
                    ));
                }
                self.stats.announcements += 1;
                self.mix(8);
            }
        }
        Ok(())
    }

    fn check_all_nodes(&self) -> Result<(), Violation> {
        for (i, node) in self.nodes.iter().enumerate() {
            let Some(instance) = &node.instance else {
                if !node.held.is_empty() {
                    return Err(self.violation(
                        Some(i),
                        Invariant::VipsIffMaster,
                        format!("down but holds {:?}", node.held),
                    ));
                }
                continue;
            };
            let fault = instance.fault();
            if (instance.state() == State::Fault) != fault.is_some()
                || instance.state() == State::Initialize
            {
                return Err(self.violation(
                    Some(i),
                    Invariant::FaultState,
                    format!(
                        "{} while the fault condition is {fault:?}",
                        instance.state()
                    ),
                ));
            }
            if matches!(instance.state(), State::Backup | State::Master)
                && instance.poll_timeout().is_none()
            {
                return Err(self.violation(
                    Some(i),
                    Invariant::NoTimer,
                    format!("{} with no timer running", instance.state()),
                ));
            }
            if instance.state() != node.state {
                return Err(self.violation(
                    Some(i),
                    Invariant::ActionOrder,
                    format!(
                        "the instance is {} but its actions said {}",
                        instance.state(),
                        node.state
                    ),
                ));
            }
            let vips = &node.config.virtual_addresses;
            let holds_all =
                node.held.len() == vips.len() && vips.iter().all(|v| node.held.contains(v));
            let ok = if node.state == State::Master {
                holds_all
            } else {
                node.held.is_empty()
            };
            if !ok {
                return Err(self.violation(
                    Some(i),
                    Invariant::VipsIffMaster,
                    format!(
                        "{} and holds {:?} of {:?}",
                        node.state, node.held, node.config.virtual_addresses
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_quiet_if_due(&mut self) -> Result<(), Violation> {
        if self.is_quiet() {
            self.stats.quiet_checks += 1;
            self.check_quiet_invariants()?;
        }
        Ok(())
    }

    fn apply_fault(&mut self, fault: Fault) -> Result<(), Violation> {
        self.last_disturbance = self.now;
        self.stats.faults += 1;
        self.mix(9);
        self.mix_time();
        self.mix_bytes(fault.to_string().as_bytes());
        let node = fault.node();
        self.note(node, TimelineEvent::Fault(fault.clone()));
        let now = self.instant();
        match fault {
            Fault::Start(i) => self.start_node(i, false),
            Fault::Resume(i) => self.start_node(i, true),
            Fault::Crash(i) => {
                self.crash_node(i);
                Ok(())
            }
            Fault::Restart(i) => {
                self.crash_node(i);
                self.start_node(i, false)
            }
            Fault::Stop(i) => self.stop_node(i),
            Fault::Handover(i) => self.handover_node(i),
            Fault::SetPriority { node: i, priority } => {
                let Some(n) = self.nodes.get_mut(i) else {
                    return Ok(());
                };
                n.priority = Some(priority);
                let refused = n
                    .instance
                    .as_mut()
                    .and_then(|x| x.set_priority(now, priority).err());
                if let Some(e) = refused {
                    self.note(Some(i), TimelineEvent::Note(format!("refused: {e}")));
                }
                self.drain(i)
            }
            Fault::Track { node: i, name, up } => {
                let Some(n) = self.nodes.get_mut(i) else {
                    return Ok(());
                };
                let slot = n.config.tracks.iter().position(|t| t.name == name);
                let Some(slot) = slot.and_then(|k| n.tracks.get_mut(k)) else {
                    self.note(Some(i), TimelineEvent::Note(format!("no track {name:?}")));
                    return Ok(());
                };
                *slot = up;
                if let Some(x) = n.instance.as_mut() {
                    // The name exists (checked above), so this cannot fail.
                    let _ = x.set_track(now, &name, up);
                }
                self.drain(i)
            }
            Fault::Link { node: i, up } => {
                let Some(n) = self.nodes.get_mut(i) else {
                    return Ok(());
                };
                n.link_up = up;
                if let Some(x) = n.instance.as_mut() {
                    x.set_link_up(now, up);
                }
                self.drain(i)
            }
            Fault::Partition(groups) => {
                // Nodes in no group are alone: each gets a group of its own.
                let count = u32::try_from(groups.len()).unwrap_or(u32::MAX);
                for (i, n) in self.nodes.iter_mut().enumerate() {
                    n.group = count.saturating_add(1 + u32::try_from(i).unwrap_or(0));
                }
                for (g, members) in groups.iter().enumerate() {
                    for &i in members {
                        if let Some(n) = self.nodes.get_mut(i) {
                            n.group = u32::try_from(g).unwrap_or(u32::MAX);
                        }
                    }
                }
                Ok(())
            }
            Fault::Heal => {
                for n in &mut self.nodes {
                    n.group = 0;
                }
                Ok(())
            }
            Fault::Loss(p) => {
                self.config.net.loss_permille = p.min(1000);
                Ok(())
            }
            Fault::Latency { min, max } => {
                self.config.net.latency_min = min.min(max);
                self.config.net.latency_max = max.max(min);
                Ok(())
            }
            Fault::Duplicate(p) => {
                self.config.net.duplicate_permille = p.min(1000);
                Ok(())
            }
        }
    }

    fn crash_node(&mut self, i: usize) {
        if let Some(n) = self.nodes.get_mut(i) {
            n.instance = None;
            n.releasing = false;
            n.stopped = None;
            n.state = State::Initialize;
            n.held.clear();
        }
    }

    fn stop_node(&mut self, i: usize) -> Result<(), Violation> {
        let now = self.instant();
        let Some(instance) = self.nodes.get_mut(i).and_then(|n| n.instance.as_mut()) else {
            self.note(Some(i), TimelineEvent::Note("already down".to_owned()));
            return Ok(());
        };
        instance.handle_shutdown(now);
        self.drain(i)?;
        // The node as it leaves: shut down, holding nothing.
        if let Some(n) = self.nodes.get(i) {
            let state = n
                .instance
                .as_ref()
                .map_or(State::Initialize, Instance::state);
            if state != State::Initialize || n.state != State::Initialize || !n.held.is_empty() {
                return Err(self.violation(
                    Some(i),
                    Invariant::VipsIffMaster,
                    format!("{state} after shutdown, holding {:?}", n.held),
                ));
            }
        }
        if let Some(n) = self.nodes.get_mut(i) {
            n.stopped = n.instance.take();
        }
        Ok(())
    }

    /// Starts node `i`: the instance it was stopped with if `resume` and it has one, else
    /// a fresh one.
    fn start_node(&mut self, i: usize, resume: bool) -> Result<(), Violation> {
        let now = self.instant();
        let Some(n) = self.nodes.get_mut(i) else {
            return Ok(());
        };
        if n.instance.is_some() {
            self.note(Some(i), TimelineEvent::Note("already up".to_owned()));
            return Ok(());
        }
        let stopped = n.stopped.take();
        let fresh = match stopped.filter(|_| resume) {
            Some(instance) => Ok(instance),
            None => Instance::new(n.config.clone()),
        };
        let mut instance = match fresh {
            Ok(instance) => instance,
            Err(e) => {
                return Err(self.violation(Some(i), Invariant::StartFailed, e.to_string()));
            }
        };
        instance.set_primary_address(now, Some(n.addr));
        instance.set_link_up(now, n.link_up);
        for (track, up) in n.config.tracks.iter().zip(&n.tracks) {
            let _ = instance.set_track(now, &track.name, *up);
        }
        let refused = n.priority.and_then(|p| instance.set_priority(now, p).err());
        instance.handle_startup(now);
        n.instance = Some(instance);
        n.state = State::Initialize;
        if let Some(e) = refused {
            self.note(
                Some(i),
                TimelineEvent::Note(format!("priority refused: {e}")),
            );
        }
        self.drain(i)
    }
}

fn component_key(i: usize, node: &Node) -> u64 {
    if node.link_up {
        u64::from(node.group)
    } else {
        (1 << 32) + u64::try_from(i).unwrap_or(0)
    }
}

const fn state_code(state: State) -> u8 {
    match state {
        State::Initialize => 0,
        State::Backup => 1,
        State::Master => 2,
        State::Fault => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_in_range() {
        let mut a = SimRng::new(42);
        let mut b = SimRng::new(42);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut r = SimRng::new(1);
        let mut seen = [false; 7];
        for _ in 0..10_000 {
            let v = r.range(3, 9);
            assert!((3..=9).contains(&v));
            seen[usize::try_from(v - 3).unwrap()] = true;
            assert!(r.below(5) < 5);
            let d = r.duration(Duration::from_millis(1), Duration::from_millis(2));
            assert!(d >= Duration::from_millis(1) && d <= Duration::from_millis(2));
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(r.below(0), 0);
        assert_eq!(r.range(5, 5), 5);
        assert!(!r.chance(0));
        assert!(r.chance(1000));
        // SplitMix64 reference value for seed 0.
        assert_eq!(SimRng::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn addresses_and_formatting() {
        assert_eq!(
            node_address(0),
            Some(IpAddr::V4(Ipv4Addr::new(10, 200, 0, 1)))
        );
        assert_eq!(node_address(MAX_NODES), None);
        assert_eq!(format_time(Duration::from_millis(13_011)), "13.011s");
        assert_eq!(
            Fault::Partition(vec![vec![0], vec![1, 2]]).to_string(),
            "partition {0} {1 2}"
        );
        assert_eq!(Fault::Loss(55).to_string(), "loss 5.5%");
    }
}
