//! keepalived directives into vipd's configuration, one `match` arm or table row per directive.
//!
//! This module walks the file and maps `global_defs`; `instance` maps a `vrrp_instance`,
//! `checks` the scripts, track files and `track_*` blocks, `sync` the sync groups.

use std::collections::BTreeMap;

use self::checks::{ScriptDef, TrackFileDef, script_def, script_user, track_file_def};
use self::instance::instance;
use self::sync::{sync_group, unique_vmac_names};
use super::parser::Node;
use super::unsupported::{GLOBAL_UNSUPPORTED, TOP_UNSUPPORTED};
use super::{Finding, Loc, Severity};
use crate::config::{Config, InstanceSpec, SyncGroupSpec};
use crate::duration::ConfigDuration;

mod checks;
mod instance;
mod sync;

/// keepalived's defaults where they are not vipd's, or that the file may set globally.
#[derive(Debug, Clone, Default)]
struct Globals {
    version: Option<u32>,
    garp_master_delay: Option<ConfigDuration>,
    garp_master_repeat: Option<u32>,
    garp_master_refresh: Option<ConfigDuration>,
    garp_master_refresh_repeat: Option<u32>,
    garp_lower_prio_delay: Option<ConfigDuration>,
    garp_lower_prio_repeat: Option<u32>,
    /// `vrrp_lower_prio_no_advert` and its line.
    lower_prio_no_advert: Option<(bool, String)>,
    /// `vrrp_garp_interval`, `vrrp_gna_interval`, with their lines.
    garp_interval: Option<(ConfigDuration, String)>,
    gna_interval: Option<(ConfigDuration, String)>,
}

#[derive(Debug, Clone)]
pub(crate) struct MappedInstance {
    /// The instance.
    pub(crate) spec: InstanceSpec,
    /// Its `vrrp_instance` line.
    pub(crate) loc: Loc,
    /// For some fields (by their YAML name), the directive they came from.
    pub(crate) sources: BTreeMap<&'static str, String>,
    /// For each check, the directives it came from.
    pub(crate) check_sources: Vec<String>,
}

/// The imported configuration with its provenance.
#[derive(Debug, Clone, Default)]
pub(crate) struct Mapped {
    /// keepalived's `router_id`, kept as a comment.
    pub(crate) router_id: Option<(String, Loc)>,
    /// Whether the file had `enable_script_security`.
    pub(crate) script_security_in_file: bool,
    /// The instances.
    pub(crate) instances: Vec<MappedInstance>,
    /// The sync groups.
    pub(crate) sync_groups: Vec<MappedGroup>,
}

/// One imported sync group with where its parts came from.
#[derive(Debug, Clone)]
pub(crate) struct MappedGroup {
    /// The group.
    pub(crate) spec: SyncGroupSpec,
    /// Its `vrrp_sync_group` line.
    pub(crate) loc: Loc,
    /// For some fields (by their YAML name), the directive they came from.
    pub(crate) sources: BTreeMap<&'static str, String>,
    /// For each check, the directives it came from.
    pub(crate) check_sources: Vec<String>,
}

impl Mapped {
    /// As vipd's configuration.
    pub(crate) fn config(&self) -> Config {
        Config {
            instances: self.instances.iter().map(|i| i.spec.clone()).collect(),
            sync_groups: self.sync_groups.iter().map(|g| g.spec.clone()).collect(),
            ..Config::default()
        }
    }
}

/// Collects findings.
struct Ctx<'a> {
    findings: &'a mut Vec<Finding>,
}

impl Ctx<'_> {
    fn push(&mut self, node: &Node, severity: Severity, message: impl Into<String>) {
        self.push_at(&node.loc, &node.key, severity, message);
    }

    fn push_at(
        &mut self,
        loc: &Loc,
        directive: &str,
        severity: Severity,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding {
            loc: loc.clone(),
            severity,
            directive: directive.to_owned(),
            message: message.into(),
        });
    }

    /// Reports `node` as unsupported with its reason from `table`, or `default`.
    fn unsupported(&mut self, node: &Node, table: &[(&str, &str)], default: &str) {
        let reason = table
            .iter()
            .find(|(k, _)| *k == node.key)
            .map_or(default, |(_, r)| r);
        self.push(node, Severity::Unsupported, reason);
    }

    /// The argument `i` of `node`, or a finding.
    fn arg<'n>(&mut self, node: &'n Node, i: usize) -> Option<&'n str> {
        let a = node.arg(i);
        if a.is_none() {
            self.push(
                node,
                Severity::Unsupported,
                "a value is missing: keepalived ignores this line too",
            );
        }
        a
    }

    /// An integer argument in `range`, or a finding.
    fn int(&mut self, node: &Node, i: usize, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
        let text = self.arg(node, i)?;
        match text.parse::<i64>() {
            Ok(v) if range.contains(&v) => Some(v),
            _ => {
                self.push(
                    node,
                    Severity::Unsupported,
                    format!(
                        "{text:?} is not a whole number from {} to {}: keepalived ignores it \
                         too; fix the value",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    /// A count argument (0 to 255 for vipd's repeats; keepalived's limits are larger).
    fn count(&mut self, node: &Node) -> Option<u32> {
        self.int(node, 0, 0..=255)
            .and_then(|v| u32::try_from(v).ok())
    }

    /// A duration in seconds with up to 3 decimals (keepalived's form), or a finding.
    fn seconds(&mut self, node: &Node, i: usize) -> Option<ConfigDuration> {
        let text = self.arg(node, i)?;
        let parsed = parse_seconds(text);
        if parsed.is_none() {
            self.push(
                node,
                Severity::Unsupported,
                format!("{text:?} is not a number of seconds (up to 3 decimals): fix the value"),
            );
        }
        parsed
    }
}

/// `"1"`, `"0.5"`, `"1.000"` seconds into milliseconds.
fn parse_seconds(text: &str) -> Option<ConfigDuration> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !digits(int) || !digits(frac) {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > 3 {
        return None;
    }
    let whole: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut ms: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..3 {
        ms *= 10;
    }
    whole.checked_mul(1000)?.checked_add(ms).map(ConfigDuration)
}

/// Maps the tree.
pub(crate) fn map(tree: &[Node], findings: &mut Vec<Finding>) -> Mapped {
    let mut cx = Ctx { findings };
    let mut out = Mapped::default();
    let mut globals = Globals::default();
    let mut scripts: BTreeMap<String, ScriptDef> = BTreeMap::new();
    let mut files: BTreeMap<String, TrackFileDef> = BTreeMap::new();
    // Definitions first: keepalived reads the whole file before it resolves names.
    for node in tree {
        match node.key.as_str() {
            "global_defs" => global_defs(&mut cx, node, &mut globals, &mut out),
            "vrrp_script" => {
                if let Some(name) = cx.arg(node, 0) {
                    let def = script_def(&mut cx, node);
                    scripts.insert(name.to_owned(), def);
                }
            }
            "vrrp_track_file" => {
                if let Some(name) = cx.arg(node, 0) {
                    let def = track_file_def(&mut cx, node);
                    files.insert(name.to_owned(), def);
                }
            }
            _ => {}
        }
    }
    let mut groups = Vec::new();
    for node in tree {
        match node.key.as_str() {
            "global_defs" | "vrrp_script" | "vrrp_track_file" => {}
            "vrrp_instance" => {
                if let Some(inst) = instance(&mut cx, node, &globals, &mut scripts, &mut files) {
                    out.instances.push(inst);
                }
            }
            // After the instances: a group names instances defined anywhere in the file.
            "vrrp_sync_group" => groups.push(node),
            _ => cx.unsupported(
                node,
                TOP_UNSUPPORTED,
                "not a keepalived section vipd import knows: check its spelling (keepalived \
                 reports unknown keywords too)",
            ),
        }
    }
    unique_vmac_names(&mut cx, &mut out.instances);
    for node in groups {
        if let Some(group) = sync_group(&mut cx, node, &out, &mut scripts, &mut files) {
            out.sync_groups.push(group);
        }
    }
    checks::report_unused(&mut cx, &scripts, &files);
    let has_programs =
        out.instances
            .iter()
            .any(|i| !i.spec.notify.is_empty() || i.spec.checks.iter().any(|c| c.exec.is_some()))
            || out.sync_groups.iter().any(|g| {
                !g.spec.notify.is_empty() || g.spec.checks.iter().any(|c| c.exec.is_some())
            });
    if has_programs && !out.script_security_in_file {
        let loc = out
            .instances
            .first()
            .map(|i| i.loc.clone())
            .unwrap_or_default();
        cx.push_at(
            &loc,
            "enable_script_security",
            Severity::Note,
            "keepalived ran these scripts without enable_script_security; vipd checks them \
             (script_security, on by default): check-config names any script a user other \
             than root could replace; fix its ownership, or set script_security: false to \
             accept the risk",
        );
    }
    out
}

fn global_defs(cx: &mut Ctx<'_>, node: &Node, g: &mut Globals, out: &mut Mapped) {
    for n in node.children() {
        match n.key.as_str() {
            "router_id" => {
                if let Some(id) = cx.arg(n, 0) {
                    out.router_id = Some((id.to_owned(), n.loc.clone()));
                    cx.push(
                        n,
                        Severity::Note,
                        "vipd has no router id (it names instances, not routers): kept as a \
                         comment",
                    );
                }
            }
            "enable_script_security" => {
                out.script_security_in_file = true;
                cx.push(
                    n,
                    Severity::Note,
                    "vipd's script_security is on by default: the same check, at run and at \
                     check-config",
                );
            }
            "script_user" => script_user(cx, n, 0),
            "vrrp_version" => {
                if let Some(v) = cx.int(n, 0, 2..=3) {
                    g.version = u32::try_from(v).ok();
                }
            }
            "vrrp_garp_master_delay" => g.garp_master_delay = cx.seconds(n, 0),
            "vrrp_garp_master_repeat" => g.garp_master_repeat = cx.count(n),
            "vrrp_garp_master_refresh" => g.garp_master_refresh = cx.seconds(n, 0),
            "vrrp_garp_master_refresh_repeat" => g.garp_master_refresh_repeat = cx.count(n),
            "vrrp_garp_lower_prio_delay" => g.garp_lower_prio_delay = cx.seconds(n, 0),
            "vrrp_garp_lower_prio_repeat" => g.garp_lower_prio_repeat = cx.count(n),
            "vrrp_lower_prio_no_advert" => {
                g.lower_prio_no_advert = flag(cx, n).map(|on| (on, source(n)));
            }
            "vrrp_garp_interval" | "vrrp_gna_interval"
                if n.arg(0).and_then(parse_seconds) == Some(ConfigDuration(0)) =>
            {
                cx.push(
                    n,
                    Severity::Note,
                    "0 means no pacing (keepalived 2.2 warns and ignores it): vipd sends each \
                     burst at once too",
                );
            }
            "vrrp_garp_interval" => g.garp_interval = pacing(cx, n).map(|d| (d, source(n))),
            "vrrp_gna_interval" => g.gna_interval = pacing(cx, n).map(|d| (d, source(n))),
            "vrrp_check_unicast_src" => cx.push(
                n,
                Severity::Note,
                "vipd always drops unicast adverts from addresses that are not listed peers",
            ),
            _ => cx.unsupported(
                n,
                GLOBAL_UNSUPPORTED,
                "a global setting with no vipd equivalent",
            ),
        }
    }
}

/// A `vrrp_garp_interval` / `vrrp_gna_interval`: whole milliseconds up to 1 s, as vipd
/// takes them.
fn pacing(cx: &mut Ctx<'_>, n: &Node) -> Option<ConfigDuration> {
    let text = n.arg(0).unwrap_or_default();
    match parse_seconds(text) {
        Some(d) if d <= ConfigDuration::from_secs(1) => Some(d),
        _ => {
            cx.push(
                n,
                Severity::Unsupported,
                format!(
                    "{text:?}: vipd paces announcements by whole milliseconds up to 1 s \
                     (garp.interval / garp.na_interval); left out"
                ),
            );
            None
        }
    }
}

/// Where a directive is: `KEY at FILE:LINE`.
fn source(n: &Node) -> String {
    format!("{} at {}", n.key, n.loc)
}

/// A keepalived switch with an optional `<BOOL>` (`on|off|true|false|yes|no`): on without one.
fn flag(cx: &mut Ctx<'_>, n: &Node) -> Option<bool> {
    match n.arg(0) {
        None | Some("on" | "true" | "yes") => Some(true),
        Some("off" | "false" | "no") => Some(false),
        Some(other) => {
            cx.push(
                n,
                Severity::Unsupported,
                format!(
                    "{other:?} is not a keepalived boolean (on, off, true, false, yes, no): \
                     the setting is left out"
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_as_keepalived_writes_them() {
        let ms = |t: &str| parse_seconds(t).map(|d| d.0);
        assert_eq!(ms("1"), Some(1000));
        assert_eq!(ms("1.0"), Some(1000));
        assert_eq!(ms("0.25"), Some(250));
        assert_eq!(ms(".5"), Some(500));
        assert_eq!(ms("0.001"), Some(1));
        assert_eq!(ms("0.0005"), None, "below a millisecond");
        assert_eq!(ms("1.5s"), None);
        assert_eq!(ms("-1"), None);
        assert_eq!(ms(""), None);
        assert_eq!(ms("."), None);
    }
}
