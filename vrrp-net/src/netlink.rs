//! Links, addresses and their events over rtnetlink: everything vipd asks of the kernel's
//! routing socket, async on tokio.
//!
//! ```no_run
//! use futures::StreamExt;
//! use vrrp_net::netlink::{Lifetime, NetEvent, Netlink};
//!
//! # async fn run() -> Result<(), vrrp_net::netlink::NetlinkError> {
//! let nl = Netlink::new()?;
//! let mut events = nl.subscribe()?; // first, so no change is missed
//! let link = nl.link_by_name("eth0").await?;
//! // Whatever an earlier run left behind goes; addresses configured by hand stay.
//! nl.remove_leftovers(|_, _| false).await?;
//! let vip = "192.0.2.10".parse().unwrap();
//! nl.add_vip(link.index, vip, 24, Lifetime::Forever).await?;
//! while let Some(event) = events.next().await {
//!     if let NetEvent::Link { index, up: false } = event {
//!         if index == link.index {
//!             break;
//!         }
//!     }
//! }
//! nl.remove_vip(link.index, vip, 24).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Marking vipd's addresses
//!
//! Every virtual address vipd adds carries the `IFA_PROTO` attribute (Linux 5.18+) set to
//! [`VIPD_ADDRESS_PROTOCOL`]. The kernel stores that byte with the address and reports it in
//! every dump and notification, so vipd recognises its own addresses, including those an
//! earlier run left behind after a crash ([`Netlink::vipd_addresses`],
//! [`Netlink::remove_leftovers`]), and never touches an address it did not add: removing, or
//! adding over, an unmarked address fails with [`NetlinkError::NotOurs`].
//!
//! # Namespaces
//!
//! A netlink socket belongs to the network namespace of the thread that opened it:
//! [`Netlink::new`] and [`Netlink::subscribe`] act on the namespace the calling thread is in
//! when they are called (see [`crate::netns::enter`]), and stay there.
//!
//! # Link state
//!
//! [`LinkInfo::up`] is true when the interface is administratively up (`IFF_UP`) *and*
//! operationally running (`IFF_RUNNING`). The kernel sets `IFF_RUNNING` only while the device
//! is up and its operational state (RFC 2863) is `UP` or `UNKNOWN`: a cable pulled, a veth
//! whose peer is down or a dormant link is therefore "down" here, which is what vipd needs
//! (it cannot hold a VIP on a link that cannot carry packets).

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::mpsc::UnboundedReceiver;
use futures::stream::{Stream, StreamExt, TryStreamExt};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressProtocol, CacheInfo,
};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::sys::SocketAddr;
use rtnetlink::{AddressMessageBuilder, Handle, MulticastGroup};
use vrrp_core::Family;

/// The `IFA_PROTO` value that marks an address as added by vipd.
///
/// `IFA_PROTO` is one byte that the kernel keeps with each address and never interprets.
/// Values 1 to 3 are the kernel's own (`IFAPROT_KERNEL_LO`, `_RA`, `_LL`) and 0 means unset;
/// keepalived 2.2.8+ marks its addresses with `RTPROT_KEEPALIVED` (18). vipd uses `0x76`
/// (118, ASCII `v`), which neither the kernel nor keepalived uses and which is not assigned in
/// iproute2's `rt_protos`, so a host running both keepalived and vipd, or moving from one to
/// the other, never confuses their addresses.
pub const VIPD_ADDRESS_PROTOCOL: u8 = 0x76;

// Neither unset, nor one of the kernel's values, nor keepalived's RTPROT_KEEPALIVED.
const _: () = assert!(VIPD_ADDRESS_PROTOCOL > 3 && VIPD_ADDRESS_PROTOCOL != 18);

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

// Errno values the module gives a meaning to (Linux, all architectures).
const ENOENT: i32 = 2;
const ENODEV: i32 = 19;
const EADDRNOTAVAIL: i32 = 99;

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

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Interface index (`ifindex`).
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Hardware address, when the link has a 6-byte (Ethernet) one.
    pub mac: Option<[u8; 6]>,
    /// Usable: administratively up and operationally running (see the module docs).
    pub up: bool,
    /// Administratively up (`IFF_UP`, `ip link set DEV up`), whatever the carrier.
    pub admin_up: bool,
    /// MTU in bytes (0 if the kernel did not report it).
    pub mtu: u32,
}

/// One address of an interface, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressInfo {
    /// The address (`IFA_LOCAL`, or `IFA_ADDRESS` when there is no local attribute).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// The `IFA_PROTO` mark, if any: [`VIPD_ADDRESS_PROTOCOL`] for vipd's addresses.
    pub protocol: Option<u8>,
    /// `IFA_F_*` flags ([`IFA_F_TENTATIVE`], ...), from `IFA_FLAGS` when present.
    pub flags: u32,
    /// Valid lifetime left.
    pub valid_lft: Lifetime,
    /// Preferred lifetime left.
    pub preferred_lft: Lifetime,
}

impl AddressInfo {
    /// Added by vipd (carries [`VIPD_ADDRESS_PROTOCOL`]).
    #[must_use]
    pub fn is_vipd(&self) -> bool {
        self.protocol == Some(VIPD_ADDRESS_PROTOCOL)
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

/// A change reported by [`Netlink::subscribe`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetEvent {
    /// A link changed (or was removed: then `up` is false). Sent for every change the kernel
    /// reports, so `up` may repeat the previous value.
    Link {
        /// Interface index.
        index: u32,
        /// Usable, as [`LinkInfo::up`].
        up: bool,
    },
    /// An address was added, or changed (flags, lifetime renewal, end of DAD).
    AddressAdded {
        /// Interface index.
        index: u32,
        /// The address.
        addr: IpAddr,
        /// Its prefix length.
        prefix_len: u8,
    },
    /// An address was removed (by hand, by expiry, or with its link).
    AddressRemoved {
        /// Interface index.
        index: u32,
        /// The address.
        addr: IpAddr,
        /// Its prefix length.
        prefix_len: u8,
    },
    /// The socket's receive buffer overflowed and events were lost: query the state again.
    Overrun,
}

/// What went wrong talking to the kernel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetlinkError {
    /// No tokio runtime runs on the calling thread, so the connection cannot be driven.
    #[error("netlink needs a tokio runtime: create the connection from inside one")]
    NoRuntime,
    /// Opening the netlink route socket failed.
    #[error("cannot open a netlink route socket: {0}")]
    Open(#[source] io::Error),
    /// No interface has this name.
    #[error("no interface named {name:?}")]
    NoSuchInterface {
        /// The name asked for.
        name: String,
    },
    /// No interface has this index.
    #[error("no interface with index {index}")]
    NoSuchIndex {
        /// The index asked for.
        index: u32,
    },
    /// The prefix length is longer than the address (32 for IPv4, 128 for IPv6).
    #[error("invalid prefix length {addr}/{prefix_len}")]
    InvalidPrefix {
        /// The address.
        addr: IpAddr,
        /// The prefix length given.
        prefix_len: u8,
    },
    /// The address exists on the interface but vipd did not add it (it lacks the
    /// [`VIPD_ADDRESS_PROTOCOL`] mark), so vipd leaves it alone.
    #[error(
        "{addr}/{prefix_len} on {link} was not added by vipd (protocol {}): not touching it",
        protocol.map_or_else(|| "unset".to_owned(), |p| format!("{p:#04x}"))
    )]
    NotOurs {
        /// The interface, as "name (index N)" or "index N".
        link: String,
        /// Its index.
        index: u32,
        /// The address.
        addr: IpAddr,
        /// The prefix length of the existing address.
        prefix_len: u8,
        /// The existing address's `IFA_PROTO`, if any.
        protocol: Option<u8>,
    },
    /// The kernel refused a request.
    #[error("{op} {target}: {} (errno {errno})", io::Error::from_raw_os_error(*errno))]
    Kernel {
        /// What was asked ("add address", "dump links", ...).
        op: &'static str,
        /// What it was about: address and interface.
        target: String,
        /// The positive errno the kernel answered.
        errno: i32,
    },
    /// The request could not be exchanged with the kernel (connection closed, unexpected
    /// reply).
    #[error("{op} {target}: netlink failure: {detail}")]
    Transport {
        /// What was asked.
        op: &'static str,
        /// What it was about.
        target: String,
        /// What rtnetlink reported.
        detail: String,
    },
}

impl NetlinkError {
    /// The errno of a [`NetlinkError::Kernel`] refusal.
    #[must_use]
    pub const fn errno(&self) -> Option<i32> {
        match self {
            Self::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    fn from_rtnetlink(op: &'static str, target: String, err: rtnetlink::Error) -> Self {
        match err {
            rtnetlink::Error::NetlinkError(msg) if msg.raw_code() != 0 => Self::Kernel {
                op,
                target,
                errno: msg.raw_code().saturating_abs(),
            },
            other => Self::Transport {
                op,
                target,
                detail: other.to_string(),
            },
        }
    }
}

fn errno_of(err: &rtnetlink::Error) -> Option<i32> {
    match err {
        rtnetlink::Error::NetlinkError(msg) if msg.raw_code() != 0 => {
            Some(msg.raw_code().saturating_abs())
        }
        _ => None,
    }
}

fn family_code(family: Family) -> AddressFamily {
    match family {
        Family::Ipv4 => AddressFamily::Inet,
        Family::Ipv6 => AddressFamily::Inet6,
    }
}

fn max_prefix(addr: &IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// The fields of a link message vipd uses.
fn link_info(msg: &LinkMessage) -> LinkInfo {
    let flags = msg.header.flags;
    let admin_up = flags.contains(LinkFlags::Up);
    let mut info = LinkInfo {
        index: msg.header.index,
        name: String::new(),
        mac: None,
        up: admin_up && flags.contains(LinkFlags::Running),
        admin_up,
        mtu: 0,
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(name) => info.name.clone_from(name),
            LinkAttribute::Address(bytes) => info.mac = <[u8; 6]>::try_from(bytes.as_slice()).ok(),
            LinkAttribute::Mtu(mtu) => info.mtu = *mtu,
            _ => {}
        }
    }
    info
}

/// The fields of an address message vipd uses; `None` for a message without an address.
fn address_info(msg: &AddressMessage) -> Option<AddressInfo> {
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

/// A connection to the kernel's routing netlink socket, in the network namespace of the thread
/// that created it. Cheap to clone: clones share the connection, which closes when the last
/// one drops.
#[derive(Debug, Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens a connection in the calling thread's network namespace and spawns the task that
    /// drives it on the current tokio runtime.
    ///
    /// # Errors
    /// [`NetlinkError::NoRuntime`] outside a tokio runtime, [`NetlinkError::Open`] if the
    /// socket cannot be opened.
    pub fn new() -> Result<Self, NetlinkError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NetlinkError::NoRuntime)?;
        let (connection, handle, _unsolicited) =
            rtnetlink::new_connection().map_err(NetlinkError::Open)?;
        runtime.spawn(connection);
        Ok(Self { handle })
    }

    /// The link called `name`.
    ///
    /// # Errors
    /// [`NetlinkError::NoSuchInterface`] if there is none; a kernel or transport failure.
    pub async fn link_by_name(&self, name: &str) -> Result<LinkInfo, NetlinkError> {
        let request = self.handle.link().get().match_name(name.to_owned());
        match request.execute().try_next().await {
            Ok(Some(msg)) => Ok(link_info(&msg)),
            Ok(None) => Err(NetlinkError::NoSuchInterface {
                name: name.to_owned(),
            }),
            Err(e) if errno_of(&e) == Some(ENODEV) => Err(NetlinkError::NoSuchInterface {
                name: name.to_owned(),
            }),
            Err(e) => Err(NetlinkError::from_rtnetlink(
                "get link",
                format!("{name:?}"),
                e,
            )),
        }
    }

    /// The link with index `index`.
    ///
    /// # Errors
    /// [`NetlinkError::NoSuchIndex`] if there is none; a kernel or transport failure.
    pub async fn link_by_index(&self, index: u32) -> Result<LinkInfo, NetlinkError> {
        let request = self.handle.link().get().match_index(index);
        match request.execute().try_next().await {
            Ok(Some(msg)) => Ok(link_info(&msg)),
            Ok(None) => Err(NetlinkError::NoSuchIndex { index }),
            Err(e) if errno_of(&e) == Some(ENODEV) => Err(NetlinkError::NoSuchIndex { index }),
            Err(e) => Err(NetlinkError::from_rtnetlink(
                "get link",
                format!("index {index}"),
                e,
            )),
        }
    }

    /// Every link of the namespace.
    ///
    /// # Errors
    /// A kernel or transport failure.
    pub async fn links(&self) -> Result<Vec<LinkInfo>, NetlinkError> {
        self.handle
            .link()
            .get()
            .execute()
            .map_ok(|msg| link_info(&msg))
            .try_collect()
            .await
            .map_err(|e| NetlinkError::from_rtnetlink("dump links", String::new(), e))
    }

    /// "name (index N)", or "index N" if the link cannot be found: for error messages.
    async fn describe_link(&self, index: u32) -> String {
        match self.link_by_index(index).await {
            Ok(link) => format!("{} (index {index})", link.name),
            Err(_) => format!("index {index}"),
        }
    }

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

    /// The address vipd sends its advertisements from on link `index`.
    ///
    /// IPv4: the first address that vipd did not add. IPv6: the first link-local (fe80::/10)
    /// address that vipd did not add and that has passed duplicate address detection (neither
    /// tentative nor failed). `None` if there is no such address (yet).
    ///
    /// # Errors
    /// A kernel or transport failure.
    pub async fn primary_address(
        &self,
        index: u32,
        family: Family,
    ) -> Result<Option<IpAddr>, NetlinkError> {
        let addresses = self.addresses(index, family).await?;
        Ok(addresses
            .into_iter()
            .filter(|a| !a.is_vipd())
            .find(|a| match a.addr {
                IpAddr::V4(_) => true,
                IpAddr::V6(v6) => {
                    v6.is_unicast_link_local() && !a.is_tentative() && !a.is_dad_failed()
                }
            })
            .map(|a| a.addr))
    }

    /// The address `addr` on link `index` if it exists and vipd did not add it.
    async fn foreign(
        &self,
        index: u32,
        addr: IpAddr,
        prefix_len: Option<u8>,
    ) -> Result<Option<AddressInfo>, NetlinkError> {
        let addresses = self.addresses(index, Family::of(&addr)).await?;
        Ok(addresses.into_iter().find(|a| {
            a.addr == addr && prefix_len.is_none_or(|p| p == a.prefix_len) && !a.is_vipd()
        }))
    }

    /// Adds the virtual address `addr/prefix_len` to link `index`, marked with
    /// [`VIPD_ADDRESS_PROTOCOL`], with valid and preferred lifetimes `lifetime`. IPv6
    /// addresses skip duplicate address detection (`IFA_F_NODAD`) so they are usable at once.
    ///
    /// Idempotent: when vipd's address already exists, the request replaces it
    /// (`NLM_F_REPLACE`), which renews its lifetime. Before that it checks that any existing
    /// address `addr` on the link is vipd's, because a replace would otherwise take over an
    /// address configured by hand (the kernel overwrites its `IFA_PROTO`).
    ///
    /// # Errors
    /// [`NetlinkError::NotOurs`] when `addr` already exists on the link without vipd's mark
    /// (it is left as it is); [`NetlinkError::InvalidPrefix`]; a kernel refusal (`ENODEV` for
    /// a missing link, `EINVAL` for `Lifetime::Seconds(0)`) or transport failure.
    pub async fn add_vip(
        &self,
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
        lifetime: Lifetime,
    ) -> Result<(), NetlinkError> {
        self.add_vips(index, &[(addr, prefix_len)], lifetime)
            .await
            .pop()
            .unwrap_or(Ok(()))
    }

    /// [`add_vip`](Self::add_vip) for several addresses of one family on link `index`, with
    /// one address dump for all of them instead of one each: renewing the lifetimes of N
    /// VIPs costs one dump and N replace requests. Returns one result per address, in order.
    pub async fn add_vips(
        &self,
        index: u32,
        vips: &[(IpAddr, u8)],
        lifetime: Lifetime,
    ) -> Vec<Result<(), NetlinkError>> {
        let mut existing: Vec<AddressInfo> = Vec::new();
        for family in [Family::Ipv4, Family::Ipv6] {
            if !vips.iter().any(|(a, _)| Family::of(a) == family) {
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
        let mut results = Vec::with_capacity(vips.len());
        for &(addr, prefix_len) in vips {
            results.push(
                self.add_one(index, addr, prefix_len, lifetime, &existing)
                    .await,
            );
        }
        results
    }

    /// Adds or renews one VIP, given the link's current addresses.
    async fn add_one(
        &self,
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
        lifetime: Lifetime,
        existing: &[AddressInfo],
    ) -> Result<(), NetlinkError> {
        if prefix_len > max_prefix(&addr) {
            return Err(NetlinkError::InvalidPrefix { addr, prefix_len });
        }
        if let Some(existing) = existing.iter().find(|a| a.addr == addr && !a.is_vipd()) {
            return Err(NetlinkError::NotOurs {
                link: self.describe_link(index).await,
                index,
                addr,
                prefix_len: existing.prefix_len,
                protocol: existing.protocol,
            });
        }
        let mut request = self.handle.address().add(index, addr, prefix_len).replace();
        let message = request.message_mut();
        message
            .attributes
            .push(AddressAttribute::Protocol(AddressProtocol::from(
                VIPD_ADDRESS_PROTOCOL,
            )));
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

    /// Removes vipd's address `addr/prefix_len` from link `index`.
    ///
    /// Idempotent: an absent address (or link) is success. Only an address with exactly this
    /// prefix length that carries vipd's mark is removed.
    ///
    /// # Errors
    /// [`NetlinkError::NotOurs`] when `addr/prefix_len` exists without vipd's mark (it stays);
    /// a kernel refusal or transport failure.
    pub async fn remove_vip(
        &self,
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
    ) -> Result<(), NetlinkError> {
        if let Some(existing) = self.foreign(index, addr, Some(prefix_len)).await? {
            return Err(NetlinkError::NotOurs {
                link: self.describe_link(index).await,
                index,
                addr,
                prefix_len,
                protocol: existing.protocol,
            });
        }
        self.delete(index, addr, prefix_len).await
    }

    /// Deletes an address known to be vipd's (or absent); absence is success.
    async fn delete(&self, index: u32, addr: IpAddr, prefix_len: u8) -> Result<(), NetlinkError> {
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

    /// Every address vipd added, on every link of the namespace, with its link index: after a
    /// restart, what an earlier run left behind.
    ///
    /// # Errors
    /// A kernel or transport failure.
    pub async fn vipd_addresses(&self) -> Result<Vec<(u32, AddressInfo)>, NetlinkError> {
        let mut all = self.dump_addresses(None, None).await?;
        all.retain(|(_, info)| info.is_vipd());
        Ok(all)
    }

    /// Removes every address vipd added (carrying [`VIPD_ADDRESS_PROTOCOL`]) for which
    /// `keep(index, address)` is false, and returns those it removed. Unmarked addresses are
    /// never looked at by `keep` nor removed.
    ///
    /// # Errors
    /// The first removal that failed; the others are still attempted.
    pub async fn remove_leftovers(
        &self,
        keep: impl Fn(u32, &AddressInfo) -> bool,
    ) -> Result<Vec<(u32, AddressInfo)>, NetlinkError> {
        let mut removed = Vec::new();
        let mut first_error = None;
        for (index, info) in self.vipd_addresses().await? {
            if keep(index, &info) {
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

    /// Subscribes to link and address changes (the `RTMGRP_LINK`, `RTMGRP_IPV4_IFADDR` and
    /// `RTMGRP_IPV6_IFADDR` groups) on a separate connection, in the calling thread's network
    /// namespace. Must be called inside a tokio runtime.
    ///
    /// Changes made before the call are not reported: subscribe first, then read the current
    /// state. The stream ends only if the socket fails; on [`NetEvent::Overrun`] read the
    /// state again.
    ///
    /// # Errors
    /// [`NetlinkError::NoRuntime`] or [`NetlinkError::Open`].
    pub fn subscribe(&self) -> Result<NetEvents, NetlinkError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NetlinkError::NoRuntime)?;
        let (connection, handle, messages) = rtnetlink::new_multicast_connection(&[
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
        ])
        .map_err(NetlinkError::Open)?;
        runtime.spawn(connection);
        Ok(NetEvents {
            messages,
            _handle: handle,
        })
    }
}

/// The stream of [`NetEvent`]s from [`Netlink::subscribe`]. Dropping it closes its
/// connection.
#[derive(Debug)]
pub struct NetEvents {
    messages: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    // Keeps the connection task alive: it ends when both the handle and the receiver are gone.
    _handle: Handle,
}

impl NetEvents {
    fn event(message: NetlinkMessage<RouteNetlinkMessage>) -> Option<NetEvent> {
        match message.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => {
                let info = link_info(&link);
                Some(NetEvent::Link {
                    index: info.index,
                    up: info.up,
                })
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(link)) => {
                Some(NetEvent::Link {
                    index: link.header.index,
                    up: false,
                })
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(msg)) => {
                address_info(&msg).map(|a| NetEvent::AddressAdded {
                    index: msg.header.index,
                    addr: a.addr,
                    prefix_len: a.prefix_len,
                })
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelAddress(msg)) => {
                address_info(&msg).map(|a| NetEvent::AddressRemoved {
                    index: msg.header.index,
                    addr: a.addr,
                    prefix_len: a.prefix_len,
                })
            }
            NetlinkPayload::Overrun(_) => Some(NetEvent::Overrun),
            _ => None,
        }
    }
}

impl Stream for NetEvents {
    type Item = NetEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<NetEvent>> {
        loop {
            match self.messages.poll_next_unpin(cx) {
                Poll::Ready(Some((message, _))) => {
                    if let Some(event) = Self::event(message) {
                        return Poll::Ready(Some(event));
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
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
        let mut msg = address_message(3, "10.200.1.10".parse().unwrap(), 24);
        msg.attributes
            .push(AddressAttribute::Protocol(AddressProtocol::from(
                VIPD_ADDRESS_PROTOCOL,
            )));
        let mut ci = CacheInfo::default();
        ci.ifa_valid = 5;
        ci.ifa_preferred = 4;
        msg.attributes.push(AddressAttribute::CacheInfo(ci));
        msg.attributes
            .push(AddressAttribute::Flags(AddressFlags::Tentative));
        let info = address_info(&msg).unwrap();
        assert_eq!(info.addr, "10.200.1.10".parse::<IpAddr>().unwrap());
        assert_eq!(info.prefix_len, 24);
        assert!(info.is_vipd());
        assert!(info.is_tentative());
        assert_eq!(info.valid_lft, Lifetime::Seconds(5));
        assert_eq!(info.preferred_lft, Lifetime::Seconds(4));

        let bare = address_message(3, "fd00:200::1".parse().unwrap(), 64);
        let info = address_info(&bare).unwrap();
        assert_eq!(info.protocol, None);
        assert!(!info.is_vipd());
        assert_eq!(info.valid_lft, Lifetime::Forever);
    }

    #[test]
    fn errors_name_the_address_and_errno() {
        let e = NetlinkError::Kernel {
            op: "add address",
            target: "10.200.1.10/24 on vip0 (index 3)".to_owned(),
            errno: ENODEV,
        };
        let text = e.to_string();
        assert!(text.contains("10.200.1.10/24 on vip0"), "{text}");
        assert!(text.contains("errno 19"), "{text}");
        assert_eq!(e.errno(), Some(ENODEV));
        let e = NetlinkError::NotOurs {
            link: "vip0 (index 3)".to_owned(),
            index: 3,
            addr: "10.200.1.10".parse().unwrap(),
            prefix_len: 24,
            protocol: None,
        };
        assert!(e.to_string().contains("not added by vipd"), "{e}");
    }
}
