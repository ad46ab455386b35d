//! One simulated router and its driver: starting, stopping and crashing its [`Instance`],
//! firing its timers, and performing (and checking the order of) the actions it emits.

use std::net::IpAddr;

#[cfg(doc)]
use super::Fault;
use super::{Invariant, Simulation, TimelineEvent, Violation, format_time, state_code};
use crate::config::InstanceConfig;
use crate::event::{Action, State};
use crate::instance::Instance;
use crate::types::Priority;

/// One router of the simulation: its configuration and environment, which survive a crash,
/// and its instance while it is up.
#[derive(Debug)]
pub(super) struct Node {
    pub(super) config: InstanceConfig,
    pub(super) addr: IpAddr,
    pub(super) instance: Option<Instance>,
    /// The instance of a gracefully stopped node, for [`Fault::Resume`].
    pub(super) stopped: Option<Instance>,
    /// The state as told by the instance's `StateChanged` actions (Initialize when down).
    pub(super) state: State,
    pub(super) held: Vec<IpAddr>,
    pub(super) link_up: bool,
    /// The environment's view of each tracked object, same order as `config.tracks`.
    pub(super) tracks: Vec<bool>,
    /// A priority set by command, re-applied on restart.
    pub(super) priority: Option<Priority>,
    /// Partition group.
    pub(super) group: u32,
    /// A handover is under way: the node goes down when its instance reaches Initialize.
    pub(super) releasing: bool,
}

impl Node {
    pub(super) fn is_master(&self) -> bool {
        self.instance
            .as_ref()
            .is_some_and(|i| i.state() == State::Master)
    }
}

impl Simulation {
    pub(super) fn fire_timer(&mut self, i: usize) -> Result<(), Violation> {
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

    /// Performs every queued action of node `i`, checking their order.
    pub(super) fn drain(&mut self, i: usize) -> Result<(), Violation> {
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

    pub(super) fn perform(&mut self, i: usize, action: Action) -> Result<(), Violation> {
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

    /// [`Fault::Handover`] of node `i`.
    pub(super) fn handover_node(&mut self, i: usize) -> Result<(), Violation> {
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

    pub(super) fn crash_node(&mut self, i: usize) {
        if let Some(n) = self.nodes.get_mut(i) {
            n.instance = None;
            n.releasing = false;
            n.stopped = None;
            n.state = State::Initialize;
            n.held.clear();
        }
    }

    pub(super) fn stop_node(&mut self, i: usize) -> Result<(), Violation> {
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
    pub(super) fn start_node(&mut self, i: usize, resume: bool) -> Result<(), Violation> {
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
