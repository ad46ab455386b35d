//! Addresses: [`AddressInfo`] and [`Lifetime`], and how [`Netlink`] adds, renews, removes and
//! lists them, never touching one without its [`AddressMark`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::stream::TryStreamExt;
use rtnetlink::AddressMessageBuilder;
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressProtocol, CacheInfo,
};
use vrrp_core::Family;

use super::mark::AddressMark;
use super::{EADDRNOTAVAIL, ENODEV, ENOENT, Netlink, NetlinkError, errno_of, family_code};

/// `IFA_F_SECONDARY`: an IPv4 address that is not the first of its subnet on the link.
pub const IFA_F_SECONDARY: u32 = 0x01;
/// `IFA_F_NODAD`: duplicate address detection is skipped (IPv6).
pub const IFA_F_NODAD: u32 = 0x02;
/// `IFA_F_DADFAILED`: duplicate address detection found the address in use (IPv6).
pub const IFA_F_DADFAILED: u32 = 0x08;
/// `IFA_F_DEPRECATED`: the preferred lifetime has run out.
pub const IFA_F_DEPRECATED: u32 = 0x20;
/// `IFA_F_TENTATIVE`: duplicate address detection has not finished (IPv6); the address
/// cannot be used as a source yet.
pub const IFA_F_TENTATIVE: u32 = 0x40;
/// `IFA_F_PERMANENT`: configured, with no lifetime.
pub const IFA_F_PERMANENT: u32 = 0x80;

/// The kernel's "infinite" lifetime (`INFINITY_LIFE_TIME`).
const INFINITY_LIFE_TIME: u32 = u32::MAX;

/// How long an address lives: `IFA_CACHEINFO`'s valid and preferred lifetimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lifetime {
    /// No expiry (`forever` in `ip addr`).
    Forever,
    /// Expires this many seconds after it was set, unless renewed. When reported by the
    /// kernel, the time left. Zero is refused by the kernel when adding.
    Seconds(u32),
}

impl Lifetime {
    /// From the kernel's encoding (`u32::MAX` is forever).
    #[must_use]
    pub const fn from_kernel(value: u32) -> Self {
        if value == INFINITY_LIFE_TIME {
            Self::Forever
        } else {
            Self::Seconds(value)
        }
    }

    /// To the kernel's encoding. `Seconds(u32::MAX)` would read as forever, so it is sent as
    /// one second less.
    #[must_use]
    pub const fn to_kernel(self) -> u32 {
        match self {
            Self::Forever => INFINITY_LIFE_TIME,
            Self::Seconds(s) if s == INFINITY_LIFE_TIME => INFINITY_LIFE_TIME - 1,
            Self::Seconds(s) => s,
        }
    }
}

impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Forever => f.write_str("forever"),
            Self::Seconds(s) => write!(f, "{s}s"),
        }
    }
}

/// One address of an interface, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressInfo {
    /// The address (`IFA_LOCAL`, or `IFA_ADDRESS` when there is no local attribute).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// The `IFA_PROTO` byte, if any (never on kernels before 5.18).
    pub protocol: Option<u8>,
    /// `IFA_F_*` flags ([`IFA_F_TENTATIVE`], ...), from `IFA_FLAGS` when present.
    pub flags: u32,
    /// Valid lifetime left.
    pub valid_lft: Lifetime,
    /// Preferred lifetime left.
    pub preferred_lft: Lifetime,
}

impl AddressInfo {
    /// Carries `mark` (see [`AddressMark`]): added through a [`Netlink`] with that mark, or
    /// by another program marking the same way.
    #[must_use]
    pub fn is_marked(&self, mark: AddressMark) -> bool {
        mark.matches(self)
    }

    /// Permanent: [`IFA_F_PERMANENT`] set, or no finite valid lifetime reported.
    #[must_use]
    pub fn is_permanent(&self) -> bool {
        self.flags & IFA_F_PERMANENT != 0 || self.valid_lft == Lifetime::Forever
    }

    /// Duplicate address detection has not finished yet ([`IFA_F_TENTATIVE`]).
    #[must_use]
    pub fn is_tentative(&self) -> bool {
        self.flags & IFA_F_TENTATIVE != 0
    }

    /// Duplicate address detection failed ([`IFA_F_DADFAILED`]).
    #[must_use]
    pub fn is_dad_failed(&self) -> bool {
        self.flags & IFA_F_DADFAILED != 0
    }

    /// The address family.
    #[must_use]
    pub const fn family(&self) -> Family {
        Family::of(&self.addr)
    }
}

fn max_prefix(addr: &IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// The fields of an address message this crate uses; `None` for a message without an
/// address.
pub(super) fn address_info(msg: &AddressMessage) -> Option<AddressInfo> {
    let mut local = None;
    let mut address = None;
    let mut protocol = None;
    let mut flags = None;
    let mut valid_lft = Lifetime::Forever;
    let mut preferred_lft = Lifetime::Forever;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            AddressAttribute::Protocol(p) => protocol = Some(u8::from(*p)),
            AddressAttribute::Flags(f) => flags = Some(f.bits()),
            AddressAttribute::CacheInfo(ci) => {
                valid_lft = Lifetime::from_kernel(ci.ifa_valid);
                preferred_lft = Lifetime::from_kernel(ci.ifa_preferred);
            }
            _ => {}
        }
    }
    Some(AddressInfo {
        addr: local.or(address)?,
        prefix_len: msg.header.prefix_len,
        protocol,
        flags: flags.unwrap_or_else(|| u32::from(msg.header.flags.bits())),
        valid_lft,
        preferred_lft,
    })
}

/// One address for [`Netlink::add_vips`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewVip<'a> {
    /// The address.
    pub addr: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// Its label (`IFA_LABEL`, IPv4 only: ignored for IPv6), e.g. `eth0:vip`; the kernel
    /// takes the interface's name without one.
    pub label: Option<&'a str>,
}

/// A minimal address message naming `addr/prefix_len` on `index`, as `ip addr` sends.
fn address_message(index: u32, addr: IpAddr, prefix_len: u8) -> AddressMessage {
    match addr {
        IpAddr::V4(a) => AddressMessageBuilder::<Ipv4Addr>::new()
            .index(index)
            .address(a, prefix_len)
            .build(),
        IpAddr::V6(a) => AddressMessageBuilder::<Ipv6Addr>::new()
            .index(index)
            .address(a, prefix_len)
            .build(),
    }
}

impl Netlink {
    /// Dumps addresses, of one link and/or one family when given.
    async fn dump_addresses(
        &self,
        index: Option<u32>,
        family: Option<Family>,
    ) -> Result<Vec<(u32, AddressInfo)>, NetlinkError> {
        let mut request = self.handle.address().get();
        if let Some(family) = family {
            request.message_mut().header.family = family_code(family);
        }
        if let Some(index) = index {
            request = request.set_link_index_filter(index);
        }
        let messages: Vec<AddressMessage> = request.execute().try_collect().await.map_err(|e| {
            let target = index.map_or_else(String::new, |i| format!("of index {i}"));
            NetlinkError::from_rtnetlink("dump addresses", target, e)
        })?;
        Ok(messages
            .iter()
            .filter_map(|msg| {
                let info = address_info(msg)?;
                // The kernel answers a family-filtered dump with that family only; checking
                // again costs nothing and keeps the contract independent of the kernel.
                let same_family = family.is_none_or(|f| info.family() == f);
                same_family.then_some((msg.header.index, info))
            })
            .collect())
    }

    /// The addresses of `family` on link `index`, in the kernel's order. Empty if the link
    /// does not exist.
    ///
    /// # Errors
    /// A kernel or transport failure.
    pub async fn addresses(
        &self,
        index: u32,
        family: Family,
    ) -> Result<Vec<AddressInfo>, NetlinkError> {
        Ok(self
            .dump_addresses(Some(index), Some(family))
            .await?
            .into_iter()
            .map(|(_, info)| info)
            .collect())
    }

    /// The address to send advertisements from on link `index`.
    ///
    /// IPv4: the first address that does not carry the mark. IPv6: the first link-local
    /// (fe80::/10) address that does not carry the mark and that has passed duplicate
    /// address detection (neither tentative nor failed). `None` if there is no such address
    /// (yet).
    ///
    /// Under [`AddressMark::Lifetime`] a DHCP lease is not permanent and so carries the mark:
    /// an IPv4 link whose addresses all carry it falls back to the first of them. (The
    /// kernel's IPv6 link-local addresses are permanent, so IPv6 needs no fallback, and gets
    /// none: a marked link-local VIP skips DAD and would otherwise win while the kernel's own
    /// address is still tentative.)
    ///
    /// # Errors
    /// A kernel or transport failure.
    pub async fn primary_address(
        &self,
        index: u32,
        family: Family,
    ) -> Result<Option<IpAddr>, NetlinkError> {
        let candidates: Vec<AddressInfo> = self
            .addresses(index, family)
            .await?
            .into_iter()
            .filter(|a| match a.addr {
                IpAddr::V4(_) => true,
                IpAddr::V6(v6) => {
                    v6.is_unicast_link_local() && !a.is_tentative() && !a.is_dad_failed()
                }
            })
            .collect();
        let unmarked = candidates.iter().find(|a| !a.is_marked(self.mark));
        let fallback = || {
            (self.mark == AddressMark::Lifetime && family == Family::Ipv4)
                .then(|| candidates.first())
                .flatten()
        };
        Ok(unmarked.or_else(fallback).map(|a| a.addr))
    }

    /// Adds the virtual address `addr/prefix_len` to link `index`, carrying the connection's
    /// [`AddressMark`], with valid and preferred lifetimes `lifetime` (under
    /// [`AddressMark::Lifetime`], [`Lifetime::Forever`] becomes
    /// [`LIFETIME_MARK_MAX`](super::LIFETIME_MARK_MAX) seconds). IPv6 addresses skip
    /// duplicate address detection (`IFA_F_NODAD`) so they are usable at once.
    ///
    /// Idempotent: when a marked address `addr` already exists, the request replaces it
    /// (`NLM_F_REPLACE`), which renews its lifetime. Before that it checks that any existing
    /// address `addr` on the link carries the mark, because a replace would otherwise take
    /// over an address configured by hand (the kernel overwrites its `IFA_PROTO` and
    /// lifetime).
    ///
    /// # Errors
    /// [`NetlinkError::NotOurs`] when `addr` already exists on the link without the mark
    /// (it is left as it is); [`NetlinkError::InvalidPrefix`]; a kernel refusal (`ENODEV` for
    /// a missing link, `EINVAL` for `Lifetime::Seconds(0)`) or transport failure.
    pub async fn add_vip(
        &self,
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
        lifetime: Lifetime,
    ) -> Result<(), NetlinkError> {
        let vip = NewVip {
            addr,
            prefix_len,
            label: None,
        };
        self.add_vips(index, &[vip], lifetime)
            .await
            .pop()
            .unwrap_or(Ok(()))
    }

    /// [`add_vip`](Self::add_vip) for several addresses on link `index`, with one address
    /// dump per family for all of them instead of one each: renewing the lifetimes of N VIPs
    /// costs one dump and N replace requests. An IPv4 address may carry a label
    /// ([`NewVip::label`]). Returns one result per address, in order.
    pub async fn add_vips(
        &self,
        index: u32,
        vips: &[NewVip<'_>],
        lifetime: Lifetime,
    ) -> Vec<Result<(), NetlinkError>> {
        let mut existing: Vec<AddressInfo> = Vec::new();
        for family in [Family::Ipv4, Family::Ipv6] {
            if !vips.iter().any(|v| Family::of(&v.addr) == family) {
                continue;
            }
            match self.addresses(index, family).await {
                Ok(list) => existing.extend(list),
                Err(e) => {
                    let text = e.to_string();
                    return vips
                        .iter()
                        .map(|_| {
                            Err(NetlinkError::Transport {
                                op: "dump addresses",
                                target: format!("of index {index}"),
                                detail: text.clone(),
                            })
                        })
                        .collect();
                }
            }
        }
        let lifetime = self.mark.lifetime_to_request(lifetime);
        let mut results = Vec::with_capacity(vips.len());
        for vip in vips {
            results.push(self.add_one(index, vip, lifetime, &existing).await);
        }
        results
    }

    /// Renews the lifetime of VIPs on link `index` that the caller knows to be its own, with
    /// one replace request each and no address dump: the caller has read every address event
    /// up to now ([`Netlink::subscribe`]) and seen none of these replaced by an address
    /// without the mark ([`NetEvent::AddressAdded`](super::NetEvent::AddressAdded)'s
    /// `ours`). After an [`NetEvent::Overrun`](super::NetEvent::Overrun), renew through
    /// [`add_vips`](Self::add_vips) instead, which checks. Returns one result per address, in
    /// order.
    pub async fn renew_vips(
        &self,
        index: u32,
        vips: &[NewVip<'_>],
        lifetime: Lifetime,
    ) -> Vec<Result<(), NetlinkError>> {
        let lifetime = self.mark.lifetime_to_request(lifetime);
        let mut results = Vec::with_capacity(vips.len());
        for vip in vips {
            // No addresses read: nothing to find foreign.
            results.push(self.add_one(index, vip, lifetime, &[]).await);
        }
        results
    }

    /// Adds or renews one VIP, given the link's current addresses (none: no ownership check).
    async fn add_one(
        &self,
        index: u32,
        vip: &NewVip<'_>,
        lifetime: Lifetime,
        existing: &[AddressInfo],
    ) -> Result<(), NetlinkError> {
        let (addr, prefix_len) = (vip.addr, vip.prefix_len);
        if prefix_len > max_prefix(&addr) {
            return Err(NetlinkError::InvalidPrefix { addr, prefix_len });
        }
        if let Some(existing) = existing
            .iter()
            .find(|a| a.addr == addr && !a.is_marked(self.mark))
        {
            return Err(self.not_ours(index, existing).await);
        }
        let protocol = self.mark.protocol();
        self.add_address(index, vip, protocol, lifetime, true).await
    }

    /// Sends one address add: its label if it has one (IPv4), `IFA_PROTO` when `protocol` is
    /// given, both lifetimes as `lifetime`, `IFA_F_NODAD` for IPv6, and `NLM_F_REPLACE` or
    /// `NLM_F_EXCL` as `replace` says. No ownership check.
    pub(super) async fn add_address(
        &self,
        index: u32,
        vip: &NewVip<'_>,
        protocol: Option<u8>,
        lifetime: Lifetime,
        replace: bool,
    ) -> Result<(), NetlinkError> {
        let NewVip {
            addr,
            prefix_len,
            label,
        } = *vip;
        let mut request = self.handle.address().add(index, addr, prefix_len);
        if replace {
            request = request.replace();
        }
        let message = request.message_mut();
        if let (Some(label), IpAddr::V4(_)) = (label, addr) {
            message
                .attributes
                .push(AddressAttribute::Label(label.to_owned()));
        }
        if let Some(protocol) = protocol {
            message
                .attributes
                .push(AddressAttribute::Protocol(AddressProtocol::from(protocol)));
        }
        let mut cache_info = CacheInfo::default();
        cache_info.ifa_valid = lifetime.to_kernel();
        cache_info.ifa_preferred = lifetime.to_kernel();
        message
            .attributes
            .push(AddressAttribute::CacheInfo(cache_info));
        if addr.is_ipv6() {
            message.header.flags = AddressHeaderFlags::Nodad;
            message
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match request.execute().await {
            Ok(()) => Ok(()),
            Err(e) => Err(NetlinkError::from_rtnetlink(
                "add address",
                format!("{addr}/{prefix_len} on {}", self.describe_link(index).await),
                e,
            )),
        }
    }

    /// The [`NetlinkError::NotOurs`] refusal for `existing` on link `index`.
    async fn not_ours(&self, index: u32, existing: &AddressInfo) -> NetlinkError {
        NetlinkError::NotOurs {
            link: self.describe_link(index).await,
            index,
            addr: existing.addr,
            prefix_len: existing.prefix_len,
            protocol: existing.protocol,
            permanent: existing.is_permanent(),
            mark: self.mark,
        }
    }

    /// Removes the marked address `addr/prefix_len` from link `index`.
    ///
    /// Idempotent: an absent address (or link) is success. Only an address with exactly this
    /// prefix length that carries the connection's mark is removed.
    ///
    /// # Errors
    /// [`NetlinkError::NotOurs`] when `addr/prefix_len` exists without the mark (it stays);
    /// a kernel refusal or transport failure.
    pub async fn remove_vip(
        &self,
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
    ) -> Result<(), NetlinkError> {
        let existing = self.addresses(index, Family::of(&addr)).await?;
        if let Some(foreign) = existing
            .iter()
            .find(|a| a.addr == addr && a.prefix_len == prefix_len && !a.is_marked(self.mark))
        {
            return Err(self.not_ours(index, foreign).await);
        }
        self.delete(index, addr, prefix_len).await
    }

    /// Deletes an address known to be marked (or absent); absence is success.
    pub(super) async fn delete(
        &self,
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
    ) -> Result<(), NetlinkError> {
        let message = address_message(index, addr, prefix_len);
        match self.handle.address().del(message).execute().await {
            Ok(()) => Ok(()),
            // EADDRNOTAVAIL: no such address; ENOENT / ENODEV: no such link, so no address.
            Err(e) if matches!(errno_of(&e), Some(EADDRNOTAVAIL | ENOENT | ENODEV)) => Ok(()),
            Err(e) => Err(NetlinkError::from_rtnetlink(
                "remove address",
                format!("{addr}/{prefix_len} on {}", self.describe_link(index).await),
                e,
            )),
        }
    }

    /// Every address carrying the connection's mark, on every link of the namespace, with its
    /// link index. After a restart that includes what an earlier run left behind, but also
    /// what other processes marking the same way added (a second daemon on the node) and,
    /// under [`AddressMark::Lifetime`], every non-permanent address (DHCP leases, SLAAC): the
    /// caller decides which of them are its own.
    ///
    /// # Errors
    /// A kernel or transport failure.
    pub async fn marked_addresses(&self) -> Result<Vec<(u32, AddressInfo)>, NetlinkError> {
        let mut all = self.dump_addresses(None, None).await?;
        all.retain(|(_, info)| info.is_marked(self.mark));
        Ok(all)
    }

    /// Removes every marked address for which `ours(index, address)` is true, and returns
    /// those it removed. Unmarked addresses are never shown to `ours` nor removed.
    ///
    /// The caller decides which marked addresses are its own: a mark only says "added by a
    /// program marking this way" (see [`marked_addresses`](Self::marked_addresses)), so
    /// `ours` should select exactly the addresses the caller manages. vipd selects only its
    /// configuration's VIPs on their links, which cleans up after a crash without removing
    /// another vipd's VIPs, or (under [`AddressMark::Lifetime`]) a DHCP lease.
    ///
    /// # Errors
    /// The dump failing, or the first removal that failed (the others are still attempted).
    pub async fn remove_marked(
        &self,
        ours: impl Fn(u32, &AddressInfo) -> bool,
    ) -> Result<Vec<(u32, AddressInfo)>, NetlinkError> {
        let mut removed = Vec::new();
        let mut first_error = None;
        for (index, info) in self.marked_addresses().await? {
            if !ours(index, &info) {
                continue;
            }
            match self.delete(index, info.addr, info.prefix_len).await {
                Ok(()) => removed.push((index, info)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(removed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_round_trip_the_kernel_encoding() {
        assert_eq!(Lifetime::from_kernel(u32::MAX), Lifetime::Forever);
        assert_eq!(Lifetime::from_kernel(7), Lifetime::Seconds(7));
        assert_eq!(Lifetime::Forever.to_kernel(), u32::MAX);
        assert_eq!(Lifetime::Seconds(2).to_kernel(), 2);
        assert_eq!(Lifetime::Seconds(u32::MAX).to_kernel(), u32::MAX - 1);
    }

    #[test]
    fn address_messages_parse_marks_flags_and_lifetimes() {
        let mark = AddressMark::Protocol(0x76);
        let mut msg = address_message(3, "10.200.1.10".parse().unwrap(), 24);
        msg.attributes
            .push(AddressAttribute::Protocol(AddressProtocol::from(0x76)));
        let mut ci = CacheInfo::default();
        ci.ifa_valid = 5;
        ci.ifa_preferred = 4;
        msg.attributes.push(AddressAttribute::CacheInfo(ci));
        msg.attributes
            .push(AddressAttribute::Flags(AddressFlags::Tentative));
        let info = address_info(&msg).unwrap();
        assert_eq!(info.addr, "10.200.1.10".parse::<IpAddr>().unwrap());
        assert_eq!(info.prefix_len, 24);
        assert!(info.is_marked(mark));
        assert!(info.is_marked(AddressMark::Lifetime));
        assert!(!info.is_permanent());
        assert!(info.is_tentative());
        assert_eq!(info.valid_lft, Lifetime::Seconds(5));
        assert_eq!(info.preferred_lft, Lifetime::Seconds(4));

        let mut bare = address_message(3, "fd00:200::1".parse().unwrap(), 64);
        bare.attributes
            .push(AddressAttribute::Flags(AddressFlags::Permanent));
        let info = address_info(&bare).unwrap();
        assert_eq!(info.protocol, None);
        assert!(!info.is_marked(mark));
        assert!(!info.is_marked(AddressMark::Lifetime));
        assert!(info.is_permanent());
        assert_eq!(info.valid_lft, Lifetime::Forever);
    }
}
