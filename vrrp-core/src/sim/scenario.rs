//! The scenario: the faults, repairs and commands ([`Fault`]) injected at scheduled times,
//! and how the simulation applies each one.

use std::fmt;
use std::time::Duration;

use super::{Simulation, TimelineEvent, Violation};
#[cfg(doc)]
use crate::instance::Instance;
use crate::types::Priority;

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

impl Simulation {
    pub(super) fn apply_fault(&mut self, fault: Fault) -> Result<(), Violation> {
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
}
