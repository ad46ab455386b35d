//! Reload: applying a new configuration to the running instances.
//!
//! # Restarts hand over make-before-break
//!
//! A change the engine cannot take in place (the VRID, the VRRP interface, the family, the
//! version, the VIP interface, a VIP's prefix length) replaces the instance. When the old
//! instance is Master and a new instance takes any of its VIPs, the node keeps answering for
//! them throughout:
//!
//! 1. the old instance leaves the engine (its key may be the new one's), its shutdown
//!    actions held back: its VIPs stay on the interface;
//! 2. the new instance starts directly as Master
//!    ([`Instance::handle_startup_master`](vrrp_core::Instance::handle_startup_master)): it
//!    adds its VIPs through the executor's one add path (a VIP already there is re-marked and
//!    its lifetime renewed; on another interface, or with another prefix, it is added beside
//!    the old address) and advertises on its own VRID. It announces (gratuitous ARP,
//!    unsolicited NA) only VIPs that moved to another interface: the neighbours already reach
//!    this node for the others, and a node that claimed the VIP meanwhile (see below) is not
//!    out-announced while the adverts settle who keeps it;
//! 3. only then does the old instance finish leaving: it removes what no new Master now holds
//!    on the same interface with the same prefix (VIPs dropped from the configuration, or the
//!    old address of a VIP moved to another interface or prefix; the netlink watch does not
//!    mistake that removal for the new address vanishing), and it sends no priority-0 advert:
//!    the routers of its
//!    old VRID are the other nodes of the same roll-out, and a priority 0 would make them
//!    claim, within Skew_Time, the VIPs this node still holds. Its state change is not
//!    reported (no notify hook, no log line of its own) when the new instance has the same
//!    name: the node stays Master for it.
//!
//! The new instance's health checks that the old one had (by name) start in the state the
//! old one saw, as in a reload in place, unless they set an explicit `initial` state (the
//! restarted monitor reports it at once); the monitor then reports as usual. If the
//! new instance cannot become Master (it is in Fault, say), nothing was handed over:
//! the old one leaves as before, with its priority-0 advert and its VIPs removed. A Backup,
//! or a Master whose VIPs no new instance takes, leaves with the RFC shutdown as before.
//!
//! The roll-out (node A reloaded, then node B): while the nodes run different VRIDs (or
//! versions, or VRRP links), they do not hear each other. The node that was Master keeps the
//! VIP without a gap; the other node's instance hears no master and claims the VIP after its
//! Master_Down_Interval (3 advert intervals and its skew: 0.36 s at 100 ms, 3.6 s at 1 s, for
//! priority 100), so both answer for the VIP from then until the second node is reloaded.
//! Its reload then restarts a Master too: its new instance starts as Master, the first advert
//! each hears settles it by RFC 5798 section 6.4.3 (the lower priority steps down and
//! removes the VIP; the higher one re-announces with `garp.lower_prio_repeat`), within one
//! advert interval. A roll-out that reloads every node within Master_Down_Interval has no
//! such period; the VIP has an owner at every moment either way.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Instant;

use tracing::{error, info, warn};
use vip_health::InitialState;
use vrrp_core::{Action, InstanceKey, State};

use super::{Resolved, Runner};
use crate::config::{InstancePlan, Plan};
use crate::daemon::executor::{Instances, Managed};

impl Runner {
    /// Applies a new configuration. Unchanged instances keep their state and VIPs. A change
    /// the engine can take in place ([`Router::reconfigure`](vrrp_core::Router::reconfigure):
    /// priority, preemption, peers, unicast or multicast, interval, announcements, checks,
    /// hooks, lifetime, VIPs added or removed) is applied without a transition, a priority-0
    /// advert or a VIP removal (but of VIPs that left the list). Any other change (the VRRP
    /// version, the VIP interface, a VIP's prefix length) restarts that instance; removed
    /// instances release their VIPs; added ones start. A Master replaced by a new instance
    /// that takes its VIPs hands them over make-before-break (see the module docs). If an
    /// interface of the new configuration is missing, or a VIP is taken, nothing changes.
    pub(super) async fn reload(&mut self, plan: Plan) {
        let mut resolved = Vec::new();
        for p in plan.instances() {
            match self.resolve(p).await {
                Ok(r) => resolved.push(r),
                Err(e) => {
                    error!(error = %e, "reload refused; the running configuration is kept");
                    self.discard_new_vmacs(&plan).await;
                    return;
                }
            }
        }
        for r in &resolved {
            if let Err(e) = self.check_vips_free(r).await {
                error!(error = %e, "reload refused; the running configuration is kept");
                self.discard_new_vmacs(&plan).await;
                return;
            }
        }
        self.discovery.sync(resolved.iter().map(|r| &r.plan));
        let now = Instant::now();
        let mut wanted: BTreeMap<InstanceKey, Resolved> = BTreeMap::new();
        for r in resolved {
            let key = InstanceKey {
                interface: r.vrrp.index,
                vrid: r.plan.engine.vrid,
                family: r.plan.engine.family(),
            };
            wanted.insert(key, r);
        }
        let mut count = Counts::default();
        let current: Vec<InstanceKey> = self.instances.keys().copied().collect();
        // The instances to replace or remove, once the in-place changes are made.
        let mut leaving = Vec::new();
        let mut updated = Vec::new();
        for key in current {
            let Some(new) = wanted.get(&key) else {
                leaving.push(key);
                count.removed += 1;
                continue;
            };
            let engine = self.engine_config(key.interface, &new.plan).await;
            let usable_before = self.instances.get(&key).map(|m| self.links_usable(m));
            let Some(old) = self.instances.get_mut(&key) else {
                continue;
            };
            let same_links = old.vip_index == new.vip.index
                && old.extra_links.len() == new.extra.len()
                && new
                    .extra
                    .iter()
                    .all(|(name, l)| old.extra_links.get(name) == Some(&l.index));
            if old.plan == new.plan && same_links {
                count.kept += 1;
                wanted.remove(&key);
                continue;
            }
            let reconfigured = if same_links && updatable(&old.plan, &new.plan) {
                self.router
                    .reconfigure(&key, now, engine)
                    .map_err(|e| e.to_string())
            } else {
                Err("the VIP interface, or a VIP's prefix length, dev or label changed".to_owned())
            };
            match reconfigured {
                Ok(()) => {
                    if let Some(new) = wanted.remove(&key) {
                        old.plan = new.plan;
                    }
                    count.updated += 1;
                    updated.push((key, usable_before));
                }
                Err(why) => {
                    info!(instance = %new.plan.name, why, "restarting the instance to apply the change");
                    leaving.push(key);
                    count.restarted += 1;
                }
            }
        }
        // An address added in place may leave its `dev`'s link untracked (`no_track`).
        for (key, before) in updated {
            if let Some(m) = self.instances.get(&key) {
                let usable = self.links_usable(m);
                if Some(usable) == before {
                    continue;
                }
                if let Some(instance) = self.router.instance_mut(&key) {
                    instance.set_link_up(now, usable);
                }
            }
        }
        // What the in-place changes queued goes out before anything leaves.
        self.perform_actions().await;
        let mut heirs = BTreeSet::new();
        let mut departing = Vec::new();
        // A restarted instance's virtual MAC interface, found again by its resolution, stays.
        let starting: BTreeSet<u32> = wanted.values().map(|r| r.vip.index).collect();
        for key in leaving {
            let taking = self.heirs(&key, &wanted);
            if taking.is_empty() {
                self.retire(now, &key, &starting).await;
            } else {
                heirs.extend(taking);
                departing.extend(self.detach(now, &key));
            }
        }
        for (_, r) in wanted {
            let name = r.plan.name.clone();
            let predecessors: Vec<&Departing> = departing
                .iter()
                .filter(|d| {
                    r.plan
                        .vips
                        .iter()
                        .any(|v| d.managed.held.contains_key(&v.addr))
                })
                .collect();
            // VIPs that change interface change MAC: the new Master announces them.
            let moved = predecessors
                .iter()
                .any(|d| d.managed.vip_index != r.vip.index);
            // A check kept by name keeps its state, as in a reload in place: a check that has
            // not reported yet must not cost the handover. One with an explicit `initial`
            // state restarts in it (the restarted monitor reports it at once).
            let carried: Vec<(String, bool)> = predecessors
                .iter()
                .flat_map(|d| &d.tracks)
                .filter(|(check, _)| {
                    r.plan
                        .checks
                        .iter()
                        .any(|c| c.name == *check && matches!(c.initial, InitialState::FirstResult))
                })
                .cloned()
                .collect();
            match self.install(r).await {
                Ok(key) => {
                    if let Some(instance) = self.router.instance_mut(&key) {
                        if heirs.contains(&key) {
                            for (check, up) in &carried {
                                let _ = instance.set_track(now, check, *up);
                            }
                            instance.handle_startup_master(now);
                            if moved {
                                instance.reannounce(now);
                            }
                        } else {
                            instance.handle_startup(now);
                        }
                    }
                    count.added += 1;
                }
                Err(e) => error!(instance = %name, error = %e, "instance not started"),
            }
        }
        // Each new Master's VIPs are added (and announced) before an old instance leaves.
        self.perform_actions().await;
        for d in departing {
            if self.depart(d).await {
                count.handed_over += 1;
            }
        }
        // Instances that were restarted count once, as restarted, not also as added.
        count.added -= count.restarted.min(count.added);
        self.update_memberships();
        self.sync_groups
            .configure(now, plan.sync_groups(), &mut self.router, &self.instances);
        self.health.restart(&self.instances);
        self.health.sync(now, &mut self.router, &self.instances);
        info!(
            kept = count.kept,
            updated = count.updated,
            restarted = count.restarted,
            removed = count.removed,
            added = count.added,
            handed_over = count.handed_over,
            "configuration reloaded"
        );
        self.publish();
    }

    /// After a refused reload: removes the virtual MAC interfaces of `plan` that its
    /// resolution created and no running instance uses (they would stay until the next start).
    async fn discard_new_vmacs(&mut self, plan: &Plan) {
        let netlink = &self.executor.netlink;
        for p in plan.instances() {
            let Some(vmac) = p.vmac() else {
                continue;
            };
            let Ok(link) = netlink.link_by_name(vmac.name()).await else {
                continue;
            };
            if self.instances.values().any(|m| m.vip_index == link.index) {
                continue;
            }
            match netlink.remove_vmac(link.index).await {
                Ok(()) => {
                    info!(interface = %link.name, "virtual MAC interface of the refused reload removed");
                }
                Err(e) => {
                    warn!(interface = %link.name, error = %e, "removing the virtual MAC interface of the refused reload failed");
                }
            }
        }
    }

    /// Stops instance `key` (RFC shutdown: priority 0, VIPs released) and forgets it, with
    /// its virtual MAC interface unless `starting` (the VIP interfaces of instances about to
    /// start: the same instance restarted by a reload) or a running instance uses it.
    pub(super) async fn retire(
        &mut self,
        now: Instant,
        key: &InstanceKey,
        starting: &BTreeSet<u32>,
    ) {
        if let Some(instance) = self.router.instance_mut(key) {
            instance.handle_shutdown(now);
        }
        self.perform_actions().await;
        self.router.remove_instance(key);
        if let Some(m) = self.instances.remove(key) {
            self.release_vmac(&m, starting).await;
        }
    }

    /// Removes the virtual MAC interface of `m`, a departed instance, if it has one and
    /// neither a running instance nor one of `starting` (VIP interface indexes) uses it, and
    /// closes its socket.
    async fn release_vmac(&mut self, m: &Managed, starting: &BTreeSet<u32>) {
        let used = starting.contains(&m.vip_index)
            || self.instances.values().any(|i| i.vip_index == m.vip_index);
        if used {
            return;
        }
        super::super::vmac::release(&mut self.executor, m).await;
        // The released interface's socket is read no more, and closed.
        let sockets = &self.executor.sockets;
        self.receivers
            .retain(|s| sockets.values().any(|open| std::sync::Arc::ptr_eq(open, s)));
    }

    /// The new instances (of `wanted`) that take over from instance `key`: those that own one
    /// of the VIPs it holds, if it is Master; none otherwise.
    fn heirs(
        &self,
        key: &InstanceKey,
        wanted: &BTreeMap<InstanceKey, Resolved>,
    ) -> Vec<InstanceKey> {
        let master = self
            .router
            .instance(key)
            .is_some_and(|i| i.state() == State::Master && !i.is_releasing());
        let Some(old) = self.instances.get(key).filter(|_| master) else {
            return Vec::new();
        };
        wanted
            .iter()
            .filter(|(_, r)| r.plan.vips.iter().any(|v| old.held.contains_key(&v.addr)))
            .map(|(k, _)| *k)
            .collect()
    }

    /// Takes instance `key` out of the engine with its shutdown actions held back, its VIPs
    /// still on their interface: the first step of a make-before-break restart.
    fn detach(&mut self, now: Instant, key: &InstanceKey) -> Option<Departing> {
        let mut instance = self.router.remove_instance(key)?;
        let managed = self.instances.remove(key)?;
        let tracks = instance
            .tracks()
            .map(|t| (t.name.to_owned(), t.up))
            .collect();
        instance.handle_shutdown(now);
        let actions = std::iter::from_fn(|| instance.poll_action()).collect();
        Some(Departing {
            key: *key,
            managed,
            actions,
            tracks,
        })
    }

    /// The last step of a make-before-break restart, once the new instances have started:
    /// if a new Master now holds any of the departing instance's VIPs (on any interface, with
    /// any prefix), it removes only those no new Master holds on the same interface with the
    /// same prefix, sends no priority-0 advert, and reports no state change when a new
    /// instance has its name. Returns whether it handed over; if not, it leaves as
    /// [`retire`](Self::retire) would.
    async fn depart(&mut self, d: Departing) -> bool {
        let Departing {
            key,
            managed,
            actions,
            ..
        } = d;
        let kept: BTreeSet<IpAddr> = managed
            .held
            .iter()
            .filter(|(addr, prefix)| {
                self.held_by_a_master(|m| {
                    m.vip_index_of(**addr) == managed.vip_index_of(**addr)
                        && m.held.get(addr) == Some(prefix)
                })
            })
            .map(|(addr, _)| *addr)
            .collect();
        let handed = managed
            .held
            .keys()
            .any(|addr| self.held_by_a_master(|m| m.held.contains_key(addr)));
        let renamed = !self
            .instances
            .values()
            .any(|m| m.plan.name == managed.plan.name);
        if handed {
            info!(
                instance = %managed.plan.name,
                kept = ?kept,
                "handed over to the new instance (make-before-break): VIPs kept, old VRID left silently"
            );
        }
        let mut actions: Vec<_> = actions
            .into_iter()
            .filter(|a| {
                !handed
                    || match a {
                        Action::RemoveVip(addr) => !kept.contains(addr),
                        Action::SendAdvertisement(_) => false,
                        Action::StateChanged { .. } => renamed,
                        _ => true,
                    }
            })
            .map(|a| (key, a))
            .collect();
        let mut leaving = Instances::new();
        leaving.insert(key, managed);
        self.executor
            .perform(&mut actions, &mut leaving, &self.router)
            .await;
        // Its virtual MAC interface goes with it, unless its successor uses it.
        if let Some(m) = leaving.remove(&key) {
            self.release_vmac(&m, &BTreeSet::new()).await;
        }
        handed
    }

    /// Whether a running Master instance matches `holds` (a test on what it holds).
    fn held_by_a_master(&self, holds: impl Fn(&Managed) -> bool) -> bool {
        self.instances.iter().any(|(k, m)| {
            holds(m)
                && self
                    .router
                    .instance(k)
                    .is_some_and(|i| i.state() == State::Master)
        })
    }
}

/// An instance leaving in a make-before-break restart: out of the engine, its shutdown
/// actions held back until its successors have started.
struct Departing {
    key: InstanceKey,
    managed: Managed,
    actions: Vec<Action>,
    /// Each tracked object (health check) by name, and whether it was up.
    tracks: Vec<(String, bool)>,
}

/// What a reload did, for its log line.
#[derive(Debug, Default)]
struct Counts {
    kept: u32,
    updated: u32,
    restarted: u32,
    removed: u32,
    added: u32,
    /// Masters whose VIPs a new instance took over make-before-break.
    handed_over: u32,
}

/// Whether the change from `old` to `new` can be applied to the running instance (its
/// interfaces being the same): a VIP kept keeps its prefix length, `dev` and label (the
/// engine knows addresses, not how the kernel holds them).
fn updatable(old: &InstancePlan, new: &InstancePlan) -> bool {
    new.vips.iter().all(|v| {
        old.vip(v.addr).is_none_or(|o| {
            o.prefix_len == v.prefix_len
                && old.vip_options.get(&v.addr) == new.vip_options.get(&v.addr)
        })
    })
}
