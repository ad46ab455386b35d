//! A VIP entry: `ADDRESS/PREFIX [dev IFNAME] [label LABEL] [no_track]`, read and placed.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::validate::Errors;
use super::{InstanceSpec, Vip, VipOptions};

/// Whether `label` is a label of interface `ifname`: its name, or its name, a colon and more
/// (`ip address add`'s rule, which vipd keeps).
pub(crate) fn label_names(label: &str, ifname: &str) -> bool {
    label == ifname
        || label
            .strip_prefix(ifname)
            .is_some_and(|rest| rest.starts_with(':'))
}

/// Where one address goes beyond its instance's VIP interface, as written after it:
/// `ADDRESS/PREFIX [dev IFNAME] [label LABEL]`.
#[derive(Debug, Default)]
pub(super) struct Placement {
    dev: Option<String>,
    label: Option<String>,
    no_track: bool,
}

/// `ADDRESS/PREFIX [dev IFNAME] [label LABEL]`, keepalived's `virtual_ipaddress` line.
pub(super) fn parse_vip(text: &str) -> Result<(Vip, Placement), String> {
    let mut words = text.split_whitespace();
    let vip = parse_cidr(words.next().unwrap_or_default())?;
    let mut placement = Placement::default();
    while let Some(key) = words.next() {
        if key == "no_track" {
            placement.no_track = true;
            continue;
        }
        let slot = match key {
            "dev" => &mut placement.dev,
            "label" => &mut placement.label,
            other => {
                return Err(format!(
                    "{other:?} in {text:?}: after the address only `dev IFNAME`, `label \
                     LABEL` and `no_track` may follow, e.g. \"192.168.1.100/24 dev eth1 \
                     label eth1:vip\""
                ));
            }
        };
        let Some(value) = words.next() else {
            return Err(format!(
                "{key} in {text:?} has no value: write `{key} NAME`"
            ));
        };
        if slot.replace(value.to_owned()).is_some() {
            return Err(format!("{key} is given twice in {text:?}"));
        }
    }
    if let Some(dev) = &placement.dev
        && let Err(why) = ifname_problem(dev)
    {
        return Err(format!("dev {dev:?} in {text:?}: {why}"));
    }
    if placement.no_track && placement.dev.is_none() {
        return Err(format!(
            "no_track in {text:?} without dev: it leaves the link of an address's own `dev` \
             untracked; the VIP interface is tracked as the instance's (see \
             dont_track_primary)"
        ));
    }
    if let Some(label) = &placement.label {
        if vip.addr.is_ipv6() {
            return Err(format!(
                "label in {text:?}: address labels are IPv4's (the kernel has none for IPv6); \
                 remove it"
            ));
        }
        if label.len() > 15 {
            return Err(format!(
                "label {label:?} in {text:?} is longer than 15 bytes (the kernel's limit)"
            ));
        }
    }
    Ok((vip, placement))
}

fn parse_cidr(text: &str) -> Result<Vip, String> {
    let Some((addr, prefix)) = text.trim().split_once('/') else {
        return Err(format!(
            "{text:?} is not in CIDR form: write the address with its prefix length, e.g. \
             192.168.1.100/24 or fd00::100/64"
        ));
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} in {text:?} is not an IPv4 or IPv6 address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix_len = prefix
        .parse::<u8>()
        .ok()
        .filter(|p| *p <= max)
        .ok_or_else(|| format!("prefix length {prefix:?} in {text:?} must be 0 to {max}"))?;
    if addr.is_multicast() || addr.is_unspecified() || addr.is_loopback() {
        return Err(format!(
            "{addr} cannot be a virtual address (multicast, unspecified or loopback)"
        ));
    }
    Ok(Vip { addr, prefix_len })
}

/// Why `name` cannot be an interface's name, if it cannot.
pub(super) fn ifname_problem(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 15
        || name.contains(['/', ' ', '\t', ':'])
        || name == "."
        || name == ".."
    {
        return Err(format!(
            "{name:?} is not a valid interface name: 1 to 15 characters, no '/', ':' or spaces"
        ));
    }
    Ok(())
}

impl InstanceSpec {
    /// Each address's interface and label where they are not the instance's VIP interface
    /// and the kernel's default. With `use_vmac` (`vmac`), an address whose `dev` is the
    /// instance's own interface goes on the virtual MAC interface with the other VIPs, as in
    /// keepalived. A label names the interface the address is on, as `ip address add` has it.
    pub(super) fn vip_options(
        &self,
        e: &mut Errors<'_>,
        placements: Vec<(String, IpAddr, Placement)>,
        vip_interface: &str,
        vmac: bool,
    ) -> BTreeMap<IpAddr, VipOptions> {
        let mut options = BTreeMap::new();
        for (field, addr, placement) in placements {
            let dev = placement
                .dev
                .filter(|dev| dev != vip_interface && !(vmac && *dev == self.interface));
            let on = dev.as_deref().unwrap_or(vip_interface);
            if let Some(label) = placement
                .label
                .as_deref()
                .filter(|label| !label_names(label, on))
            {
                e.push(
                    &field,
                    format!(
                        "label {label:?}: the address goes on {on}, and a label is that \
                         interface's name or starts with it and a colon, e.g. {on}:vip"
                    ),
                );
                continue;
            }
            if dev.is_some() || placement.label.is_some() {
                options.insert(
                    addr,
                    VipOptions {
                        no_track: placement.no_track && dev.is_some(),
                        dev,
                        label: placement.label,
                    },
                );
            }
        }
        options
    }
}
