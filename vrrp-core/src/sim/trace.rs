//! What a run leaves behind: the timeline of state changes and faults, the counters of the
//! run ([`SimStats`]), and the trace hash that makes two runs comparable bit for bit.

use std::fmt::{self, Write as _};
use std::time::Duration;

use super::{Fault, Simulation};
#[cfg(doc)]
use crate::event::Action;
use crate::event::{Reason, State};

/// FNV-1a offset basis: the trace hash of an empty run.
pub(super) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a prime.
const FNV_PRIME: u64 = 0x0100_0000_01b3;

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

pub(super) const fn state_code(state: State) -> u8 {
    match state {
        State::Initialize => 0,
        State::Backup => 1,
        State::Master => 2,
        State::Fault => 3,
    }
}

impl Simulation {
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

    pub(super) fn mix_bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.hash ^= u64::from(*b);
            self.hash = self.hash.wrapping_mul(FNV_PRIME);
        }
    }

    pub(super) fn mix(&mut self, value: u64) {
        self.mix_bytes(&value.to_le_bytes());
    }

    pub(super) fn mix_time(&mut self) {
        self.mix_bytes(&self.now.as_nanos().to_le_bytes());
    }

    pub(super) fn note(&mut self, node: Option<usize>, event: TimelineEvent) {
        self.timeline.push(TimelineEntry {
            at: self.now,
            node,
            event,
        });
    }
}
