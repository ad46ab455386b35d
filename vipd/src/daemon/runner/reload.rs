//! Reload: applying a new configuration to the running instances.

use std::collections::BTreeMap;
use std::time::Instant;

use tracing::{error, info};
use vrrp_core::InstanceKey;

use super::{Resolved, Runner};
use crate::config::{InstancePlan, Plan};

impl Runner {
    /// Applies a new configuration. Unchanged instances keep their state and VIPs. A change
    /// the engine can take in place ([`Router::reconfigure`](vrrp_core::Router::reconfigure):
    /// priority, preemption, peers, unicast or multicast, interval, announcements, checks,
    /// hooks, lifetime, VIPs added or removed) is applied without a transition, a priority-0
    /// advert or a VIP removal (but of VIPs that left the list). Any other change (the VRRP
    /// version, the VIP interface, a VIP's prefix length) restarts that instance; removed
    /// instances release their VIPs; added ones start. If an interface of the new
    /// configuration is missing, or a VIP is taken, nothing changes.
    pub(super) async fn reload(&mut self, plan: Plan) {
        let mut resolved = Vec::new();
        for p in plan.instances() {
            match self.resolve(p).await {
                Ok(r) => resolved.push(r),
                Err(e) => {
                    error!(error = %e, "reload refused; the running configuration is kept");
                    return;
                }
            }
        }
        for r in &resolved {
            if let Err(e) = self.check_vips_free(r).await {
                error!(error = %e, "reload refused; the running configuration is kept");
                return;
            }
        }
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
        for key in current {
            let Some(new) = wanted.get(&key) else {
                self.retire(now, &key).await;
                count.removed += 1;
                continue;
            };
            let Some(old) = self.instances.get_mut(&key) else {
                continue;
            };
            if old.plan == new.plan && old.vip_index == new.vip.index {
                count.kept += 1;
                wanted.remove(&key);
                continue;
            }
            let reconfigured = if updatable(&old.plan, old.vip_index, &new.plan, new.vip.index) {
                self.router
                    .reconfigure(&key, now, new.plan.engine.clone())
                    .map_err(|e| e.to_string())
            } else {
                Err("the VIP interface or a VIP's prefix length changed".to_owned())
            };
            match reconfigured {
                Ok(()) => {
                    if let Some(new) = wanted.remove(&key) {
                        old.plan = new.plan;
                    }
                    count.updated += 1;
                }
                Err(why) => {
                    info!(instance = %new.plan.name, why, "restarting the instance to apply the change");
                    self.retire(now, &key).await;
                    count.restarted += 1;
                }
            }
        }
        for (_, r) in wanted {
            let name = r.plan.name.clone();
            match self.install(r).await {
                Ok(key) => {
                    if let Some(instance) = self.router.instance_mut(&key) {
                        instance.handle_startup(now);
                    }
                    count.added += 1;
                }
                Err(e) => error!(instance = %name, error = %e, "instance not started"),
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
            "configuration reloaded"
        );
        self.publish();
    }

    /// Stops instance `key` (RFC shutdown: priority 0, VIPs released) and forgets it.
    async fn retire(&mut self, now: Instant, key: &InstanceKey) {
        if let Some(instance) = self.router.instance_mut(key) {
            instance.handle_shutdown(now);
        }
        self.perform_actions().await;
        self.router.remove_instance(key);
        if let Some(m) = self.instances.remove(key) {
            super::super::vmac::release(&mut self.executor, &m).await;
        }
    }
}

/// What a reload did, for its log line.
#[derive(Debug, Default)]
struct Counts {
    kept: u32,
    updated: u32,
    restarted: u32,
    removed: u32,
    added: u32,
}

/// Whether the change from `old` to `new` can be applied to the running instance: the VIPs
/// stay on the same interface, and a VIP kept keeps its prefix length (the engine knows
/// addresses, not prefixes).
fn updatable(old: &InstancePlan, old_vip: u32, new: &InstancePlan, new_vip: u32) -> bool {
    old_vip == new_vip
        && new
            .vips
            .iter()
            .all(|v| old.vip(v.addr).is_none_or(|o| o.prefix_len == v.prefix_len))
}
