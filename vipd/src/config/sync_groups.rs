//! Validation of `sync_groups` (keepalived's `vrrp_sync_group`): members that exist and are
//! in one group at most, the group's hooks, and its checks, which become every member's.

use std::collections::BTreeMap;

use vip_health::{CheckEffect, CheckKind, FieldError};

use super::plan::track_of;
use super::validate::{Errors, check_notify, checks_of};
use super::{InstancePlan, SyncGroupPlan, SyncGroupSpec};

/// Checks every group, pushing each problem to `errors`, and adds each group's checks to its
/// members (with weights counted as 0 unless `tracking_weight`). `all_valid`: every instance
/// validated, so that a name no instance has is an error (otherwise it may be the name of an
/// instance whose own errors are reported already).
pub(super) fn validate(
    specs: &[SyncGroupSpec],
    instances: &mut [InstancePlan],
    all_valid: bool,
    errors: &mut Vec<FieldError>,
) -> Vec<SyncGroupPlan> {
    let mut plans = Vec::new();
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    // Each instance name taken, with its group and position.
    let mut taken: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (i, spec) in specs.iter().enumerate() {
        let mut e = Errors {
            prefix: format!("sync_groups[{i}]"),
            list: errors,
        };
        let before = e.count();
        if spec.name.trim().is_empty() {
            e.push("name", "is empty: give the group a name, e.g. G1");
        } else if let Some(first) = names.insert(&spec.name, i) {
            e.push(
                "name",
                format!(
                    "{:?} is also the name of sync_groups[{first}]: group names must be unique",
                    spec.name
                ),
            );
        }
        if spec.instances.is_empty() {
            e.push(
                "instances",
                "no member: list the `name`s of the instances that change state together",
            );
        }
        let mut members = Vec::new();
        for (j, member) in spec.instances.iter().enumerate() {
            let field = format!("instances[{j}]");
            if let Some((g, k)) = taken.get(member.as_str()).copied() {
                e.push(
                    &field,
                    format!(
                        "instance {member:?} is also in sync_groups[{g}].instances[{k}]: an \
                         instance belongs to one sync group at most"
                    ),
                );
                continue;
            }
            taken.insert(member, (i, j));
            match instances.iter().position(|p| &p.name == member) {
                Some(index) => members.push(index),
                None if all_valid => e.push(
                    &field,
                    format!(
                        "no instance is named {member:?}: use an instance's `name` (without \
                         one, an instance is named <interface>-<vrid>-<ipv4|ipv6>); known: {}",
                        instances
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                None => {}
            }
        }
        check_notify(&mut e, &spec.notify);
        let checks = checks_of(&mut e, &spec.checks);
        for (k, check) in checks.iter().enumerate() {
            for &index in &members {
                let member = &instances[index];
                if member.checks.iter().any(|c| c.name == check.name) {
                    e.push(
                        &format!("checks[{k}].name"),
                        format!(
                            "{:?} is also a check of member {:?}: rename one of them",
                            check.name, member.name
                        ),
                    );
                }
            }
        }
        if e.count() > before {
            continue;
        }
        for &index in &members {
            let member = &mut instances[index];
            member.checks.extend(checks.iter().cloned());
            if !spec.tracking_weight {
                for check in &mut member.checks {
                    ignore_weight(check);
                }
            }
            member.engine.tracks = member.checks.iter().map(track_of).collect();
        }
        plans.push(SyncGroupPlan {
            name: spec.name.clone(),
            members: members.iter().map(|&i| instances[i].name.clone()).collect(),
            notify: spec.notify.clone(),
        });
    }
    plans
}

/// keepalived without `sync_group_tracking_weight`: a weighted check of a member counts as
/// weight 0 (Fault while down). A `file` check's weight comes from the file at each reading
/// and is kept.
fn ignore_weight(check: &mut vip_health::CheckConfig) {
    if !matches!(check.kind, CheckKind::File(_)) {
        check.effect = CheckEffect::Fault;
    }
}
