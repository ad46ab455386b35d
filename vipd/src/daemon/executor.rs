//! Carrying out the engine's actions: VIPs through netlink, adverts on the raw sockets,
//! gratuitous ARP / unsolicited NA, state changes to the log and the notify hooks.
//!
//! Every VIP the daemon adds or renews goes through [`Executor::add_vips`], one netlink batch
//! per interface and lifetime, which also records the VIP as held and counts failures: the
//! drain's additions, later additions in the same drain, and the periodic renewals all take
//! that one path. Additions read the link's addresses first (one dump per batch); renewals of
//! VIPs the event stream shows are still vipd's own skip that dump ([`VipRequest`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use tracing::{debug, error, info, warn};
use vrrp_core::{Action, Family, InstanceKey, Reason, Router, State, Transmit};
use vrrp_net::netlink::{Lifetime as NetLifetime, Netlink, NewVip};
use vrrp_net::socket::VrrpSocket;

use super::pacing::Paced;
use crate::config::InstancePlan;
use crate::duration::VipLifetime;
use crate::notify::{Notification, Notifier, Outcome};

/// One instance as the daemon manages it: its plan, its interfaces, and what was done for it.
#[derive(Debug)]
pub(super) struct Managed {
    pub(super) plan: InstancePlan,
    pub(super) vrrp_index: u32,
    pub(super) vip_index: u32,
    /// The interfaces of the addresses with a `dev` of their own: name to index.
    pub(super) extra_links: BTreeMap<String, u32>,
    /// The VIPs the kernel holds for this instance (added and not removed since), with the
    /// prefix length they were added with.
    pub(super) held: BTreeMap<IpAddr, u8>,
    /// The VIPs whose last addition or renewal failed (or that another program took over):
    /// their failure is logged as an error once, and at debug level while it repeats at each
    /// renewal, until an addition succeeds or the instance removes the VIP.
    pub(super) refused: BTreeSet<IpAddr>,
    /// Transitions by the state entered and the reason.
    pub(super) transitions: Vec<(State, Reason, u64)>,
    pub(super) announcements: u64,
    pub(super) add_failures: u64,
    pub(super) remove_failures: u64,
}

impl Managed {
    pub(super) fn new(plan: InstancePlan, vrrp_index: u32, vip_index: u32) -> Self {
        Self {
            plan,
            vrrp_index,
            vip_index,
            extra_links: BTreeMap::new(),
            held: BTreeMap::new(),
            refused: BTreeSet::new(),
            transitions: Vec::new(),
            announcements: 0,
            add_failures: 0,
            remove_failures: 0,
        }
    }

    /// The interface adverts leave from: the virtual MAC interface with `use_vmac` (unless
    /// `vmac_xmit_base`), so that they carry the virtual router MAC and switches learn where
    /// it is; the VRRP interface otherwise.
    pub(super) fn send_index(&self) -> u32 {
        match self.plan.vmac() {
            Some(vmac) if !vmac.xmit_base() => self.vip_index,
            _ => self.vrrp_index,
        }
    }

    /// The interface address `addr` goes on: its `dev`, else the VIP interface.
    pub(super) fn vip_index_of(&self, addr: IpAddr) -> u32 {
        link_of(&self.plan, addr, self.vip_index, |dev| {
            self.extra_links.get(dev).copied()
        })
    }

    /// The prefix length of VIP `addr`, as configured.
    pub(super) fn prefix_len(&self, addr: IpAddr) -> Option<u8> {
        self.plan.vip(addr).map(|v| v.prefix_len)
    }
}

/// The index of the interface address `addr` of `plan` goes on: its `dev`'s (`dev_index`
/// finds it by name), else the VIP interface's, `vip_index`.
pub(super) fn link_of(
    plan: &InstancePlan,
    addr: IpAddr,
    vip_index: u32,
    dev_index: impl Fn(&str) -> Option<u32>,
) -> u32 {
    plan.vip_dev(addr).and_then(dev_index).unwrap_or(vip_index)
}

/// The instances, by the engine's key.
pub(super) type Instances = BTreeMap<InstanceKey, Managed>;

/// VIPs to add, by VIP interface and lifetime, each with its prefix length and instance.
pub(super) type VipBatches = BTreeMap<(u32, VipLifetime), Vec<(IpAddr, u8, InstanceKey)>>;

/// What [`Executor::add_vips`] asks of netlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VipRequest {
    /// Add (or replace) each VIP, after reading the link's addresses: one that exists without
    /// vipd's mark is refused and left alone.
    Add,
    /// Renew each VIP's lifetime, checking ownership the same way.
    Renew,
    /// Renew VIPs known to be vipd's own, with no address dump: every address event has been
    /// read, and none reported these replaced by an address without the mark.
    RenewOwn,
}

/// What carries out the actions: netlink, the raw sockets, the announcers, the hooks.
pub(super) struct Executor {
    pub(super) netlink: Netlink,
    /// One raw socket per (VRRP interface, family).
    pub(super) sockets: BTreeMap<(u32, Family), Arc<VrrpSocket>>,
    /// One announcer per VIP interface.
    pub(super) announcers: BTreeMap<u32, Paced>,
    pub(super) notifier: Option<Notifier>,
}

fn net_lifetime(lifetime: VipLifetime) -> NetLifetime {
    match lifetime {
        VipLifetime::Forever => NetLifetime::Forever,
        VipLifetime::After(d) => {
            NetLifetime::Seconds(u32::try_from(d.0 / 1000).unwrap_or(u32::MAX))
        }
    }
}

fn report_hook(note: &Notification, argv: &[String], outcome: &Outcome) {
    let program = argv.first().map_or("", String::as_str);
    match outcome {
        Outcome::Exited(Some(0)) => debug!(instance = %note.instance, program, "notify hook done"),
        Outcome::Exited(code) => {
            warn!(instance = %note.instance, program, code = ?code, "notify hook failed");
        }
        Outcome::TimedOut => {
            warn!(instance = %note.instance, program, "notify hook timed out, killed")
        }
        Outcome::Failed(why) => {
            warn!(instance = %note.instance, program, error = %why, "notify hook")
        }
    }
}

impl Executor {
    pub(super) fn new(netlink: Netlink) -> Self {
        Self {
            netlink,
            sockets: BTreeMap::new(),
            announcers: BTreeMap::new(),
            notifier: Some(Notifier::spawn(report_hook)),
        }
    }

    /// Performs `actions` in order, leaving the vector empty (its allocation is reused), and
    /// returns whether a state changed.
    ///
    /// Everything before the first VIP removal is reordered in two ways, both safe because
    /// nothing there depends on another instance's removal:
    /// - its adverts leave first. A new Master's first advert (RFC 5798 sections 6.4.1 and
    ///   6.4.2: "Send an ADVERTISEMENT", then the gratuitous ARP) needs no VIP on the
    ///   interface (its source is the primary address), so it no longer waits for the
    ///   netlink round trips of the VIP additions: the Backups hear of the new Master that
    ///   much sooner. The gratuitous ARPs (`Announce`) still come after the additions: they
    ///   draw the LAN's traffic, which the address must be there to accept.
    /// - its VIP additions are done next, in one batch per interface (one address dump
    ///   instead of one per VIP): when many instances become Master at once, none waits for
    ///   the round trips of every instance before it.
    ///
    /// An addition after a removal waits for it, in order, and so does an advert.
    pub(super) async fn perform(
        &self,
        actions: &mut Vec<(InstanceKey, Action)>,
        instances: &mut Instances,
        router: &Router,
    ) -> bool {
        let hoisted = actions
            .iter()
            .position(|(_, a)| matches!(a, Action::RemoveVip(_)))
            .unwrap_or(actions.len());
        for (key, action) in &actions[..hoisted] {
            if let Action::SendAdvertisement(tx) = action {
                self.send_advert(*key, tx, instances).await;
            }
        }
        let first = additions(&actions[..hoisted], instances);
        if !first.is_empty() {
            self.add_vips(first, instances, VipRequest::Add).await;
        }
        let mut changed = false;
        for (i, (key, action)) in actions.drain(..).enumerate() {
            if !instances.contains_key(&key) {
                continue;
            }
            match action {
                Action::AddVip(_) | Action::SendAdvertisement(_) if i < hoisted => {}
                Action::AddVip(addr) => self.add_vip(key, addr, instances).await,
                Action::StateChanged { from, to, reason } => {
                    changed = true;
                    self.state_changed(key, from, to, reason, instances, router);
                }
                Action::RemoveVip(addr) => self.remove_vip(key, addr, instances).await,
                Action::SendAdvertisement(tx) => self.send_advert(key, &tx, instances).await,
                Action::Announce(addr) => self.announce(key, addr, instances),
                other => debug!(action = ?other, "action not handled"),
            }
        }
        changed
    }

    /// Sends advert `tx` of instance `key` on its socket (a failure is logged at debug level:
    /// the next advert follows within one interval).
    async fn send_advert(&self, key: InstanceKey, tx: &Transmit, instances: &Instances) {
        let Some(m) = instances.get(&key) else {
            return;
        };
        if let Some(socket) = self.sockets.get(&(m.send_index(), Family::of(&tx.dst)))
            && let Err(e) = socket.send(tx).await
        {
            debug!(instance = %m.plan.name, dst = %tx.dst, error = %e, "sending the advert failed");
        }
    }

    fn state_changed(
        &self,
        key: InstanceKey,
        from: State,
        to: State,
        reason: Reason,
        instances: &mut Instances,
        router: &Router,
    ) {
        let Some(m) = instances.get_mut(&key) else {
            return;
        };
        let name = m.plan.name.as_str();
        info!(instance = %name, from = %from, to = %to, reason = %reason, "state changed");
        match m
            .transitions
            .iter_mut()
            .find(|t| (t.0, t.1) == (to, reason))
        {
            Some(t) => t.2 += 1,
            None => m.transitions.push((to, reason, 1)),
        }
        let priority = router
            .instance(&key)
            .map_or(0, vrrp_core::Instance::effective_priority);
        if let Some(notifier) = &self.notifier {
            notifier.notify(
                &m.plan.notify,
                Notification {
                    instance: name.to_owned(),
                    state: to,
                    reason: reason.to_string(),
                    priority,
                    vips: m.plan.vips.iter().map(ToString::to_string).collect(),
                },
            );
        }
    }

    async fn remove_vip(&self, key: InstanceKey, addr: IpAddr, instances: &mut Instances) {
        let Some(m) = instances.get_mut(&key) else {
            return;
        };
        // The next failure to add it, as Master again, is news.
        m.refused.remove(&addr);
        // A VIP that left the configuration in a reload is known by what was added.
        let Some(prefix) = m.held.get(&addr).copied().or_else(|| m.prefix_len(addr)) else {
            debug!(instance = %m.plan.name, vip = %addr, "not holding the VIP to remove");
            return;
        };
        match self
            .netlink
            .remove_vip(m.vip_index_of(addr), addr, prefix)
            .await
        {
            Ok(()) => {
                info!(instance = %m.plan.name, vip = %addr, "VIP removed");
                m.held.remove(&addr);
            }
            Err(e) => {
                error!(instance = %m.plan.name, vip = %addr, error = %e, "removing the VIP failed");
                m.remove_failures += 1;
            }
        }
    }

    fn announce(&self, key: InstanceKey, addr: IpAddr, instances: &mut Instances) {
        let Some(m) = instances.get_mut(&key) else {
            return;
        };
        match self
            .announcers
            .get(&m.vip_index_of(addr))
            .map(|a| a.announce(addr))
        {
            Some(Ok(())) => m.announcements += 1,
            Some(Err(e)) => {
                warn!(instance = %m.plan.name, vip = %addr, error = %e, "announcement failed");
            }
            None => {}
        }
    }

    /// Adds VIP `addr` of instance `key` alone, through the same path as the batches.
    pub(super) async fn add_vip(&self, key: InstanceKey, addr: IpAddr, instances: &mut Instances) {
        let batch = additions(&[(key, Action::AddVip(addr))], instances);
        self.add_vips(batch, instances, VipRequest::Add).await;
    }

    /// Adds (or renews, as `request` says) VIPs grouped by interface and lifetime, one netlink
    /// batch each: records each VIP added as held, counts each failure, and logs each result
    /// (renewals only when they fail).
    pub(super) async fn add_vips(
        &self,
        batches: VipBatches,
        instances: &mut Instances,
        request: VipRequest,
    ) {
        let renewing = request != VipRequest::Add;
        for ((index, lifetime), batch) in batches {
            let vips: Vec<NewVip<'_>> = batch
                .iter()
                .map(|(addr, prefix_len, key)| NewVip {
                    addr: *addr,
                    prefix_len: *prefix_len,
                    label: instances.get(key).and_then(|m| m.plan.vip_label(*addr)),
                })
                .collect();
            let lifetime = net_lifetime(lifetime);
            let results = if request == VipRequest::RenewOwn {
                self.netlink.renew_vips(index, &vips, lifetime).await
            } else {
                self.netlink.add_vips(index, &vips, lifetime).await
            };
            drop(vips);
            for ((addr, prefix, key), result) in batch.iter().zip(results) {
                let Some(m) = instances.get_mut(key) else {
                    continue;
                };
                let name = m.plan.name.as_str();
                match result {
                    Ok(()) => {
                        let recovered = m.refused.remove(addr);
                        if !renewing {
                            info!(instance = %name, vip = %addr, lifetime = %lifetime, "VIP added");
                        } else if recovered {
                            info!(instance = %name, vip = %addr, lifetime = %lifetime, "VIP held again: its renewal succeeds after failing");
                        }
                        m.held.insert(*addr, *prefix);
                    }
                    Err(e) => {
                        let what = if renewing { "renewing" } else { "adding" };
                        // Retried at every renewal (which adds it back once it is free), and
                        // said once.
                        if m.refused.insert(*addr) {
                            error!(instance = %name, vip = %addr, error = %e, "{what} the VIP failed; retried at each renewal, logged at debug level until it succeeds");
                        } else {
                            debug!(instance = %name, vip = %addr, error = %e, "{what} the VIP failed again");
                        }
                        m.add_failures += 1;
                    }
                }
            }
        }
    }
}

/// The [`Action::AddVip`]s among `actions`, batched by VIP interface and lifetime.
fn additions(actions: &[(InstanceKey, Action)], instances: &Instances) -> VipBatches {
    let mut batches = VipBatches::new();
    for (key, action) in actions {
        let (Action::AddVip(addr), Some(m)) = (action, instances.get(key)) else {
            continue;
        };
        let Some(prefix) = m.prefix_len(*addr) else {
            error!(instance = %m.plan.name, vip = %addr, "the engine added an address it was not configured with");
            continue;
        };
        batches
            .entry((m.vip_index_of(*addr), m.plan.vip_lifetime))
            .or_default()
            .push((*addr, prefix, *key));
    }
    batches
}

#[cfg(test)]
#[path = "../../../vrrp-net/tests/common/mod.rs"]
mod common;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use vrrp_core::Vrid;

    /// Every VIP the executor adds is recorded as held, and every failed addition counted,
    /// whether the addition is hoisted to the front of the drain or follows a removal.
    #[test]
    fn every_addition_is_recorded_wherever_it_is_in_the_drain() {
        let ns = common::Netns::new();
        let name = ns.name.clone();
        let (held, failures) = std::thread::spawn(move || {
            vrrp_net::netns::enter(&name).expect("enter the namespace");
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(drain_on_loopback())
        })
        .join()
        .expect("the test thread");
        // A: added then removed; B: added after A's removal; C: on a missing interface.
        assert_eq!(held, [0, 1, 0], "VIPs recorded as held, per instance");
        assert_eq!(failures, [0, 0, 1], "failed additions, per instance");
        let addrs = String::from_utf8_lossy(&ns.ip(&["-4", "addr", "show", "dev", "lo"]).stdout)
            .into_owned();
        assert!(addrs.contains("10.200.9.2/32"), "{addrs}");
        assert!(!addrs.contains("10.200.9.1/32"), "{addrs}");
    }

    async fn drain_on_loopback() -> ([u64; 3], [u64; 3]) {
        let plan = Config::from_yaml(
            "instances:\n- {interface: lo, vrid: 1, vips: [10.200.9.1/32]}\n\
             - {interface: lo, vrid: 2, vips: [10.200.9.2/32]}\n\
             - {interface: lo, vrid: 3, vips: [10.200.9.3/32]}\n",
        )
        .and_then(|c| c.validate())
        .expect("a valid plan");
        let netlink = Netlink::new(vrrp_net::netlink::AddressMark::Protocol(
            vrrp_net::netlink::VIPD_ADDRESS_PROTOCOL,
        ))
        .expect("netlink");
        let lo = netlink.link_by_name("lo").await.expect("lo").index;
        let mut instances = Instances::new();
        let mut keys = Vec::new();
        for (i, p) in plan.instances().iter().enumerate() {
            let key = InstanceKey {
                interface: lo,
                vrid: p.engine().vrid,
                family: Family::Ipv4,
            };
            // The third instance's VIP interface does not exist: its addition fails.
            let vip_index = if i == 2 { 999_999 } else { lo };
            instances.insert(key, Managed::new(p.clone(), lo, vip_index));
            keys.push(key);
        }
        assert_eq!(keys[1].vrid, Vrid::new(2).expect("VRID 2"));
        let vip = |n: u8| IpAddr::from([10, 200, 9, n]);
        let mut actions = vec![
            (keys[0], Action::AddVip(vip(1))),
            (keys[0], Action::RemoveVip(vip(1))),
            (keys[1], Action::AddVip(vip(2))),
            (keys[2], Action::AddVip(vip(3))),
        ];
        let executor = Executor::new(netlink);
        executor
            .perform(&mut actions, &mut instances, &Router::new())
            .await;
        let per = |f: &dyn Fn(&Managed) -> u64| -> [u64; 3] {
            let mut out = [0; 3];
            for (slot, key) in out.iter_mut().zip(&keys) {
                *slot = instances.get(key).map_or(0, f);
            }
            out
        };
        let held = per(&|m| m.held.len() as u64);
        let failures = per(&|m| m.add_failures);
        (held, failures)
    }
}
