//! `vrrp_script`, `vrrp_track_file` and the `track_*` blocks of instances and sync groups:
//! keepalived's tracking as vipd checks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use vip_health::{
    CheckAction, CheckSpec, ExecSpec, FileSpec, InitialState, InterfaceSpec, TcpSpec,
};

use super::{Ctx, Severity};
use crate::duration::ConfigDuration;
use crate::import::Loc;
use crate::import::lexer::split_command;
use crate::import::parser::Node;
use crate::import::unsupported::SCRIPT_UNSUPPORTED;

/// A `vrrp_script` as defined.
#[derive(Debug, Clone)]
pub(super) struct ScriptDef {
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
pub(super) struct TrackFileDef {
    loc: Loc,
    path: Option<String>,
    weight: Option<i32>,
    used: bool,
}

/// One imported instance with where its parts came from.
/// `script_user USER [GROUP]` or a notify's trailing `USER [GROUP]` from argument `from`:
/// vipd runs programs as its own user, root.
pub(super) fn script_user(cx: &mut Ctx<'_>, n: &Node, from: usize) {
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
pub(super) fn weight(cx: &mut Ctx<'_>, n: &Node, i: usize) -> Option<i32> {
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

pub(super) fn script_def(cx: &mut Ctx<'_>, node: &Node) -> ScriptDef {
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

pub(super) fn track_file_def(cx: &mut Ctx<'_>, node: &Node) -> TrackFileDef {
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
pub(super) fn tracking(
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

/// A note for each `vrrp_script` and `vrrp_track_file` that nothing tracks.
pub(super) fn report_unused(
    cx: &mut Ctx<'_>,
    scripts: &BTreeMap<String, ScriptDef>,
    files: &BTreeMap<String, TrackFileDef>,
) {
    for (name, def) in scripts {
        if !def.used {
            cx.push_at(
                &def.loc,
                "vrrp_script",
                Severity::Note,
                format!("{name} is tracked by no instance: not imported"),
            );
        }
    }
    for (name, def) in files {
        if !def.used {
            cx.push_at(
                &def.loc,
                "vrrp_track_file",
                Severity::Note,
                format!("{name} is tracked by no instance: not imported"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
