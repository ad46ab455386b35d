//! Virtual MAC interfaces (keepalived's `use_vmac`): a macvlan on the VRRP interface whose
//! MAC is the virtual router MAC of RFC 5798 section 7.3, so that the VIPs keep one MAC
//! whichever router holds them, and clients never need a gratuitous ARP to follow a failover.
//!
//! # Ownership
//!
//! As with addresses (see [`AddressMark`](super::AddressMark)), a link this crate creates
//! carries a mark, and no link without it is ever removed: the interface alias
//! (`IFLA_IFALIAS`, `ip link show` prints it) is set to [`VMAC_ALIAS`]. Which marked links are
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
//! virtual MAC while this router is not Master); on the base interface, `arp_ignore=1` and
//! `arp_filter=1`, so that the base interface no longer answers ARP for the VIPs with its own
//! MAC. It also sets `arp_announce=2` on the base interface, which keepalived does not: a
//! reply from a VIP to a client on the same subnet leaves through the base interface (its
//! connected route comes first), and without it the kernel's ARP request for the client would
//! carry the VIP as sender address with the base interface's MAC, which the client learns as
//! the VIP's MAC. The base interface's settings are left as set when the virtual MAC goes.

use futures::stream::TryStreamExt;
use rtnetlink::LinkMacVlan;
use rtnetlink::packet_route::link::{LinkAttribute, MacVlanMode};
use vrrp_core::{Family, Vrid};

use super::links::{LinkInfo, link_info};
use super::{Netlink, NetlinkError};

/// The interface alias that marks a virtual MAC interface created by [`Netlink::create_vmac`].
pub const VMAC_ALIAS: &str = "vipd virtual MAC";

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
        let existing = self
            .marked_links()
            .await?
            .into_iter()
            .find(|(l, _)| l.name == name);
        let link = match existing {
            Some((link, true)) => link,
            Some((_, false)) => {
                return Err(NetlinkError::LinkNotOurs {
                    name: name.to_owned(),
                });
            }
            None => {
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
                    .alias(VMAC_ALIAS)
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
        let base_name = self.link_by_index(base).await?.name;
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

    /// Removes the virtual MAC interface with index `index`, and with it every address on
    /// it. An interface without the [`VMAC_ALIAS`] mark is left alone; one already gone is
    /// not an error.
    ///
    /// # Errors
    /// [`NetlinkError::LinkNotOurs`] for an unmarked interface; a kernel or transport failure.
    pub async fn remove_vmac(&self, index: u32) -> Result<(), NetlinkError> {
        let Some((link, ours)) = self
            .marked_links()
            .await?
            .into_iter()
            .find(|(l, _)| l.index == index)
        else {
            return Ok(());
        };
        if !ours {
            return Err(NetlinkError::LinkNotOurs { name: link.name });
        }
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if super::errno_of(&e) == Some(super::ENODEV) => Ok(()),
            Err(e) => Err(NetlinkError::from_rtnetlink("delete link", link.name, e)),
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
        for (link, marked) in self.marked_links().await? {
            if marked && ours(&link.name) {
                self.remove_vmac(link.index).await?;
                removed.push(link);
            }
        }
        Ok(removed)
    }

    /// Every link, with whether it carries the [`VMAC_ALIAS`] mark.
    async fn marked_links(&self) -> Result<Vec<(LinkInfo, bool)>, NetlinkError> {
        self.handle
            .link()
            .get()
            .execute()
            .map_ok(|msg| {
                let marked = msg
                    .attributes
                    .iter()
                    .any(|a| matches!(a, LinkAttribute::IfAlias(alias) if alias == VMAC_ALIAS));
                (link_info(&msg), marked)
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
    if family == Family::Ipv4 {
        settings.push((format!("ipv6/conf/{vmac}/disable_ipv6"), "1"));
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
}
