//! Virtual MAC interfaces (keepalived's `use_vmac`): a macvlan on the VRRP interface whose
//! MAC is the virtual router MAC of RFC 5798 section 7.3, so that the VIPs keep one MAC
//! whichever router holds them, and clients never need a gratuitous ARP to follow a failover.
//!
//! # Ownership
//!
//! As with addresses (see [`AddressMark`](super::AddressMark)), a link this crate creates
//! carries a mark, and no link without it is ever removed: the interface alias
//! (`IFLA_IFALIAS`, `ip link show` prints it) starts with [`VMAC_ALIAS`]. Which marked links are
//! the caller's own is the caller's decision, by name ([`Netlink::remove_marked_vmacs`]): a
//! daemon removes, at start, the virtual MAC interfaces of *its* configuration left over by a
//! crash, never another configuration's.
//!
//! # Kernel settings
//!
//! Like keepalived, [`Netlink::create_vmac`] sets, on the new interface, `arp_ignore=1` (it
//! answers ARP only for its own addresses), `accept_local=1` (it hears the other routers'
//! adverts sent with a MAC it also has) and `rp_filter=0` (it receives with no address), and
//! disables IPv6 on an IPv4 one (so that it sends no IPv6 autoconfiguration frame from the
//! virtual MAC while this router is not Master). An IPv6 one generates no link-local address
//! of its own (`addr_gen_mode=1`: every router's would be the same, made from the shared MAC,
//! and fail duplicate address detection); instead it is given the base interface's
//! ([`Netlink::add_vmac_link_local`]), the source address of the instance's adverts, as
//! keepalived does. On the base interface, `arp_ignore=1` and
//! `arp_filter=1`, so that the base interface no longer answers ARP for the VIPs with its own
//! MAC. It also sets `arp_announce=2` on the base interface, which keepalived does not: a
//! reply from a VIP to a client on the same subnet leaves through the base interface (its
//! connected route comes first), and without it the kernel's ARP request for the client would
//! carry the VIP as sender address with the base interface's MAC, which the client learns as
//! the VIP's MAC.
//!
//! The base interface's three settings are given back when the last virtual MAC interface on
//! it goes: their values from before the first one was created are kept in the alias of each
//! (`vipd virtual MAC; base eth0: arp_ignore=0 arp_filter=0 arp_announce=0`), so they are
//! restored after a crash too, when the daemon's next start removes what the crash left.

use futures::stream::TryStreamExt;
use rtnetlink::LinkMacVlan;
use rtnetlink::packet_route::link::{LinkAttribute, MacVlanMode};
use vrrp_core::{Family, Vrid};

use super::links::{LinkInfo, link_info};
use super::{Netlink, NetlinkError};

/// The start of the interface alias that marks a virtual MAC interface created by
/// [`Netlink::create_vmac`]; the rest names its base interface's settings from before.
pub const VMAC_ALIAS: &str = "vipd virtual MAC";

/// The base interface's settings a virtual MAC changes (IPv4 `conf`), and restores.
const BASE_SETTINGS: [&str; 3] = ["arp_ignore", "arp_filter", "arp_announce"];

/// What a marked link's alias says: its base interface and that interface's settings from
/// before the first virtual MAC on it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Saved {
    base: String,
    settings: Vec<(String, String)>,
}

impl Saved {
    /// The base interface's settings as they are now.
    fn read(base: &str) -> Result<Self, NetlinkError> {
        let settings = BASE_SETTINGS
            .iter()
            .map(|key| {
                let path = format!("/proc/sys/net/ipv4/conf/{base}/{key}");
                let value = std::fs::read_to_string(&path)
                    .map_err(|source| NetlinkError::Sysctl { path, source })?;
                Ok(((*key).to_owned(), value.trim().to_owned()))
            })
            .collect::<Result<_, NetlinkError>>()?;
        Ok(Self {
            base: base.to_owned(),
            settings,
        })
    }

    fn alias(&self) -> String {
        let settings: Vec<String> = self
            .settings
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        format!("{VMAC_ALIAS}; base {}: {}", self.base, settings.join(" "))
    }

    /// Reads an alias written by [`Saved::alias`]; `None` for any other text (a mark
    /// without saved settings leaves the base interface as it is).
    fn parse(alias: &str) -> Option<Self> {
        let rest = alias.strip_prefix(VMAC_ALIAS)?.strip_prefix("; base ")?;
        let (base, settings) = rest.split_once(": ")?;
        let settings = settings
            .split_whitespace()
            .map(|pair| {
                let (key, value) = pair.split_once('=')?;
                let known = BASE_SETTINGS.contains(&key) && value.parse::<u8>().is_ok();
                known.then(|| (key.to_owned(), value.to_owned()))
            })
            .collect::<Option<Vec<_>>>()?;
        let plausible = !base.is_empty() && !base.contains('/') && base != "." && base != "..";
        plausible.then(|| Self {
            base: base.to_owned(),
            settings,
        })
    }

    /// Writes the settings back onto the base interface, if it still exists.
    fn restore(&self) -> Result<(), NetlinkError> {
        for (key, value) in &self.settings {
            let path = format!("/proc/sys/net/ipv4/conf/{}/{key}", self.base);
            match std::fs::write(&path, value) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(source) => return Err(NetlinkError::Sysctl { path, source }),
            }
        }
        Ok(())
    }
}

/// A link and, if it carries the [`VMAC_ALIAS`] mark, its alias.
type Marked = (LinkInfo, Option<String>);

/// The virtual router MAC of RFC 5798 section 7.3: `00:00:5e:00:01:VRID` for IPv4,
/// `00:00:5e:00:02:VRID` for IPv6.
#[must_use]
pub const fn vmac_address(family: Family, vrid: Vrid) -> [u8; 6] {
    let kind = match family {
        Family::Ipv4 => 1,
        Family::Ipv6 => 2,
    };
    [0x00, 0x00, 0x5e, 0x00, kind, vrid.get()]
}

/// keepalived's default name of the virtual MAC interface of VRID `vrid`: `vrrp.VRID`.
#[must_use]
pub fn default_vmac_name(vrid: Vrid) -> String {
    format!("vrrp.{vrid}")
}

impl Netlink {
    /// Creates the virtual MAC interface `name`: a macvlan on `base` in private mode (it
    /// talks to the network, not to the other macvlans of `base`), with MAC `mac`, the
    /// [`VMAC_ALIAS`] mark and the kernel settings of the module docs, and brings it up. An
    /// interface of that name already carrying the mark (this configuration's, left over) is
    /// reused as it is.
    ///
    /// # Errors
    /// [`NetlinkError::LinkNotOurs`] if an interface of that name exists without the mark;
    /// a kernel or transport failure; [`NetlinkError::Sysctl`] if a setting cannot be written.
    pub async fn create_vmac(
        &self,
        base: u32,
        name: &str,
        mac: [u8; 6],
        family: Family,
    ) -> Result<LinkInfo, NetlinkError> {
        let links = self.marked_links().await?;
        let base_name = self.link_by_index(base).await?.name;
        let link = match links.iter().find(|(l, _)| l.name == name) {
            Some((link, Some(_))) => link.clone(),
            Some((_, None)) => {
                return Err(NetlinkError::LinkNotOurs {
                    name: name.to_owned(),
                });
            }
            None => {
                // The base's settings from before the first virtual MAC on it: from another
                // one's alias while one exists, else as they are now.
                let saved = match links
                    .iter()
                    .filter_map(|(_, alias)| Saved::parse(alias.as_deref()?))
                    .find(|saved| saved.base == base_name)
                {
                    Some(saved) => saved,
                    None => Saved::read(&base_name)?,
                };
                let message = LinkMacVlan::new(name, base, MacVlanMode::Private)
                    .address(mac.to_vec())
                    .down()
                    .build();
                self.handle
                    .link()
                    .add(message)
                    .execute()
                    .await
                    .map_err(|e| NetlinkError::from_rtnetlink("add macvlan", name.to_owned(), e))?;
                let link = self.link_by_name(name).await?;
                // The kernel ignores IFLA_IFALIAS when it creates a link: set it after.
                let mark = rtnetlink::LinkUnspec::new_with_index(link.index)
                    .alias(saved.alias())
                    .build();
                if let Err(e) = self.handle.link().set(mark).execute().await {
                    let _ = self.handle.link().del(link.index).execute().await;
                    return Err(NetlinkError::from_rtnetlink(
                        "set link alias",
                        name.to_owned(),
                        e,
                    ));
                }
                link
            }
        };
        sysctls(&link.name, &base_name, family)?;
        let up = rtnetlink::LinkUnspec::new_with_index(link.index)
            .up()
            .build();
        self.handle
            .link()
            .set(up)
            .execute()
            .await
            .map_err(|e| NetlinkError::from_rtnetlink("set link up", name.to_owned(), e))?;
        self.link_by_index(link.index).await
    }

    /// Gives the virtual MAC interface `index` the link-local address `addr` (its base
    /// interface's), without duplicate address detection: adverts leave the virtual MAC
    /// interface with the base interface's link-local address as source, which must be an
    /// address of the interface they leave from. Idempotent; the address goes with the
    /// interface.
    ///
    /// # Errors
    /// A kernel refusal or transport failure.
    pub async fn add_vmac_link_local(
        &self,
        index: u32,
        addr: std::net::Ipv6Addr,
    ) -> Result<(), NetlinkError> {
        let vip = super::NewVip {
            addr: addr.into(),
            prefix_len: 64,
            label: None,
        };
        self.add_address(index, &vip, None, super::Lifetime::Forever, true)
            .await
    }

    /// Removes the virtual MAC interface with index `index`, and with it every address on
    /// it; when it was the last one on its base interface, gives the base interface its
    /// settings from before (module docs). An interface without the [`VMAC_ALIAS`] mark is
    /// left alone; one already gone is not an error.
    ///
    /// # Errors
    /// [`NetlinkError::LinkNotOurs`] for an unmarked interface; a kernel or transport failure;
    /// [`NetlinkError::Sysctl`] if a base setting cannot be written back.
    pub async fn remove_vmac(&self, index: u32) -> Result<(), NetlinkError> {
        let mut links = self.marked_links().await?;
        let Some(at) = links.iter().position(|(l, _)| l.index == index) else {
            return Ok(());
        };
        let (link, alias) = links.swap_remove(at);
        let Some(alias) = alias else {
            return Err(NetlinkError::LinkNotOurs { name: link.name });
        };
        match self.handle.link().del(index).execute().await {
            Ok(()) => {}
            Err(e) if super::errno_of(&e) == Some(super::ENODEV) => {}
            Err(e) => return Err(NetlinkError::from_rtnetlink("delete link", link.name, e)),
        }
        let Some(saved) = Saved::parse(&alias) else {
            return Ok(());
        };
        let others_on_base = links
            .iter()
            .filter_map(|(_, alias)| Saved::parse(alias.as_deref()?))
            .any(|other| other.base == saved.base);
        if others_on_base {
            Ok(())
        } else {
            saved.restore()
        }
    }

    /// Removes every virtual MAC interface carrying the [`VMAC_ALIAS`] mark that `ours`
    /// accepts (by name), with their addresses, and returns them: what an earlier run of this
    /// configuration left behind.
    ///
    /// # Errors
    /// A kernel or transport failure.
    pub async fn remove_marked_vmacs(
        &self,
        ours: impl Fn(&str) -> bool,
    ) -> Result<Vec<LinkInfo>, NetlinkError> {
        let mut removed = Vec::new();
        for (link, alias) in self.marked_links().await? {
            if alias.is_some() && ours(&link.name) {
                self.remove_vmac(link.index).await?;
                removed.push(link);
            }
        }
        Ok(removed)
    }

    /// Every link, with its alias if it carries the [`VMAC_ALIAS`] mark.
    async fn marked_links(&self) -> Result<Vec<Marked>, NetlinkError> {
        self.handle
            .link()
            .get()
            .execute()
            .map_ok(|msg| {
                let alias = msg.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfAlias(alias) if alias.starts_with(VMAC_ALIAS) => {
                        Some(alias.clone())
                    }
                    _ => None,
                });
                (link_info(&msg), alias)
            })
            .try_collect()
            .await
            .map_err(|e| NetlinkError::from_rtnetlink("dump links", String::new(), e))
    }
}

/// Writes the kernel settings of the module docs for virtual MAC `vmac` on `base`.
fn sysctls(vmac: &str, base: &str, family: Family) -> Result<(), NetlinkError> {
    let mut settings = vec![
        (format!("ipv4/conf/{vmac}/arp_ignore"), "1"),
        (format!("ipv4/conf/{vmac}/accept_local"), "1"),
        (format!("ipv4/conf/{vmac}/rp_filter"), "0"),
        (format!("ipv4/conf/{base}/arp_ignore"), "1"),
        (format!("ipv4/conf/{base}/arp_filter"), "1"),
        (format!("ipv4/conf/{base}/arp_announce"), "2"),
    ];
    match family {
        Family::Ipv4 => settings.push((format!("ipv6/conf/{vmac}/disable_ipv6"), "1")),
        Family::Ipv6 => settings.push((format!("ipv6/conf/{vmac}/addr_gen_mode"), "1")),
    }
    for (key, value) in settings {
        let path = format!("/proc/sys/net/{key}");
        std::fs::write(&path, value).map_err(|source| NetlinkError::Sysctl { path, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_virtual_router_mac_is_rfc_5798s() {
        let vrid = Vrid::new(51).unwrap();
        assert_eq!(
            vmac_address(Family::Ipv4, vrid),
            [0x00, 0x00, 0x5e, 0x00, 0x01, 51]
        );
        assert_eq!(
            vmac_address(Family::Ipv6, vrid),
            [0x00, 0x00, 0x5e, 0x00, 0x02, 51]
        );
        assert_eq!(default_vmac_name(vrid), "vrrp.51");
    }

    #[test]
    fn the_alias_carries_the_base_settings_and_nothing_else_is_read_as_them() {
        let saved = Saved {
            base: "eth0".into(),
            settings: vec![
                ("arp_ignore".into(), "0".into()),
                ("arp_filter".into(), "0".into()),
                ("arp_announce".into(), "1".into()),
            ],
        };
        let alias = saved.alias();
        assert_eq!(
            alias,
            "vipd virtual MAC; base eth0: arp_ignore=0 arp_filter=0 arp_announce=1"
        );
        assert_eq!(Saved::parse(&alias), Some(saved));
        for other in [
            "vipd virtual MAC",
            "vipd virtual MAC; base ../x: arp_ignore=0",
            "vipd virtual MAC; base eth0: rp_filter=0",
            "vipd virtual MAC; base eth0: arp_ignore=one",
            "vipd virtual MAC; base : arp_ignore=0",
            "someone else's alias",
        ] {
            assert_eq!(Saved::parse(other), None, "{other}");
        }
    }
}
