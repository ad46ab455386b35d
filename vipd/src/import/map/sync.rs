//! `vrrp_sync_group` blocks, and the virtual MAC interface names of the imported instances.

use std::collections::BTreeMap;

use super::checks::{ScriptDef, TrackFileDef, tracking};
use super::instance::{Draft, notify};
use super::{Ctx, Mapped, MappedGroup, MappedInstance, Severity, source};
use crate::config::{SyncGroupSpec, UseVmac};
use crate::import::parser::Node;
use crate::import::unsupported::INSTANCE_UNSUPPORTED;

/// Two instances cannot share a virtual MAC interface: the second one gets a name of its own.
pub(super) fn unique_vmac_names(cx: &mut Ctx<'_>, instances: &mut [MappedInstance]) {
    let mut taken: Vec<String> = Vec::new();
    for inst in instances {
        let spec = &mut inst.spec;
        let name = match &spec.use_vmac {
            Some(UseVmac::Named(name)) => name.clone(),
            Some(UseVmac::Enabled(true)) => format!("vrrp.{}", spec.vrid),
            _ => continue,
        };
        if !taken.contains(&name) {
            taken.push(name);
            continue;
        }
        let mut k = 2;
        let renamed = loop {
            // An interface name has at most 15 bytes.
            let suffix = format!(".{k}");
            let stem: String = name.chars().take(15 - suffix.len()).collect();
            let candidate = format!("{stem}{suffix}");
            if !taken.contains(&candidate) {
                break candidate;
            }
            k += 1;
        };
        cx.push_at(
            &inst.loc,
            "use_vmac",
            Severity::Unsupported,
            format!(
                "virtual MAC interface {name} is also an earlier instance's: one interface \
                 cannot serve two instances; imported as {renamed}"
            ),
        );
        spec.use_vmac = Some(UseVmac::Named(renamed.clone()));
        taken.push(renamed);
    }
}

/// A `vrrp_sync_group`: its members among the imported instances (each in one group at
/// most, as keepalived has it), its hooks and its tracking.
pub(super) fn sync_group(
    cx: &mut Ctx<'_>,
    node: &Node,
    out: &Mapped,
    scripts: &mut BTreeMap<String, ScriptDef>,
    files: &mut BTreeMap<String, TrackFileDef>,
) -> Option<MappedGroup> {
    let name = cx.arg(node, 0)?.to_owned();
    let mut d = Draft::default();
    let mut members: Vec<String> = Vec::new();
    let mut tracking_weight = false;
    for n in node.children() {
        match n.key.as_str() {
            "group" => {
                for m in n.children() {
                    group_member(cx, m, &name, out, &mut members);
                }
            }
            "track_interface" | "track_script" | "track_file" => {
                tracking(cx, n, scripts, files, &mut d.checks);
            }
            "notify" => notify(cx, n, &mut d, |s| &mut s.command),
            "notify_master" => notify(cx, n, &mut d, |s| &mut s.master),
            "notify_backup" => notify(cx, n, &mut d, |s| &mut s.backup),
            "notify_fault" => notify(cx, n, &mut d, |s| &mut s.fault),
            "notify_stop" => notify(cx, n, &mut d, |s| &mut s.stop),
            "sync_group_tracking_weight" => {
                tracking_weight = true;
                d.sources.insert("tracking_weight", source(n));
            }
            "global_tracking" => {
                tracking_weight = true;
                d.sources.insert("tracking_weight", source(n));
                cx.push(
                    n,
                    Severity::Note,
                    "keepalived reads the deprecated global_tracking as \
                     sync_group_tracking_weight: imported as tracking_weight: true",
                );
            }
            key if n.args.is_empty()
                && n.block.is_none()
                && out
                    .instances
                    .iter()
                    .any(|i| i.spec.name.as_deref() == Some(key)) =>
            {
                cx.push(
                    n,
                    Severity::Unsupported,
                    format!(
                        "instance {key} named outside a `group {{ }}` block (the old form): \
                         keepalived 2.2.7 reads it as an unknown keyword, and the import does \
                         not make it a member either; list the members in `group {{ }}`"
                    ),
                );
            }
            _ => cx.unsupported(
                n,
                INSTANCE_UNSUPPORTED,
                "not a vrrp_sync_group setting vipd import knows",
            ),
        }
    }
    if members.is_empty() {
        cx.push(
            node,
            Severity::Unsupported,
            format!("sync group {name} has no imported member: not imported"),
        );
        return None;
    }
    if members.len() == 1 {
        cx.push(
            node,
            Severity::Warning,
            format!(
                "sync group {name} has one member: keepalived warns that this is probably not \
                 what you want; imported as it is"
            ),
        );
    }
    // The group's checks are every member's too: a name a member's own check has is renamed.
    for (c, s) in &mut d.checks {
        let wanted = c.name.clone().unwrap_or_default();
        let clash = out
            .instances
            .iter()
            .filter(|i| i.spec.name.as_ref().is_some_and(|n| members.contains(n)))
            .any(|i| i.spec.checks.iter().any(|m| m.name == c.name));
        if clash {
            let renamed = format!("{name}-{wanted}");
            s.push_str(&format!(
                "; renamed {renamed:?}: a member tracks {wanted:?} itself"
            ));
            c.name = Some(renamed);
        }
    }
    let mut spec = SyncGroupSpec {
        name,
        instances: members,
        notify: d.notify,
        checks: Vec::new(),
        tracking_weight,
    };
    let mut check_sources = Vec::new();
    for (c, s) in d.checks {
        spec.checks.push(c);
        check_sources.push(s);
    }
    Some(MappedGroup {
        spec,
        loc: node.loc.clone(),
        sources: d.sources,
        check_sources,
    })
}

/// One name of a sync group's `group` block: an imported instance not yet in a group.
fn group_member(cx: &mut Ctx<'_>, m: &Node, group: &str, out: &Mapped, members: &mut Vec<String>) {
    let name = &m.key;
    let imported = out
        .instances
        .iter()
        .any(|i| i.spec.name.as_deref() == Some(name.as_str()));
    let other = out
        .sync_groups
        .iter()
        .find(|g| g.spec.instances.contains(name));
    let problem = if !imported {
        Some(format!(
            "{name} is not an imported vrrp_instance (undefined, or not imported: see its \
             findings): left out of sync group {group}"
        ))
    } else if let Some(g) = other {
        Some(format!(
            "{name} is already in sync group {}: an instance is in one group at most \
             (keepalived ignores it here too)",
            g.spec.name
        ))
    } else if members.contains(name) {
        Some(format!("{name} is listed twice in sync group {group}"))
    } else {
        None
    };
    match problem {
        Some(text) => cx.push(m, Severity::Unsupported, text),
        None => members.push(name.clone()),
    }
}
