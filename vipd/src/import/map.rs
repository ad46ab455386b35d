//! keepalived directives into vipd's configuration, one `match` arm or table row per directive.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use vip_health::{
    CheckAction, CheckSpec, ExecSpec, FileSpec, InitialState, InterfaceSpec, TcpSpec,
};

use super::lexer::split_command;
use super::parser::Node;
use super::unsupported::{
    GLOBAL_UNSUPPORTED, INSTANCE_UNSUPPORTED, SCRIPT_UNSUPPORTED, TOP_UNSUPPORTED,
    VIP_OPTION_UNSUPPORTED, reason,
};
use super::{Finding, Loc, Severity};
use crate::config::{Config, GarpSpec, InstanceSpec, Secret, SyncGroupSpec, UseVmac};
use crate::duration::ConfigDuration;

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

/// A `vrrp_script` as defined.
#[derive(Debug, Clone)]
struct ScriptDef {
    loc: Loc,
    command: Vec<String>,
    interval: Option<ConfigDuration>,
    timeout: Option<ConfigDuration>,
    weight: Option<i32>,
    rise: Option<u32>,
    fall: Option<u32>,
    init_fail: bool,
    used: bool,
}

/// A `vrrp_track_file` as defined.
#[derive(Debug, Clone)]
struct TrackFileDef {
    loc: Loc,
    path: Option<String>,
    weight: Option<i32>,
    used: bool,
}

/// One imported instance with where its parts came from.
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
    for (name, def) in &scripts {
        if !def.used {
            cx.push_at(
                &def.loc,
                "vrrp_script",
                Severity::Note,
                format!("{name} is tracked by no instance: not imported"),
            );
        }
    }
    for (name, def) in &files {
        if !def.used {
            cx.push_at(
                &def.loc,
                "vrrp_track_file",
                Severity::Note,
                format!("{name} is tracked by no instance: not imported"),
            );
        }
    }
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

/// Two instances cannot share a virtual MAC interface: the second one gets a name of its own.
fn unique_vmac_names(cx: &mut Ctx<'_>, instances: &mut [MappedInstance]) {
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
fn sync_group(
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

/// `script_user USER [GROUP]` or a notify's trailing `USER [GROUP]` from argument `from`:
/// vipd runs programs as its own user, root.
fn script_user(cx: &mut Ctx<'_>, n: &Node, from: usize) {
    let user = n.arg(from);
    let group = n.arg(from + 1);
    match (user, group) {
        (None, _) => {}
        (Some("root"), None | Some("root")) => cx.push(
            n,
            Severity::Note,
            "vipd runs hooks and checks as root (its own user), as this asks",
        ),
        (Some(u), g) => cx.push(
            n,
            Severity::Unsupported,
            format!(
                "vipd runs hooks and checks as its own user (root); running as {u}{} is not in \
                 vipd: wrap the program (e.g. [\"/usr/sbin/runuser\", \"-u\", \"{u}\", \"--\", \
                 ...])",
                g.map(|g| format!(":{g}")).unwrap_or_default()
            ),
        ),
    }
}

/// The weight at argument `i`; `None` (with a finding) when it is not a number from -254 to
/// 254 or keepalived's `reverse` follows it, which vipd cannot express.
fn weight(cx: &mut Ctx<'_>, n: &Node, i: usize) -> Option<i32> {
    let w = cx
        .int(n, i, -254..=254)
        .and_then(|w| i32::try_from(w).ok())?;
    if n.arg(i + 1) == Some("reverse") {
        cx.push(
            n,
            Severity::Unsupported,
            "`reverse` weights are not in vipd: a negative weight applies while the check is \
             down, a positive one while it is up; the weight is left out",
        );
        return None;
    }
    Some(w)
}

fn script_def(cx: &mut Ctx<'_>, node: &Node) -> ScriptDef {
    let mut def = ScriptDef {
        loc: node.loc.clone(),
        command: Vec::new(),
        interval: None,
        timeout: None,
        weight: None,
        rise: None,
        fall: None,
        init_fail: false,
        used: false,
    };
    for n in node.children() {
        match n.key.as_str() {
            "script" => {
                if let Some(first) = n.args.first() {
                    def.command = if first.quoted {
                        split_command(&first.text)
                    } else {
                        vec![first.text.clone()]
                    };
                    if n.args.len() > 1 {
                        cx.push(
                            n,
                            Severity::Warning,
                            "keepalived runs only the first word of an unquoted script and \
                             ignores the rest: imported the same way; quote the whole command \
                             if its arguments matter",
                        );
                    }
                } else {
                    cx.arg(n, 0);
                }
            }
            "interval" => def.interval = cx.seconds(n, 0),
            "timeout" => def.timeout = cx.seconds(n, 0),
            "weight" => def.weight = weight(cx, n, 0),
            "rise" => {
                def.rise = cx
                    .int(n, 0, 1..=i64::from(u32::MAX))
                    .and_then(|v| u32::try_from(v).ok())
            }
            "fall" => {
                def.fall = cx
                    .int(n, 0, 1..=i64::from(u32::MAX))
                    .and_then(|v| u32::try_from(v).ok())
            }
            "user" => script_user(cx, n, 0),
            "init_fail" => def.init_fail = true,
            _ => cx.unsupported(
                n,
                SCRIPT_UNSUPPORTED,
                "not a vrrp_script setting vipd knows",
            ),
        }
    }
    if def.command.is_empty() {
        cx.push(
            node,
            Severity::Unsupported,
            "no script: keepalived ignores this vrrp_script, and so does the import",
        );
    } else if let Some(target) = file_check_target(&def.command) {
        cx.push(
            node,
            Severity::Note,
            match target {
                Ok(address) => format!(
                    "keepalived runs a script starting with `</` through /bin/sh to see whether \
                     the file opens; /dev/tcp/... is a TCP connect (and needs bash as /bin/sh): \
                     imported as vipd's tcp check of {address}, no shell"
                ),
                Err(_) => "keepalived runs a script starting with `</` through /bin/sh to see \
                           whether the file opens: imported as a shell command (shell: true)"
                    .to_owned(),
            },
        );
    } else if !def.command[0].starts_with('/') {
        cx.push(
            node,
            Severity::Note,
            format!(
                "{:?} is not an absolute path: vipd looks it up in PATH, as keepalived does; \
                 prefer the full path",
                def.command[0]
            ),
        );
    }
    def
}

/// A script keepalived runs through the shell to see whether a file opens (`</path`): for
/// `</dev/tcp/HOST/PORT` the TCP address (`Ok`), else the shell command line (`Err`); `None`
/// for an ordinary script.
fn file_check_target(command: &[String]) -> Option<Result<String, String>> {
    let line = command.join(" ");
    let path = line.strip_prefix('<')?.trim_start();
    if !path.starts_with('/') {
        return None;
    }
    let tcp = path.strip_prefix("/dev/tcp/").and_then(|rest| {
        let (host, port) = rest.rsplit_once('/')?;
        port.parse::<u16>().ok()?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let address = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Some(address)
    });
    Some(tcp.ok_or(line.clone()))
}

fn track_file_def(cx: &mut Ctx<'_>, node: &Node) -> TrackFileDef {
    let mut def = TrackFileDef {
        loc: node.loc.clone(),
        path: None,
        weight: None,
        used: false,
    };
    for n in node.children() {
        match n.key.as_str() {
            "file" => def.path = cx.arg(n, 0).map(str::to_owned),
            "weight" => def.weight = weight(cx, n, 0),
            "init_file" => cx.push(
                n,
                Severity::Unsupported,
                "vipd does not create the tracked file: create it (with its initial value) \
                 before vipd starts; a missing file reads as down",
            ),
            _ => cx.unsupported(n, &[], "not a vrrp_track_file setting vipd knows"),
        }
    }
    if def.path.is_none() {
        cx.push(
            node,
            Severity::Unsupported,
            "no file: keepalived ignores this vrrp_track_file, and so does the import",
        );
    }
    def
}

/// What a `vrrp_instance` block holds, before it becomes an [`InstanceSpec`].
#[derive(Default)]
struct Draft {
    interface: Option<String>,
    vrid: Option<u32>,
    version: Option<u32>,
    priority: Option<u32>,
    /// The interval and its line.
    advert: Option<(ConfigDuration, Node)>,
    preempt: Option<bool>,
    preempt_delay: Option<ConfigDuration>,
    /// The password and the `auth_pass` line.
    password: Option<(String, Node)>,
    vips: Vec<(String, Option<String>, Node)>,
    /// `virtual_ipaddress_excluded`, as `vips`.
    excluded: Vec<(String, Option<String>, Node)>,
    /// Each peer with its line.
    peers: Vec<(String, Node)>,
    src: Option<String>,
    garp_master_delay: Option<ConfigDuration>,
    garp_master_repeat: Option<u32>,
    garp_master_refresh: Option<ConfigDuration>,
    garp_master_refresh_repeat: Option<u32>,
    garp_lower_prio_delay: Option<ConfigDuration>,
    garp_lower_prio_repeat: Option<u32>,
    checks: Vec<(CheckSpec, String)>,
    sources: BTreeMap<&'static str, String>,
    notify: crate::notify::NotifySpec,
    /// `use_vmac [NAME]` and its line.
    use_vmac: Option<(UseVmac, Node)>,
    /// The `vmac_xmit_base` line.
    vmac_xmit_base: Option<Node>,
    /// `lower_prio_no_advert` and its line.
    lower_prio_no_advert: Option<(bool, String)>,
}

fn source(n: &Node) -> String {
    format!("{} at {}", n.key, n.loc)
}

#[allow(clippy::too_many_lines)] // one arm per directive, by design
fn instance(
    cx: &mut Ctx<'_>,
    node: &Node,
    g: &Globals,
    scripts: &mut BTreeMap<String, ScriptDef>,
    files: &mut BTreeMap<String, TrackFileDef>,
) -> Option<MappedInstance> {
    let name = cx.arg(node, 0)?.to_owned();
    let mut d = Draft::default();
    for n in node.children() {
        match n.key.as_str() {
            "state" => match n.arg(0) {
                Some("MASTER") => cx.push(
                    n,
                    Severity::Note,
                    "vipd has no initial state: every instance starts as Backup and becomes \
                     Master after Master_Down_Interval (about 3 adverts) when it hears no \
                     better Master, unless its priority is 255",
                ),
                Some("BACKUP") => {}
                Some(other) => cx.push(
                    n,
                    Severity::Warning,
                    format!("keepalived reads state {other} as BACKUP, and so does vipd"),
                ),
                None => {
                    cx.arg(n, 0);
                }
            },
            "interface" => d.interface = cx.arg(n, 0).map(str::to_owned),
            "virtual_router_id" => {
                d.vrid = cx.int(n, 0, 1..=255).and_then(|v| u32::try_from(v).ok());
            }
            "version" => d.version = cx.int(n, 0, 2..=3).and_then(|v| u32::try_from(v).ok()),
            "priority" => {
                d.priority = cx.int(n, 0, 1..=255).and_then(|v| u32::try_from(v).ok());
            }
            "advert_int" => d.advert = cx.seconds(n, 0).map(|a| (a, n.clone())),
            "nopreempt" => {
                d.preempt = Some(false);
                d.sources.insert("preempt", source(n));
            }
            "preempt" => d.preempt = Some(true),
            "preempt_delay" => d.preempt_delay = cx.seconds(n, 0),
            "authentication" => auth(cx, n, &mut d),
            "unicast_src_ip" => d.src = cx.arg(n, 0).map(str::to_owned),
            "unicast_peer" => {
                for p in n.children() {
                    if d.peers.iter().any(|(q, _)| same_address(q, &p.key)) {
                        cx.push_at(
                            &p.loc,
                            "unicast_peer",
                            Severity::Warning,
                            format!(
                                "{} is already a peer: keepalived drops the duplicate, and so \
                                 does the import",
                                p.key
                            ),
                        );
                        continue;
                    }
                    d.peers.push((p.key.clone(), p.clone()));
                    if !p.args.is_empty() {
                        cx.push(
                            p,
                            Severity::Unsupported,
                            "per-peer options (min_ttl, max_ttl) are not in vipd: the peer is \
                             imported without them",
                        );
                    }
                }
                if n.block.is_none() {
                    cx.push(
                        n,
                        Severity::Unsupported,
                        "unicast_peer needs a block of addresses",
                    );
                }
            }
            "virtual_ipaddress" => {
                for v in n.children() {
                    vip(cx, v, &mut d);
                }
            }
            "virtual_ipaddress_excluded" => {
                let mut listed = Draft::default();
                for v in n.children() {
                    vip(cx, v, &mut listed);
                }
                d.excluded.append(&mut listed.vips);
            }
            "track_interface" | "track_script" | "track_file" => {
                tracking(cx, n, scripts, files, &mut d.checks);
            }
            "use_vmac" => {
                let vmac = n.arg(0).map_or(UseVmac::Enabled(true), |name| {
                    UseVmac::Named(name.to_owned())
                });
                d.use_vmac = Some((vmac, n.clone()));
            }
            "vmac_xmit_base" => d.vmac_xmit_base = Some(n.clone()),
            "lower_prio_no_advert" => {
                d.lower_prio_no_advert = flag(cx, n).map(|on| (on, source(n)));
            }
            "dont_track_primary" => {
                d.sources.insert("dont_track_primary", source(n));
            }
            "notify" => notify(cx, n, &mut d, |s| &mut s.command),
            "notify_master" => notify(cx, n, &mut d, |s| &mut s.master),
            "notify_backup" => notify(cx, n, &mut d, |s| &mut s.backup),
            "notify_fault" => notify(cx, n, &mut d, |s| &mut s.fault),
            "notify_stop" => notify(cx, n, &mut d, |s| &mut s.stop),
            "garp_master_delay" => d.garp_master_delay = cx.seconds(n, 0),
            "garp_master_repeat" => d.garp_master_repeat = cx.count(n),
            "garp_master_refresh" => d.garp_master_refresh = cx.seconds(n, 0),
            "garp_master_refresh_repeat" => d.garp_master_refresh_repeat = cx.count(n),
            "garp_lower_prio_delay" => d.garp_lower_prio_delay = cx.seconds(n, 0),
            "garp_lower_prio_repeat" => d.garp_lower_prio_repeat = cx.count(n),
            "v3_checksum_as_v2" => {
                d.sources.insert("v3_checksum_as_v2", source(n));
            }
            "native_ipv6" => cx.push(
                n,
                Severity::Note,
                "vipd takes the family from the VIPs: nothing to set",
            ),
            "accept" => cx.push(
                n,
                Severity::Note,
                "vipd always accepts traffic to its VIPs: nothing to set",
            ),
            "check_unicast_src" => cx.push(
                n,
                Severity::Note,
                "vipd always drops unicast adverts from addresses that are not listed peers",
            ),
            _ => cx.unsupported(
                n,
                INSTANCE_UNSUPPORTED,
                "not a vrrp_instance setting vipd import knows",
            ),
        }
    }
    finish(cx, node, name, d, g)
}

fn auth(cx: &mut Ctx<'_>, node: &Node, d: &mut Draft) {
    let mut kind: Option<&Node> = None;
    let mut pass: Option<&Node> = None;
    for n in node.children() {
        match n.key.as_str() {
            "auth_type" => kind = Some(n),
            "auth_pass" => pass = Some(n),
            _ => cx.push(
                n,
                Severity::Unsupported,
                "not an authentication setting vipd knows",
            ),
        }
    }
    match kind.and_then(|k| k.arg(0)) {
        Some("PASS") => {}
        Some("AH") => {
            if let Some(k) = kind {
                cx.push(
                    k,
                    Severity::Unsupported,
                    "IPsec AH authentication is not in vipd (RFC 5798 removed it): the instance \
                     is imported without authentication, which AH peers will not accept; \
                     migrate every node of the VRID together, or use PASS",
                );
            }
            return;
        }
        other => {
            cx.push(
                kind.unwrap_or(node),
                Severity::Unsupported,
                format!(
                    "auth_type {} is not PASS or AH: keepalived ignores the authentication",
                    other.unwrap_or("(missing)")
                ),
            );
            return;
        }
    }
    let Some(p) = pass else {
        cx.push(
            node,
            Severity::Unsupported,
            "auth_type PASS without auth_pass",
        );
        return;
    };
    let Some(text) = p.arg(0) else {
        cx.arg(p, 0);
        return;
    };
    let mut password = text.to_owned();
    if password.len() > 8 {
        let mut end = 8;
        while !password.is_char_boundary(end) {
            end -= 1;
        }
        password.truncate(end);
        cx.push(
            p,
            Severity::Warning,
            format!(
                "the password is {} bytes; keepalived sends only the first 8, so vipd gets \
                 those 8",
                text.len()
            ),
        );
    }
    d.password = Some((password, p.clone()));
}

fn vip(cx: &mut Ctx<'_>, v: &Node, d: &mut Draft) {
    let addr = v.key.as_str();
    let (ip, prefix) = match addr.split_once('/') {
        Some((ip, p)) => (ip, Some(p)),
        None => (addr, None),
    };
    let Ok(parsed) = ip.parse::<IpAddr>() else {
        cx.push(
            v,
            Severity::Unsupported,
            format!(
                "{addr:?} is not an address (address ranges such as 10.0.0.1-5 are not in \
                 vipd: list each address)"
            ),
        );
        return;
    };
    let prefix = prefix.map_or_else(
        || if parsed.is_ipv4() { "32" } else { "128" }.to_owned(),
        str::to_owned,
    );
    let mut dev = None;
    let mut i = 0;
    while i < v.args.len() {
        let key = v.args[i].text.as_str();
        let value = v.args.get(i + 1).map(|w| w.text.as_str());
        match (key, value) {
            ("dev" | "scope" | "brd" | "label", None) => cx.push_at(
                &v.loc,
                "virtual_ipaddress",
                Severity::Unsupported,
                format!("{key} without a value: the option is ignored; fix the line"),
            ),
            ("dev", Some(dv)) => dev = Some(dv.to_owned()),
            ("scope", Some("global")) => {}
            ("scope", Some(s)) => cx.push_at(
                &v.loc,
                "virtual_ipaddress",
                Severity::Unsupported,
                format!("scope {s}: vipd adds VIPs with scope global"),
            ),
            ("no_track" | "home" | "nodad" | "noprefixroute" | "autojoin", _) => {
                i += 1;
                cx.push_at(
                    &v.loc,
                    "virtual_ipaddress",
                    Severity::Unsupported,
                    format!("{key}: {}", reason(VIP_OPTION_UNSUPPORTED, key)),
                );
                continue;
            }
            (_, _) => cx.push_at(
                &v.loc,
                "virtual_ipaddress",
                Severity::Unsupported,
                format!(
                    "{key}{}: {}",
                    value.map(|x| format!(" {x}")).unwrap_or_default(),
                    reason(VIP_OPTION_UNSUPPORTED, key)
                ),
            ),
        }
        i += 2;
    }
    d.vips.push((format!("{ip}/{prefix}"), dev, v.clone()));
}

/// The advertisement interval (ms) keepalived runs for `version` when given `ms`: VRRPv2 in
/// whole seconds below 256 s, VRRPv3 in steps of 10 ms below 40.96 s, rounded to the nearest;
/// with what it did.
fn keepalived_interval(version: u32, ms: u64) -> (u64, &'static str) {
    let (step, max, above, between) = if version == 2 {
        (
            1000,
            255_000,
            "is above VRRPv2's 255 s",
            "is not whole seconds (VRRPv2)",
        )
    } else {
        (
            10,
            40_950,
            "is above VRRPv3's 40.95 s",
            "is not in steps of 10 ms (VRRPv3)",
        )
    };
    if ms > max {
        return (max, above);
    }
    if ms.is_multiple_of(step) {
        return (ms, "");
    }
    let rounded = ((ms + step / 2) / step * step).clamp(step, max);
    (rounded, between)
}

/// Whether two address texts name the same address (`fd00::1` and `fd00:0::1` do).
fn same_address(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// A check name vipd accepts, from keepalived's (which allows more characters).
fn check_name(cx: &mut Ctx<'_>, n: &Node, wanted: &str) -> String {
    let name: String = wanted
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if name != wanted {
        cx.push(
            n,
            Severity::Note,
            format!("check name {wanted:?} has characters vipd does not allow: named {name:?}"),
        );
    }
    name
}

/// The checks of a `track_interface`, `track_script` or `track_file` block, of an instance or
/// of a sync group.
fn tracking(
    cx: &mut Ctx<'_>,
    n: &Node,
    scripts: &mut BTreeMap<String, ScriptDef>,
    files: &mut BTreeMap<String, TrackFileDef>,
    checks: &mut Vec<(CheckSpec, String)>,
) {
    for t in n.children() {
        match n.key.as_str() {
            "track_script" => track_script(cx, t, scripts, checks),
            "track_file" => track_file(cx, t, files, checks),
            _ => {
                let w = entry_weight(cx, t, None);
                let mut c = CheckSpec::default();
                c.name = Some(check_name(cx, t, &format!("link-{}", t.key)));
                let mut iface = InterfaceSpec::default();
                iface.name = Some(t.key.clone());
                c.interface = Some(iface);
                c.weight = w;
                checks.push((c, format!("track_interface {} at {}", t.key, t.loc)));
            }
        }
    }
}

fn track_script(
    cx: &mut Ctx<'_>,
    t: &Node,
    scripts: &mut BTreeMap<String, ScriptDef>,
    checks: &mut Vec<(CheckSpec, String)>,
) {
    let Some(def) = lookup(cx, t, scripts, "vrrp_script") else {
        return;
    };
    if def.command.is_empty() {
        return;
    }
    let def = def.clone();
    let w = entry_weight(cx, t, def.weight);
    let mut c = CheckSpec::default();
    c.name = Some(check_name(cx, t, &t.key));
    match file_check_target(&def.command) {
        Some(Ok(address)) => {
            let mut tcp = TcpSpec::default();
            tcp.address = Some(address);
            c.tcp = Some(tcp);
        }
        Some(Err(line)) => {
            let mut exec = ExecSpec::default();
            exec.command = Some(vec![line]);
            exec.shell = Some(true);
            c.exec = Some(exec);
        }
        None => {
            let mut exec = ExecSpec::default();
            exec.command = Some(def.command.clone());
            c.exec = Some(exec);
        }
    }
    let interval = def.interval.unwrap_or(ConfigDuration::from_secs(1));
    c.interval = Some(interval);
    // keepalived lets a script run for its timeout, or for the interval when it has none;
    // vipd wants the timeout below the interval.
    let below = ConfigDuration(interval.0.saturating_sub(10).max(1));
    c.timeout = match def.timeout {
        Some(to) if to.0 < interval.0 => Some(to),
        Some(to) => {
            cx.push_at(
                &def.loc,
                "vrrp_script",
                Severity::Warning,
                format!(
                    "{}: timeout {to} is not below the interval {interval}; vipd needs it below \
                     (probes never overlap): imported as {below}",
                    t.key
                ),
            );
            Some(below)
        }
        None => Some(below),
    };
    c.rise = def.rise.filter(|r| *r != 1);
    c.fall = def.fall.filter(|f| *f != 1);
    match w {
        Some(0) | None => c.action = Some(CheckAction::Fault),
        Some(w) => c.weight = Some(w),
    }
    if def.init_fail {
        c.initial = Some(InitialState::Down);
    }
    checks.push((
        c,
        format!("vrrp_script {} at {}, {}", t.key, def.loc, source_of_use(t)),
    ));
}

/// The weight of a tracking entry (`NAME weight N`), else `default`.
fn entry_weight(cx: &mut Ctx<'_>, t: &Node, default: Option<i32>) -> Option<i32> {
    match t.arg(0) {
        Some("weight") => weight(cx, t, 1),
        Some(_) => {
            cx.push(
                t,
                Severity::Unsupported,
                "expected `weight N` after the name: the entry's weight is left out",
            );
            default
        }
        None => default,
    }
}

/// The definition a tracking entry names, marked used; a finding when there is none.
fn lookup<'m, T: Used>(
    cx: &mut Ctx<'_>,
    t: &Node,
    defs: &'m mut BTreeMap<String, T>,
    section: &str,
) -> Option<&'m mut T> {
    let Some(def) = defs.get_mut(&t.key) else {
        cx.push(
            t,
            Severity::Unsupported,
            format!(
                "no {section} {} is defined: keepalived ignores this entry, and so does the \
                 import",
                t.key
            ),
        );
        return None;
    };
    def.mark_used();
    Some(def)
}

/// A definition that tracking entries refer to.
trait Used {
    fn mark_used(&mut self);
}

impl Used for ScriptDef {
    fn mark_used(&mut self) {
        self.used = true;
    }
}

impl Used for TrackFileDef {
    fn mark_used(&mut self) {
        self.used = true;
    }
}

fn source_of_use(t: &Node) -> String {
    format!("tracked at {}", t.loc)
}

fn track_file(
    cx: &mut Ctx<'_>,
    t: &Node,
    files: &mut BTreeMap<String, TrackFileDef>,
    checks: &mut Vec<(CheckSpec, String)>,
) {
    let Some(def) = lookup(cx, t, files, "vrrp_track_file") else {
        return;
    };
    let Some(path) = def.path.clone() else {
        return;
    };
    let def = def.clone();
    let w = entry_weight(cx, t, def.weight);
    let mut c = CheckSpec::default();
    c.name = Some(check_name(cx, t, &t.key));
    let mut file = FileSpec::default();
    file.path = Some(PathBuf::from(path));
    c.file = Some(file);
    // keepalived's default weight for a tracked file is 1, vipd's too.
    c.weight = w.filter(|w| *w != 1);
    checks.push((
        c,
        format!(
            "vrrp_track_file {} at {}, {}",
            t.key,
            def.loc,
            source_of_use(t)
        ),
    ));
}

fn notify(
    cx: &mut Ctx<'_>,
    n: &Node,
    d: &mut Draft,
    field: fn(&mut crate::notify::NotifySpec) -> &mut Vec<String>,
) {
    let Some(first) = n.args.first() else {
        cx.arg(n, 0);
        return;
    };
    let argv = if first.quoted {
        split_command(&first.text)
    } else {
        vec![first.text.clone()]
    };
    if argv.is_empty() {
        cx.push(n, Severity::Unsupported, "an empty command");
        return;
    }
    script_user(cx, n, 1);
    let key: &'static str = match n.key.as_str() {
        "notify" => "notify.command",
        "notify_master" => "notify.master",
        "notify_backup" => "notify.backup",
        "notify_fault" => "notify.fault",
        _ => "notify.stop",
    };
    d.sources.insert(key, source(n));
    *field(&mut d.notify) = argv;
}

fn finish(
    cx: &mut Ctx<'_>,
    node: &Node,
    name: String,
    d: Draft,
    g: &Globals,
) -> Option<MappedInstance> {
    let Some(interface) = d.interface else {
        cx.push(
            node,
            Severity::Unsupported,
            format!("{name} has no interface: keepalived refuses it; not imported"),
        );
        return None;
    };
    let Some(vrid) = d.vrid else {
        cx.push(
            node,
            Severity::Unsupported,
            format!("{name} has no virtual_router_id: keepalived refuses it; not imported"),
        );
        return None;
    };
    if d.vips.is_empty() {
        cx.push(
            node,
            Severity::Unsupported,
            format!("{name} has no virtual address: vipd needs at least one; not imported"),
        );
        return None;
    }
    // VIP interfaces: vipd has one per instance. With use_vmac it is the virtual MAC
    // interface, where keepalived moves the VIPs of the instance's own interface.
    let vmac_name = d.use_vmac.as_ref().map(|(v, _)| match v {
        UseVmac::Named(name) => name.clone(),
        UseVmac::Enabled(_) => format!("vrrp.{vrid}"),
    });
    let first_dev = d.vips.iter().find_map(|(_, dev, _)| dev.clone());
    let vip_interface = first_dev
        .filter(|dv| *dv != interface)
        .filter(|_| vmac_name.is_none());
    let target = vmac_name
        .clone()
        .or_else(|| vip_interface.clone())
        .unwrap_or_else(|| interface.clone());
    let mut vips: Vec<String> = Vec::new();
    for (addr, dev, v) in &d.vips {
        let ip = addr.split('/').next().unwrap_or_default();
        if let Some(first) = vips.iter().find(|x| x.split('/').next() == Some(ip)) {
            cx.push_at(
                &v.loc,
                "virtual_ipaddress",
                Severity::Warning,
                format!(
                    "{ip} is listed twice: keepalived keeps one, and so does vipd ({first}); \
                     this line's options are dropped with it"
                ),
            );
            continue;
        }
        let on = dev.clone().unwrap_or_else(|| interface.clone());
        if vmac_name.is_some() && on != interface {
            cx.push_at(
                &v.loc,
                "virtual_ipaddress",
                Severity::Unsupported,
                format!(
                    "{addr} is on {on}, not on {interface}: with use_vmac vipd puts every VIP \
                     of the instance on the virtual MAC interface (no per-VIP interface); \
                     imported on {target}"
                ),
            );
        } else if vmac_name.is_none() && on != target {
            cx.push_at(
                &v.loc,
                "virtual_ipaddress",
                Severity::Unsupported,
                format!(
                    "{addr} is on {on} while the instance's other VIPs are on {target}: \
                     per-VIP interfaces are not in vipd yet (one vip_interface per instance); \
                     imported on {target}"
                ),
            );
        }
        vips.push(addr.clone());
    }
    let mut excluded: Vec<String> = Vec::new();
    for (addr, dev, v) in &d.excluded {
        let ip = addr.split('/').next().unwrap_or_default();
        let same = |x: &String| x.split('/').next() == Some(ip);
        if vips.iter().any(same) || excluded.iter().any(same) {
            cx.push_at(
                &v.loc,
                "virtual_ipaddress_excluded",
                Severity::Warning,
                format!("{ip} is already listed: keepalived keeps one, and so does vipd"),
            );
            continue;
        }
        if let Some(on) = dev
            .as_ref()
            .filter(|on| **on != interface && **on != target)
        {
            cx.push_at(
                &v.loc,
                "virtual_ipaddress_excluded",
                Severity::Unsupported,
                format!(
                    "{addr} is on {on}: per-VIP interfaces are not in vipd yet (the instance's \
                     addresses go on {target}); imported on {target}"
                ),
            );
        }
        excluded.push(addr.clone());
    }
    let mut sources = d.sources;
    let mut spec = InstanceSpec::new(interface, vrid, vips);
    spec.vips_excluded = excluded;
    spec.name = Some(name);
    spec.vip_interface = vip_interface;
    let ipv6 = spec
        .vips
        .first()
        .and_then(|v| v.split('/').next())
        .and_then(|a| a.parse::<IpAddr>().ok())
        .is_some_and(|a| a.is_ipv6());
    // keepalived: VRRPv2 by default, but an IPv6 instance with no version of its own is v3.
    spec.version = d.version.or(ipv6.then_some(3)).or(g.version).unwrap_or(2);
    if let Some(p) = d.priority {
        spec.priority = p;
    }
    if let Some((a, n)) = d.advert {
        let (fixed, what) = keepalived_interval(spec.version, a.0);
        if fixed != a.0 {
            cx.push(
                &n,
                Severity::Warning,
                format!(
                    "{a} {what}: keepalived uses {}, and so does vipd",
                    ConfigDuration(fixed)
                ),
            );
        }
        spec.advert_interval = ConfigDuration(fixed);
    }
    if let Some(p) = d.preempt {
        spec.preempt = p;
    }
    if let Some(p) = d.preempt_delay {
        spec.preempt_delay = p;
    }
    if let Some((password, p)) = d.password {
        if spec.version == 3 {
            cx.push(
                &p,
                Severity::Note,
                "VRRPv3 has no authentication: keepalived ignores auth_pass on VRRPv3, and vipd \
                 refuses it, so it is left out (nothing changes on the wire)",
            );
        } else {
            spec.password = Some(Secret(password));
            sources.insert("password", source(&p));
        }
    }
    spec.unicast_src_ip = d.src;
    for (peer, p) in d.peers {
        if spec
            .unicast_src_ip
            .as_deref()
            .is_some_and(|src| same_address(src, &peer))
        {
            cx.push_at(
                &p.loc,
                "unicast_peer",
                Severity::Warning,
                format!(
                    "{peer} is this instance's own unicast_src_ip: a node is not its own peer; \
                     left out"
                ),
            );
            continue;
        }
        spec.unicast_peers.push(peer);
    }
    if ipv6 && !spec.unicast_peers.is_empty() {
        // keepalived 2.2.7 sends IPv6 unicast adverts with hop limit 64.
        spec.unicast_min_hop_limit = 64;
    }
    let master_delay = d.garp_master_delay.or(g.garp_master_delay);
    let master_repeat = d.garp_master_repeat.or(g.garp_master_repeat);
    let defaults = GarpSpec::default();
    spec.garp = GarpSpec {
        master_delay: master_delay.unwrap_or(defaults.master_delay),
        master_repeat: master_repeat.unwrap_or(defaults.master_repeat),
        master_refresh: d
            .garp_master_refresh
            .or(g.garp_master_refresh)
            .unwrap_or(defaults.master_refresh),
        master_refresh_repeat: d
            .garp_master_refresh_repeat
            .or(g.garp_master_refresh_repeat)
            .unwrap_or(defaults.master_refresh_repeat),
        // keepalived: the lower-priority burst defaults to the master burst's settings.
        lower_prio_delay: d
            .garp_lower_prio_delay
            .or(g.garp_lower_prio_delay)
            .or(master_delay)
            .unwrap_or(defaults.lower_prio_delay),
        lower_prio_repeat: d
            .garp_lower_prio_repeat
            .or(g.garp_lower_prio_repeat)
            .or(master_repeat)
            .unwrap_or(defaults.lower_prio_repeat),
        interval: g.garp_interval.as_ref().map_or(defaults.interval, |p| p.0),
        na_interval: g
            .gna_interval
            .as_ref()
            .map_or(defaults.na_interval, |p| p.0),
    };
    for (key, pacing) in [
        ("garp.interval", &g.garp_interval),
        ("garp.na_interval", &g.gna_interval),
    ] {
        if let Some((_, from)) = pacing {
            sources.insert(key, from.clone());
        }
    }
    spec.v3_checksum_as_v2 = sources.contains_key("v3_checksum_as_v2");
    spec.dont_track_primary = sources.contains_key("dont_track_primary");
    // The instance's own setting, else the global default.
    if let Some((on, from)) = d
        .lower_prio_no_advert
        .or_else(|| g.lower_prio_no_advert.clone())
    {
        spec.lower_prio_no_advert = on;
        sources.insert("lower_prio_no_advert", from);
    }
    if let Some((vmac, n)) = d.use_vmac {
        spec.use_vmac = Some(vmac);
        sources.insert("use_vmac", source(&n));
    }
    if let Some(n) = d.vmac_xmit_base {
        if spec.use_vmac.is_some() {
            spec.vmac_xmit_base = true;
            sources.insert("vmac_xmit_base", source(&n));
        } else {
            cx.push(
                &n,
                Severity::Note,
                "vmac_xmit_base without use_vmac: keepalived ignores it, and so does the import",
            );
        }
    }
    spec.notify = d.notify;
    let mut check_sources = Vec::new();
    for (c, s) in d.checks {
        spec.checks.push(c);
        check_sources.push(s);
    }
    Some(MappedInstance {
        spec,
        loc: node.loc.clone(),
        sources,
        check_sources,
    })
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

    #[test]
    fn intervals_round_as_keepalived_rounds() {
        assert_eq!(keepalived_interval(2, 1000), (1000, ""));
        assert_eq!(keepalived_interval(2, 1500).0, 2000);
        assert_eq!(keepalived_interval(2, 400).0, 1000, "never 0");
        assert_eq!(keepalived_interval(2, 300_000).0, 255_000);
        assert_eq!(keepalived_interval(3, 125).0, 130);
        assert_eq!(keepalived_interval(3, 4).0, 10, "never 0");
        assert_eq!(keepalived_interval(3, 40_955).0, 40_950);
        assert_eq!(keepalived_interval(3, 250), (250, ""));
    }

    #[test]
    fn file_open_scripts() {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            file_check_target(&v(&["</dev/tcp/127.0.0.1/80"])),
            Some(Ok("127.0.0.1:80".to_owned()))
        );
        assert_eq!(
            file_check_target(&v(&["<", "/dev/tcp/::1/6443"])),
            Some(Ok("[::1]:6443".to_owned()))
        );
        assert_eq!(
            file_check_target(&v(&["</run/ready"])),
            Some(Err("</run/ready".to_owned()))
        );
        assert_eq!(file_check_target(&v(&["/bin/true"])), None);
        assert_eq!(file_check_target(&v(&["<relative"])), None);
    }

    #[test]
    fn addresses_compare_by_value() {
        assert!(same_address("fd00:1:0::2", "fd00:1::2"));
        assert!(!same_address("10.0.0.1", "10.0.0.2"));
        assert!(same_address("eth0", "eth0"));
    }
}
