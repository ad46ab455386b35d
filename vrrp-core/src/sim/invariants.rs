//! The invariants checked after every step and in quiet windows ([`Invariant`]), and the
//! [`Violation`] reported when one breaks.

use std::fmt;
use std::time::Duration;

#[cfg(doc)]
use super::SimConfig;
use super::{Simulation, format_time};
use crate::event::State;

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

impl Simulation {
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

    pub(super) fn check_all_nodes(&self) -> Result<(), Violation> {
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

    pub(super) fn check_quiet_if_due(&mut self) -> Result<(), Violation> {
        if self.is_quiet() {
            self.stats.quiet_checks += 1;
            self.check_quiet_invariants()?;
        }
        Ok(())
    }

    pub(super) fn violation(
        &self,
        node: Option<usize>,
        invariant: Invariant,
        detail: String,
    ) -> Violation {
        Violation {
            seed: self.config.seed,
            at: self.now,
            node,
            invariant,
            detail,
        }
    }
}
