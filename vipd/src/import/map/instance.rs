//! A `vrrp_instance` block into an instance: its settings, authentication, addresses,
//! notify programs and tracking.

use std::collections::BTreeMap;
use std::net::IpAddr;

use vip_health::CheckSpec;

use super::checks::{ScriptDef, TrackFileDef, script_user, tracking};
use super::{Ctx, Globals, MappedInstance, Severity, flag, source};
use crate::config::UseVmac;
use crate::duration::ConfigDuration;
use crate::import::lexer::split_command;
use crate::import::parser::Node;
use crate::import::unsupported::{INSTANCE_UNSUPPORTED, VIP_OPTION_UNSUPPORTED, reason};

mod build;

/// What a `vrrp_instance` block holds, before it becomes an
/// [`InstanceSpec`](crate::config::InstanceSpec).
#[derive(Default)]
pub(super) struct Draft {
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
    vips: Vec<DraftVip>,
    /// `virtual_ipaddress_excluded`, as `vips`.
    excluded: Vec<DraftVip>,
    /// Each peer with its line.
    peers: Vec<(String, Node)>,
    src: Option<String>,
    garp_master_delay: Option<ConfigDuration>,
    garp_master_repeat: Option<u32>,
    garp_master_refresh: Option<ConfigDuration>,
    garp_master_refresh_repeat: Option<u32>,
    garp_lower_prio_delay: Option<ConfigDuration>,
    garp_lower_prio_repeat: Option<u32>,
    pub(super) checks: Vec<(CheckSpec, String)>,
    pub(super) sources: BTreeMap<&'static str, String>,
    pub(super) notify: crate::notify::NotifySpec,
    /// `use_vmac [NAME]` and its line.
    use_vmac: Option<(UseVmac, Node)>,
    /// The `vmac_xmit_base` line.
    vmac_xmit_base: Option<Node>,
    /// `lower_prio_no_advert` and its line.
    lower_prio_no_advert: Option<(bool, String)>,
}

/// One `virtual_ipaddress` (or `_excluded`) line: its address, `dev` and `label`.
#[derive(Clone)]
struct DraftVip {
    addr: String,
    dev: Option<String>,
    label: Option<String>,
    no_track: bool,
    node: Node,
}

#[allow(clippy::too_many_lines)] // one arm per directive, by design
pub(super) fn instance(
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
    build::finish(cx, node, name, d, g)
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
    let mut label = None;
    let mut no_track = false;
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
            ("label", Some(l)) if parsed.is_ipv4() => label = Some(l.to_owned()),
            ("label", Some(_)) => cx.push_at(
                &v.loc,
                "virtual_ipaddress",
                Severity::Unsupported,
                "label on an IPv6 address: the kernel labels IPv4 addresses only; dropped",
            ),
            ("scope", Some("global")) => {}
            ("scope", Some(s)) => cx.push_at(
                &v.loc,
                "virtual_ipaddress",
                Severity::Unsupported,
                format!("scope {s}: vipd adds VIPs with scope global"),
            ),
            ("no_track", _) => {
                no_track = true;
                i += 1;
                continue;
            }
            ("home" | "nodad" | "noprefixroute" | "autojoin", _) => {
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
    d.vips.push(DraftVip {
        addr: format!("{ip}/{prefix}"),
        dev,
        label,
        no_track,
        node: v.clone(),
    });
}

/// Whether two address texts name the same address (`fd00::1` and `fd00:0::1` do).
pub(super) fn same_address(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

pub(super) fn notify(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_compare_by_value() {
        assert!(same_address("fd00:1:0::2", "fd00:1::2"));
        assert!(!same_address("10.0.0.1", "10.0.0.2"));
        assert!(same_address("eth0", "eth0"));
    }
}
