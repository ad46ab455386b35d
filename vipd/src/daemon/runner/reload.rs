//! Reload: applying a new configuration to the running instances.

use std::collections::BTreeMap;
use std::time::Instant;

use tracing::{error, info};
use vrrp_core::InstanceKey;

use super::{Resolved, Runner};
use crate::config::{InstancePlan, Plan};

impl Runner {
    /// Applies a new configuration. Unchanged instances keep their state and VIPs; a change
    /// of priority (or of name or notify hooks only) is applied in place, with no transition;
    /// any other change restarts that instance; removed instances release their VIPs; added
    /// ones start. If an interface of the new configuration is missing, nothing changes.
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
        let (mut kept, mut updated, mut restarted, mut removed, mut added) = (0, 0, 0, 0, 0);
        // Removed, or changed beyond what can be updated in place: release first.
        let current: Vec<InstanceKey> = self.instances.keys().copied().collect();
        for key in current {
            let in_place = match (wanted.get(&key), self.instances.get(&key)) {
                (Some(new), Some(old)) => {
                    same_but_priority(&old.plan, &new.plan, new.vip.index, old.vip_index)
                }
                _ => false,
            };
            if in_place {
                continue;
            }
            if let Some(instance) = self.router.instance_mut(&key) {
                instance.handle_shutdown(now);
            }
            self.perform_actions().await;
            self.router.remove_instance(&key);
            if self.instances.remove(&key).is_some() {
                if wanted.contains_key(&key) {
                    restarted += 1
                } else {
                    removed += 1
                }
            }
        }
        for (key, r) in wanted {
            if let Some(m) = self.instances.get_mut(&key) {
                if m.plan == r.plan {
                    kept += 1;
                    continue;
                }
                updated += 1;
                if m.plan.engine.priority != r.plan.engine.priority
                    && let Some(instance) = self.router.instance_mut(&key)
                    && let Err(e) = instance.set_priority(now, r.plan.engine.priority)
                {
                    error!(instance = %r.plan.name, error = %e, "priority not changed");
                }
                m.plan = r.plan;
                continue;
            }
            let name = r.plan.name.clone();
            match self.install(r).await {
                Ok(key) => {
                    if let Some(instance) = self.router.instance_mut(&key) {
                        instance.handle_startup(now);
                    }
                    added += 1;
                }
                Err(e) => error!(instance = %name, error = %e, "instance not started"),
            }
        }
        // Instances that were restarted count once, as restarted, not also as added.
        added -= restarted.min(added);
        self.update_memberships();
        self.health.restart(&self.instances);
        self.health.sync(now, &mut self.router, &self.instances);
        info!(
            kept,
            updated, restarted, removed, added, "configuration reloaded"
        );
        self.publish();
    }
}

/// Whether `new` differs from `old` at most in priority, name and notify hooks, which can be
/// applied to a running instance without a transition.
fn same_but_priority(old: &InstancePlan, new: &InstancePlan, new_vip: u32, old_vip: u32) -> bool {
    let mut a = old.engine.clone();
    a.priority = new.engine.priority;
    a == new.engine
        && old.vips == new.vips
        && old.vip_lifetime == new.vip_lifetime
        && old.interface == new.interface
        && new_vip == old_vip
}
