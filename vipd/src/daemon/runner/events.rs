//! Link and address changes from netlink: link state, primary addresses, and VIPs that
//! vanish under a Master.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

use tracing::{error, info, warn};
use vrrp_core::{Family, InstanceKey, State};
use vrrp_net::netlink::NetEvent;

use super::Runner;

impl Runner {
    pub(super) async fn net_event(&mut self, event: NetEvent) {
        let now = Instant::now();
        match event {
            NetEvent::Link { index, up } => {
                if self.links.get(&index) == Some(&up) || !self.links.contains_key(&index) {
                    return;
                }
                self.links.insert(index, up);
                info!(ifindex = index, up, "link changed");
                let keys: Vec<InstanceKey> = self
                    .instances
                    .iter()
                    .filter(|(_, m)| {
                        m.vrrp_index == index
                            || m.vip_index == index
                            || m.extra_links.values().any(|i| *i == index)
                    })
                    .map(|(k, _)| *k)
                    .collect();
                for key in keys {
                    let Some(m) = self.instances.get(&key) else {
                        continue;
                    };
                    let usable = self.links_usable(m);
                    if let Some(instance) = self.router.instance_mut(&key) {
                        instance.set_link_up(now, usable);
                    }
                }
            }
            // Renewing N VIPs produces N events; re-reading the addresses for each, for every
            // instance, was quadratic (and starved the event loop at 255 instances).
            NetEvent::AddressAdded { index, addr, .. }
            | NetEvent::AddressRemoved { index, addr, .. }
                if !self.is_own_vip(index, addr) =>
            {
                self.refresh_primaries(now, Some(index)).await;
            }
            NetEvent::AddressRemoved {
                index,
                addr,
                prefix_len,
            } if !self.stopping => {
                self.vip_vanished(now, index, addr, prefix_len).await;
            }
            NetEvent::AddressAdded {
                index,
                addr,
                prefix_len,
                ours: false,
            } => self.vip_taken(index, addr, prefix_len),
            NetEvent::Overrun => {
                warn!("netlink events were lost; re-reading addresses");
                self.ownership_known = false;
                self.refresh_primaries(now, None).await;
            }
            _ => {}
        }
    }

    /// A VIP this node holds disappeared without vipd removing it (by hand, by another
    /// program, or expired after failed renewals): a Master adds it back at once and announces
    /// it, since the LAN may have learnt another MAC meanwhile. The same address with another
    /// prefix length (the old one, removed after a restart that changed the prefix) is not it.
    async fn vip_vanished(&mut self, now: Instant, index: u32, addr: IpAddr, prefix_len: u8) {
        let Some((key, m)) = self
            .instances
            .iter_mut()
            .find(|(_, m)| m.vip_index_of(addr) == index && m.held.get(&addr) == Some(&prefix_len))
        else {
            return;
        };
        let key = *key;
        m.held.remove(&addr);
        let master = self
            .router
            .instance(&key)
            .is_some_and(|i| i.state() == State::Master && !i.is_releasing());
        // A VIP that left the configuration in a reload is not added back.
        if !master || m.plan.vip(addr).is_none() {
            return;
        }
        warn!(instance = %m.plan.name, vip = %addr, "a VIP held as Master disappeared; adding it back and announcing it");
        self.executor.add_vip(key, addr, &mut self.instances).await;
        if let Some(instance) = self.router.instance_mut(&key) {
            instance.reannounce(now);
        }
    }

    /// A VIP this node holds was replaced by an address without vipd's mark (`ip addr
    /// replace` by hand, or another program): it is no longer vipd's, so it is neither renewed
    /// nor removed, and the instance reports it as not held.
    fn vip_taken(&mut self, index: u32, addr: IpAddr, prefix_len: u8) {
        let Some(m) = self
            .instances
            .values_mut()
            .find(|m| m.vip_index_of(addr) == index && m.held.get(&addr) == Some(&prefix_len))
        else {
            return;
        };
        m.held.remove(&addr);
        m.add_failures += 1;
        // The renewals that now fail on it are not news.
        m.refused.insert(addr);
        error!(instance = %m.plan.name, vip = %addr, "a VIP this node held was replaced by an address without vipd's mark (by hand or by another program); vipd leaves it alone and no longer renews or removes it");
    }

    /// Re-reads the primary address of the instances on `index` (all if `None`): one address
    /// dump per interface and family, shared by the instances on it.
    async fn refresh_primaries(&mut self, now: Instant, index: Option<u32>) {
        let mut links: BTreeMap<(u32, Family), Vec<InstanceKey>> = BTreeMap::new();
        for (key, m) in &self.instances {
            if index.is_none_or(|i| i == m.vrrp_index) {
                links
                    .entry((m.vrrp_index, m.plan.engine.family()))
                    .or_default()
                    .push(*key);
            }
        }
        for ((ifindex, family), keys) in links {
            let primary = match self.executor.netlink.primary_address(ifindex, family).await {
                Ok(primary) => primary,
                Err(e) => {
                    warn!(ifindex, error = %e, "reading the primary address failed");
                    continue;
                }
            };
            let changed: Vec<InstanceKey> = keys
                .into_iter()
                .filter(|key| {
                    self.router
                        .instance(key)
                        .is_some_and(|i| i.primary_address() != primary)
                })
                .collect();
            if !changed.is_empty() {
                info!(ifindex, primary = ?primary, "primary address changed");
            }
            for key in changed {
                self.set_primary(now, key, primary).await;
            }
        }
    }
}
