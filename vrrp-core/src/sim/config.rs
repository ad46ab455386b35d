//! Settings of a simulation ([`SimConfig`]) and of its network ([`NetConfig`]), and why
//! a simulation cannot be built ([`SimError`]).

use std::time::Duration;

use super::MAX_NODES;
#[cfg(doc)]
use super::{Fault, Invariant, Simulation, Violation};
use crate::config::ConfigError;
use crate::types::Vrid;

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
