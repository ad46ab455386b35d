//! The imported configuration as commented YAML: every instance, check and hook names the
//! keepalived lines it came from, and the header lists every finding.
//!
//! Strings are written as JSON strings (valid YAML double-quoted scalars), so no value can
//! break the document; tests parse the text back and compare it with the configuration.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use vip_health::CheckSpec;

use super::Finding;
use super::map::{Mapped, MappedGroup, MappedInstance};
use crate::config::{GarpSpec, InstanceSpec, SyncGroupSpec, UseVmac};
use crate::duration::VipLifetime;
use crate::notify::NotifySpec;

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", inner.join(", "))
}

/// Writes `mapped` with a header of `findings`.
pub(crate) fn write(
    mapped: &Mapped,
    findings: &[Finding],
    files: &[String],
    config_id: &str,
) -> String {
    let mut out = String::new();
    let main = files.first().map_or("keepalived.conf", String::as_str);
    let _ = writeln!(
        out,
        "# vipd configuration imported from {main} by `vipd import`."
    );
    if files.len() > 1 {
        let _ = writeln!(out, "# Files read: {}.", files.join(", "));
    }
    let _ = writeln!(
        out,
        "# keepalived configuration id (for @id lines): {}",
        q(config_id)
    );
    if let Some((id, loc)) = &mapped.router_id {
        let _ = writeln!(
            out,
            "# keepalived router_id {id} ({loc}): vipd has no router id."
        );
    }
    if !findings.is_empty() {
        let _ = writeln!(
            out,
            "#\n# What the import has to say (file:line: severity: directive: what):"
        );
        for f in findings {
            let _ = writeln!(out, "#   {f}");
        }
    }
    // keepalived without enable_script_security still gets vipd's check (the default);
    // written out so that the choice is visible.
    let _ = writeln!(
        out,
        "\n# Refuse hooks and exec checks that a user other than root could replace{}.",
        if mapped.script_security_in_file {
            " (keepalived's enable_script_security)"
        } else {
            " (vipd's default; keepalived's enable_script_security was not set)"
        }
    );
    let _ = writeln!(out, "script_security: true");
    if mapped.instances.is_empty() {
        let _ = writeln!(out, "instances: []");
        return out;
    }
    let _ = writeln!(out, "instances:");
    for inst in &mapped.instances {
        instance(&mut out, inst);
    }
    if !mapped.sync_groups.is_empty() {
        let _ = writeln!(out, "sync_groups:");
        for group in &mapped.sync_groups {
            sync_group(&mut out, group);
        }
    }
    out
}

fn sync_group(out: &mut String, group: &MappedGroup) {
    let s: &SyncGroupSpec = &group.spec;
    let _ = writeln!(out, "  # vrrp_sync_group {} at {}", s.name, group.loc);
    let _ = writeln!(out, "  - name: {}", q(&s.name));
    let i = "    ";
    field(out, i, "instances", &list(&s.instances), None);
    if s.tracking_weight {
        field(
            out,
            i,
            "tracking_weight",
            "true",
            group.sources.get("tracking_weight"),
        );
    }
    notify(out, &s.notify, &group.sources);
    checks(out, &s.checks, &group.check_sources);
}

fn field(out: &mut String, indent: &str, key: &str, value: &str, source: Option<&String>) {
    match source {
        Some(s) => {
            let _ = writeln!(out, "{indent}{key}: {value}  # {s}");
        }
        None => {
            let _ = writeln!(out, "{indent}{key}: {value}");
        }
    }
}

fn instance(out: &mut String, inst: &MappedInstance) {
    let s: &InstanceSpec = &inst.spec;
    let name = s.name.as_deref().unwrap_or_default();
    let _ = writeln!(out, "  # vrrp_instance {name} at {}", inst.loc);
    let _ = writeln!(out, "  - name: {}", q(name));
    let i = "    ";
    let src = |k: &str| inst.sources.get(k);
    field(out, i, "interface", &q(&s.interface), None);
    if let Some(v) = &s.vip_interface {
        field(out, i, "vip_interface", &q(v), None);
    }
    match &s.use_vmac {
        Some(UseVmac::Enabled(on)) => {
            field(out, i, "use_vmac", &on.to_string(), src("use_vmac"));
        }
        Some(UseVmac::Named(name)) => field(out, i, "use_vmac", &q(name), src("use_vmac")),
        None => {}
    }
    if s.vmac_xmit_base {
        field(out, i, "vmac_xmit_base", "true", src("vmac_xmit_base"));
    }
    field(out, i, "vrid", &s.vrid.to_string(), None);
    field(out, i, "version", &s.version.to_string(), None);
    field(out, i, "priority", &s.priority.to_string(), None);
    field(
        out,
        i,
        "advert_interval",
        &s.advert_interval.to_string(),
        None,
    );
    field(out, i, "preempt", &s.preempt.to_string(), src("preempt"));
    if s.preempt_delay.0 != 0 {
        field(out, i, "preempt_delay", &s.preempt_delay.to_string(), None);
    }
    if let Some(p) = &s.password {
        field(out, i, "password", &q(&p.0), src("password"));
    }
    field(out, i, "vips", &list(&s.vips), None);
    if !s.vips_excluded.is_empty() {
        field(out, i, "vips_excluded", &list(&s.vips_excluded), None);
    }
    if !s.unicast_peers.is_empty() {
        field(out, i, "unicast_peers", &list(&s.unicast_peers), None);
    }
    if let Some(src_ip) = &s.unicast_src_ip {
        field(out, i, "unicast_src_ip", &q(src_ip), None);
    }
    if s.unicast_min_hop_limit != 255 {
        let why = "keepalived 2.2.7 sends IPv6 unicast adverts with hop limit 64".to_owned();
        field(
            out,
            i,
            "unicast_min_hop_limit",
            &s.unicast_min_hop_limit.to_string(),
            Some(&why),
        );
    }
    if s.garp != GarpSpec::default() {
        let g = &s.garp;
        let _ = writeln!(out, "{i}garp:");
        let j = "      ";
        field(out, j, "master_delay", &g.master_delay.to_string(), None);
        field(out, j, "master_repeat", &g.master_repeat.to_string(), None);
        field(
            out,
            j,
            "master_refresh",
            &g.master_refresh.to_string(),
            None,
        );
        field(
            out,
            j,
            "master_refresh_repeat",
            &g.master_refresh_repeat.to_string(),
            None,
        );
        field(
            out,
            j,
            "lower_prio_delay",
            &g.lower_prio_delay.to_string(),
            None,
        );
        field(
            out,
            j,
            "lower_prio_repeat",
            &g.lower_prio_repeat.to_string(),
            None,
        );
        for (key, pacing) in [("interval", g.interval), ("na_interval", g.na_interval)] {
            if pacing.0 != 0 {
                let full = format!("garp.{key}");
                field(out, j, key, &pacing.to_string(), src(&full));
            }
        }
    }
    if s.vip_lifetime != VipLifetime::After(crate::duration::ConfigDuration::from_secs(5)) {
        field(out, i, "vip_lifetime", &s.vip_lifetime.to_string(), None);
    }
    for (key, on) in [
        ("lower_prio_no_advert", s.lower_prio_no_advert),
        ("dont_track_primary", s.dont_track_primary),
    ] {
        if on {
            field(out, i, key, "true", src(key));
        }
    }
    if s.v3_checksum_as_v2 {
        field(
            out,
            i,
            "v3_checksum_as_v2",
            "true",
            src("v3_checksum_as_v2"),
        );
    }
    notify(out, &s.notify, &inst.sources);
    checks(out, &s.checks, &inst.check_sources);
}

/// The `notify` block of an instance or a group.
fn notify(out: &mut String, spec: &NotifySpec, sources: &BTreeMap<&'static str, String>) {
    if spec.is_empty() {
        return;
    }
    let _ = writeln!(out, "    notify:");
    let j = "      ";
    for (key, argv) in [
        ("command", &spec.command),
        ("master", &spec.master),
        ("backup", &spec.backup),
        ("fault", &spec.fault),
        ("stop", &spec.stop),
    ] {
        if !argv.is_empty() {
            let full = format!("notify.{key}");
            field(out, j, key, &list(argv), sources.get(full.as_str()));
        }
    }
}

/// The `checks` list of an instance or a group.
fn checks(out: &mut String, checks: &[CheckSpec], sources: &[String]) {
    if checks.is_empty() {
        return;
    }
    let _ = writeln!(out, "    checks:");
    for (c, source) in checks.iter().zip(sources) {
        check(out, c, source);
    }
}

fn check(out: &mut String, c: &CheckSpec, source: &str) {
    let _ = writeln!(out, "      # {source}");
    let name = c.name.as_deref().unwrap_or_default();
    let _ = writeln!(out, "      - name: {}", q(name));
    let i = "        ";
    if let Some(e) = &c.exec {
        let argv = e.command.clone().unwrap_or_default();
        let shell = if e.shell == Some(true) {
            ", shell: true"
        } else {
            ""
        };
        field(
            out,
            i,
            "exec",
            &format!("{{command: {}{shell}}}", list(&argv)),
            None,
        );
    }
    if let Some(t) = &c.tcp {
        let address = t.address.clone().unwrap_or_default();
        field(
            out,
            i,
            "tcp",
            &format!("{{address: {}}}", q(&address)),
            None,
        );
    }
    if let Some(f) = &c.file {
        let path = f
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        field(out, i, "file", &format!("{{path: {}}}", q(&path)), None);
    }
    if let Some(n) = &c.interface {
        let name = n.name.clone().unwrap_or_default();
        field(
            out,
            i,
            "interface",
            &format!("{{name: {}}}", q(&name)),
            None,
        );
    }
    if let Some(v) = c.interval {
        field(out, i, "interval", &v.to_string(), None);
    }
    if let Some(v) = c.timeout {
        field(out, i, "timeout", &v.to_string(), None);
    }
    if let Some(v) = c.rise {
        field(out, i, "rise", &v.to_string(), None);
    }
    if let Some(v) = c.fall {
        field(out, i, "fall", &v.to_string(), None);
    }
    if c.action.is_some() {
        field(out, i, "action", "fault", None);
    }
    if let Some(w) = c.weight {
        field(out, i, "weight", &w.to_string(), None);
    }
    if let Some(init) = c.initial {
        let text = match init {
            vip_health::InitialState::Up => "up",
            vip_health::InitialState::Down => "down",
            _ => "first_result",
        };
        let why = "keepalived's init_fail".to_owned();
        field(out, i, "initial", text, Some(&why));
    }
}
