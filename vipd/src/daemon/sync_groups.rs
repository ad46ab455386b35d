//! Sync groups in the daemon: the configured groups handed to the engine's [`Router`] (which
//! applies keepalived's rules, see `vrrp_core`'s `sync_group` module), and their state changes
//! logged and turned into the groups' notify hooks.

use std::time::Instant;

use tracing::{info, warn};
use vrrp_core::{GroupEvent, InstanceKey, Router, SyncGroupConfig};

use super::executor::{Executor, Instances};
use crate::config::SyncGroupPlan;
use crate::notify::Notification;

/// The running sync groups.
#[derive(Debug, Default)]
pub(super) struct SyncGroups {
    plans: Vec<SyncGroupPlan>,
}

impl SyncGroups {
    /// Hands `plans` to the router, members resolved from their names among `instances`
    /// (at start-up, and after each reload, when the instances are in place). A member that
    /// is not running (it failed to start in a reload) is left out, with a warning.
    pub(super) fn configure(
        &mut self,
        now: Instant,
        plans: &[SyncGroupPlan],
        router: &mut Router,
        instances: &Instances,
    ) {
        let mut configs = Vec::new();
        for plan in plans {
            let mut members = Vec::new();
            for name in plan.members() {
                match key_of(instances, name) {
                    Some(key) => members.push(key),
                    None => {
                        warn!(group = plan.name(), instance = %name, "sync group member not running, left out");
                    }
                }
            }
            if !members.is_empty() {
                configs.push(SyncGroupConfig {
                    name: plan.name().to_owned(),
                    members,
                });
            }
        }
        match router.set_sync_groups(now, configs) {
            Ok(()) => self.plans = plans.to_vec(),
            // Validation rules out every cause; keep the groups in force if it happens.
            Err(e) => warn!(error = %e, "sync groups not applied"),
        }
    }

    /// Logs each change of a group's state and runs the group's hooks.
    pub(super) fn report(
        &self,
        events: Vec<GroupEvent>,
        executor: &Executor,
        router: &Router,
        instances: &Instances,
    ) {
        for event in events {
            info!(group = %event.group, from = %event.from, to = %event.to, "sync group state changed");
            let (Some(plan), Some(notifier)) = (
                self.plans.iter().find(|p| p.name() == event.group),
                executor.notifier.as_ref(),
            ) else {
                continue;
            };
            let vips = instances
                .iter()
                .filter(|(key, _)| router.sync_group_of(key) == Some(event.group.as_str()))
                .flat_map(|(_, m)| m.plan.vips().iter().map(ToString::to_string))
                .collect();
            notifier.notify_group(
                plan.notify(),
                Notification {
                    instance: event.group,
                    state: event.to,
                    reason: "sync group".to_owned(),
                    priority: 0,
                    vips,
                },
            );
        }
    }
}

/// The key of the instance named `name`.
fn key_of(instances: &Instances, name: &str) -> Option<InstanceKey> {
    instances
        .iter()
        .find(|(_, m)| m.plan.name() == name)
        .map(|(key, _)| *key)
}
