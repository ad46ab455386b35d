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
//! # Where things live
//!
//! - this module: [`Simulation`] itself, its construction, getters and the step loop;
//! - `config`: [`SimConfig`], [`NetConfig`], [`SimError`];
//! - `scenario`: [`Fault`], the injected events, and how each is applied;
//! - `node`: one router and its driver (start, stop, crash, timers, performing actions);
//! - `network`: the segment (partitions, loss, latency, duplication, delivery);
//! - `invariants`: [`Invariant`], [`Violation`] and the checks;
//! - `trace`: the timeline ([`TimelineEntry`]), [`SimStats`] and the trace hash;
//! - `rng`: [`SimRng`].
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
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::InstanceConfig;
use crate::event::{Action, State};
use crate::instance::Instance;
use crate::types::Family;

mod config;
mod invariants;
mod network;
mod node;
mod rng;
mod scenario;
mod trace;

pub use config::{NetConfig, SimConfig, SimError};
pub use invariants::{Invariant, Violation};
pub use rng::SimRng;
pub use scenario::Fault;
pub use trace::{SimStats, TimelineEntry, TimelineEvent, format_time};

use node::Node;
use trace::{FNV_OFFSET, state_code};

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

    // ----- internals -----------------------------------------------------------------------

    fn push_event(&mut self, at: Duration, event: Event) {
        self.queue.insert((at, self.next_seq), event);
        self.next_seq += 1;
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
