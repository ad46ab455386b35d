//! A read `vrrp_instance` block ([`Draft`]) into the [`InstanceSpec`]: where its addresses
//! go, its interval as keepalived rounds it, its peers, announcements and virtual MAC, each
//! setting keepalived would refuse or change reported.

use std::net::IpAddr;

use super::super::{Ctx, Globals, MappedInstance, Severity, source};
use super::{Draft, DraftVip, same_address};
use crate::config::{GarpSpec, InstanceSpec, Secret, UseVmac};
use crate::duration::ConfigDuration;
use crate::import::parser::Node;

/// The instance `name` (block `node`) that `d` describes, with the global defaults `g`;
/// `None`, reported, for one keepalived would refuse.
pub(super) fn finish(
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
    // Where the addresses go. With use_vmac, those of the instance's own interface go on the
    // virtual MAC interface (as keepalived moves them); the others keep their `dev`. When
    // every VIP names one other interface, it becomes the instance's vip_interface.
    let vmac_name = d.use_vmac.as_ref().map(|(v, _)| match v {
        UseVmac::Named(name) => name.clone(),
        UseVmac::Enabled(_) => format!("vrrp.{vrid}"),
    });
    let first_dev = d.vips.first().and_then(|v| v.dev.clone());
    let vip_interface = first_dev
        .filter(|dv| *dv != interface)
        .filter(|dv| d.vips.iter().all(|v| v.dev.as_ref() == Some(dv)))
        .filter(|_| vmac_name.is_none());
    let target = vmac_name
        .clone()
        .or_else(|| vip_interface.clone())
        .unwrap_or_else(|| interface.clone());
    let place = |cx: &mut Ctx<'_>, v: &DraftVip, field: &'static str| {
        let on = match v.dev.as_deref() {
            Some(dev) if !(vmac_name.is_some() && dev == interface) => dev,
            _ if vmac_name.is_some() => target.as_str(),
            _ => interface.as_str(),
        };
        let mut text = v.addr.clone();
        if on != target {
            text.push_str(&format!(" dev {on}"));
            if v.no_track {
                text.push_str(" no_track");
            }
        } else if v.no_track {
            cx.push_at(
                &v.node.loc,
                field,
                Severity::Unsupported,
                format!(
                    "no_track on an address of {on}, where the instance's VIPs are: vipd \
                     tracks that interface as the instance's (dont_track_primary ignores \
                     the VRRP interface's link); dropped"
                ),
            );
        }
        if let Some(label) = &v.label {
            if crate::config::label_names(label, on) && label.len() <= 15 {
                text.push_str(&format!(" label {label}"));
            } else {
                cx.push_at(
                    &v.node.loc,
                    field,
                    Severity::Unsupported,
                    format!(
                        "label {label}: the address is on {on}, and vipd takes a label that is \
                         the interface's name or starts with it and a colon (at most 15 \
                         bytes), as `ip address add` does; dropped (write e.g. {on}:vip)"
                    ),
                );
            }
        }
        text
    };
    let mut vips: Vec<String> = Vec::new();
    for v in &d.vips {
        let ip = v.addr.split('/').next().unwrap_or_default();
        if let Some(first) = vips.iter().find(|x| x.split('/').next() == Some(ip)) {
            cx.push_at(
                &v.node.loc,
                "virtual_ipaddress",
                Severity::Warning,
                format!(
                    "{ip} is listed twice: keepalived keeps one, and so does vipd ({first}); \
                     this line's options are dropped with it"
                ),
            );
            continue;
        }
        vips.push(place(cx, v, "virtual_ipaddress"));
    }
    let mut excluded: Vec<String> = Vec::new();
    for v in &d.excluded {
        let ip = v.addr.split('/').next().unwrap_or_default();
        let same = |x: &String| x.split(['/', ' ']).next() == Some(ip);
        if vips.iter().any(same) || excluded.iter().any(same) {
            cx.push_at(
                &v.node.loc,
                "virtual_ipaddress_excluded",
                Severity::Warning,
                format!("{ip} is already listed: keepalived keeps one, and so does vipd"),
            );
            continue;
        }
        excluded.push(place(cx, v, "virtual_ipaddress_excluded"));
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
