//! The embedder's side of the event loop: its inputs ([`Input`], applied in place through
//! the engine) and the event stream ([`DaemonEvent`]: transitions, VIPs, checks, peers).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, oneshot};
use tracing::info;
use vip_health::HealthEvent;
use vrrp_core::{Action, InstanceConfig, InstanceKey};

use super::{Resolved, Runner};
use crate::daemon::control::{ControlError, Input};
use crate::daemon::events::{DaemonEvent, PeerLoss};
use crate::daemon::executor::Instances;

/// A peer as last reported to the subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Peer {
    /// When its last advert arrived.
    seen: Instant,
    /// Whether it was reported lost since.
    lost: bool,
}

/// The event stream's sender and what the peer watch remembers.
pub(in crate::daemon) struct Events {
    tx: broadcast::Sender<DaemonEvent>,
    peers: BTreeMap<(InstanceKey, IpAddr), Peer>,
}

impl Events {
    pub(in crate::daemon) const fn new(tx: broadcast::Sender<DaemonEvent>) -> Self {
        Self {
            tx,
            peers: BTreeMap::new(),
        }
    }

    fn send(&self, event: DaemonEvent) {
        // An error only means that nobody subscribes.
        let _ = self.tx.send(event);
    }

    /// The events the engine's actions stand for, by instance name; sent with
    /// [`send_all`](Self::send_all) once the actions are performed.
    pub(super) fn of_actions(
        &self,
        actions: &[(InstanceKey, Action)],
        instances: &Instances,
    ) -> Vec<DaemonEvent> {
        if self.tx.receiver_count() == 0 {
            return Vec::new();
        }
        // Adverts and announcements make no event: a steady Master's drain (one advert)
        // allocates nothing, not even the instance's name.
        let name = |key: &InstanceKey| instances.get(key).map(|m| m.plan.name.clone());
        actions
            .iter()
            .filter_map(|(key, action)| match *action {
                Action::StateChanged { from, to, reason } => Some(DaemonEvent::Transition {
                    instance: name(key)?,
                    from,
                    to,
                    reason,
                }),
                Action::AddVip(vip) => Some(DaemonEvent::VipAdded {
                    instance: name(key)?,
                    vip,
                }),
                Action::RemoveVip(vip) => Some(DaemonEvent::VipRemoved {
                    instance: name(key)?,
                    vip,
                }),
                _ => None,
            })
            .collect()
    }

    pub(super) fn send_all(&self, events: Vec<DaemonEvent>) {
        for event in events {
            self.send(event);
        }
    }

    /// A health check changed.
    pub(super) fn check(&self, event: &HealthEvent<InstanceKey>, instances: &Instances) {
        if let Some(m) = instances.get(&event.owner) {
            self.send(DaemonEvent::CheckChanged {
                instance: m.plan.name.clone(),
                check: event.check.clone(),
                up: event.up,
                reason: event.reason.clone(),
            });
        }
    }
}

/// A peer's Master_Down_Interval by RFC 5798 section 6.1, from the interval and priority it
/// advertised: how long it may stay silent before it is lost.
fn peer_down_interval(interval: vrrp_core::Interval, priority: u8) -> Duration {
    let centis = u64::from(interval.centis());
    let micros = 3 * centis * 10_000 + (256 - u64::from(priority)) * centis * 10_000 / 256;
    Duration::from_micros(micros)
}

impl Runner {
    /// Compares the engine's peers with those reported: new or returning ones are seen, those
    /// that resigned (priority 0) or fell silent are lost. Only while someone subscribes.
    pub(super) fn observe_peers(&mut self, now: Instant) {
        if self.events.tx.receiver_count() == 0 {
            self.events.peers.clear();
            return;
        }
        let mut out = Vec::new();
        let mut current = BTreeMap::new();
        for (key, m) in &self.instances {
            let Some(instance) = self.router.instance(key) else {
                continue;
            };
            for info in instance.peers() {
                let slot = (*key, info.address);
                let before = self.events.peers.get(&slot).copied();
                let fresh = before.is_none_or(|p| p.lost && info.seen > p.seen);
                let silent = now.saturating_duration_since(info.seen)
                    > peer_down_interval(info.interval, info.priority);
                let gone = info.priority == 0 || silent;
                let name = || m.plan.name.clone();
                let lost = match (fresh, gone) {
                    (true, false) => {
                        out.push(DaemonEvent::PeerSeen {
                            instance: name(),
                            address: info.address,
                            priority: info.priority,
                        });
                        false
                    }
                    (false, true) if before.is_some_and(|p| !p.lost) => {
                        let why = if info.priority == 0 {
                            PeerLoss::Resigned
                        } else {
                            PeerLoss::Silent
                        };
                        out.push(DaemonEvent::PeerLost {
                            instance: name(),
                            address: info.address,
                            why,
                        });
                        true
                    }
                    _ => before.map_or(gone, |p| p.lost),
                };
                current.insert(
                    slot,
                    Peer {
                        seen: info.seen,
                        lost,
                    },
                );
            }
        }
        self.events.peers = current;
        self.events.send_all(out);
    }

    /// Applies an embedder's input and answers it.
    pub(super) async fn input(
        &mut self,
        input: Input,
        reply: oneshot::Sender<Result<(), ControlError>>,
    ) {
        let result = if self.stopping {
            Err(ControlError::Stopped)
        } else {
            self.apply(input).await
        };
        if let Err(e) = &result {
            info!(error = %e, "embedder input refused");
        }
        let _ = reply.send(result);
        self.publish();
    }

    /// The key of the instance named `name`.
    fn key_of(&self, name: &str) -> Result<InstanceKey, ControlError> {
        self.instances
            .iter()
            .find(|(_, m)| m.plan.name == name)
            .map(|(k, _)| *k)
            .ok_or_else(|| ControlError::UnknownInstance {
                instance: name.to_owned(),
            })
    }

    /// Whether instance `key` has a tracked object named `name`.
    fn has_track(&self, key: &InstanceKey, name: &str) -> bool {
        self.router
            .instance(key)
            .is_some_and(|i| i.tracks().any(|t| t.name == name))
    }

    /// Refuses a tracked object that a health check of the instance feeds.
    fn embedder_track(&self, key: &InstanceKey, track: &str) -> Result<(), ControlError> {
        let Some(m) = self.instances.get(key) else {
            return Ok(());
        };
        if m.plan.checks.iter().any(|c| c.name == track) {
            return Err(ControlError::CheckOwned {
                instance: m.plan.name.clone(),
                track: track.to_owned(),
            });
        }
        Ok(())
    }

    /// Gives instance `key` the engine configuration `change` makes of its current one, in
    /// place, and keeps it in the instance's plan.
    fn reconfigure(
        &mut self,
        key: InstanceKey,
        change: impl FnOnce(&mut InstanceConfig),
    ) -> Result<(), ControlError> {
        let Some(m) = self.instances.get_mut(&key) else {
            return Err(ControlError::Stopped);
        };
        let mut engine = m.plan.engine.clone();
        change(&mut engine);
        self.router
            .reconfigure(&key, Instant::now(), engine.clone())
            .map_err(|e| ControlError::engine(&m.plan.name, &e))?;
        m.plan.engine = engine;
        Ok(())
    }

    async fn apply(&mut self, input: Input) -> Result<(), ControlError> {
        let now = Instant::now();
        match input {
            Input::SetTrack {
                instance,
                track,
                up,
                weight,
            } => {
                let key = self.key_of(&instance)?;
                self.embedder_track(&key, &track)?;
                let engine = self.router.instance_mut(&key);
                let result = match (engine, weight) {
                    (Some(i), Some(w)) => i.set_track_weighted(now, &track, up, w),
                    (Some(i), None) => i.set_track(now, &track, up),
                    (None, _) => return Err(ControlError::Stopped),
                };
                result.map_err(|_| ControlError::UnknownTrack { instance, track })
            }
            Input::AddTrack { instance, track } => {
                let key = self.key_of(&instance)?;
                if self.has_track(&key, &track.name) {
                    return Err(ControlError::DuplicateTrack {
                        instance,
                        track: track.name,
                    });
                }
                self.reconfigure(key, |e| e.tracks.push(track))
            }
            Input::RemoveTrack { instance, track } => {
                let key = self.key_of(&instance)?;
                self.embedder_track(&key, &track)?;
                if !self.has_track(&key, &track) {
                    return Err(ControlError::UnknownTrack { instance, track });
                }
                self.reconfigure(key, |e| e.tracks.retain(|t| t.name != track))
            }
            Input::AddCheck { instance, check } => {
                let key = self.key_of(&instance)?;
                check.check_timing().map_err(|e| ControlError::Invalid {
                    instance: instance.clone(),
                    field: format!("checks[{}]", check.name),
                    message: e.to_string(),
                })?;
                if self.has_track(&key, &check.name) {
                    return Err(ControlError::DuplicateTrack {
                        instance,
                        track: check.name,
                    });
                }
                let track = crate::config::track_of(&check);
                self.reconfigure(key, |e| e.tracks.push(track))?;
                if let Some(m) = self.instances.get_mut(&key) {
                    m.plan.checks.push(*check);
                }
                self.health.restart(&self.instances);
                Ok(())
            }
            Input::RemoveCheck { instance, check } => {
                let key = self.key_of(&instance)?;
                let known = self
                    .instances
                    .get(&key)
                    .is_some_and(|m| m.plan.checks.iter().any(|c| c.name == check));
                if !known {
                    return Err(ControlError::UnknownTrack {
                        instance,
                        track: check,
                    });
                }
                self.reconfigure(key, |e| e.tracks.retain(|t| t.name != check))?;
                if let Some(m) = self.instances.get_mut(&key) {
                    m.plan.checks.retain(|c| c.name != check);
                }
                self.health.restart(&self.instances);
                Ok(())
            }
            Input::SetPriority { instance, priority } => {
                let key = self.key_of(&instance)?;
                let priority =
                    vrrp_core::Priority::new(priority).ok_or_else(|| ControlError::Invalid {
                        instance: instance.clone(),
                        field: "priority".to_owned(),
                        message: "0 is reserved for a master that resigns: give 1 to 255"
                            .to_owned(),
                    })?;
                self.reconfigure(key, |e| e.priority = priority)
            }
            Input::AddVip { instance, vip } => self.add_vip(&instance, vip).await,
            Input::RemoveVip { instance, vip } => {
                let key = self.key_of(&instance)?;
                if self
                    .instances
                    .get(&key)
                    .and_then(|m| m.plan.vip(vip))
                    .is_none()
                {
                    return Err(ControlError::UnknownVip { instance, vip });
                }
                self.reconfigure(key, |e| e.virtual_addresses.retain(|a| *a != vip))?;
                if let Some(m) = self.instances.get_mut(&key) {
                    m.plan.vips.retain(|v| v.addr != vip);
                }
                Ok(())
            }
            Input::AddInstance(plan) => self.add_instance(*plan).await,
            Input::RemoveInstance { instance } => {
                let key = self.key_of(&instance)?;
                self.retire(now, &key, &BTreeSet::new()).await;
                self.update_memberships();
                self.health.restart(&self.instances);
                info!(instance = %instance, "instance removed by the embedder");
                Ok(())
            }
        }
    }

    /// The instance other than `except` that has VIP `addr`, by name.
    fn vip_owner(&self, addr: IpAddr, except: Option<&InstanceKey>) -> Option<String> {
        self.instances
            .iter()
            .find(|(k, m)| Some(*k) != except && m.plan.vip(addr).is_some())
            .map(|(_, m)| m.plan.name.clone())
    }

    async fn add_vip(
        &mut self,
        instance: &str,
        vip: crate::config::Vip,
    ) -> Result<(), ControlError> {
        let key = self.key_of(instance)?;
        let invalid = |message: String| ControlError::Invalid {
            instance: instance.to_owned(),
            field: "prefix_len".to_owned(),
            message,
        };
        let max = if vip.addr.is_ipv4() { 32 } else { 128 };
        if vip.prefix_len > max {
            return Err(invalid(format!(
                "{} is longer than the {max} bits of {}: give a prefix length of at most {max}",
                vip.prefix_len, vip.addr
            )));
        }
        if let Some(owner) = self.vip_owner(vip.addr, Some(&key)) {
            return Err(ControlError::VipInOtherInstance {
                instance: instance.to_owned(),
                vip: vip.addr,
                owner,
            });
        }
        let Some(m) = self.instances.get(&key) else {
            return Err(ControlError::Stopped);
        };
        if m.plan.vip(vip.addr).is_some() {
            return Err(ControlError::DuplicateVip {
                instance: instance.to_owned(),
                vip: vip.addr,
            });
        }
        let (vip_index, family) = (m.vip_index, m.plan.engine.family());
        let netlink = &self.executor.netlink;
        let present = netlink
            .addresses(vip_index, family)
            .await
            .map_err(crate::daemon::DaemonError::from)?;
        if present
            .iter()
            .any(|a| a.addr == vip.addr && !a.is_marked(netlink.mark()))
        {
            return Err(ControlError::Daemon(
                crate::daemon::DaemonError::AddressInUse {
                    instance: instance.to_owned(),
                    vip: vip.addr,
                    interface: m.plan.vip_interface.clone(),
                },
            ));
        }
        // The plan knows the prefix length before the engine asks for the address.
        if let Some(m) = self.instances.get_mut(&key) {
            m.plan.vips.push(vip);
        }
        let added = self.reconfigure(key, |e| e.virtual_addresses.push(vip.addr));
        if added.is_err()
            && let Some(m) = self.instances.get_mut(&key)
        {
            m.plan.vips.retain(|v| v.addr != vip.addr);
        }
        added
    }

    async fn add_instance(
        &mut self,
        plan: crate::config::InstancePlan,
    ) -> Result<(), ControlError> {
        let duplicate = || ControlError::DuplicateInstance {
            instance: plan.name.clone(),
        };
        if self.instances.values().any(|m| m.plan.name == plan.name) {
            return Err(duplicate());
        }
        for vip in &plan.vips {
            if let Some(owner) = self.vip_owner(vip.addr, None) {
                return Err(ControlError::VipInOtherInstance {
                    instance: plan.name.clone(),
                    vip: vip.addr,
                    owner,
                });
            }
        }
        let resolved: Resolved = self.resolve(&plan).await?;
        let key = InstanceKey {
            interface: resolved.vrrp.index,
            vrid: resolved.plan.engine.vrid,
            family: resolved.plan.engine.family(),
        };
        if self.instances.contains_key(&key) {
            return Err(duplicate());
        }
        self.check_vips_free(&resolved).await?;
        let key = self.install(resolved).await?;
        let now = Instant::now();
        if let Some(instance) = self.router.instance_mut(&key) {
            instance.handle_startup(now);
        }
        self.update_memberships();
        self.health.restart(&self.instances);
        self.health.sync(now, &mut self.router, &self.instances);
        info!(instance = %plan.name, "instance added by the embedder");
        Ok(())
    }
}
