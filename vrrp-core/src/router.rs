//! Many instances behind one receive path: demultiplexing by interface, VRID and family.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use crate::config::{ConfigError, InstanceConfig};
use crate::event::{Action, Received, RxError};
use crate::instance::{Instance, ReconfigureError};
use crate::stats::RouterStats;
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
/// [`poll_action`](Self::poll_action) until `None`, then [`poll_timeout`](Self::poll_timeout).
#[derive(Debug, Default)]
pub struct Router {
    instances: BTreeMap<InstanceKey, Instance>,
    /// Instances that may have actions queued, in the order they were touched.
    dirty: VecDeque<InstanceKey>,
    stats: RouterStats,
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

    /// Starts every instance.
    pub fn handle_startup(&mut self, now: Instant) {
        for (key, instance) in &mut self.instances {
            instance.handle_startup(now);
            self.dirty.push_back(*key);
        }
    }

    /// Shuts every instance down.
    pub fn handle_shutdown(&mut self, now: Instant) {
        for (key, instance) in &mut self.instances {
            instance.handle_shutdown(now);
            self.dirty.push_back(*key);
        }
    }

    /// Starts a make-before-break handover of every instance
    /// ([`Instance::handle_handover`]).
    pub fn handle_handover(&mut self, now: Instant) {
        for (key, instance) in &mut self.instances {
            instance.handle_handover(now);
            self.dirty.push_back(*key);
        }
    }

    /// Fires every due timer of every instance.
    pub fn handle_timeout(&mut self, now: Instant) {
        for (key, instance) in &mut self.instances {
            if instance.poll_timeout().is_some_and(|t| t <= now) {
                instance.handle_timeout(now);
                self.dirty.push_back(*key);
            }
        }
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
        self.dirty.push_back(key);
        result
    }

    /// The next action of any instance, with the instance's key.
    pub fn poll_action(&mut self) -> Option<(InstanceKey, Action)> {
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
}
