//! Many instances behind one receive path: demultiplexing by interface, VRID and family.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use crate::config::{ConfigError, InstanceConfig};
use crate::event::{Action, Received, RxError};
use crate::instance::{Instance, ReconfigureError};
use crate::stats::RouterStats;
use crate::sync_group::{GroupEvent, SyncGroupConfig, SyncGroupError, SyncGroups};
use crate::types::{Family, Vrid};
use crate::wire::{WireError, peek_header};

/// Identifies an instance in a [`Router`]: the interface (an opaque number the caller
/// chooses, such as the ifindex), the VRID and the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceKey {
    /// The caller's interface identifier.
    pub interface: u32,
    /// Virtual Router Identifier.
    pub vrid: Vrid,
    /// Address family.
    pub family: Family,
}

/// Why an instance could not be added to a [`Router`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An instance with this interface, VRID and family exists already.
    #[error(
        "VRID {} ({}) is configured twice on interface {}: each VRID may appear once per interface and family",
        .0.vrid, .0.family, .0.interface
    )]
    Duplicate(InstanceKey),
}

/// A set of [`Instance`]s with one input and output path, following the same contract.
///
/// Inputs: [`handle_startup`](Self::handle_startup), [`handle_packet`](Self::handle_packet),
/// [`handle_timeout`](Self::handle_timeout), [`handle_shutdown`](Self::handle_shutdown) or
/// [`handle_handover`](Self::handle_handover).
/// Commands reach one instance through [`instance_mut`](Self::instance_mut) (the router
/// notices its actions), or [`reconfigure`](Self::reconfigure). Outputs:
/// [`poll_action`](Self::poll_action) until `None`, then
/// [`poll_group_event`](Self::poll_group_event) until `None` (with sync groups), then
/// [`poll_timeout`](Self::poll_timeout).
///
/// The router owns the sync groups ([`set_sync_groups`](Self::set_sync_groups), rules in
/// the `sync_group` module): it applies them after every input and command, when
/// [`poll_action`](Self::poll_action) is first called, so the actions of the members a group
/// moves follow those of the member that moved it.
#[derive(Debug, Default)]
pub struct Router {
    instances: BTreeMap<InstanceKey, Instance>,
    /// Instances that may have actions queued, in the order they were touched.
    dirty: VecDeque<InstanceKey>,
    stats: RouterStats,
    groups: SyncGroups,
    /// An input or command happened since the sync groups were last applied.
    sync_pending: bool,
    /// The latest `now` of an input: commands reached through `instance_mut` carry none, so
    /// the groups use this or the time of the latest state change, whichever is later.
    sync_now: Option<Instant>,
    /// The instances whose timer is due, collected by `handle_timeout` into this reused
    /// list (no allocation per advert).
    due: Vec<InstanceKey>,
}

impl Router {
    /// An empty router.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an instance on `interface` and returns its key.
    ///
    /// # Errors
    /// [`AddError`] for an invalid configuration or a key in use.
    pub fn add_instance(
        &mut self,
        interface: u32,
        config: InstanceConfig,
    ) -> Result<InstanceKey, AddError> {
        let instance = Instance::new(config)?;
        let key = InstanceKey {
            interface,
            vrid: instance.config().vrid,
            family: instance.family(),
        };
        if self.instances.contains_key(&key) {
            return Err(AddError::Duplicate(key));
        }
        self.instances.insert(key, instance);
        Ok(key)
    }

    /// Removes an instance (shut it down first to release its addresses).
    pub fn remove_instance(&mut self, key: &InstanceKey) -> Option<Instance> {
        self.instances.remove(key)
    }

    /// One instance.
    #[must_use]
    pub fn instance(&self, key: &InstanceKey) -> Option<&Instance> {
        self.instances.get(key)
    }

    /// One instance, for commands. Its actions come out of [`poll_action`](Self::poll_action).
    pub fn instance_mut(&mut self, key: &InstanceKey) -> Option<&mut Instance> {
        let instance = self.instances.get_mut(key)?;
        self.dirty.push_back(*key);
        self.sync_pending = true;
        Some(instance)
    }

    /// Command: applies a new configuration to one instance in place
    /// ([`Instance::reconfigure`]); its actions come out of
    /// [`poll_action`](Self::poll_action). The key stays valid: a change of VRID or family
    /// (the demultiplexing key) is refused.
    ///
    /// # Errors
    /// [`ReconfigureError::UnknownInstance`] if no instance has `key`, otherwise those of
    /// [`Instance::reconfigure`]; the instance is then unchanged.
    pub fn reconfigure(
        &mut self,
        key: &InstanceKey,
        now: Instant,
        config: InstanceConfig,
    ) -> Result<(), ReconfigureError> {
        let instance = self
            .instances
            .get_mut(key)
            .ok_or(ReconfigureError::UnknownInstance(*key))?;
        let result = instance.reconfigure(now, config);
        self.dirty.push_back(*key);
        self.sync_pending = true;
        result
    }

    /// Every instance, in key order.
    pub fn instances(&self) -> impl Iterator<Item = (&InstanceKey, &Instance)> {
        self.instances.iter()
    }

    /// Counters of packets no instance took.
    #[must_use]
    pub const fn stats(&self) -> &RouterStats {
        &self.stats
    }

    /// Command: replaces the sync groups. Groups kept as they were (same name and members)
    /// keep their state; members of groups that went away are released (a group Fault they
    /// were held in clears); new groups take their state from their members at the next
    /// [`poll_action`](Self::poll_action). Call it again after removing a member instance.
    ///
    /// # Errors
    /// [`SyncGroupError`] for a group with no members, a member that is not an instance here,
    /// an instance in two groups, or two groups of one name; nothing changes then.
    pub fn set_sync_groups(
        &mut self,
        now: Instant,
        groups: Vec<SyncGroupConfig>,
    ) -> Result<(), SyncGroupError> {
        SyncGroups::check(&groups, &self.instances)?;
        let mut touched = Vec::new();
        self.groups
            .replace(now, groups, &mut self.instances, &mut touched);
        self.dirty.extend(touched);
        Ok(())
    }

    /// The sync groups, with their state ([`State::Initialize`](crate::State::Initialize)
    /// before their members start).
    pub fn sync_groups(&self) -> impl Iterator<Item = (&SyncGroupConfig, crate::State)> {
        self.groups.iter().map(|g| (&g.config, g.state))
    }

    /// The name of the sync group `key` belongs to, if any.
    #[must_use]
    pub fn sync_group_of(&self, key: &InstanceKey) -> Option<&str> {
        self.groups.group_of(key).map(|g| g.config.name.as_str())
    }

    /// The next change of a sync group's state, `None` when there is none left. Drain it
    /// after [`poll_action`](Self::poll_action) returns `None`.
    pub fn poll_group_event(&mut self) -> Option<GroupEvent> {
        self.apply_sync_groups();
        self.groups.poll_event()
    }

    /// Starts every instance.
    pub fn handle_startup(&mut self, now: Instant) {
        self.touch(now);
        for (key, instance) in &mut self.instances {
            instance.handle_startup(now);
            self.dirty.push_back(*key);
        }
    }

    /// Shuts every instance down.
    pub fn handle_shutdown(&mut self, now: Instant) {
        self.touch(now);
        for (key, instance) in &mut self.instances {
            instance.handle_shutdown(now);
            self.dirty.push_back(*key);
        }
    }

    /// Starts a make-before-break handover of every instance
    /// ([`Instance::handle_handover`]).
    pub fn handle_handover(&mut self, now: Instant) {
        self.touch(now);
        for (key, instance) in &mut self.instances {
            instance.handle_handover(now);
            self.dirty.push_back(*key);
        }
    }

    /// Fires every due timer of every instance. A member of a sync group whose
    /// Master_Down_Timer fires stays Backup unless its group lets it become Master (see the
    /// `sync_group` module).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.touch(now);
        let mut due = std::mem::take(&mut self.due);
        due.clear();
        due.extend(
            self.instances
                .iter()
                .filter(|(_, i)| i.poll_timeout().is_some_and(|t| t <= now))
                .map(|(k, _)| *k),
        );
        for &key in &due {
            // Decided per member, just before its timer: a member whose timer fired earlier
            // in this loop may now want Master.
            let hold = self.groups.holds(&key, &self.instances);
            if let Some(instance) = self.instances.get_mut(&key) {
                instance.set_sync_hold(hold);
                instance.handle_timeout(now);
                self.dirty.push_back(key);
            }
        }
        self.due = due;
    }

    /// A message received on `interface`: routed to the instance of its VRID and family.
    ///
    /// # Errors
    /// Why it was dropped ([`RxError::UnknownVrid`] when no instance matches); counted in the
    /// router's or the instance's stats.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        interface: u32,
        rx: &Received<'_>,
    ) -> Result<(), RxError> {
        let header =
            peek_header(rx.payload).inspect_err(|_| self.stats.packet_length_errors += 1)?;
        let key = Vrid::new(header.vrid).map(|vrid| InstanceKey {
            interface,
            vrid,
            family: Family::of(&rx.src),
        });
        let Some((key, instance)) = key.and_then(|k| self.instances.get_mut(&k).map(|i| (k, i)))
        else {
            self.stats.vrid_errors += 1;
            return Err(if header.vrid == 0 {
                RxError::Wire(WireError::ZeroVrid)
            } else {
                RxError::UnknownVrid { vrid: header.vrid }
            });
        };
        let result = instance.handle_packet(now, rx);
        // A Backup that heard a master no longer wants Master (keepalived's wantstate).
        if instance.master().is_some_and(|m| m.seen == now) {
            instance.clear_sync_want();
        }
        self.dirty.push_back(key);
        self.touch(now);
        result
    }

    /// The next action of any instance, with the instance's key. The first call after an
    /// input or command applies the sync groups' rules.
    pub fn poll_action(&mut self) -> Option<(InstanceKey, Action)> {
        self.apply_sync_groups();
        while let Some(key) = self.dirty.front().copied() {
            if let Some(action) = self.instances.get_mut(&key).and_then(Instance::poll_action) {
                return Some((key, action));
            }
            self.dirty.pop_front();
        }
        None
    }

    /// The earliest timer of any instance.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.instances
            .values()
            .filter_map(Instance::poll_timeout)
            .min()
    }

    /// Notes an input at `now`, for the sync groups.
    fn touch(&mut self, now: Instant) {
        self.sync_pending = true;
        self.sync_now = Some(self.sync_now.map_or(now, |t| t.max(now)));
    }

    /// Applies the sync groups' rules once after an input or command.
    fn apply_sync_groups(&mut self) {
        if !std::mem::take(&mut self.sync_pending) || self.groups.is_empty() {
            return;
        }
        let latest_command = self
            .instances
            .values()
            .filter_map(Instance::last_command)
            .max();
        let Some(now) = self.sync_now.max(latest_command) else {
            return;
        };
        let mut touched = Vec::new();
        self.groups
            .reconcile(now, &mut self.instances, &mut touched);
        // The members a group moved come after the member that moved it.
        self.dirty.retain(|k| !touched.contains(k));
        self.dirty.extend(touched);
    }
}
